"""Cursor benchmark: page 1 and a page near the end of 10 million data points, by OFFSET page
number and by cursor (``starting_after``), in the same run against the same database.

Run from the project root with ``make bench`` (``.venv/bin/python bench/cursors.py``).

1. A fresh PostgreSQL database (``TICKWORK_BENCH_PG``, default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` names the server), migrated, with a
   tenant, an API key and a facility of 4 tags; 10,000,000 points (2.5 million 1-minute readings
   per tag) loaded by binary COPY (the ingest path's own encoder, ``pg_binary_copy``) into
   ``data_point`` with its primary key dropped, then the key rebuilt and ``ANALYZE``.
2. The API in process (Starlette's TestClient: the whole app, auth and rate limits on Redis
   ``TICKWORK_BENCH_REDIS``, default ``redis://127.0.0.1:6379/8``), ``GET /v1/data-points`` over
   the whole range, ``limit=100``:
   - ``offset_first``: ``page=1``; ``offset_deep``: the second-last page by number;
   - ``cursor_first``: no cursor (the same request as ``page=1``: it also counts the total);
   - ``cursor_deep``: ``starting_after`` = the id of the point 200 before the end.
   Each is asked ``--repeat`` times (interleaved, after one warm-up of each); the JSON gives the
   median, minimum and maximum in milliseconds and checks that both deep pages hold the same
   points.

The database is dropped at the end (``--keep-db`` keeps it). See ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from scratch import copy_points, scratch_database  # bench/scratch.py (this script's own folder)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TAGS = ("biogas_flow", "ch4_pct", "flare_flow", "rng_flow")
START_US = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z
MINUTE_US = 60_000_000


def load(conninfo: str, *, tag_ids: list[int], per_tag: int, chunk: int = 1_000_000) -> float:
    began = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        copy_points(conn, _minutes(tag_ids, per_tag=per_tag, chunk=chunk))
        conn.execute("VACUUM ANALYZE data_point")
    return time.perf_counter() - began


def _minutes(
    tag_ids: list[int], *, per_tag: int, chunk: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``per_tag`` one-minute readings of each tag from 2020-01-01, ``chunk`` at a time."""
    for tag_id in tag_ids:
        for first in range(0, per_tag, chunk):
            minute = np.arange(first, first + min(chunk, per_tag - first), dtype=np.int64)
            yield tag_id, START_US + minute * MINUTE_US, np.sin(minute / 1440.0) * 100.0 + 500.0


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "median_ms": round(statistics.median(ms), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "n": len(ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    redis_url = os.environ.get("TICKWORK_BENCH_REDIS", "redis://127.0.0.1:6379/8")
    with scratch_database("tickwork_bench_cursors", keep=args.keep_db) as db:
        os.environ.update(
            TICKWORK_DATABASE_URL=db.url,
            TICKWORK_BROKER_URL=redis_url,
            TICKWORK_REDIS_URL=redis_url,
            TICKWORK_RATE_LIMIT_PER_MINUTE="1000000",
            TICKWORK_RATE_LIMIT_PER_HOUR="1000000",
            TICKWORK_RATE_LIMIT_PER_DAY="1000000",
        )
        result = run(args, url=db.url, conninfo=db.conninfo)
        result["database"] = {"points": args.points, "tags": len(TAGS)}
    print(json.dumps(result, indent=2))


def run(args: argparse.Namespace, *, url: str, conninfo: str) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from worker.storage.db import session_scope, upgrade
    from worker.storage.models import Facility, Tag, from_epoch_us
    from worker.storage.partitions import ensure_partitions
    from worker.storage.tenants import create_api_key, create_tenant

    upgrade(url)
    with session_scope(url) as s:
        tenant = create_tenant(s, name="Bench")
        _, key = create_api_key(s, tenant_id=tenant.id, scope="read")
        facility = Facility(id="fac_bench", tenant_id=tenant.id, name="Bench plant", timezone="UTC")
        s.add(facility)
        s.flush()
        tags = [Tag(tenant_id=tenant.id, facility_id=facility.id, name=n, unit="x") for n in TAGS]
        s.add_all(tags)
        s.flush()
        tag_ids = [t.id for t in tags]  # in name order, as the listing sorts a timestamp's rows
        per_tag = args.points // len(TAGS)
        # The monthly partitions the COPY below writes into (storage.partitions)
        ensure_partitions(
            s, from_epoch_us(START_US), from_epoch_us(START_US + max(per_tag - 1, 0) * MINUTE_US)
        )
    load_s = load(conninfo, tag_ids=tag_ids, per_tag=per_tag)

    total = per_tag * len(TAGS)
    limit = args.limit
    last_page = -(-total // limit)
    deep_page = last_page - 1
    # The point just before the deep numbered page: position (deep_page - 1) * limit - 1.
    before = (deep_page - 1) * limit - 1
    cursor = f"dp_{tag_ids[before % len(TAGS)]}_{START_US + (before // len(TAGS)) * MINUTE_US}"
    params = {
        "facility_id": "fac_bench",
        "start_date": "2019-12-31",
        "end_date": "2030-01-01",
        "limit": limit,
    }
    cases = {
        "offset_first": {**params, "page": 1},
        "offset_deep": {**params, "page": deep_page},
        "cursor_first": params,
        "cursor_deep": {**params, "starting_after": cursor},
    }
    headers = {"Authorization": f"Bearer {key}"}
    times: dict[str, list[float]] = {name: [] for name in cases}
    bodies: dict[str, Any] = {}
    with TestClient(create_app()) as client:
        for rep in range(args.repeat + 1):
            for name, query in cases.items():
                began = time.perf_counter()
                answer = client.get("/v1/data-points", params=query, headers=headers)
                spent = time.perf_counter() - began
                if answer.status_code != 200:
                    raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
                if rep:  # the first round warms caches
                    times[name].append(spent)
                bodies[name] = answer.json()
    same = [p["id"] for p in bodies["offset_deep"]["data"]] == [
        p["id"] for p in bodies["cursor_deep"]["data"]
    ]
    stats = {name: summary(samples) for name, samples in times.items()}
    return {
        "bench": "cursors",
        "limit": limit,
        "deep_page": deep_page,
        "load_seconds": round(load_s, 1),
        "first_page": {"offset": stats["offset_first"], "cursor": stats["cursor_first"]},
        "deep_page_near_end": {"offset": stats["offset_deep"], "cursor": stats["cursor_deep"]},
        "deep_pages_hold_the_same_points": same,
        "cursor_deep_vs_first_median": round(
            stats["cursor_deep"]["median_ms"] / stats["cursor_first"]["median_ms"], 3
        ),
        "offset_deep_vs_first_median": round(
            stats["offset_deep"]["median_ms"] / stats["offset_first"]["median_ms"], 3
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
        },
    }


if __name__ == "__main__":
    main()
