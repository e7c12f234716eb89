"""Shared fixtures: real PostgreSQL and Redis (skipped locally when absent, required on CI),
per-test configuration, and API clients.

Services come from TICKWORK_TEST_DATABASE_URL (a PostgreSQL server; each test session creates and
drops its own database there) and TICKWORK_TEST_REDIS_URL (a dedicated db index, flushed around
each test that uses it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import make_url, text

PG_SERVER = os.environ.get(
    "TICKWORK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TICKWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE = os.environ.get("TICKWORK_REQUIRE_SERVICES") == "1"

# Set before any project module reads its settings: the in-process Celery app publishes here.
os.environ.setdefault("TICKWORK_BROKER_URL", REDIS_URL)
os.environ.setdefault("TICKWORK_REDIS_URL", REDIS_URL)


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable ({exc}); start it or set the TICKWORK_TEST_* URL"
    if REQUIRE:
        pytest.fail(message + " [TICKWORK_REQUIRE_SERVICES=1]", pytrace=False)
    pytest.skip(message)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    try:
        admin = psycopg.connect(_libpq(PG_SERVER), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    name = f"tickwork_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    from worker.storage.db import upgrade

    upgrade(url)
    try:
        yield url
    finally:
        from worker.storage.db import get_engine

        get_engine.cache_clear()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_server() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
    client.flushdb()


TABLES = ("rejected_row", "job", "data_point", "tag", "upload", "facility", "api_key", "tenant")


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied before each test."""
    from worker.storage.db import get_engine

    with get_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    yield pg_url


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    from worker.storage.db import upgrade

    url = f"sqlite:///{tmp_path / 'tickwork.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest) -> str:
    """Run the test on both storage backends."""
    return str(request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db"))


def clear_caches() -> None:
    from worker.locks import redis_client
    from worker.settings import get_settings
    from worker.storage import db

    get_settings.cache_clear()
    db._sessionmaker.cache_clear()
    db.get_engine.cache_clear()  # the default (None) key would keep a previous test's database
    redis_client.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``configure(TICKWORK_X=...)`` sets settings for this test only."""

    def apply(**env: str) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        clear_caches()

    yield apply
    monkeypatch.undo()
    clear_caches()


@dataclass
class Tenant:
    id: str
    key: str
    headers: dict[str, str]


def make_tenant(db_url: str, name: str, *, scope: str = "write") -> Tenant:
    from worker.storage.db import session_scope
    from worker.storage.tenants import create_api_key, create_tenant

    with session_scope(db_url) as s:
        tenant = create_tenant(s, name=name)
        _, key = create_api_key(s, tenant_id=tenant.id, scope=scope)
    return Tenant(tenant.id, key, {"Authorization": f"Bearer {key}"})
