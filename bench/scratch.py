"""A PostgreSQL database of a benchmark's own, created for one run and dropped after it, and a
fast way to fill its ``data_point`` table."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Scratch:
    url: str  # SQLAlchemy URL of the new database
    conninfo: str  # the same for psycopg


@contextmanager
def scratch_database(prefix: str, *, keep: bool = False) -> Iterator[Scratch]:
    """Create ``<prefix>_<random>`` on the server of ``TICKWORK_BENCH_PG`` (default: the local
    server as postgres), and drop it afterwards unless ``keep``."""
    server = make_url(os.environ.get("TICKWORK_BENCH_PG", DEFAULT_PG))
    dbname = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = (
        f"host={server.host} port={server.port or 5432} user={server.username} "
        f"dbname={server.database}"
    )
    url = server.set(database=dbname).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        yield Scratch(
            url=url, conninfo=admin.replace(f"dbname={server.database}", f"dbname={dbname}")
        )
    finally:
        if not keep:
            from worker.storage.db import get_engine

            get_engine(url).dispose()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


def copy_points(
    conn: psycopg.Connection, series: Iterable[tuple[int, np.ndarray, np.ndarray]]
) -> None:
    """Write each ``(tag_id, ts_us, values)`` into ``data_point`` by binary COPY, with the table's
    primary key dropped while loading and built once at the end (faster than checking it row by
    row). ``conn`` is in autocommit mode."""
    from worker.storage.points import pg_binary_copy

    pkey = conn.execute(
        "SELECT conname FROM pg_constraint "
        "WHERE contype = 'p' AND conrelid = 'data_point'::regclass"
    ).fetchone()[0]
    conn.execute(sql.SQL("ALTER TABLE data_point DROP CONSTRAINT {}").format(sql.Identifier(pkey)))
    for tag_id, ts, values in series:
        n = len(ts)
        data = pg_binary_copy(np.full(n, tag_id, dtype=np.int64), ts, values, np.zeros(n, np.int16))
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY data_point (tag_id, ts, value, quality) FROM STDIN (FORMAT binary)"
            ) as copy,
        ):
            copy.write(data)
    conn.execute(
        sql.SQL("ALTER TABLE data_point ADD CONSTRAINT {} PRIMARY KEY (tag_id, ts)").format(
            sql.Identifier(pkey)
        )
    )
