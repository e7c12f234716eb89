"""Fixtures of the fault-injection suite: a private Redis broker, Tickwork processes, and an empty
database per test (the session's PostgreSQL database from tests/conftest.py, or a throwaway
cluster for the test that stops PostgreSQL). At the end the observed numbers are printed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.factories import Tenant, make_tenant
from tests.fault import harness as h
from tests.services import unavailable
from worker.broker import EmbeddedBrokerError, redis_server_binary


@dataclass
class Stack:
    db: str
    broker: h.RedisServer
    procs: h.Processes
    tmp: Path

    def tenant(self, name: str = "T") -> Tenant:
        return make_tenant(self.db, name)


def empty(db_url: str) -> None:
    from worker.storage.db import get_engine
    from worker.storage.models import Base

    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(db_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def environment(db_url: str, broker_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.update(
        TICKWORK_DATABASE_URL=db_url,
        TICKWORK_BROKER_URL=broker_url,
        TICKWORK_REDIS_URL=broker_url,
        TICKWORK_DATA_DIR=str(data_dir),
        TICKWORK_VISIBILITY_TIMEOUT=str(h.VISIBILITY),
        TICKWORK_TASK_SOFT_TIME_LIMIT=str(h.VISIBILITY - 4),
        TICKWORK_TASK_TIME_LIMIT=str(h.VISIBILITY - 2),
        # A silent job is re-sent after the visibility timeout has brought its message back, so
        # the tests of redelivery see redelivery first.
        TICKWORK_JOB_HEARTBEAT_SECONDS="4",
        TICKWORK_JOB_SILENT_SECONDS=str(h.VISIBILITY + 8),
        TICKWORK_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
        TICKWORK_WEBHOOK_ALLOW_HTTP="true",
        TICKWORK_WEBHOOK_CONNECT_TIMEOUT="1",
        TICKWORK_WEBHOOK_TIMEOUT="1",
        TICKWORK_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    if h.break_requested():
        env["TICKWORK_FAULT_BREAK"] = h.break_requested()
    env.update(extra)
    return env


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[h.RedisServer]:
    """A private Redis broker (append-only file, like a production one) for this test."""
    try:
        redis_server_binary()
    except EmbeddedBrokerError as exc:
        unavailable("redis-server", exc)
    server = h.RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(pg_url: str, broker: h.RedisServer, tmp_path: Path) -> Iterator[Stack]:
    """Empty database, private Redis, and a process starter; every process is stopped after."""
    empty(pg_url)
    procs = h.Processes(env=environment(pg_url, broker.url, tmp_path), logs=tmp_path)
    try:
        yield Stack(db=pg_url, broker=broker, procs=procs, tmp=tmp_path)
    finally:
        procs.stop_all()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not h.OBSERVED:
        return
    write = terminalreporter.write_line
    write("")
    write("fault | what was checked | observed result")
    write("--- | --- | ---")
    for fault, checked, result in h.OBSERVED:
        write(f"{fault} | {checked} | {result}")
