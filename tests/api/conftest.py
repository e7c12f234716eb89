"""The API fixtures: an in-process client (tests/asgi.py) of the app on a real PostgreSQL and
Redis, and two tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.asgi import AppClient
from tests.factories import Tenant, make_tenant


@pytest.fixture
def env(pg_db: str, redis_url: str, configure) -> dict[str, str]:
    configure(
        TICKWORK_DATABASE_URL=pg_db, TICKWORK_BROKER_URL=redis_url, TICKWORK_REDIS_URL=redis_url
    )
    return {"db": pg_db, "redis": redis_url}


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[AppClient]:
    from api.app import create_app

    with AppClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def alice(env: dict[str, str]) -> Tenant:
    return make_tenant(env["db"], "Alice Fuels")


@pytest.fixture
def bob(env: dict[str, str]) -> Tenant:
    return make_tenant(env["db"], "Bob Biogas")
