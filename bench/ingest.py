"""Ingest benchmark: our CSV ingest path beside PostgreSQL's ``\\copy`` and on SQLite.

Run from the project root with ``make bench`` (``.venv/bin/python bench/ingest.py``).

1. Writes a synthetic CSV in the ingest format (``facility_id,tag,timestamp,value,unit``;
   8 tags of 1-minute data, 2,000,000 rows by default) to ``bench/out/``.
2. PostgreSQL, in a fresh database: first the baseline, ``psql \\copy`` of the same file into a
   table of the CSV's shape with a primary key on (facility_id, tag, ts) (dropped once counted);
   then migrations, a tenant and a facility, and the worker's ingest path exactly as
   ``worker.tasks.ingest.process_upload`` runs it (``pipelines.ingest.parse_csv``, then
   ``worker.storage.points.store_parsed`` in one ``session_scope``) twice: into an empty
   ``data_point`` table, then the same file again (every row unchanged). A CHECKPOINT precedes
   each timed step.
3. SQLite: the same two ingests against a fresh file database.

Prints one JSON object with every figure to stdout and a human-readable table to stderr. The
database is dropped at the end (``--keep-db`` keeps it). See ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, select

import worker.storage.points as points_module
from pipelines import ingest
from pipelines.synthetic import make_series, to_csv_bytes
from worker.storage.db import get_engine, session_scope, upgrade
from worker.storage.jobs import create_job
from worker.storage.models import DataPoint, Facility
from worker.storage.tenants import create_tenant

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TAGS = 8
FACILITY_ID = "fac_bench"
START = pd.Timestamp("2024-01-01T00:00:00Z")
TARGET_RATIO = 0.8  # the goal: our first PostgreSQL ingest >= 0.8 x raw \copy
# The runs, in order, on each database: the file, the same file again, then a correction of it.
RUNS = {"first": "first ingest", "reingest": "re-ingest", "corrected": "correction"}

console = Console(stderr=True)


@dataclass
class IngestRun:
    """One parse + store of the whole file, as the worker runs it."""

    label: str
    rows: int
    parse_s: float
    store_s: float
    total_s: float
    points_per_s: float
    result: dict[str, Any]
    store_breakdown_s: dict[str, float] = field(default_factory=dict)


@dataclass
class CopyRun:
    rows: int
    seconds: float
    rows_per_s: float
    table: str


@dataclass
class PgTarget:
    host: str
    port: int
    user: str
    database: str

    def conninfo(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"


# --- the data -------------------------------------------------------------------------------


def _frame(rows: int) -> pd.DataFrame:
    """The synthetic readings (no planted gaps, so the row count is exact)."""
    minutes = -(-rows // TAGS)
    end = START + pd.Timedelta(minutes=minutes)
    frame, _faults = make_series(START, end, faults_per_tag=0)
    return frame.iloc[:rows]  # only trims when rows is not a multiple of TAGS


def write_csv(rows: int, path: Path) -> tuple[bytes, int]:
    """The synthetic file; returns bytes, rows."""
    frame = _frame(rows)
    content = to_csv_bytes(frame, facility_id=FACILITY_ID)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content, len(frame)


def corrected_csv(rows: int) -> bytes:
    """The same keys with every value changed: a correction that rewrites every stored point."""
    frame = _frame(rows).copy()
    frame["value"] = frame["value"] + 1.0
    return to_csv_bytes(frame, facility_id=FACILITY_ID)


# --- instrumentation (timing only; the code under test is unchanged) ------------------------


class StoreTimer:
    """Wall time inside the pieces of ``store_parsed``: patched wrappers plus SQL events.

    Keys are paths: ``upsert_points > sql: upsert data_point`` is SQL run inside upsert_points.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._sql_started: list[float] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(name)
            key = " > ".join(self._stack)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals[key] += time.perf_counter() - started
                self._stack.pop()

        return timed

    def before_sql(self, *_: Any) -> None:
        self._sql_started.append(time.perf_counter())

    def after_sql(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        elapsed = time.perf_counter() - self._sql_started.pop()
        key = " > ".join([*self._stack, f"sql: {_statement_kind(statement)}"])
        self.totals[key] += elapsed

    def breakdown(self, store_s: float) -> dict[str, float]:
        """Totals plus, per wrapped function and for store_parsed, the time not in a child."""
        out = dict(self.totals)
        for parent in [k for k in self.totals if not k.startswith("sql: ")]:
            children = sum(
                v
                for k, v in self.totals.items()
                if k.startswith(f"{parent} > ") and k.count(" > ") == parent.count(" > ") + 1
            )
            if children:
                out[f"{parent} > rest"] = self.totals[parent] - children
        top = sum(v for k, v in self.totals.items() if " > " not in k)
        out["rest of store_parsed (rejected rows, commit)"] = store_s - top
        return {k: round(v, 3) for k, v in sorted(out.items())}


_STATEMENTS = {
    "WITH STORED AS (": "upsert data_point (ON CONFLICT)",
    "SELECT COUNT(PG_ADVISORY_XACT_LOCK": "lock tags",
    "INSERT INTO DATA_POINT (TAG_ID, TS, VALUE, QUALITY) SELECT TAG_ID, TS, VALUE, QUALITY FROM "
    "STAGE_POINT WHERE TRUE ON CONFLICT": "upsert data_point (ON CONFLICT)",
    "INSERT INTO DATA_POINT": "insert data_point (new data)",
    "INSERT INTO STAGE_POINT": "insert stage_point (executemany)",
    "SELECT COUNT(*) FROM STAGE_POINT": "count changed (join)",
    "SELECT DATA_POINT.TAG_ID": "overlap probe",
    "INSERT INTO TAG": "insert tag",
    "CREATE TEMP TABLE": "create temp table",
    "ANALYZE STAGE_POINT": "analyze stage_point",
    "TRUNCATE STAGE_POINT": "empty stage_point",
    "DELETE FROM STAGE_POINT S USING": "drop unchanged (join)",
    "DELETE FROM STAGE_POINT WHERE EXISTS": "drop unchanged (join)",
    "DELETE FROM STAGE_POINT": "empty stage_point",
    "DELETE FROM REJECTED_ROW": "delete rejected_row",
    "SELECT": "select",
}


def _statement_kind(statement: str) -> str:
    words = " ".join(statement.split()).upper()
    return next((v for k, v in _STATEMENTS.items() if words.startswith(k)), "other")


@contextmanager
def instrumented(url: str) -> Iterator[StoreTimer]:
    """Time the pieces of store_parsed; every patch and listener is undone on exit."""
    timer = StoreTimer()
    patches: list[tuple[Any, str]] = [
        (ingest, "infer_intervals"),
        (points_module, "resolve_tags"),
        (points_module, "upsert_points"),
        (points_module, "pg_binary_copy"),
        (points_module, "_copy_points"),
    ]
    originals = [(mod, name, getattr(mod, name)) for mod, name in patches]
    engine = get_engine(url)
    for mod, name, fn in originals:
        setattr(mod, name, timer.wrap(name, fn))
    event.listen(engine, "before_cursor_execute", timer.before_sql)
    event.listen(engine, "after_cursor_execute", timer.after_sql)
    try:
        yield timer
    finally:
        event.remove(engine, "before_cursor_execute", timer.before_sql)
        event.remove(engine, "after_cursor_execute", timer.after_sql)
        for mod, name, fn in originals:
            setattr(mod, name, fn)


# --- our ingest path ------------------------------------------------------------------------


def prepare(url: str) -> str:
    """Migrate ``url`` and create the tenant and facility; returns the tenant id."""
    upgrade(url)
    with session_scope(url) as s:
        tenant = create_tenant(s, name="Bench tenant")
        s.add(Facility(id=FACILITY_ID, tenant_id=tenant.id, name="Bench RNG plant"))
        return tenant.id


def run_ingest(url: str, tenant_id: str, content: bytes, label: str) -> IngestRun:
    with session_scope(url) as s:
        job_id = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload").id
    with instrumented(url) as timer:
        started = time.perf_counter()
        parsed = ingest.parse_csv(content, facility_id=FACILITY_ID)
        parsed_at = time.perf_counter()
        with session_scope(url) as s:
            result = points_module.store_parsed(
                s, job_id=job_id, tenant_id=tenant_id, upload_id=None, parsed=parsed
            )
        finished = time.perf_counter()
    store_s = finished - parsed_at
    return IngestRun(
        label=label,
        rows=parsed.rows,
        parse_s=parsed_at - started,
        store_s=store_s,
        total_s=finished - started,
        points_per_s=parsed.rows / (finished - started),
        result=result,
        store_breakdown_s=timer.breakdown(store_s),
    )


def count_points(url: str) -> int:
    with session_scope(url, readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(DataPoint)) or 0)


def check_runs(
    first: IngestRun, again: IngestRun, corrected: IngestRun, stored: int, rows: int
) -> None:
    if first.result["inserted"] != rows or first.result["rejected"]:
        raise SystemExit(f"first ingest did not insert every row: {first.result}")
    if again.result["inserted"] or again.result["updated"] or again.result["duplicates"] != rows:
        raise SystemExit(f"re-ingest was not a no-op: {again.result}")
    if corrected.result["inserted"] or corrected.result["updated"] != rows:
        raise SystemExit(f"the correction did not rewrite every point: {corrected.result}")
    if stored != rows:
        raise SystemExit(f"data_point holds {stored} rows, expected {rows}")


# --- PostgreSQL -----------------------------------------------------------------------------


def find_pg(host: str, port: int, users: list[str], database: str) -> PgTarget:
    errors = []
    for user in users:
        target = PgTarget(host, port, user, database)
        try:
            with psycopg.connect(target.conninfo("postgres"), connect_timeout=5):
                return target
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    raise SystemExit("cannot connect to PostgreSQL:\n  " + "\n  ".join(errors))


def admin(target: PgTarget, statement: sql.SQL | sql.Composed, dbname: str = "postgres") -> None:
    with psycopg.connect(target.conninfo(dbname), autocommit=True) as conn:
        conn.execute(statement)


def recreate_database(target: PgTarget) -> None:
    name = sql.Identifier(target.database)
    admin(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin(target, sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(target: PgTarget) -> None:
    get_engine(target.url).dispose()
    name = sql.Identifier(target.database)
    admin(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def checkpoint(target: PgTarget) -> None:
    """Flush earlier steps' dirty pages so they do not slow down the next timed step."""
    with suppress(psycopg.Error):  # needs superuser or pg_checkpoint; optional
        admin(target, sql.SQL("CHECKPOINT"), target.database)


def run_copy(target: PgTarget, csv_path: Path, rows: int) -> CopyRun:
    table = "bench_copy"
    with psycopg.connect(target.conninfo(target.database), autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (facility_id text NOT NULL, tag text NOT NULL,"
                " ts timestamptz NOT NULL, value float8 NOT NULL, unit text NOT NULL,"
                " PRIMARY KEY (facility_id, tag, ts))"
            ).format(sql.Identifier(table))
        )
    command = (
        f"\\copy {table} (facility_id, tag, ts, value, unit) "
        f"FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"
    )
    argv = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        target.host,
        "-p",
        str(target.port),
        "-U",
        target.user,
        "-d",
        target.database,
        "-c",
        command,
    ]
    checkpoint(target)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    with psycopg.connect(target.conninfo(target.database)) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        copied = row.fetchone()
        # Out of the way of the timed ingests that follow (buffers, autovacuum).
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    if copied is None or copied[0] != rows:
        raise SystemExit(f"\\copy loaded {copied} rows, expected {rows}")
    return CopyRun(rows=rows, seconds=seconds, rows_per_s=rows / seconds, table=table)


def pg_versions(target: PgTarget) -> dict[str, str]:
    with psycopg.connect(target.conninfo(target.database)) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size')"
        ).fetchall()
    psql = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=True)
    return {
        "server": server[0] if server else "?",
        "psql": psql.stdout.strip(),
        **{f"setting {name}": value for name, value in settings},
    }


# --- reporting ------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for package in ("pandas", "numpy", "pyarrow", "sqlalchemy", "psycopg", "psycopg-binary"):
        try:
            info[package] = version(package)
        except Exception:
            info[package] = None
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def print_table(report: dict[str, Any]) -> None:
    table = Table(
        title=f"Ingest of {report['rows']:,} rows ({report['machine']['cpu_count']} CPUs)"
    )
    for column in ("path", "parse s", "store s", "total s", "rows/s", "vs \\copy"):
        table.add_column(column, justify="left" if column == "path" else "right")
    copy_rate = report["postgresql"]["copy"]["rows_per_s"]
    for db in ("postgresql", "sqlite"):
        for key in RUNS:
            run = report[db][key]
            table.add_row(
                f"{db} {run['label']}",
                f"{run['parse_s']:.2f}",
                f"{run['store_s']:.2f}",
                f"{run['total_s']:.2f}",
                f"{run['points_per_s']:,.0f}",
                f"{run['points_per_s'] / copy_rate:.2f}",
            )
    copy = report["postgresql"]["copy"]
    table.add_row(
        "psql \\copy (baseline)", "", "", f"{copy['seconds']:.2f}", f"{copy_rate:,.0f}", "1.00"
    )
    console.print(table)
    for db in ("postgresql", "sqlite"):
        for key in RUNS:
            run = report[db][key]
            parts = ", ".join(
                f"{k} {v:.2f}" for k, v in run["store_breakdown_s"].items() if v >= 0.01
            )
            console.print(f"[dim]{db} {key} store breakdown (s): {parts}[/dim]")
    verdict = "met" if report["target_met"] else "NOT met"
    console.print(
        f"PostgreSQL first ingest / \\copy = {report['ratio_first_vs_copy']:.2f} "
        f"(target >= {TARGET_RATIO}): [bold]{verdict}[/bold]"
    )


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2_000_000, help="CSV data rows")
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument(
        "--pg-user",
        action="append",
        help="role to connect as (repeatable; default: postgres, then the current user)",
    )
    parser.add_argument("--pg-database", default="tickwork_bench")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    users = args.pg_user or list(dict.fromkeys(["postgres", getpass.getuser()]))
    target = find_pg(args.pg_host, args.pg_port, users, args.pg_database)
    csv_path = OUT / f"ingest_{args.rows}.csv"
    sqlite_path = OUT / "bench.db"

    with console.status(f"writing {args.rows:,} rows to {csv_path.relative_to(ROOT)}"):
        content, rows = write_csv(args.rows, csv_path)
        uploads = {"first": content, "reingest": content, "corrected": corrected_csv(args.rows)}
    console.log(f"CSV: {rows:,} rows, {len(content) / 1e6:.1f} MB")

    report: dict[str, Any] = {
        "rows": rows,
        "csv_bytes": len(content),
        "csv_path": str(csv_path.relative_to(ROOT)),
        "machine": machine_info(),
    }

    recreate_database(target)
    try:
        with console.status("PostgreSQL: psql \\copy baseline"):
            copy = run_copy(target, csv_path, rows)
        console.log(f"psql \\copy: {copy.seconds:.2f} s, {copy.rows_per_s:,.0f} rows/s")
        with console.status("PostgreSQL: migrating"):
            tenant_id = prepare(target.url)
        report["machine"]["postgresql"] = pg_versions(target)
        pg_runs = []
        for key, label in RUNS.items():
            checkpoint(target)
            with console.status(f"PostgreSQL: {label}"):
                run = run_ingest(target.url, tenant_id, uploads[key], label)
            console.log(f"PostgreSQL {label}: {run.total_s:.2f} s, {run.points_per_s:,.0f} rows/s")
            pg_runs.append((key, run))
        check_runs(*(run for _, run in pg_runs), count_points(target.url), rows)
    finally:
        if args.keep_db:
            console.log(f"kept database {target.database}")
        else:
            drop_database(target)

    report["postgresql"] = {
        "url": target.url,
        **{key: asdict(run) for key, run in pg_runs},
        "copy": asdict(copy),
    }

    sqlite_path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    sqlite_url = f"sqlite:///{sqlite_path}"
    with console.status("SQLite: migrating"):
        sqlite_tenant = prepare(sqlite_url)
    sqlite_runs = []
    for key, label in RUNS.items():
        with console.status(f"SQLite: {label}"):
            run = run_ingest(sqlite_url, sqlite_tenant, uploads[key], label)
        console.log(f"SQLite {label}: {run.total_s:.2f} s, {run.points_per_s:,.0f} rows/s")
        sqlite_runs.append((key, run))
    check_runs(*(run for _, run in sqlite_runs), count_points(sqlite_url), rows)
    get_engine(sqlite_url).dispose()
    report["sqlite"] = {
        "url": f"sqlite:///{sqlite_path.relative_to(ROOT)}",
        **{key: asdict(run) for key, run in sqlite_runs},
    }

    pg_first, pg_again = pg_runs[0][1], pg_runs[1][1]
    report["ratio_first_vs_copy"] = pg_first.points_per_s / copy.rows_per_s
    report["ratio_reingest_vs_copy"] = pg_again.points_per_s / copy.rows_per_s
    report["target_ratio"] = TARGET_RATIO
    report["target_met"] = report["ratio_first_vs_copy"] >= TARGET_RATIO

    print_table(report)
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
