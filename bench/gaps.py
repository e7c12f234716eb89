"""Gap detection and quality scoring benchmark: 10,000,000 points over 100 tags.

Run from the project root with ``make bench`` (or ``.venv/bin/python bench/gaps.py``).

Measured in one run, on the same arrays:
- ``pipelines.gaps.find_gaps_in`` on a prepared series (detection only) and ``find_gaps`` from a
  DataFrame (prepare + detection);
- the baseline: a bare ``np.diff`` on the sorted int64 timestamps against one scalar threshold,
  with the tag-boundary mask; it ignores usability and per-tag intervals and builds no output;
- the pandas alternative: per tag, ``resample("1min").count()`` and the empty bins;
- ``pipelines.quality.score_series`` (every quality rule, daily periods) on the prepared series;
- peak memory of gap detection and of quality scoring (tracemalloc, which sees numpy's
  allocations), against the size of the input arrays (ts, value, quality, tag codes).

Prints one JSON object to stdout and a table to stderr. Targets from the issue: detection
>= 1/3 of the bare baseline's rate and >= 5x the resample approach; all quality rules
>= 20 M points/s; peak memory <= 4x the input arrays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from pipelines.gaps import find_gaps, find_gaps_in
from pipelines.quality import score_series
from pipelines.timeseries import Series, prepare

START = pd.Timestamp("2025-01-01T00:00:00Z")
err = Console(stderr=True)


def make_points(n: int, tags: int, seed: int = 3) -> pd.DataFrame:
    """``tags`` tags of 1-minute data, n points in all, ~0.5% of minutes dropped in runs."""
    rng = np.random.default_rng(seed)
    per_tag = n // tags
    minutes = np.arange(per_tag * 1.006, dtype=np.int64)
    frames = []
    for t in range(tags):
        keep = np.ones(len(minutes), dtype=bool)
        for at in rng.integers(0, len(minutes) - 120, size=25):  # 25 gaps of up to 2 h per tag
            keep[at : at + int(rng.integers(2, 120))] = False
        kept = minutes[keep][:per_tag]
        frames.append((np.full(len(kept), t, dtype=np.int64), kept))
    code = np.concatenate([f[0] for f in frames])
    ts = START.value // 1000 + np.concatenate([f[1] for f in frames]) * 60_000_000
    value = rng.normal(100.0, 5.0, len(ts))
    value[rng.integers(0, len(ts), size=len(ts) // 1000)] = np.nan
    return pd.DataFrame(
        {
            "tag": pd.Categorical.from_codes(code, [f"tag_{i:03d}" for i in range(tags)]),
            "ts": pd.to_datetime(ts, unit="us", utc=True).as_unit("us"),
            "value": value,
            "quality": np.zeros(len(ts), dtype=np.int8),
        }
    )


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def peak_bytes(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def bare_baseline(series: Series, step_us: int = 60_000_000) -> int:
    """Where gaps are, nothing more: one diff, one scalar threshold, the tag-boundary mask."""
    code = series.code
    return len(np.flatnonzero((np.diff(series.ts) > 1.5 * step_us) & (code[1:] == code[:-1])))


def resample_approach(points: pd.DataFrame) -> int:
    """The pandas way: count per 1-minute bin per tag, then the empty bins."""
    usable = points[np.isfinite(points["value"])].set_index("ts")
    counts = usable.groupby("tag", observed=True)["value"].resample("1min").count()
    return int((counts == 0).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with err.status(f"generating {args.points:,} points over {args.tags} tags"):
        points = make_points(args.points, args.tags)
    n = len(points)
    series = prepare(points)
    input_bytes = sum(a.nbytes for a in (series.ts, series.value, series.quality, series.code))
    start_us, end_us = int(series.ts.min()), int(series.ts.max()) + 60_000_000

    figures: dict[str, Any] = {}
    with err.status("bare np.diff baseline"):
        t, found = timed(lambda: bare_baseline(series), args.repeat)
        figures["baseline_np_diff"] = {"seconds": t, "points_per_s": n / t, "gaps": found}
    with err.status("find_gaps_in (prepared series)"):
        t, gaps = timed(lambda: find_gaps_in(series), args.repeat)
        figures["find_gaps_in"] = {"seconds": t, "points_per_s": n / t, "gaps": len(gaps)}
    with err.status("find_gaps (DataFrame: prepare + detect)"):
        t, gaps_df = timed(lambda: find_gaps(points), 1)
        figures["find_gaps"] = {"seconds": t, "points_per_s": n / t, "gaps": len(gaps_df)}
    with err.status("pandas resample().count() per tag"):
        t, empty_bins = timed(lambda: resample_approach(points), 1)
        figures["pandas_resample"] = {
            "seconds": t,
            "points_per_s": n / t,
            "empty_minutes": empty_bins,
        }
    with err.status("score_series (all quality rules, daily)"):
        t, scores = timed(
            lambda: score_series(series, start_us=start_us, end_us=end_us, freq="1D"), 1
        )
        figures["score_series"] = {"seconds": t, "points_per_s": n / t, "rows": len(scores)}
    with err.status("peak memory"):
        figures["peak_memory"] = {
            "input_arrays_bytes": input_bytes,
            "find_gaps_in_bytes": peak_bytes(lambda: find_gaps_in(series)),
            "score_series_bytes": peak_bytes(
                lambda: score_series(series, start_us=start_us, end_us=end_us, freq="1D")
            ),
        }

    rate = {k: v["points_per_s"] for k, v in figures.items() if "points_per_s" in v}
    mem = figures["peak_memory"]
    checks = {
        "detection >= 1/3 of bare np.diff": rate["find_gaps_in"] >= rate["baseline_np_diff"] / 3,
        "detection >= 5x pandas resample": rate["find_gaps_in"] >= 5 * rate["pandas_resample"],
        "quality >= 20 M points/s": rate["score_series"] >= 20e6,
        "peak memory <= 4x input": max(mem["find_gaps_in_bytes"], mem["score_series_bytes"])
        <= 4 * mem["input_arrays_bytes"],
    }
    out = {
        "points": n,
        "tags": args.tags,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "figures": figures,
        "ratios": {
            "detection_vs_bare": rate["find_gaps_in"] / rate["baseline_np_diff"],
            "detection_vs_resample": rate["find_gaps_in"] / rate["pandas_resample"],
            "peak_gaps_vs_input": mem["find_gaps_in_bytes"] / mem["input_arrays_bytes"],
            "peak_quality_vs_input": mem["score_series_bytes"] / mem["input_arrays_bytes"],
        },
        "targets_met": checks,
    }
    table = Table(title=f"{n:,} points, {args.tags} tags ({os.cpu_count()} CPUs)")
    for column in ("step", "seconds", "M points/s"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, v in figures.items():
        if "seconds" in v:
            table.add_row(name, f"{v['seconds']:.3f}", f"{v['points_per_s'] / 1e6:.1f}")
    err.print(table)
    err.print(
        f"peak memory: gaps {mem['find_gaps_in_bytes'] / 2**20:.0f} MiB, quality "
        f"{mem['score_series_bytes'] / 2**20:.0f} MiB, input arrays "
        f"{mem['input_arrays_bytes'] / 2**20:.0f} MiB"
    )
    for label, ok in checks.items():
        err.print(f"{'met    ' if ok else 'NOT MET'} {label}")
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
