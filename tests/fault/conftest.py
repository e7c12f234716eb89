"""Fixtures of the fault-injection suite: a private Redis broker, Tickwork processes, and an empty
database per test (the session's PostgreSQL database from tests/conftest.py, or a throwaway
cluster for the test that stops PostgreSQL). At the end the observed numbers are printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fault import harness as h
from tests.fault.harness import Stack, empty, environment
from tests.services import unavailable
from worker.broker import EmbeddedBrokerError, redis_server_binary


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
