"""OpenAPI operation ids are the route functions' names: unique, snake_case, one per operation."""

from __future__ import annotations

import re
from collections import Counter

from fastapi.routing import APIRoute

from api.app import create_app

SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _routes(routes: list) -> list[APIRoute]:
    """Every APIRoute, through included routers."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            found += _routes(inner.routes)
    return found


def test_operation_ids_are_unique_snake_case_function_names() -> None:
    app = create_app()
    spec = app.openapi()
    ops = {
        (method.upper(), path): op["operationId"]
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    ids = Counter(ops.values())
    assert [name for name, n in ids.items() if n > 1] == []
    assert [name for name in ids if not SNAKE.fullmatch(name)] == []
    functions = {route.endpoint.__name__ for route in _routes(app.routes)}
    assert set(ops.values()) <= functions
    assert ops[("GET", "/v1/data-points")] == "list_data_points"
    assert len(ops) >= 50  # every path kept
