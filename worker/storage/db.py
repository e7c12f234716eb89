"""Engine, sessions, migrations and ids."""

from __future__ import annotations

import getpass
import os
import re
import secrets
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from worker.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

# Every engine of this process. A process forked from this one (a Celery pool process, replaced
# when one is killed or recycled) inherits their pooled connections: parent and child would then
# talk over one socket and corrupt each other's conversation. The child drops what it inherited,
# without closing it, and opens its own (SQLAlchemy, "Using Connection Pools with Multiprocessing
# or os.fork()").
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def make_engine(url: str) -> Engine:
    engine = _make_engine(url)
    _ENGINES.add(engine)
    return engine


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            # WAL lets the API read while a worker writes; foreign keys are off by default.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # Writers take the write lock when they begin, so a read-then-write transaction can
            # neither interleave with another writer nor fail to upgrade its snapshot.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().resolved_database_url)


@lru_cache(maxsize=4)
def _sessionmaker(url: str | None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None, *, readonly: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception.

    On SQLite a session takes the database's write lock when it begins unless ``readonly``:
    writers queue up instead of failing midway.
    """
    session = _sessionmaker(url)()
    if readonly:
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def new_id(prefix: str) -> str:
    """``fac_3kz9q...``: a prefix naming the kind, then 16 random base32 characters."""
    alphabet = "0123456789abcdefghijkmnpqrstvwxyz"
    return f"{prefix}_" + "".join(secrets.choice(alphabet) for _ in range(16))


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` on ``url`` (default: the configured db)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url or get_settings().resolved_database_url
    command.upgrade(cfg, revision)


class DatabaseNotCreatedError(RuntimeError):
    """The configured PostgreSQL database does not exist and could not be created; the message
    says, in one line, how to create it."""


_MISSING_DATABASE = re.compile(r'database "[^"]*" does not exist')


def create_database_if_missing(url: str) -> bool:
    """On PostgreSQL, create the database named in ``url`` when it does not exist, as the role
    of ``url`` (from the server's ``postgres`` or ``template1`` database). True when it was
    created, False when it existed (or is not PostgreSQL). Raises ``DatabaseNotCreatedError``
    when the role may not create it, and the connection error itself for anything else (server
    down, wrong password).
    """
    target = make_url(url)
    if not target.drivername.startswith("postgresql") or not target.database:
        return False
    probe = create_engine(target, poolclass=NullPool)
    try:
        with probe.connect():
            return False
    except OperationalError as exc:
        if not _MISSING_DATABASE.search(str(exc.orig)):
            raise
    finally:
        probe.dispose()
    name, role = target.database, target.username or getpass.getuser()  # libpq's default role
    last: DBAPIError | None = None
    for maintenance in ("postgres", "template1"):
        admin = create_engine(
            target.set(database=maintenance), isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        try:
            with admin.connect() as conn:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(text(f"CREATE DATABASE {quoted}"))
                return True
        except DBAPIError as exc:
            last = exc
            if "permission denied" in str(exc.orig):
                break
        finally:
            admin.dispose()
    how = (
        f"createdb -h {target.host or 'localhost'} -p {target.port or 5432} -O {role} {name} "
        f"(as a role that may create databases), or in psql: CREATE DATABASE {name} OWNER {role};"
    )
    reason = (
        "may not create it"
        if last is not None and "permission denied" in str(last.orig)
        else "could not create it"
    )
    raise DatabaseNotCreatedError(
        f'database "{name}" does not exist and role {role} {reason}; create it with: {how}'
    )
