"""What /openapi.json says beyond FastAPI's own document.

- **Webhooks**: one ``POST`` per event type under the document's top-level ``webhooks``
  (OpenAPI 3.1), its body the event's schema (api/schemas/events.py), its parameters the
  headers every delivery carries. Receivers implement these operations; this API serves none of
  them. Delivery, signing and retries: docs/webhooks.md.
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
    200: {"description": "Any 2xx answer acknowledges the message; its body is not read "
          "beyond 20 KB (kept in the attempt log)"},
    410: {"description": "Gone: the endpoint is disabled at once (an endpoint.disabled event "
          "goes to the tenant's other endpoints)"},
    "default": {"description": "Anything else, or no answer within the timeout, fails the "
                "attempt: the message is sent again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h "
                "and 10 h (a Retry-After pushes the next try back), under the same webhook-id"},
}  # fmt: skip


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
            done.add(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
