"""Dashboard benchmark: the facility page (50 tags x 90 days of daily quality, gaps, alerts) and a
tag's trend over a quarter of 1-minute data, each beside reading the same rows from the database.

Run from the project root with ``make bench`` (``.venv/bin/python bench/dashboard.py``).

1. A fresh PostgreSQL database (``TICKWORK_BENCH_PG``, default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` names the server), migrated, with a
   tenant, a read-only API key and a facility of 50 tags; 90 days of 1-minute readings per tag
   (6.48 million points) loaded by binary COPY (the ingest path's encoder), one quality score per
   tag and day (4,500 rows), two gaps per tag and an alert per tag.
2. The API in process (Starlette's TestClient, signed in to the dashboard with the key; Redis
   ``TICKWORK_BENCH_REDIS``, default ``redis://127.0.0.1:6379/8``):
   - ``facility_page``: ``GET /app/facilities/fac_bench?days=90`` (heatmap of 4,500 cells, gap
     timeline, tables); its baseline ``facility_rows``: the same rows read with psycopg (the
     tags with their latest point, 90 days of scores, the gaps, the alerts), nothing rendered;
   - ``tag_trend``: ``GET /app/facilities/fac_bench/tags/tag_00?range=90d`` (129,600 readings
     downsampled to at most 4 per pixel column and drawn as SVG); its baseline ``tag_rows``:
     the tag's readings over the same range read by binary COPY (``load_points``).
   Each is asked ``--repeat`` times, interleaved, after one warm-up round; the JSON gives the
   median, minimum and maximum in milliseconds.

The database is dropped at the end (``--keep-db`` keeps it). See ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from scratch import copy_points, scratch_database  # bench/scratch.py (this script's own folder)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MINUTE_US = 60_000_000
DAY_US = 1440 * MINUTE_US


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "median_ms": round(statistics.median(ms), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "n": len(ms),
    }


def load(conninfo: str, *, tag_ids: list[int], start_us: int, days: int) -> float:
    """Readings, scores, gaps and alerts, written straight into the tables."""
    began = time.perf_counter()
    n = days * 1440
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ts = start_us + np.arange(n, dtype=np.int64) * MINUTE_US
        copy_points(
            conn,
            (
                (tag_id, ts, np.sin(np.arange(n) / 1440.0 + i) * 100.0 + 500.0)
                for i, tag_id in enumerate(tag_ids)
            ),
        )
        start = datetime.fromtimestamp(start_us / 1e6, UTC)
        with conn.cursor() as cur:
            scores = []
            for i, tag_id in enumerate(tag_ids):
                for d in range(days):
                    day = start + timedelta(days=d)
                    score = 100.0 - ((i * 7 + d * 13) % 40)
                    metrics = json.dumps(
                        {
                            "completeness": score / 100,
                            "validity": 1.0,
                            "flatline_minutes": 0,
                            "spikes": d % 3,
                        }
                    )
                    scores.append(
                        (
                            "ten_bench",
                            "fac_bench",
                            tag_id,
                            day.date().isoformat(),
                            day,
                            day + timedelta(days=1),
                            metrics,
                            score,
                            day,
                        )
                    )
            cur.executemany(
                "INSERT INTO quality_score (tenant_id, facility_id, tag_id, day, period_start, "
                "period_end, metrics, score, computed_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                scores,
            )
            gaps, alerts = [], []
            for i, tag_id in enumerate(tag_ids):
                for g in range(2):
                    g0 = start + timedelta(days=10 + 30 * g + i % 20, hours=3)
                    gaps.append(
                        (
                            "ten_bench",
                            "fac_bench",
                            tag_id,
                            g0,
                            g0 + timedelta(hours=2),
                            120.0,
                            119,
                            "closed",
                            g0,
                            g0,
                        )
                    )
                alerts.append(
                    (
                        f"alr_bench_{i}",
                        "ten_bench",
                        "fac_bench",
                        tag_id,
                        "gap_too_long",
                        f"k{i}",
                        "gap",
                        "{}",
                        start,
                    )
                )
            cur.executemany(
                "INSERT INTO gap (tenant_id, facility_id, tag_id, gap_start, gap_end, "
                "duration_minutes, missing_points, status, detected_at, updated_at) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                gaps,
            )
            cur.executemany(
                "INSERT INTO alert (id, tenant_id, facility_id, tag_id, rule, key, message, "
                "details, triggered_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                alerts,
            )
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - began


def read_facility_rows(conninfo: str, first_day: str, last_day: str) -> int:
    """The baseline of the facility page: its rows, read and nothing else."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT t.id, t.name, (SELECT max(ts) FROM data_point p WHERE p.tag_id = t.id) "
            "FROM tag t WHERE t.facility_id = 'fac_bench' ORDER BY t.name"
        ).fetchall()
        rows += conn.execute(
            "SELECT t.name, q.day, q.score, q.metrics FROM quality_score q JOIN tag t "
            "ON t.id = q.tag_id WHERE q.facility_id = 'fac_bench' AND q.day BETWEEN %s AND %s",
            (first_day, last_day),
        ).fetchall()
        rows += conn.execute("SELECT * FROM gap WHERE facility_id = 'fac_bench'").fetchall()
        rows += conn.execute(
            "SELECT * FROM alert WHERE facility_id = 'fac_bench' "
            "ORDER BY triggered_at DESC LIMIT 50"
        ).fetchall()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    redis_url = os.environ.get("TICKWORK_BENCH_REDIS", "redis://127.0.0.1:6379/8")
    with scratch_database("tickwork_bench_dashboard", keep=args.keep_db) as db:
        data_dir = tempfile.mkdtemp(prefix="tickwork_bench_dashboard_")
        os.environ.update(
            TICKWORK_DATABASE_URL=db.url,
            TICKWORK_BROKER_URL=redis_url,
            TICKWORK_REDIS_URL=redis_url,
            TICKWORK_DATA_DIR=data_dir,
        )
        result = run(args, url=db.url, conninfo=db.conninfo)
    print(json.dumps(result, indent=2))


def run(args: argparse.Namespace, *, url: str, conninfo: str) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from worker.storage.analysis import load_points
    from worker.storage.db import session_scope, upgrade
    from worker.storage.models import Facility, Tag, Tenant
    from worker.storage.partitions import ensure_partitions
    from worker.storage.tenants import create_api_key

    upgrade(url)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=args.days)
    with session_scope(url) as s:
        s.add(Tenant(id="ten_bench", name="Bench", created_at=start))
        s.flush()
        _, key = create_api_key(s, tenant_id="ten_bench", scope="read")
        s.add(Facility(id="fac_bench", tenant_id="ten_bench", name="Bench plant", timezone="UTC"))
        s.flush()
        tags = [
            Tag(
                tenant_id="ten_bench",
                facility_id="fac_bench",
                name=f"tag_{i:02d}",
                unit="scfm",
                expected_interval_s=60.0,
            )
            for i in range(args.tags)
        ]
        s.add_all(tags)
        s.flush()
        tag_ids = [t.id for t in tags]
        ensure_partitions(s, start, start + timedelta(days=args.days))  # what load() writes into
    load_s = load(conninfo, tag_ids=tag_ids, start_us=int(start.timestamp() * 1e6), days=args.days)
    first_day = start.date().isoformat()
    last_day = (today - timedelta(days=1)).date().isoformat()

    times: dict[str, list[float]] = {
        "facility_page": [],
        "facility_rows": [],
        "tag_trend": [],
        "tag_rows": [],
    }
    sizes: dict[str, int] = {}
    with TestClient(create_app(), follow_redirects=False) as client:
        form = client.get("/app/sign-in").text
        token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        signed = client.post("/app/sign-in", data={"login_token": token, "api_key": key})
        assert signed.status_code == 303, signed.text[:300]
        for rep in range(args.repeat + 1):
            cases = {
                "facility_page": lambda: _get(
                    client, f"/app/facilities/fac_bench?days={args.days}"
                ),
                "facility_rows": lambda: read_facility_rows(conninfo, first_day, last_day),
                "tag_trend": lambda: _get(
                    client, f"/app/facilities/fac_bench/tags/tag_00?range={args.days}d"
                ),
                "tag_rows": lambda: _tag_rows(url, load_points, tag_ids[0], start, today),
            }
            for name, call in cases.items():
                began = time.perf_counter()
                size = call()
                if rep:
                    times[name].append(time.perf_counter() - began)
                sizes[name] = size
    stats = {name: summary(samples) for name, samples in times.items()}
    return {
        "bench": "dashboard",
        "tags": args.tags,
        "days": args.days,
        "points": args.tags * args.days * 1440,
        "load_seconds": round(load_s, 1),
        "facility_page": stats["facility_page"],
        "facility_rows_baseline": stats["facility_rows"],
        "facility_page_bytes": sizes["facility_page"],
        "facility_rows": sizes["facility_rows"],
        "tag_trend": stats["tag_trend"],
        "tag_rows_baseline": stats["tag_rows"],
        "tag_trend_bytes": sizes["tag_trend"],
        "tag_rows": sizes["tag_rows"],
        "facility_page_vs_rows_median": round(
            stats["facility_page"]["median_ms"] / stats["facility_rows"]["median_ms"], 2
        ),
        "tag_trend_vs_rows_median": round(
            stats["tag_trend"]["median_ms"] / stats["tag_rows"]["median_ms"], 2
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
        },
    }


def _get(client: Any, path: str) -> int:
    answer = client.get(path)
    if answer.status_code != 200:
        raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    return len(answer.content)


def _tag_rows(url: str, load_points: Any, tag_id: int, start: datetime, end: datetime) -> int:
    from worker.storage.db import session_scope

    with session_scope(url, readonly=True) as s:
        return len(load_points(s, tag_ids=[tag_id], start=start, end=end))


if __name__ == "__main__":
    main()
