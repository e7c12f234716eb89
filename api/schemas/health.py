"""What the probes answer: liveness (/healthz) and readiness (/readyz)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.errors import error_body


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "checks": {"database": "ok", "broker": "ok"},
                }
            ]
        }
    )

    status: Literal["ready"]
    checks: dict[str, str] = Field(description="Each dependency: ok, unavailable or timeout")


# The 503 of /readyz: the error format, with the checks.
NOT_READY = error_body(
    503,
    "not_ready",
    "not ready: broker unavailable",
    checks={"database": "ok", "broker": "unavailable"},
)
