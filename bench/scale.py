"""Growth benchmark: the same operations on a database of 10^8 points and on one of 10^6.

Run from the project root: ``.venv/bin/python bench/scale.py`` (JSON on stdout, progress and a
table on stderr; see ``bench/RESULTS.md``, section "Growth (10^8 points)"). A quick run:
``--points 10000000``. The big database can be kept and reused: ``--keep-db`` on the first run,
``--reuse-db --keep-db`` on the next ones (the load is skipped when the kept database was built
with the same shape at the same migration head; otherwise it is rebuilt, never migrated),
``--reuse-db`` alone on the last (it is dropped at the end).

**Two databases, one shape.** Each is migrated with ``worker.storage.db.upgrade`` and filled the
same way; only the number of tags differs. Tenants of ``--facilities-per-tenant`` facilities of
``--tags-per-facility`` 1-minute rate tags (scf/min, each mapped to a fuel pathway), created with
the storage functions (``create_tenant``, ``create_facility``, ``create_tag``,
``replace_mappings``); every tag holds ``--days`` days of readings from 2025-01-01 UTC with 12
planted gaps of 10 min to 4 h. Big: ``--points`` (default 10^8: 191 tags), small:
``--small-points`` (default 10^6: 2 tags). The first tenant, facility and tag are the same
readings in both, and every measured request reads them, so any difference comes from the size
of the table around them.

**Load (timed, not a target).** Binary COPY (``worker.storage.points.pg_binary_copy``) of numpy
arrays generated in ``--workers`` processes, one calendar month per job, tags in id order. On a
plain ``data_point`` the primary key is dropped for the load and rebuilt afterwards; on a
partitioned one (monthly range partitions) the partitions are created first
(``worker.storage.partitions.ensure_partitions``) and each month's rows are appended to its own
partition with its key in place. Then ``VACUUM ANALYZE data_point`` and ``CHECKPOINT``.

**Measured on both databases in the same run, interleaved:**

a. ingest of a new 2,000,000-row CSV (8 new tags of a new facility, after the stored range)
   through the worker's path: ``pipelines.ingest.parse_csv`` then
   ``worker.storage.points.store_parsed`` in one ``session_scope``, as ``bench/ingest.py``; the
   facility and its points are deleted afterwards (untimed);
b. ``GET /v1/data-points`` of one tag and one day (``limit=1000``, page 1: counted) over HTTP
   (httpx) against a uvicorn server of the API per database; ``--requests`` random days, the
   same days on both; p50 and p95;
c. the same tag over the whole stored range, ``limit=100``: page ``--deep-page`` by number
   (OFFSET) and the page after a ``starting_after`` cursor at the same position; p50 and p95;
d. one tag-quarter's gap analysis: ``worker.tasks.analysis.analyse_gaps`` (the analysis task's
   function: usable neighbours, ``load_points``, ``find_gaps``, ``reconcile_gaps``) over 2025 Q2
   in a transaction rolled back afterwards;
e. an LCFS report build for 2025 Q2 of the first facility: ``load_lcfs_inputs``,
   ``lcfs.compute_quarter``, ``render_signed(report, "pdf")``, as ``bench/report.py`` times it;
f. bytes per stored point: ``pg_total_relation_size`` of ``data_point`` and every partition
   (heap, indexes, TOAST) / rows, measured right after the load, beside the CSV's bytes per row.

The ingests' deleted rows are vacuumed (untimed) before d and e, as autovacuum would.

Targets (big against small): ingest rate >= 0.8 x; one-day p95 <= 2 x; gap analysis and report
build (median) <= 1.5 x.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
START = datetime(2025, 1, 1, tzinfo=UTC)
START_US = int(START.timestamp()) * 1_000_000
MINUTE_US = 60_000_000
GAPS_PER_TAG = 12
TZ = "America/Los_Angeles"
YEAR, QUARTER = 2025, 2
INGEST_TAGS = 8
# new_id("fac") is 20 characters; the CSV is written once with this stand-in of the same length
# and each ingest substitutes the id of its own new facility.
FACILITY_PLACEHOLDER = "fac_0000000000000000"
META_VERSION = 1
# (fuel_type, fuel_pathway_code, CI gCO2e/MJ) of the tags, in turn (as bench/report.py).
FUELS = [("rng", "RNG-DAIRY-001", -255.0), ("rng", "RNG-LFG-002", 46.4)]
TARGETS = {
    "ingest_rate": ("ingest rows/s, big >= 0.8 x small", 0.8),
    "day_p95": ("one-day query p95, big <= 2 x small", 2.0),
    "gaps": ("gap analysis (median), big <= 1.5 x small", 1.5),
    "report": ("report build (median), big <= 1.5 x small", 1.5),
}

err = Console(stderr=True)


# --- the data -------------------------------------------------------------------------------


def minutes_per_tag(days: int) -> int:
    return days * 1440


def keep_mask(tag_index: int, n: int, seed: int) -> np.ndarray:
    """Which minutes of a tag's range hold a reading: all but GAPS_PER_TAG runs of 10-240."""
    rng = np.random.default_rng([seed, tag_index])
    keep = np.ones(n, dtype=bool)
    for at, length in zip(rng.integers(0, n - 240, GAPS_PER_TAG),
                          rng.integers(10, 240, GAPS_PER_TAG), strict=True):  # fmt: skip
        keep[at : at + length] = False
    return keep


def tag_points(tag_index: int, n: int, seed: int, lo: int, hi: int) -> tuple[np.ndarray, ...]:
    """(ts_us, value) of minutes [lo, hi) of tag ``tag_index``; the same for any database."""
    minutes = np.arange(lo, hi, dtype=np.int64)
    minutes = minutes[keep_mask(tag_index, n, seed)[lo:hi]]
    rng = np.random.default_rng([seed, tag_index, lo])
    daily = np.sin(2 * np.pi * minutes / 1440.0 + tag_index)
    value = 500.0 + 100.0 * daily + rng.normal(0.0, 5.0, len(minutes))
    return START_US + minutes * MINUTE_US, value


def month_bounds(days: int) -> list[tuple[int, int]]:
    """[lo, hi) minute offsets of each calendar month (UTC) of the stored range."""
    end = START + timedelta(days=days)
    bounds, at = [], START
    while at < end:
        following = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
        upto = min(following, end)
        bounds.append((int((at - START).total_seconds() // 60),
                       int((upto - START).total_seconds() // 60)))  # fmt: skip
        at = upto
    return bounds


def load_month(conninfo: str, tag_ids: list[int], n: int, seed: int, lo: int, hi: int) -> int:
    """COPY one month of every tag (in tag id order, a batch of tags per COPY); rows written."""
    from worker.storage.points import pg_binary_copy

    written = 0
    batch = max(1, 1_000_000 // max(1, hi - lo))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for first in range(0, len(tag_ids), batch):
            parts = []
            for index in range(first, min(first + batch, len(tag_ids))):
                ts, value = tag_points(index, n, seed, lo, hi)
                parts.append((np.full(len(ts), tag_ids[index], dtype=np.int64), ts, value))
            tag = np.concatenate([p[0] for p in parts])
            ts = np.concatenate([p[1] for p in parts])
            value = np.concatenate([p[2] for p in parts])
            data = pg_binary_copy(tag, ts, value, np.zeros(len(tag), dtype=np.int16))
            with (
                conn.cursor() as cur,
                cur.copy("COPY data_point (tag_id, ts, value, quality) FROM STDIN (FORMAT binary)")
                as copy,
            ):  # fmt: skip
                copy.write(data)
            written += len(tag)
    return written


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass
class Db:
    label: str  # big | small
    host: str
    port: int
    user: str
    name: str
    points_wanted: int

    def conninfo(self, dbname: str | None = None) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname or self.name}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.name}"

    def query(self, statement: str | sql.Composable, params: Any = None) -> list[Any]:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


def admin(db: Db, statement: sql.Composable) -> list[Any]:
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def drop_database(db: Db) -> None:
    from worker.storage.db import get_engine

    get_engine(db.url).dispose()
    admin(db, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))


def kept_meta(db: Db) -> dict[str, Any] | None:
    """The shape a kept database was built with (its comment), or None."""
    rows = admin(db, sql.SQL("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                             "WHERE datname = {}").format(sql.Literal(db.name)))  # fmt: skip
    if not rows or not rows[0][0]:
        return None
    with suppress(ValueError):
        meta = json.loads(rows[0][0])
        return meta if isinstance(meta, dict) else None
    return None


def checkpoint(db: Db) -> None:
    with suppress(psycopg.Error):  # needs superuser or pg_checkpoint; optional
        db.query("CHECKPOINT")


def partitioned(db: Db) -> bool:
    return bool(db.query("SELECT 1 FROM pg_partitioned_table "
                         "WHERE partrelid = 'data_point'::regclass"))  # fmt: skip


def storage(db: Db) -> dict[str, Any]:
    """Sizes of data_point and, when partitioned, every partition (heap, TOAST, indexes)."""
    row = db.query(
        "WITH rel AS (SELECT relid FROM pg_partition_tree('data_point')"
        " UNION SELECT 'data_point'::regclass)"
        " SELECT count(*) FILTER (WHERE c.relkind = 'r'), coalesce(sum(pg_table_size(relid)), 0),"
        " coalesce(sum(pg_indexes_size(relid)), 0),"
        " coalesce(sum(pg_total_relation_size(relid)), 0),"
        " coalesce(sum(c.reltuples) FILTER (WHERE c.relkind = 'r' AND c.reltuples > 0), 0)"
        " FROM rel JOIN pg_class c ON c.oid = rel.relid"
    )[0]
    leaves, table, indexes, total, estimate = row
    return {"partitioned": partitioned(db), "leaf_tables": int(leaves), "table_bytes": int(table),
            "index_bytes": int(indexes), "total_bytes": int(total),
            "rows_estimate": int(estimate)}  # fmt: skip


# --- building a database --------------------------------------------------------------------


def schema_head() -> str:
    """The migrations' head: a kept database built at another one is rebuilt, not migrated."""
    from alembic.script import ScriptDirectory

    from worker.storage.db import MIGRATIONS

    return str(ScriptDirectory(str(MIGRATIONS)).get_current_head())


def shape(args: argparse.Namespace, points: int) -> dict[str, Any]:
    per_tag = minutes_per_tag(args.days)
    return {"version": META_VERSION, "schema": schema_head(), "points_wanted": points,
            "days": args.days,
            "tags": max(2, -(-points // per_tag)), "tags_per_facility": args.tags_per_facility,
            "facilities_per_tenant": args.facilities_per_tenant, "seed": args.seed}  # fmt: skip


def create_world(db: Db, spec: dict[str, Any]) -> dict[str, Any]:
    """Tenants, facilities, tags and fuel mappings through the storage functions."""
    from pipelines import lcfs
    from worker.storage.db import session_scope
    from worker.storage.facilities import create_facility, create_tag
    from worker.storage.reports import replace_mappings
    from worker.storage.tenants import create_tenant

    tag_ids: list[int] = []
    first: dict[str, Any] = {}
    per_fac, per_tenant = spec["tags_per_facility"], spec["facilities_per_tenant"]
    with session_scope(db.url) as s:
        tenant = facility = None
        for index in range(spec["tags"]):
            f_index, slot = divmod(index, per_fac)
            if slot == 0:
                if f_index % per_tenant == 0:
                    tenant = create_tenant(s, name=f"Bench tenant {f_index // per_tenant}")
                assert tenant is not None
                facility = create_facility(s, tenant_id=tenant.id, name=f"Bench site {f_index}",
                                           timezone=TZ, strict_tags=True,
                                           carb_facility_id="")  # fmt: skip
                mappings = [
                    lcfs.TagMapping(tag=f"meter_{k:02d}", fuel_pathway_code=FUELS[k % 2][1],
                                    fuel_type=FUELS[k % 2][0], ci=FUELS[k % 2][2], unit="scf",
                                    kind="rate", rate_per="min", interval_s=60.0)
                    for k in range(min(per_fac, spec["tags"] - index))
                ]  # fmt: skip
                replace_mappings(s, facility=facility, mappings=mappings)
            assert facility is not None
            tag = create_tag(s, facility=facility, name=f"meter_{slot:02d}", unit="scf/min",
                             expected_interval_s=60.0, role="rate")  # fmt: skip
            assert tag is not None
            tag_ids.append(tag.id)
            if index == 0:
                first = {"tenant_id": facility.tenant_id, "facility_id": facility.id,
                         "tag_id": tag.id, "tag": tag.name}  # fmt: skip
    return {"tag_ids": tag_ids, **first}


def ensure_partitions(db: Db, days: int) -> None:
    """Monthly partitions for the stored range and the ingest's, with the storage function."""
    from worker.storage.db import session_scope

    partitions = importlib.import_module("worker.storage.partitions")
    with session_scope(db.url) as s:
        partitions.ensure_partitions(s, START, START + timedelta(days=days + 400))


def build(db: Db, spec: dict[str, Any], workers: int) -> dict[str, Any]:
    """Create the database, its world and its points; returns the world and load timings."""
    from worker.storage.db import upgrade

    name = sql.Identifier(db.name)
    admin(db, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin(db, sql.SQL("CREATE DATABASE {}").format(name))
    timings: dict[str, float] = {}
    began = time.perf_counter()
    upgrade(db.url)
    world = create_world(db, spec)
    timings["migrate_and_world_s"] = time.perf_counter() - began
    is_partitioned = partitioned(db)
    pkey = None
    if is_partitioned:
        started = time.perf_counter()
        ensure_partitions(db, spec["days"])
        timings["partitions_s"] = time.perf_counter() - started
    else:
        pkey = db.query("SELECT conname FROM pg_constraint WHERE contype = 'p' "
                        "AND conrelid = 'data_point'::regclass")[0][0]  # fmt: skip
        db.query(sql.SQL("ALTER TABLE data_point DROP CONSTRAINT {}").format(sql.Identifier(pkey)))
    n = minutes_per_tag(spec["days"])
    months = month_bounds(spec["days"])
    started = time.perf_counter()
    rows = 0
    with (
        Progress(TextColumn(f"{db.label}: COPY by month"), BarColumn(), MofNCompleteColumn(),
                 TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(),
                 console=err) as progress,
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):  # fmt: skip
        task = progress.add_task("copy", total=len(months), rows=0)
        futures = [pool.submit(load_month, db.conninfo(), world["tag_ids"], n, spec["seed"], lo, hi)
                   for lo, hi in months]  # fmt: skip
        for future in as_completed(futures):
            rows += future.result()
            progress.update(task, advance=1, rows=rows)
    timings["copy_s"] = time.perf_counter() - started
    if pkey is not None:
        with err.status(f"{db.name}: rebuilding the primary key"):
            started = time.perf_counter()
            with psycopg.connect(db.conninfo(), autocommit=True) as conn:
                conn.execute("SET maintenance_work_mem = '1GB'")
                conn.execute(f"SET max_parallel_maintenance_workers = {max(0, workers - 1)}")
                conn.execute(sql.SQL("ALTER TABLE data_point ADD CONSTRAINT {} PRIMARY KEY "
                                     "(tag_id, ts)").format(sql.Identifier(pkey)))  # fmt: skip
            timings["primary_key_s"] = time.perf_counter() - started
    with err.status(f"{db.name}: VACUUM ANALYZE, CHECKPOINT"):
        started = time.perf_counter()
        db.query("VACUUM ANALYZE data_point")
        checkpoint(db)
        timings["vacuum_analyze_checkpoint_s"] = time.perf_counter() - started
    timings["total_s"] = time.perf_counter() - began
    timings = {k: round(v, 1) for k, v in timings.items()}
    meta = {**spec, **world, "rows": rows, "partitioned": is_partitioned, "load": timings,
            "storage": storage(db),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    del meta["tag_ids"]
    comment = sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal(json.dumps(meta)))
    admin(db, comment)  # written last: a half-built database is never reused
    return meta


def prepare(db: Db, spec: dict[str, Any], *, reuse: bool, workers: int) -> dict[str, Any]:
    meta = kept_meta(db) if reuse else None
    if meta is not None and all(meta.get(k) == v for k, v in spec.items()):
        from worker.storage.db import upgrade

        started = time.perf_counter()
        with err.status(f"{db.name}: reusing the kept database"):
            upgrade(db.url)
        meta = {**meta, "reused": True, "upgrade_s": round(time.perf_counter() - started, 1)}
        err.log(f"{db.label}: reused {db.name} ({meta['rows']:,} points, built {meta['built_at']})")
        return meta
    err.log(f"{db.label}: building {db.name}: {spec['tags']} tags x {spec['days']} days")
    meta = {**build(db, spec, workers), "reused": False}
    err.log(f"{db.label}: {meta['rows']:,} points loaded in {meta['load']['total_s']:.0f} s "
            f"({meta['load']})")  # fmt: skip
    return meta


# --- the API --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_server(db: Db, redis_url: str) -> Iterator[str]:
    """uvicorn serving the API on this database; yields its base URL."""
    from worker.processes import api_command

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TICKWORK_DATABASE_URL": db.url,
           "TICKWORK_REDIS_URL": redis_url, "TICKWORK_BROKER_URL": redis_url,
           "TICKWORK_DATA_DIR": str(OUT / "scale-data"),
           "TICKWORK_RATE_LIMIT_PER_MINUTE": "1000000", "TICKWORK_RATE_LIMIT_PER_HOUR": "1000000",
           "TICKWORK_RATE_LIMIT_PER_DAY": "1000000"}  # fmt: skip
    log = (OUT / f"scale-api-{db.label}.log").open("w")
    proc = subprocess.Popen(api_command(host="127.0.0.1", port=port), env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API on {db.name} did not start; see {log.name}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def api_key(db: Db, tenant_id: str) -> str:
    from worker.storage.db import session_scope
    from worker.storage.tenants import create_api_key

    with session_scope(db.url) as s:
        return create_api_key(s, tenant_id=tenant_id, name="scale bench", scope="read")[1]


# --- the measured operations ----------------------------------------------------------------


def ingest_csv(rows: int, start: datetime) -> tuple[bytes, int]:
    from pipelines.synthetic import make_series, to_csv_bytes

    minutes = -(-rows // INGEST_TAGS)
    frame, _ = make_series(pd.Timestamp(start), pd.Timestamp(start + timedelta(minutes=minutes)),
                           faults_per_tag=0)  # fmt: skip
    frame = frame.iloc[:rows]
    return to_csv_bytes(frame, facility_id=FACILITY_PLACEHOLDER), len(frame)


def run_ingest(db: Db, tenant_id: str, content: bytes) -> dict[str, Any]:
    """A new facility, the CSV into it through the worker's path (timed), then deleted."""
    from pipelines import ingest
    from worker.storage.db import session_scope
    from worker.storage.facilities import create_facility, delete_facility
    from worker.storage.jobs import create_job
    from worker.storage.models import Facility
    from worker.storage.points import store_parsed

    with session_scope(db.url) as s:
        facility_id = create_facility(s, tenant_id=tenant_id, name="Bench ingest", timezone="UTC",
                                      strict_tags=False, carb_facility_id="").id  # fmt: skip
        job_id = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload").id
    data = content.replace(FACILITY_PLACEHOLDER.encode(), facility_id.encode())
    checkpoint(db)
    started = time.perf_counter()
    parsed = ingest.parse_csv(data, facility_id=facility_id)
    parsed_at = time.perf_counter()
    with session_scope(db.url) as s:
        result = store_parsed(s, job_id=job_id, tenant_id=tenant_id, upload_id=None, parsed=parsed)
    finished = time.perf_counter()
    if result["inserted"] != parsed.rows or result["rejected"]:
        raise SystemExit(f"{db.label}: the ingest did not insert every row: {result}")
    with session_scope(db.url) as s:
        facility = s.get(Facility, facility_id)
        assert facility is not None
        delete_facility(s, facility=facility)
    return {"rows": parsed.rows, "parse_s": parsed_at - started, "store_s": finished - parsed_at,
            "total_s": finished - started,
            "rows_per_s": parsed.rows / (finished - started)}  # fmt: skip


def run_gaps(db: Db, meta: dict[str, Any]) -> tuple[float, dict[str, int]]:
    """analyse_gaps of the first tag over the quarter, timed, in a transaction rolled back."""
    from sqlalchemy.orm import Session

    from worker.storage.db import get_engine
    from worker.storage.models import Tag
    from worker.storage.reports import quarter_bounds
    from worker.tasks.analysis import analyse_gaps, thresholds

    start, end = quarter_bounds(YEAR, QUARTER, "UTC")
    with Session(get_engine(db.url)) as s:
        tag = s.get(Tag, meta["tag_id"])
        assert tag is not None
        limits = thresholds()
        began = time.perf_counter()
        counts = analyse_gaps(s, tag=tag, start=start, end=end - timedelta(microseconds=1),
                              now=datetime.now(UTC), limits=limits)  # fmt: skip
        s.flush()
        seconds = time.perf_counter() - began
        s.rollback()
    return seconds, counts


def run_report(db: Db, meta: dict[str, Any], tables: Any) -> tuple[dict[str, float], int]:
    """load_lcfs_inputs + compute_quarter + render (PDF) of the first facility's quarter."""
    from pipelines import lcfs
    from worker.signing import render_signed
    from worker.storage.db import session_scope
    from worker.storage.models import Facility
    from worker.storage.reports import load_lcfs_inputs

    t0 = time.perf_counter()
    with session_scope(db.url, readonly=True) as s:
        facility = s.get(Facility, meta["facility_id"])
        assert facility is not None
        inputs = load_lcfs_inputs(s, facility=facility, year=YEAR, quarter=QUARTER, tables=tables)
    t1 = time.perf_counter()
    report = lcfs.compute_quarter(inputs)
    t2 = time.perf_counter()
    content = render_signed(report, "pdf")
    t3 = time.perf_counter()
    if not content.startswith(b"%PDF-") or inputs.points is None or inputs.points.empty:
        raise SystemExit(f"{db.label}: the report build read no points")
    return {"load": t1 - t0, "compute": t2 - t1, "render": t3 - t2,
            "total": t3 - t0}, len(inputs.points)  # fmt: skip


def point_at(db: Db, tag_id: int, position: int) -> str:
    """The public id of the tag's point at ``position`` (0-based, by time)."""
    rows = db.query(
        "SELECT (extract(epoch FROM ts) * 1000000)::bigint FROM data_point"
        " WHERE tag_id = %s ORDER BY ts OFFSET %s LIMIT 1",
        (tag_id, position),
    )
    return f"dp_{tag_id}_{rows[0][0]}"


# --- summaries ------------------------------------------------------------------------------


def pct(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "min_ms": round(float(ms.min()), 2), "max_ms": round(float(ms.max()), 2),
            "n": len(samples)}  # fmt: skip


def med(samples: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(samples), 4), "min_s": round(min(samples), 4),
            "max_s": round(max(samples), 4), "n": len(samples)}  # fmt: skip


def interleaved(rounds: int, fn: Callable[[str, int], None]) -> None:
    """fn(label, round) for both databases, the order alternating from round to round."""
    for i in range(rounds):
        for label in ("small", "big") if i % 2 == 0 else ("big", "small"):
            fn(label, i)


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=100_000_000, help="big database (about)")
    parser.add_argument("--small-points", type=int, default=1_000_000, help="small database")
    parser.add_argument("--days", type=int, default=365, help="1-minute data per tag")
    parser.add_argument("--tags-per-facility", type=int, default=2)
    parser.add_argument("--facilities-per-tenant", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="processes loading by COPY")
    parser.add_argument("--ingest-rows", type=int, default=2_000_000)
    parser.add_argument("--ingest-repeat", type=int, default=2, help="ingests per database")
    parser.add_argument("--requests", type=int, default=200, help="one-day queries per database")
    parser.add_argument("--deep-requests", type=int, default=40, help="per deep-page kind")
    parser.add_argument("--deep-page", type=int, default=4500, help="page number (limit 100)")
    parser.add_argument("--repeat", type=int, default=5, help="gap analyses and report builds")
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--pg-database", default="tickwork_bench_scale",
                        help="prefix: <prefix>_<points> per database")  # fmt: skip
    redis = os.environ.get("TICKWORK_BENCH_REDIS", "redis://127.0.0.1:6379/8")
    parser.add_argument("--redis-url", default=redis)
    parser.add_argument("--keep-db", action="store_true", help="keep both databases")
    parser.add_argument("--reuse-db", action="store_true",
                        help="use kept databases of the same shape (skips the load)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.update(TICKWORK_REDIS_URL=args.redis_url, TICKWORK_BROKER_URL=args.redis_url,
                      TICKWORK_DATA_DIR=str(OUT / "scale-data"))  # fmt: skip
    dbs = {
        label: Db(label, args.pg_host, args.pg_port, args.pg_user, f"{args.pg_database}_{n}", n)
        for label, n in (("small", args.small_points), ("big", args.points))
    }
    before = loadavg()
    metas: dict[str, dict[str, Any]] = {}
    try:
        for label in ("small", "big"):
            metas[label] = prepare(dbs[label], shape(args, dbs[label].points_wanted),
                                   reuse=args.reuse_db, workers=args.workers)  # fmt: skip
        out = measure(args, dbs, metas)
    finally:
        if args.keep_db:
            err.log(f"kept {', '.join(d.name for d in dbs.values())}")
        else:
            for db in dbs.values():
                drop_database(db)
    out["loadavg"] = {"before": before, "after": loadavg()}
    print_table(out)
    json.dump(out, sys.stdout, indent=1, default=str)
    print()
    return 0


def measure(args: argparse.Namespace, dbs: dict[str, Db],
            metas: dict[str, dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    from pipelines import lcfs

    # Sizes as loaded: a kept database also holds the dead rows of earlier runs' ingests.
    sizes = {label: metas[label].get("storage") or storage(db) for label, db in dbs.items()}
    with err.status(f"writing the {args.ingest_rows:,}-row ingest CSV"):
        end = START + timedelta(days=args.days + 1)
        content, csv_rows = ingest_csv(args.ingest_rows, end)
    csv_bytes_per_row = len(content) / csv_rows

    ingests: dict[str, list[dict[str, Any]]] = {"small": [], "big": []}

    def ingest_once(label: str, i: int) -> None:
        with err.status(f"{label}: ingest {i + 1}/{args.ingest_repeat} of {csv_rows:,} rows"):
            run = run_ingest(dbs[label], metas[label]["tenant_id"], content)
        err.log(f"{label}: ingest {run['total_s']:.2f} s, {run['rows_per_s']:,.0f} rows/s")
        ingests[label].append(run)

    interleaved(args.ingest_repeat, ingest_once)
    for label, db in dbs.items():  # what autovacuum would do: the ingests' deleted rows go
        with err.status(f"{label}: VACUUM data_point (untimed)"):
            db.query("VACUUM data_point")

    gap_s: dict[str, list[float]] = {"small": [], "big": []}
    gap_counts: dict[str, dict[str, int]] = {}
    report_s: dict[str, list[dict[str, float]]] = {"small": [], "big": []}
    report_points: dict[str, int] = {}
    tables = lcfs.load_tables()
    for label in ("small", "big"):  # untimed warm-up
        run_gaps(dbs[label], metas[label])
        run_report(dbs[label], metas[label], tables)

    def analysis_once(label: str, i: int) -> None:
        with err.status(f"{label}: gap analysis and report {i + 1}/{args.repeat}"):
            seconds, gap_counts[label] = run_gaps(dbs[label], metas[label])
            gap_s[label].append(seconds)
            stages, report_points[label] = run_report(dbs[label], metas[label], tables)
            report_s[label].append(stages)

    interleaved(args.repeat, analysis_once)

    # The API: one server per database; the same requests of the same tag on both.
    day_s: dict[str, list[float]] = {"small": [], "big": []}
    deep_s: dict[str, dict[str, list[float]]] = {
        label: {"offset": [], "cursor": []} for label in dbs
    }
    bodies: dict[str, dict[str, Any]] = {label: {} for label in dbs}
    rng = np.random.default_rng(args.seed)
    offsets = rng.integers(0, args.days, args.requests)
    days = [START.date() + timedelta(days=int(d)) for d in offsets]
    limit = 100
    cursor_position = (args.deep_page - 1) * limit - 1
    with api_server(dbs["small"], args.redis_url) as small_base, \
            api_server(dbs["big"], args.redis_url) as big_base:  # fmt: skip
        base = {"small": small_base, "big": big_base}
        clients = {label: httpx.Client(base_url=base[label], timeout=120,
                                       headers={"Authorization": "Bearer " + api_key(
                                           dbs[label], metas[label]["tenant_id"])})
                   for label in dbs}  # fmt: skip
        common = {
            label: {"facility_id": metas[label]["facility_id"], "tags": metas[label]["tag"]}
            for label in dbs
        }
        whole = {"start_date": START.date().isoformat(),
                 "end_date": (START + timedelta(days=args.days)).date().isoformat()}  # fmt: skip
        cursors = {label: point_at(dbs[label], metas[label]["tag_id"], cursor_position)
                   for label in dbs}  # fmt: skip

        def get(label: str, params: dict[str, Any]) -> tuple[float, Any]:
            began = time.perf_counter()
            answer = clients[label].get("/v1/data-points", params={**common[label], **params})
            spent = time.perf_counter() - began
            if answer.status_code != 200:
                raise SystemExit(f"{label}: {answer.status_code} {answer.text[:300]}")
            return spent, answer.json()

        def day_query(label: str, i: int) -> None:
            day = days[i].isoformat()
            spent, body = get(label, {"start_date": day, "end_date": day, "limit": 1000})
            day_s[label].append(spent)
            bodies[label][f"day {day}"] = len(body["data"])

        def deep_query(label: str, i: int) -> None:
            for kind, extra in (("offset", {"page": args.deep_page}),
                                ("cursor", {"starting_after": cursors[label]})):  # fmt: skip
                spent, body = get(label, {**whole, "limit": limit, **extra})
                deep_s[label][kind].append(spent)
                bodies[label][kind] = [p["id"].split("_")[-1] for p in body["data"]]

        try:
            with err.status("API warm-up"):
                for label in dbs:
                    for i in range(min(5, len(days))):
                        get(label, {"start_date": days[i].isoformat(),
                                    "end_date": days[i].isoformat(), "limit": 1000})  # fmt: skip
                    deep_query(label, 0)
                    deep_s[label] = {"offset": [], "cursor": []}
            with err.status(f"API: {args.requests} one-day queries per database"):
                interleaved(args.requests, day_query)
            with err.status(f"API: {args.deep_requests} deep pages of each kind per database"):
                interleaved(args.deep_requests, deep_query)
        finally:
            for client in clients.values():
                client.close()
    same_day_rows = all(bodies["small"][k] == bodies["big"][k] for k in bodies["small"]
                        if k.startswith("day "))  # fmt: skip
    same_deep = bodies["small"]["offset"] == bodies["big"]["offset"] == bodies["small"][
        "cursor"] == bodies["big"]["cursor"]  # fmt: skip
    if not (same_day_rows and same_deep):
        raise SystemExit("the two databases answered the same requests differently")

    def per_db(label: str) -> dict[str, Any]:
        size = sizes[label]
        rows = metas[label]["rows"]
        ing = ingests[label]
        return {
            "database": dbs[label].name,
            "points": rows,
            "tags": metas[label]["tags"],
            "load": metas[label]["load"],
            "reused": metas[label]["reused"],
            "upgrade_s": metas[label].get("upgrade_s"),
            "storage": {**size, "bytes_per_point": round(size["total_bytes"] / rows, 2),
                        "table_bytes_per_point": round(size["table_bytes"] / rows, 2),
                        "index_bytes_per_point": round(size["index_bytes"] / rows, 2)},
            "ingest": {"runs": ing, "rows_per_s_median": statistics.median(
                r["rows_per_s"] for r in ing)},
            "day_query": pct(day_s[label]),
            "deep_offset": pct(deep_s[label]["offset"]),
            "deep_cursor": pct(deep_s[label]["cursor"]),
            "gap_analysis": {**med(gap_s[label]), "counts": gap_counts[label]},
            "report_build": {**med([r["total"] for r in report_s[label]]),
                             "points": report_points[label],
                             "stages_median_s": {k: round(statistics.median(
                                 r[k] for r in report_s[label]), 4)
                                 for k in ("load", "compute", "render")}},
        }  # fmt: skip

    small, big = per_db("small"), per_db("big")
    ratios = {
        "ingest_rate": big["ingest"]["rows_per_s_median"] / small["ingest"]["rows_per_s_median"],
        "day_p50": big["day_query"]["p50_ms"] / small["day_query"]["p50_ms"],
        "day_p95": big["day_query"]["p95_ms"] / small["day_query"]["p95_ms"],
        "deep_offset_p95": big["deep_offset"]["p95_ms"] / small["deep_offset"]["p95_ms"],
        "deep_cursor_p95": big["deep_cursor"]["p95_ms"] / small["deep_cursor"]["p95_ms"],
        "gaps": big["gap_analysis"]["median_s"] / small["gap_analysis"]["median_s"],
        "report": big["report_build"]["median_s"] / small["report_build"]["median_s"],
        "bytes_per_point": big["storage"]["bytes_per_point"] / small["storage"]["bytes_per_point"],
    }
    verdicts = {}
    for key, (label, bound) in TARGETS.items():
        ok = ratios[key] >= bound if key == "ingest_rate" else ratios[key] <= bound
        verdicts[key] = {"target": label, "ratio": round(ratios[key], 3), "pass": ok}
    return {
        "bench": "scale",
        "small": small,
        "big": big,
        "ratios_big_over_small": {k: round(v, 3) for k, v in ratios.items()},
        "targets": verdicts,
        "csv": {
            "rows": csv_rows,
            "bytes": len(content),
            "bytes_per_row": round(csv_bytes_per_row, 2),
        },
        "deep_page": args.deep_page,
        "requests": args.requests,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def print_table(out: dict[str, Any]) -> None:
    small, big = out["small"], out["big"]
    table = Table(title=f"Growth: {big['points']:,} against {small['points']:,} points "
                        f"({'partitioned' if big['storage']['partitioned'] else 'one table'}, "
                        f"{os.cpu_count()} CPUs)")  # fmt: skip
    for column in ("measure", "small", "big", "big / small"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    r = out["ratios_big_over_small"]
    rows = [
        ("ingest rows/s (median)", small["ingest"]["rows_per_s_median"],
         big["ingest"]["rows_per_s_median"], r["ingest_rate"], "{:,.0f}"),
        ("one-day query p50 ms", small["day_query"]["p50_ms"], big["day_query"]["p50_ms"],
         r["day_p50"], "{:.1f}"),
        ("one-day query p95 ms", small["day_query"]["p95_ms"], big["day_query"]["p95_ms"],
         r["day_p95"], "{:.1f}"),
        (f"page {out['deep_page']} (OFFSET) p95 ms", small["deep_offset"]["p95_ms"],
         big["deep_offset"]["p95_ms"], r["deep_offset_p95"], "{:.1f}"),
        ("same page by cursor p95 ms", small["deep_cursor"]["p95_ms"],
         big["deep_cursor"]["p95_ms"], r["deep_cursor_p95"], "{:.1f}"),
        ("gap analysis, tag-quarter (median s)", small["gap_analysis"]["median_s"],
         big["gap_analysis"]["median_s"], r["gaps"], "{:.3f}"),
        ("LCFS report build (median s)", small["report_build"]["median_s"],
         big["report_build"]["median_s"], r["report"], "{:.3f}"),
        ("bytes per stored point", small["storage"]["bytes_per_point"],
         big["storage"]["bytes_per_point"], r["bytes_per_point"], "{:.1f}"),
    ]  # fmt: skip
    for name, a, b, ratio, fmt in rows:
        table.add_row(name, fmt.format(a), fmt.format(b), f"{ratio:.2f}")
    table.add_row("CSV bytes per row", f"{out['csv']['bytes_per_row']:.1f}", "", "")
    err.print(table)
    load = big["load"]
    err.print(f"big load: {load} ({'reused' if big['reused'] else 'built in this run'})")
    for verdict in out["targets"].values():
        mark = "PASS" if verdict["pass"] else "FAIL"
        err.print(f"{mark} {verdict['target']}: {verdict['ratio']:.2f}")
    err.print(f"loadavg before {out['loadavg']['before']} / after {out['loadavg']['after']}")


if __name__ == "__main__":
    raise SystemExit(main())
