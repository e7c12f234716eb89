"""A synthetic quarter of meter data for LCFS reports (tests, demo and the benchmark).

Deterministic for a seed. Rate tags read scf per minute of RNG; totalizer tags count kWh of
EV charging (with a rollover planted on the first one). Each tag loses a few stretches of
readings, so the report has gaps to substitute.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.lcfs.meter import TagMapping
from pipelines.lcfs.tables import quarter_dates


def make_quarter(
    year: int = 2025,
    quarter: int = 3,
    *,
    tz: str = "America/Los_Angeles",
    tags: int = 20,
    interval: str = "1min",
    gaps_per_tag: int = 3,
    seed: int = 11,
) -> tuple[pd.DataFrame, tuple[TagMapping, ...]]:
    """(points, mappings): points tag (object), ts (datetime64[us, UTC]), value (float64)
    covering the quarter's local days; three quarters of the tags are rate tags."""
    first, last = quarter_dates(year, quarter)
    start = pd.Timestamp(first.isoformat()).tz_localize(tz).tz_convert("UTC")
    end = pd.Timestamp((last + dt.timedelta(days=1)).isoformat()).tz_localize(tz)
    stamps = pd.date_range(start, end.tz_convert("UTC"), freq=interval, unit="us")
    n = len(stamps)
    step_min = pd.Timedelta(interval) / pd.Timedelta(minutes=1)
    rng = np.random.default_rng(seed)
    daily = np.sin(2 * np.pi * (np.arange(n) * step_min / 60 % 24) / 24)
    names: list[np.ndarray] = []
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    mappings: list[TagMapping] = []
    rates = max(1, (3 * tags) // 4)
    for i in range(tags):
        tag = f"FIT-{101 + i}" if i < rates else f"FQ-{201 + i - rates}"
        if i < rates:
            value = 400.0 * (1 + 0.1 * daily + rng.normal(0, 0.02, n))
            mappings.append(
                TagMapping(
                    tag,
                    f"RNG-{i % 2 + 1:03d}",
                    "rng",
                    -150.0 + 50 * (i % 2),
                    "scf",
                    kind="rate",
                    rate_per="min",
                )
            )
        else:
            per_step = np.clip(
                25.0 * step_min * (1 + 0.3 * daily + rng.normal(0, 0.05, n)), 0, None
            )
            value = np.cumsum(per_step)
            rollover = None
            if i == rates:  # plant a rollover a third into the quarter
                rollover = float(np.ceil(value[n // 3] / 1000.0) * 1000.0)
                value = np.mod(value, rollover)
            mappings.append(
                TagMapping(
                    tag,
                    "EV-HDV-001",
                    "electricity",
                    75.0,
                    "kWh",
                    kind="totalizer",
                    application="electricity_hdv",
                    rollover_at=rollover,
                )
            )
        keep = np.ones(n, dtype=bool)
        for _ in range(gaps_per_tag):
            length = int(rng.integers(2, max(3, int(240 / step_min))))
            at = int(rng.integers(1, n - length - 1))
            keep[at : at + length] = False
        names.append(np.full(int(keep.sum()), tag, dtype=object))
        times.append(stamps.asi8[keep])
        values.append(np.round(value[keep], 4))
    points = pd.DataFrame(
        {
            "tag": pd.Series(np.concatenate(names), dtype=object),
            "ts": pd.to_datetime(np.concatenate(times), unit="us", utc=True).as_unit("us"),
            "value": np.concatenate(values),
        }
    )
    return points, tuple(mappings)
