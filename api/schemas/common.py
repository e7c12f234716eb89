"""Pieces every resource's schemas share: page fields, limits on text, bodies routes read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_PAGE = 10**9  # (page - 1) * limit stays far inside a signed 64-bit OFFSET
# Names and units hold no control characters (NUL, CR, LF, ESC, ...): the same rule as ingest.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example ``model`` gives its JSON schema: a page's or a list's example is built
    from its items' own, so the two cannot drift apart."""
    extra = model.model_config.get("json_schema_extra")
    if not isinstance(extra, dict) or not extra.get("examples"):
        raise TypeError(f"{model.__name__} has no examples")
    return dict(extra["examples"][0])


def page_example(
    model: type[BaseModel], *, total: int = 1, per_page: int = 100, **paging: Any
) -> dict[str, Any]:
    """A first page listing ``model``'s example: ``{"data", "pagination"}`` and ``paging`` (the
    ``has_more`` and ``next`` of a listing that continues by cursor)."""
    pagination = {"total": total, "page": 1, "per_page": per_page}
    return {"data": [example_of(model)], "pagination": pagination, **paging}


class Pagination(BaseModel):
    total: int | None = Field(description="Items in the listing; null on a cursor page")
    page: int | None = Field(description="Page number; null on a cursor page")
    per_page: int


HAS_MORE = "Whether items follow this page"
NEXT = "Path and query of the next page (by cursor), or null on the last"


class CursorFields(BaseModel):
    has_more: bool = Field(description=HAS_MORE)
    next: str | None = Field(description=NEXT)


# --- bodies that routes read themselves (raw JSON, CSV, multipart), documented for OpenAPI ----


def request_body(content: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``openapi_extra`` declaring the body of a route that reads ``request`` itself."""
    return {
        "requestBody": {"required": True, "content": {k: {"schema": v} for k, v in content.items()}}
    }


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined (for ``request_body``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
