"""Where this test process finds its services, and how each test gets a clean copy of them.

PostgreSQL comes from TICKWORK_TEST_DATABASE_URL (a server; each test process creates and drops a
database of its own there, copied from a migrated template), Redis from TICKWORK_TEST_REDIS_URL
(a db index: each pytest-xdist worker takes its own index next to it), RabbitMQ from
TICKWORK_TEST_RABBITMQ_URL (see tests/e2e/conftest.py). A missing service skips its tests
locally and fails them when TICKWORK_REQUIRE_SERVICES=1 (CI). docs/testing.md has the details.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import uuid
import weakref
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, event, make_url, text

PG_SERVER = os.environ.get(
    "TICKWORK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE = os.environ.get("TICKWORK_REQUIRE_SERVICES") == "1"
# Set by pytest-xdist in its worker processes ("gw0", "gw1", ...); absent in a serial run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# Names the databases of one `pytest` invocation (tests/conftest.py sets it before any worker
# starts, so every worker of the run shares it).
RUN_ENV = "TICKWORK_TEST_RUN"
REDIS_DBS = 16  # Redis's default number of db indexes


def worker_number() -> int:
    return int(WORKER.removeprefix("gw")) if WORKER else 0


def redis_url_for(base: str, worker: int) -> str:
    """Worker ``n`` of a run uses db index base+n, or base-n when that would pass 15: with CI's
    base 15, workers use 15, 14, ...; with a base of 11, they use 11, 12, ... Distinct for
    distinct workers, always within 0-15, never below the base's own neighbourhood."""
    url = make_url(base)
    index = int(url.database or 0)
    mine = index + worker if index + worker < REDIS_DBS else index - worker
    if not 0 <= mine < REDIS_DBS:
        raise ValueError(f"no Redis db index left for xdist worker {worker} from base {base}")
    return url.set(database=str(mine)).render_as_string(hide_password=False)


BASE_REDIS_URL = os.environ.get("TICKWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_URL = redis_url_for(BASE_REDIS_URL, worker_number())


def unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable ({exc}); start it or set the TICKWORK_TEST_* URL"
    if REQUIRE:
        pytest.fail(message + " [TICKWORK_REQUIRE_SERVICES=1]", pytrace=False)
    pytest.skip(message)


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def admin_connection() -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database; skips (or fails on CI)
    when the server cannot be reached."""
    try:
        return psycopg.connect(libpq(PG_SERVER), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
        raise  # not reached: unavailable() skips or fails


def database_url(name: str) -> str:
    return make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)


def template_name() -> str:
    return f"tickwork_tmpl_{os.environ.get(RUN_ENV, 'solo')}"


def _exists(admin: psycopg.Connection, name: str) -> bool:
    return (
        admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        is not None
    )


def create_migrated_database(admin: psycopg.Connection, prefix: str) -> str:
    """Create a database with every migration applied and return its URL.

    The migrations run once per test run, into a template database (under an advisory lock, so
    parallel workers wait for the first one instead of migrating too); each database is then a
    file-level copy of the template, which takes a fraction of a second. The template is built
    under a temporary name and renamed when complete, so a run killed mid-migration never leaves
    a half-migrated template behind under the real name.
    """
    from worker.storage.db import upgrade

    template = template_name()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin.execute("SELECT pg_advisory_lock(hashtext(%s))", (template,))
    try:
        if not _exists(admin, template):
            building = f"{template}_building"
            admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{building}"')
            upgrade(database_url(building))  # disposes its engine: no connection is left open
            admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", (template,))
    return database_url(name)


def drop_template() -> None:
    """Drop this run's template database, if one was made; quiet when PostgreSQL is absent."""
    try:
        admin = psycopg.connect(libpq(PG_SERVER), autocommit=True, connect_timeout=2)
    except psycopg.Error:
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{template_name()}" WITH (FORCE)')


def make_sqlite_template(path: Path) -> Path:
    """A migrated SQLite database at ``path``, as one file (its write-ahead log folded in), so
    that ``copy_sqlite`` can copy it."""
    from worker.storage.db import upgrade

    upgrade(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return path


def copy_sqlite(template: Path, target: Path) -> str:
    """A copy of the migrated template at ``target``; its URL."""
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


# Emptied by TRUNCATE: the tables that can hold many rows (a million-row ingest) or refuse DELETE
# (audit_entry is append-only: a trigger refuses UPDATE and DELETE). No foreign key points at them.
TRUNCATED = ("audit_head", "audit_entry", "data_point", "rejected_row")


def empty_database(conn: Connection) -> None:
    """Empty every table of a migrated PostgreSQL database, as before each test.

    DELETE, referencing tables first, costs well under a millisecond for the few rows a test
    leaves; ``TRUNCATE ... CASCADE`` of them all took about 45 ms of server CPU each time (it makes
    new files for every table and index), over ten CPU-minutes a run. The tables in TRUNCATED
    are truncated instead.
    """
    from worker.storage.models import Base

    conn.execute(text(f"TRUNCATE {', '.join(TRUNCATED)}"))
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in TRUNCATED:
            conn.execute(table.delete())


# Every engine this process has connected with. Forgetting an engine (a cleared or evicted cache
# entry) does not close its pooled connections; with several workers, each running stacks of its
# own, connections kept until garbage collection exhaust the server's max_connections.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
event.listen(Engine, "engine_connect", lambda conn: _ENGINES.add(conn.engine))


def clear_caches() -> None:
    """Forget cached settings, engines and clients, so the next use reads the environment, and
    close the pooled connections of every engine (an engine stays usable: it reconnects)."""
    from worker.locks import redis_client
    from worker.settings import get_settings
    from worker.storage import db

    get_settings.cache_clear()
    db._sessionmaker.cache_clear()
    db.get_engine.cache_clear()  # the default (None) key would keep a previous test's database
    redis_client.cache_clear()
    for engine in list(_ENGINES):
        engine.dispose()
