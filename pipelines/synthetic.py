"""Realistic meter data for an RNG facility, with faults planted where we choose.

Used by the demo, the benchmarks and tests. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TagSpec:
    name: str
    unit: str
    role: str  # rate | totalizer | analyzer
    base: float  # typical value (for a totalizer: increase per hour)
    noise: float  # relative standard deviation
    low: float  # physical limits
    high: float


RNG_PLANT: tuple[TagSpec, ...] = (
    TagSpec("raw_biogas_flow", "scfm", "rate", 850.0, 0.04, 0.0, 15000.0),
    TagSpec("methane_pct", "%", "analyzer", 58.5, 0.01, 0.0, 100.0),
    TagSpec("h2s_ppm", "ppm", "analyzer", 1200.0, 0.05, 0.0, 10000.0),
    TagSpec("rng_injection_flow", "scfm", "rate", 480.0, 0.03, 0.0, 8000.0),
    TagSpec("injection_energy_total", "MMBtu", "totalizer", 29.0, 0.02, 0.0, 1e9),
    TagSpec("compressor_kwh_total", "kWh", "totalizer", 310.0, 0.03, 0.0, 1e10),
    TagSpec("cng_dispensed_total", "GGE", "totalizer", 95.0, 0.10, 0.0, 1e9),
    TagSpec("flare_flow", "scfm", "rate", 35.0, 0.25, 0.0, 2500.0),
)


@dataclass(frozen=True)
class Fault:
    tag: str
    kind: str  # gap | flatline | spike
    start: pd.Timestamp
    end: pd.Timestamp  # equal to start for a spike


def make_series(
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    tags: tuple[TagSpec, ...] = RNG_PLANT,
    interval: str = "1min",
    faults_per_tag: int = 3,
    seed: int = 7,
) -> tuple[pd.DataFrame, list[Fault]]:
    """Readings from ``start`` (inclusive) to ``end`` (exclusive) with planted faults.

    Returns (frame, faults). Frame columns: tag (str), timestamp (datetime64[us, UTC]),
    value (float64), unit (str); sorted by tag then time. Each tag gets ``faults_per_tag`` gaps
    (15 min to 6 h), one flatline (2 to 8 h, analyzers and rates) and a few spikes (rates).
    """
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(_utc(start), _utc(end), freq=interval, inclusive="left", unit="us")
    n = len(stamps)
    step_h = pd.Timedelta(interval) / pd.Timedelta(hours=1)
    hours = np.arange(n) * step_h
    daily = np.sin(2 * np.pi * (hours % 24) / 24)
    frames: list[pd.DataFrame] = []
    faults: list[Fault] = []
    for spec in tags:
        noise = rng.normal(0.0, spec.noise, n)
        if spec.role == "totalizer":
            per_step = spec.base * step_h * np.clip(1 + 0.2 * daily + noise, 0, None)
            raw = 1000.0 + np.cumsum(per_step)
        else:
            raw = spec.base * (1 + 0.05 * daily + noise)
        values: np.ndarray = np.round(np.clip(raw, spec.low, spec.high), 4)
        keep = np.ones(n, dtype=bool)
        busy = np.zeros(n, dtype=bool)  # faults never overlap, so each stays detectable
        for k in range(faults_per_tag):
            length = int(rng.integers(15, 360) / (step_h * 60)) + 1
            segment = n // faults_per_tag
            at = int(rng.integers(k * segment + 1, (k + 1) * segment - length - 1))
            keep[at : at + length] = False
            busy[max(0, at - 2) : at + length + 2] = True
            faults.append(Fault(spec.name, "gap", stamps[at - 1], stamps[at + length]))
        if spec.role != "totalizer":
            flat_len = int(rng.integers(120, 480) / (step_h * 60))
            at = _free(rng, busy, flat_len + 4, lo=n // 10) + 2
            values[at : at + flat_len] = values[at]
            busy[at - 2 : at + flat_len + 2] = True
            faults.append(Fault(spec.name, "flatline", stamps[at], stamps[at + flat_len - 1]))
        if spec.role == "rate":
            for _ in range(3):
                at = _free(rng, busy, 5, lo=n // 20) + 2
                values[at] = round(values[at] * float(rng.uniform(6, 12)), 4)
                busy[at - 2 : at + 3] = True
                faults.append(Fault(spec.name, "spike", stamps[at], stamps[at]))
        frames.append(
            pd.DataFrame(
                {
                    "tag": spec.name,
                    "timestamp": stamps[keep],
                    "value": values[keep],
                    "unit": spec.unit,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    return frame, sorted(faults, key=lambda f: (f.tag, f.start))


def _free(rng: np.random.Generator, busy: np.ndarray, length: int, *, lo: int) -> int:
    """A random start of ``length`` free slots at or after ``lo`` (busy is not changed)."""
    for _ in range(1000):
        at = int(rng.integers(lo, len(busy) - length))
        if not busy[at : at + length].any():
            return at
    raise ValueError("no room left to plant a fault: generate a longer series")


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def to_csv_bytes(frame: pd.DataFrame, *, facility_id: str | None = None) -> bytes:
    """CSV in the ingest format; ISO 8601 UTC timestamps with a Z."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    columns = ["tag", "timestamp", "value", "unit"]
    if facility_id is not None:
        out.insert(0, "facility_id", facility_id)
        columns.insert(0, "facility_id")
    return out[columns].to_csv(index=False).encode()
