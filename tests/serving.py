"""A real ``tickwork serve`` (API, worker and beat processes) for the test packages that talk to
one over HTTP: the client library's tests (tests/sdk) and the dashboard's browser tests
(tests/browser).

The server runs in a PostgreSQL database of its own on TICKWORK_TEST_DATABASE_URL's server
(created here, dropped afterwards), so beat's schedules never see other tests' data, and uses
TICKWORK_TEST_REDIS_URL as broker and for rate limits (flushed before and after).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from sqlalchemy import make_url

from tests.factories import Tenant, make_tenant, stack_env
from tests.services import PG_SERVER, REDIS_URL, libpq, unavailable
from worker import processes
from worker.broker import free_port


@dataclass
class Server:
    """A running ``tickwork serve``: its URL, database, environment and log."""

    url: str
    db: str
    env: dict[str, str]
    log: Path

    def tenant(self, prefix: str = "t", *, scope: str = "write") -> Tenant:
        return make_tenant(self.db, f"{prefix}-{uuid.uuid4().hex[:6]}", scope=scope)


def tickwork_command() -> list[str]:
    script = Path(sys.executable).with_name("tickwork")
    return [str(script)] if script.exists() else [sys.executable, "-m", "worker.cli.main"]


@contextmanager
def own_database(prefix: str) -> Iterator[str]:
    """An empty database on the test PostgreSQL server, dropped afterwards."""
    try:
        admin = psycopg.connect(libpq(PG_SERVER), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        from worker.storage.db import get_engine

        get_engine.cache_clear()  # make_tenant's engine holds connections to it
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def flushed_redis() -> Iterator[str]:
    """TICKWORK_TEST_REDIS_URL, flushed before and after."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def server_env(db: str, broker: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The settings of the test server's processes: the e2e stack's, plus local webhook
    receivers allowed (127.0.0.1 over http) and short webhook timeouts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.update(stack_env(db, broker, broker, data_dir))
    env.update(
        TICKWORK_API_HOST="127.0.0.1",
        TICKWORK_API_PORT=str(free_port()),
        TICKWORK_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
        TICKWORK_WEBHOOK_ALLOW_HTTP="true",
        TICKWORK_WEBHOOK_CONNECT_TIMEOUT="1",
        TICKWORK_WEBHOOK_TIMEOUT="2",
        TICKWORK_LOG_FORMAT="text",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextmanager
def serving(db: str, broker: str, data_dir: Path, **extra: str) -> Iterator[Server]:
    """``tickwork serve`` on ``db`` and ``broker`` until the block ends; ready when it starts."""
    env = server_env(db, broker, data_dir, **extra)
    log = data_dir / "serve.log"
    proc = processes.start([*tickwork_command(), "serve"], env=env, log_file=log)
    url = f"http://127.0.0.1:{env['TICKWORK_API_PORT']}"
    with processes.running(proc):
        try:
            processes.wait_http(f"{url}/readyz", proc=proc, timeout=120)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text(errors='replace')[-3000:]}") from exc
        yield Server(url=url, db=db, env=env, log=log)
