"""The calling tenant's API keys: what the dashboard's Settings > API keys page lists."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import PRINTABLE
from worker.storage.models import ApiKey
from worker.storage.tenants import api_key_view

Scope = Literal["write", "read"]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "name": "SCADA export", "scope": "write",
    }]})  # fmt: skip

    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE,
                      description="A label, to tell the key from others")  # fmt: skip
    scope: Scope = Field(default="write", description="read: GET routes only")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "key_4x9q7c3v1b6n8m2k", "name": "SCADA export", "prefix": "5c4e3a7f9b21",
        "scope": "write", "created_at": "2025-10-01T12:00:00Z", "revoked_at": None,
        "active": True,
    }]})  # fmt: skip

    id: str
    name: str
    prefix: str = Field(description="The key's public part: the key reads tw_<prefix>_...")
    scope: Scope
    created_at: str
    revoked_at: str | None
    active: bool = Field(description="Not revoked: the key authenticates")

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        # api_key_view is the one shape of a key outside storage: never its hash.
        return cls.model_validate(api_key_view(key))


class ApiKeyCreated(ApiKeyOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "key_4x9q7c3v1b6n8m2k", "name": "SCADA export", "prefix": "5c4e3a7f9b21",
        "scope": "write", "created_at": "2025-10-01T12:00:00Z", "revoked_at": None,
        "active": True, "key": "tw_5c4e3a7f9b21_Xq3vJ8kLm2Np5Rt7Wz9Bc4Df6Gh1Jk3Mn5Pq7St9Vx0",
    }]})  # fmt: skip

    key: str | None = Field(
        description="The API key itself: shown in this response only (null when an "
        "Idempotency-Key retry replays the answer; the key is never kept in plaintext)"
    )

    @classmethod
    def with_key(cls, key: ApiKey, plaintext: str) -> ApiKeyCreated:
        return cls.model_validate({**api_key_view(key), "key": plaintext})


class ApiKeyList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [
        {"id": "key_4x9q7c3v1b6n8m2k", "name": "SCADA export", "prefix": "5c4e3a7f9b21",
         "scope": "write", "created_at": "2025-10-01T12:00:00Z", "revoked_at": None,
         "active": True},
        {"id": "key_8m2k4x9q7c3v1b6n", "name": "Old reader", "prefix": "0b7d19e4a3c6",
         "scope": "read", "created_at": "2025-06-12T08:30:00Z",
         "revoked_at": "2025-09-30T16:45:00Z", "active": False},
    ]}]})  # fmt: skip

    data: list[ApiKeyOut] = Field(description="Newest first, revoked keys included")
