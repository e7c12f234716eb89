"""LCFS report benchmark: a quarter of 1-minute data for 20 tags, from PostgreSQL to a PDF.

Run from the project root: ``.venv/bin/python bench/report.py`` (JSON on stdout, a table on
stderr; see ``bench/RESULTS.md``, section "LCFS report").

Setup (not timed): a fresh PostgreSQL database (dropped at the end unless ``--keep-db``) is
migrated with ``worker.storage.db.upgrade``; one tenant, one facility (America/Los_Angeles), 20
tags and one fuel mapping per tag: 18 rate tags (dairy and landfill RNG and fossil CNG in scf
per minute, renewable diesel in gal per minute) and 2 kWh totalizers of EV charging (one with a
planted rollover). The points are ``pipelines.lcfs.synthetic.make_quarter`` for 2025 Q4 (1-minute
readings over the quarter's local days, 3 planted gaps of up to 4 h per tag, ≈2.65 M points),
stored with the ingest's bulk path (``worker.storage.points.upsert_points``: binary COPY into a
staging table, one ``INSERT ... SELECT``), then ``VACUUM ANALYZE`` and ``CHECKPOINT``.

Measured in the same run, ``--repeat`` times (min and median reported), after one untimed
warm-up of each, alternating:

- **baseline (read)**: what ``load_lcfs_inputs`` reads, and nothing else:
  ``worker.storage.analysis.load_points`` (binary COPY, numpy decode) of the same tag ids and
  window (the quarter's UTC bounds ± ``EDGE_MARGIN``) in a read-only ``session_scope``;
- **ours (PostgreSQL → PDF bytes)**: the ``reports.build_lcfs`` task body, stage by stage:
  ``load_lcfs_inputs`` (in a read-only ``session_scope``; its ``load_points`` call timed apart),
  ``lcfs.compute_quarter``, ``worker.signing.render_signed(report, "pdf")``. The parameter tables
  are loaded once beforehand (the task caches them with ``lru_cache``). The ratio ours / read is
  computed on this sum; the target is <= 2x;
- **store** (reported beside, not in the ratio): a ``Report`` row and its job are created
  untimed, then ``save_report`` + ``finish_job`` + commit, as the task ends;
- **task** (``--task``, on by default): the real Celery task run eagerly,
  ``build_lcfs.apply(args=(job_id,))`` (job attempt bookkeeping, load, compute, render, store),
  as a cross-check of the stage sum.

``--profile`` adds one untimed cProfile pass of ours and prints the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

import worker.storage.reports as reports_module
from pipelines import lcfs
from pipelines.lcfs.synthetic import make_quarter
from worker import kinds
from worker.signing import render_signed
from worker.storage.analysis import load_points
from worker.storage.db import get_engine, session_scope, upgrade
from worker.storage.jobs import create_job, finish_job
from worker.storage.models import Facility, Report, Tag
from worker.storage.points import upsert_points
from worker.storage.reports import (
    EDGE_MARGIN,
    load_lcfs_inputs,
    quarter_bounds,
    replace_mappings,
    save_report,
)
from worker.storage.tenants import create_tenant

YEAR, QUARTER = 2025, 4
TZ = "America/Los_Angeles"
FACILITY_ID = "fac_bench_report"
TARGET_RATIO = 2.0  # the goal: PostgreSQL -> PDF <= 2x the time to read the points

err = Console(stderr=True)


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

# (fuel_type, fuel_pathway_code, CI gCO2e/MJ, unit, value scale) per group of rate tags.
RATE_FUELS = [
    *[("rng", "RNG-DAIRY-001", -255.0, "scf", 1.0)] * 4,  # dairy digester biomethane
    *[("rng", "RNG-LFG-002", 46.4, "scf", 1.0)] * 4,  # landfill gas biomethane
    *[("cng", "CNG-FOSSIL-001", 79.2, "scf", 1.0)] * 5,  # pipeline natural gas as CNG
    *[("renewable_diesel", "RD-UCO-001", 55.0, "gal", 0.01)] * 5,  # ≈4 gal/min dispensed
]
TOTALIZERS = 2  # kWh counters of heavy-duty EV charging, the first with a planted rollover


def make_data(seed: int) -> tuple[pd.DataFrame, tuple[lcfs.TagMapping, ...]]:
    """The quarter's points (tag, ts, value) and one mapping per tag (18 rate, 2 totalizer).

    ``make_quarter`` makes 3/4 of its tags rate tags; 24 tags give 18 rate tags and 6
    totalizers, of which the first 2 are kept (the first has the planted rollover).
    """
    points, synthetic = make_quarter(YEAR, QUARTER, tz=TZ, tags=24, gaps_per_tag=3, seed=seed)
    rates = [m for m in synthetic if m.kind == "rate"]
    counters = [m for m in synthetic if m.kind == "totalizer"][:TOTALIZERS]
    mappings: list[lcfs.TagMapping] = []
    scale: dict[str, float] = {}
    for m, (fuel, code, ci, unit, factor) in zip(rates, RATE_FUELS, strict=True):
        mappings.append(
            replace(m, fuel_pathway_code=code, fuel_type=fuel, ci=ci, unit=unit, interval_s=60.0)
        )
        scale[m.tag] = factor
    for m in counters:
        mappings.append(replace(m, fuel_pathway_code="EV-HDV-001", ci=72.5, interval_s=60.0))
        scale[m.tag] = 1.0
    points = points[points["tag"].isin(scale)].reset_index(drop=True)
    points["value"] = points["value"] * points["tag"].map(scale).to_numpy()
    return points, tuple(mappings)


def setup(url: str, points: pd.DataFrame, mappings: tuple[lcfs.TagMapping, ...]) -> list[int]:
    """Migrate, create tenant/facility/tags/mappings and store the points; returns tag ids."""
    upgrade(url)
    with session_scope(url) as s:
        tenant = create_tenant(s, name="Bench tenant")
        facility = Facility(
            id=FACILITY_ID,
            tenant_id=tenant.id,
            name="Bench RNG + EV depot",
            timezone=TZ,
            strict_tags=True,
        )
        s.add(facility)
        s.flush()
        tags = [
            Tag(
                tenant_id=tenant.id,
                facility_id=FACILITY_ID,
                name=m.tag,
                unit=m.unit if m.kind == "totalizer" else f"{m.unit}/{m.rate_per}",
                expected_interval_s=60.0,
                role=m.kind,
            )
            for m in mappings
        ]
        s.add_all(tags)
        s.flush()
        replace_mappings(s, facility=facility, mappings=list(mappings))
        id_of = {t.name: t.id for t in tags}
    with session_scope(url) as s:
        counts = upsert_points(
            s,
            tag_id=points["tag"].map(id_of).to_numpy(np.int64),
            ts=points["ts"],
            value=points["value"].to_numpy(np.float64),
            quality=np.zeros(len(points), dtype=np.int8),
        )
    if counts.inserted != len(points):
        raise SystemExit(f"stored {counts} of {len(points):,} points")
    return [id_of[m.tag] for m in mappings]


# --- the measured paths ---------------------------------------------------------------------


def read_points(url: str, tag_ids: list[int]) -> pd.DataFrame:
    """The baseline: the points load_lcfs_inputs reads, and nothing more."""
    start, end = quarter_bounds(YEAR, QUARTER, TZ)
    with session_scope(url, readonly=True) as s:
        return load_points(s, tag_ids=tag_ids, start=start - EDGE_MARGIN, end=end + EDGE_MARGIN)


@contextmanager
def timed_load_points(times: dict[str, float]) -> Iterator[None]:
    """Time load_points inside load_lcfs_inputs (the module attribute it calls is wrapped)."""
    original = reports_module.load_points

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times["load_points"] = times.get("load_points", 0.0) + time.perf_counter() - started

    reports_module.load_points = wrapper  # type: ignore[assignment]
    try:
        yield
    finally:
        reports_module.load_points = original  # type: ignore[assignment]


def build(url: str, tables: lcfs.LcfsTables) -> tuple[dict[str, float], lcfs.LcfsReport, bytes]:
    """Ours, PostgreSQL to PDF bytes, as build_lcfs runs it; seconds per stage."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    with timed_load_points(times), session_scope(url, readonly=True) as s:
        facility = s.get(Facility, FACILITY_ID)
        assert facility is not None
        inputs = load_lcfs_inputs(s, facility=facility, year=YEAR, quarter=QUARTER, tables=tables)
    t1 = time.perf_counter()
    report = lcfs.compute_quarter(inputs)
    t2 = time.perf_counter()
    content = render_signed(report, "pdf")
    t3 = time.perf_counter()
    times.update(load=t1 - t0, compute=t2 - t1, render=t3 - t2, total=t3 - t0)
    times["load_rest"] = times["load"] - times["load_points"]
    times["points"] = float(0 if inputs.points is None else len(inputs.points))
    return times, report, content


def new_report_row(url: str) -> tuple[str, str]:
    """A queued PDF report and its job (untimed); returns (report id, job id)."""
    from worker.storage.db import new_id

    with session_scope(url) as s:
        facility = s.get(Facility, FACILITY_ID)
        assert facility is not None
        job = create_job(s, tenant_id=facility.tenant_id, kind=kinds.BUILD_REPORT, params={})
        row = Report(
            id=new_id("rpt"),
            tenant_id=facility.tenant_id,
            facility_id=FACILITY_ID,
            report_type="lcfs_quarterly",
            year=YEAR,
            quarter=QUARTER,
            format="pdf",
            status="queued",
            job_id=job.id,
        )
        s.add(row)
        s.flush()
        job.params = {"report_id": row.id}
        return row.id, job.id


def store(url: str, report: lcfs.LcfsReport, content: bytes) -> float:
    """The task's last transaction: save_report + finish_job + commit, timed."""
    report_id, job_id = new_report_row(url)
    started = time.perf_counter()
    with session_scope(url) as s:
        row = s.get(Report, report_id)
        assert row is not None
        save_report(s, report_row=row, report=report, content=content)
        finish_job(s, job_id=job_id, status="succeeded", result={"report_id": report_id})
    return time.perf_counter() - started


def run_task(url: str) -> tuple[float, dict[str, Any]]:
    """The real task, run eagerly in this process against the bench database."""
    from worker.tasks.reports import build_lcfs  # imported late: settings read TICKWORK_*

    report_id, job_id = new_report_row(url)
    started = time.perf_counter()
    result = build_lcfs.apply(args=(job_id,))
    seconds = time.perf_counter() - started
    if result.failed():
        raise SystemExit(f"build_lcfs failed: {result.traceback}")
    with session_scope(url, readonly=True) as s:
        row = s.get(Report, report_id)
        assert row is not None
        if row.status != "generated":
            raise SystemExit(f"build_lcfs left the report {row.status}: {row.error}")
        return seconds, {"file_size": row.file_size, "file_sha256": row.file_sha256}


def profile_build(url: str, tables: lcfs.LcfsTables, top: int) -> list[dict[str, Any]]:
    profiler = cProfile.Profile()
    profiler.enable()
    build(url, tables)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (path, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(path).name}:{line}({name})" if line else name
        if ".venv" not in path and "site-packages" not in path and line:
            where = f"{_short(path)}:{line}({name})"
        rows.append({"function": where, "calls": calls, "tottime": tottime, "cumtime": cumtime})
    return sorted(rows, key=lambda r: -r["cumtime"])[:top]


def _short(path: str) -> str:
    with suppress(ValueError):
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parent.parent))
    return Path(path).name


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


def admin(target: PgTarget, statement: sql.Composable, dbname: str = "postgres") -> Any:
    with psycopg.connect(target.conninfo(dbname), autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else None


def recreate_database(target: PgTarget) -> None:
    name = sql.Identifier(target.database)
    admin(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin(target, sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(target: PgTarget) -> None:
    get_engine(target.url).dispose()
    name = sql.Identifier(target.database)
    admin(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def settle(target: PgTarget) -> dict[str, Any]:
    """VACUUM ANALYZE data_point and CHECKPOINT; returns its size on disk."""
    admin(target, sql.SQL("VACUUM ANALYZE data_point"), target.database)
    with suppress(psycopg.Error):  # needs superuser or pg_checkpoint; optional
        admin(target, sql.SQL("CHECKPOINT"), target.database)
    rows = admin(
        target,
        sql.SQL(
            # data_point is partitioned by month: its size is its partitions' (the parent's is 0)
            "SELECT (SELECT coalesce(sum(pg_table_size(relid)), 0)::bigint"
            "        FROM pg_partition_tree('data_point')),"
            " (SELECT coalesce(sum(pg_indexes_size(relid)), 0)::bigint"
            "        FROM pg_partition_tree('data_point')),"
            " current_setting('shared_buffers'), current_setting('server_version'),"
            " current_setting('work_mem')"
        ),
        target.database,
    )
    table, indexes, shared, server, work_mem = rows[0]
    return {
        "data_point_table_bytes": table,
        "data_point_index_bytes": indexes,
        "shared_buffers": shared,
        "server": server,
        "work_mem": work_mem,
    }


# --- reporting ------------------------------------------------------------------------------


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for package in ("numpy", "pandas", "sqlalchemy", "psycopg", "reportlab"):
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


def pdf_pages(content: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", content))


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--task",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the real build_lcfs task eagerly (default: on)",
    )
    parser.add_argument("--profile", action="store_true", help="one cProfile pass of ours")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default=None, help="default: postgres, then $USER")
    parser.add_argument("--pg-database", default="tickwork_bench_report")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    users = [args.pg_user] if args.pg_user else ["postgres", os.environ.get("USER") or "postgres"]
    target = find_pg(args.pg_host, args.pg_port, list(dict.fromkeys(users)), args.pg_database)
    load_before = loadavg()
    recreate_database(target)
    url = target.url
    # The task opens its sessions on the configured database: point it at this one.
    os.environ["TICKWORK_DATABASE_URL"] = url
    from worker.settings import get_settings

    get_settings.cache_clear()
    try:
        with err.status("generating the quarter"):
            t, (points, mappings) = timed(lambda: make_data(args.seed))
        setup_s: dict[str, float] = {"generate": t}
        with err.status(f"storing {len(points):,} points (upsert_points)"):
            started = time.perf_counter()
            tag_ids = setup(url, points, mappings)
            setup_s["store_points"] = time.perf_counter() - started
            t, database = timed(lambda: settle(target))
            setup_s["vacuum_analyze_checkpoint"] = t
        n = len(points)
        del points
        tables = lcfs.load_tables()

        with err.status("warm-up (untimed)"):
            warm = read_points(url, tag_ids)
            if len(warm) != n:
                raise SystemExit(f"read {len(warm):,} points, stored {n:,}")
            _, report, content = build(url, tables)
            del warm
        read_s: list[float] = []
        ours: list[dict[str, float]] = []
        store_s: list[float] = []
        task_s: list[float] = []
        task_file: dict[str, Any] = {}
        for i in range(args.repeat):
            with err.status(f"repeat {i + 1}/{args.repeat}: read"):
                t, frame = timed(lambda: read_points(url, tag_ids))
                read_s.append(t)
                del frame
            with err.status(f"repeat {i + 1}/{args.repeat}: ours (load, compute, render)"):
                gc.collect()
                stages, report, content = build(url, tables)
                ours.append(stages)
            with err.status(f"repeat {i + 1}/{args.repeat}: store"):
                gc.collect()
                store_s.append(store(url, report, content))
            if args.task:
                with err.status(f"repeat {i + 1}/{args.repeat}: build_lcfs task (eager)"):
                    t, (seconds, task_file) = timed(lambda: run_task(url))
                    task_s.append(seconds)
        profile = profile_build(url, tables, 25) if args.profile else None
        load_after = loadavg()
    finally:
        if not args.keep_db:
            drop_database(target)

    stage_names = ("load_points", "load_rest", "load", "compute", "render", "total")
    stages_summary = {k: summary([o[k] for o in ours]) for k in stage_names}
    ratio_min = stages_summary["total"]["min"] / min(read_s)
    ratio_median = stages_summary["total"]["median"] / statistics.median(read_s)
    with_store = [o["total"] + s for o, s in zip(ours, store_s, strict=True)]
    out: dict[str, Any] = {
        "points": n,
        "tags": len(tag_ids),
        "period": f"{YEAR} Q{QUARTER} ({TZ})",
        "repeat": args.repeat,
        "machine": machine_info(),
        "postgres": database,
        "loadavg": {"before": load_before, "after": load_after},
        "setup_s": setup_s,
        "read_s": {**summary(read_s), "runs": read_s},
        "ours_s": {**stages_summary, "runs": ours},
        "store_s": {**summary(store_s), "runs": store_s},
        "ours_with_store_s": summary(with_store),
        "task_s": {**summary(task_s), "runs": task_s, "file": task_file} if task_s else None,
        "ratio": {
            "min_over_min": ratio_min,
            "median_over_median": ratio_median,
            "with_store_median": statistics.median(with_store) / statistics.median(read_s),
            "task_median": statistics.median(task_s) / statistics.median(read_s)
            if task_s
            else None,
        },
        "pdf": {
            "bytes": len(content),
            "pages": pdf_pages(content),
            "starts_with_pdf": content[:5] == b"%PDF-",
            "has_data": report.has_data,
            "gaps": len(report.gaps),
            "lines": len(report.lines),
            "counter_events": len(report.counter_events),
            "net_mt": None if report.totals is None else report.totals.net_mt,
        },
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "target": f"ours <= {TARGET_RATIO:g} x read",
        "target_met": ratio_median <= TARGET_RATIO,
        "profile": profile,
    }

    table = Table(
        title=f"LCFS report of {n:,} points, {len(tag_ids)} tags, "
        f"{YEAR} Q{QUARTER} ({os.cpu_count()} CPUs, {args.repeat} runs)"
    )
    for column in ("step", "min s", "median s", "x read (median)"):
        table.add_column(column, justify="left" if column == "step" else "right")
    read_med = statistics.median(read_s)

    def row(label: str, s: dict[str, float]) -> None:
        table.add_row(
            label, f"{s['min']:.3f}", f"{s['median']:.3f}", f"{s['median'] / read_med:.2f}"
        )

    row("baseline: load_points (read only)", out["read_s"])
    row("ours: load_lcfs_inputs", stages_summary["load"])
    row("  · its load_points", stages_summary["load_points"])
    row("  · the rest (tags, frame, transactions)", stages_summary["load_rest"])
    row("ours: compute_quarter", stages_summary["compute"])
    row("ours: render (PDF)", stages_summary["render"])
    row("ours: PostgreSQL → PDF bytes", stages_summary["total"])
    row("store (save_report + finish_job + commit)", out["store_s"])
    row("ours + store", out["ours_with_store_s"])
    if task_s:
        row("build_lcfs task, eager (cross-check)", out["task_s"])
    err.print(table)
    pdf = out["pdf"]
    err.print(
        f"PDF: {pdf['bytes']:,} bytes, {pdf['pages']} pages; {pdf['gaps']} gap rows, "
        f"{pdf['lines']} lines; setup: store {setup_s['store_points']:.1f} s"
    )
    err.print(f"loadavg before {load_before} / after {load_after}")
    verdict = "met    " if out["target_met"] else "NOT MET"
    err.print(
        f"{verdict} ours <= {TARGET_RATIO:g} x read: {ratio_median:.2f} x (median), "
        f"{ratio_min:.2f} x (min / min)"
    )
    if profile:
        for p in profile:
            err.print(f"{p['cumtime']:8.3f} {p['tottime']:8.3f} {p['calls']:>8} {p['function']}")
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
