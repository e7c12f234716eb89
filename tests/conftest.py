"""Shared fixtures: real PostgreSQL and Redis (skipped locally when absent, required on CI),
migrated databases copied from a template, per-test configuration, a webhook receiver, and the
Hypothesis profiles.

Where the services are and how a test process (or pytest-xdist worker) gets its own share of
them is in tests/services.py; plain helpers are in tests/factories.py; docs/testing.md explains
both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings

from tests.factories import Receiver, serve
from tests.services import (
    REDIS_URL,
    RUN_ENV,
    admin_connection,
    clear_caches,
    copy_sqlite,
    create_migrated_database,
    drop_template,
    empty_database,
    make_sqlite_template,
    unavailable,
)

# Set before any project module reads its settings: the in-process Celery app publishes here.
# A value set outside the tests is kept; one set here by the main pytest process (inherited by
# its xdist workers) is replaced by this process's own Redis URL.
_DEFAULTED = "_TICKWORK_TEST_DEFAULTED"
for _key in ("TICKWORK_BROKER_URL", "TICKWORK_REDIS_URL"):
    if _key not in os.environ or _key in os.environ.get(_DEFAULTED, "").split(","):
        os.environ[_key] = REDIS_URL
        os.environ[_DEFAULTED] = ",".join({*os.environ.get(_DEFAULTED, "").split(","), _key} - {""})

# Hypothesis: "dev" (the default) tries 20 examples a test, for a quick local run; "ci" (.ci/run
# sets HYPOTHESIS_PROFILE=ci) tries each test's full number (tests.factories.examples; 100 where a
# test names none), derandomized, so a failure on CI recurs the same way on any machine.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=20,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the main process, before any xdist worker starts
        os.environ.setdefault(RUN_ENV, uuid.uuid4().hex[:8])


TESTS = Path(__file__).resolve().parent

# The fault-injection modules run in two groups side by side (the rest in ``fault``): every fault
# test has its own Redis, and the test that stops PostgreSQL its own cluster, on free ports, and
# each xdist worker its own database, so tests of two groups never share a process or a service.
# The split evens out the groups' time, which is mostly deliberate waiting (docs/testing.md).
FAULT_SECOND_GROUP = frozenset(
    {"test_broker_restart.py", "test_postgres_stop.py", "test_report_kill.py", "test_duplicates.py"}
)


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers added here, and xdist reads
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault-injection tests are ``serial``: xdist runs each group's tests one after another
    on a single worker (groups ``fault`` and ``fault2``), as each starts, kills and restarts
    several processes on timers; the client library's tests share one server, so xdist keeps
    them on one worker too."""
    if gone := sorted(n for n in FAULT_SECOND_GROUP if not (TESTS / "fault" / n).exists()):
        raise pytest.UsageError(f"FAULT_SECOND_GROUP in tests/conftest.py names no module: {gone}")
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if tier == "fault" or item.get_closest_marker("serial"):
            second = tier == "fault" and item.path.name in FAULT_SECOND_GROUP
            group = "fault2" if second else "fault"
            item.add_marker(pytest.mark.serial)
            item.add_marker(pytest.mark.xdist_group(group))
        elif tier == "sdk":
            item.add_marker(pytest.mark.xdist_group("sdk"))


def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under ``--dist loadgroup`` every grouped test must carry its group in its node id (how
    pytest-xdist tells its scheduler): a pytest that drops it would spread the groups over all
    workers without a word, so the run stops instead."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    grouped = ("tests/fault/", "tests/sdk/", "tests/browser/")
    lost = [i for i in ids if i.startswith(grouped) and "@" not in i]
    if lost:
        pytest.exit(
            f"pytest-xdist did not group {len(lost)} tests by xdist_group ({lost[0]}, ...): this "
            "pytest and pytest-xdist do not work together; install the versions pyproject.toml "
            "allows (make .venv/.installed)",
            returncode=3,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        drop_template()


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test process's own (a copy of the run's
    template), dropped at the end."""
    admin = admin_connection()
    url = create_migrated_database(admin, "tickwork_test")
    try:
        yield url
    finally:
        from sqlalchemy import make_url

        from worker.storage.db import get_engine

        get_engine.cache_clear()
        admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied before each test."""
    from worker.storage.db import get_engine

    with get_engine(pg_url).begin() as conn:
        empty_database(conn)
    yield pg_url


# --- SQLite ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database file, made once per test process."""
    return make_sqlite_template(tmp_path_factory.mktemp("sqlite-template") / "tickwork.db")


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database of this test's own (a copy of the template)."""
    return copy_sqlite(sqlite_template, tmp_path / "tickwork.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest) -> str:
    """Run the test on both storage backends."""
    return str(request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db"))


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
    client.flushdb()


# --- configuration and helpers ---------------------------------------------------------------


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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver over plain HTTP (tests.factories.serve), stopped after."""
    state, server = serve()
    yield state
    server.shutdown()
