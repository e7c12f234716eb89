"""What /openapi.json says beyond FastAPI's own document.

- **Webhooks**: one ``POST`` per event type under the document's top-level ``webhooks``
  (OpenAPI 3.1), its body the event's schema (api/schemas/events.py), its parameters the
  headers every delivery carries. Receivers implement these operations; this API serves none of
  them. Delivery, signing and retries: docs/webhooks.md.
- **Idempotency-Key**: every ``POST /v1/...`` takes the header (api/idempotency.py, a
  middleware, so no route declares it itself).
- **Examples as written**: FastAPI drops every null from the document it builds, examples
  included (fastapi/fastapi#5559), so an example's ``"resolved_at": null`` would vanish and the
  example would no longer match its own schema. The models' examples are put back as written.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import Response
from pydantic import BaseModel

from api.schemas import events

Headers = Annotated[events.DeliveryHeaders, Header()]

# What the receiver answers. A "default" entry also keeps FastAPI from documenting a 422 that
# no receiver is asked to send.
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Any 2xx answer acknowledges the message; its body is not read "
        "beyond 20 KB (kept in the attempt log)"
    },
    410: {
        "description": "Gone: the endpoint is disabled at once (an endpoint.disabled event "
        "goes to the tenant's other endpoints)"
    },
    "default": {
        "description": "Anything else, or no answer within the timeout, fails the "
        "attempt: the message is sent again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h "
        "and 10 h (a Retry-After pushes the next try back), under the same webhook-id"
    },
}


def install(app: FastAPI) -> None:
    """Document the webhook events, and keep the examples' nulls."""
    for name, body in events.EVENTS.items():
        app.webhooks.add_api_route(
            name,
            _receiver(body),
            methods=["POST"],
            summary=name,
            description=inspect.cleandoc(body.__doc__ or ""),
            operation_id=name.replace(".", "_"),
            tags=["webhook events"],
            response_class=Response,
            responses=ANSWERS,
        )
    build = app.openapi
    done: set[int] = set()

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI's own (cached), with the error answers (api.errors)
        if id(schema) not in done:
            _restore_examples(schema)
            _declare_idempotency_key(schema)
            done.add(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the first request with a key runs, and a retry with "
    "the same key and the same request gets the first answer again (Idempotent-Replayed: "
    "true) for 24 h. The same key with another request is 409 idempotency_key_reused; while "
    "the first still runs, 409 idempotency_request_in_progress.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "example": "5f1c2a9e-3b7d-4c1e-9a0b-2d4f6e8a1c3b",
}


KEY_CONFLICT = {
    "description": "Conflict: this Idempotency-Key was used for another request "
    "(idempotency_key_reused), or its first request is still running "
    "(idempotency_request_in_progress, with Retry-After)",
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorBody"},
            "example": {
                "error": {
                    "type": "conflict",
                    "code": "idempotency_key_reused",
                    "field": "Idempotency-Key",
                    "message": "this Idempotency-Key was used for a different request; "
                    "use a new key for a new request",
                }
            },
        }
    },
}


def _declare_idempotency_key(schema: dict[str, Any]) -> None:
    """The header on every ``POST /v1/...``, and its 409 among the answers."""
    for path, operations in schema.get("paths", {}).items():
        post = operations.get("post")
        if path.startswith("/v1/") and post is not None:
            parameters = post.setdefault("parameters", [])
            if not any(p.get("name", "").lower() == "idempotency-key" for p in parameters):
                parameters.append(dict(IDEMPOTENCY_KEY))
            post.setdefault("responses", {}).setdefault("409", KEY_CONFLICT)


def _receiver(body: type[BaseModel]) -> Any:
    """A receiver of ``body``, for its signature: FastAPI reads the body and the headers an
    operation takes from the function's parameters."""

    def receive(body: Any, headers: Headers) -> None:
        """Never called: webhooks are documentation."""

    # Annotations are strings here (postponed evaluation) that FastAPI resolves in this module,
    # where the event's model has no name: it is given as the class itself.
    receive.__annotations__["body"] = body
    return receive


def _restore_examples(schema: dict[str, Any]) -> None:
    """Each component schema of an API model gets the model's examples back as written."""
    models: dict[str, list[type[BaseModel]]] = {}
    for model in set(_subclasses(BaseModel)):  # a class inherited twice is one model
        if model.__module__.split(".")[0] == "api":
            models.setdefault(model.__name__, []).append(model)
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        found = models.get(name, [])
        if "examples" not in component or len(found) != 1:
            continue  # no examples, or a name FastAPI had to qualify
        extra = found[0].model_config.get("json_schema_extra")
        if isinstance(extra, dict) and "examples" in extra:
            component["examples"] = extra["examples"]


def _subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
