"""The canonical form every analysis starts from: many tags' points sorted once.

Input ``points`` frame (the shape ``pipelines.ingest`` produces and storage loads):
    tag      str or category
    ts       datetime64[us, UTC]
    value    float64             NaN allowed (unusable)
    quality  int8, optional      0 good, 1 uncertain, 2 bad (missing column: all good)

Optional ``rules`` frame, indexed by tag (any tag not listed gets the defaults):
    interval_s          float64  expected spacing in seconds; NaN: inferred (median spacing)
    min_value           float64  physical lower limit; NaN: none
    max_value           float64  physical upper limit; NaN: none
    flatline_tolerance  float64  |change| at or below this counts as flat; NaN: 0.0
    flatline_min_s      float64  a flat run at least this long (seconds) is a flatline; 3600
    spike_threshold     float64  |x - mean(neighbours)| above this is a spike; NaN: data-driven
    max_rate            float64  |change| per second above this is a rate violation; NaN: none

A point is *usable* when its value is finite, not a sentinel (-9999 and the like), within the
physical limits and its quality is not bad (uncertain counts as usable unless asked otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SENTINELS: tuple[float, ...] = (-9999.0, -99999.0, -999999.0)
RULE_DEFAULTS: dict[str, float] = {
    "interval_s": np.nan,
    "min_value": np.nan,
    "max_value": np.nan,
    "flatline_tolerance": 0.0,
    "flatline_min_s": 3600.0,
    "spike_threshold": np.nan,
    "max_rate": np.nan,
}
US = 1_000_000  # microseconds per second


@dataclass(frozen=True)
class Series:
    """Points of many tags, sorted by (tag, ts) with a stable sort.

    ``bounds[i]:bounds[i + 1]`` is the slice of tag ``tags[i]``. ``order`` maps each sorted
    position back to its row in the input frame.
    """

    tags: pd.Index
    code: np.ndarray  # int64 tag code per point
    ts: np.ndarray  # int64 microseconds since the Unix epoch, UTC
    value: np.ndarray  # float64
    quality: np.ndarray  # int8
    usable: np.ndarray  # bool
    order: np.ndarray  # int64 input row of each point
    bounds: np.ndarray  # int64, len(tags) + 1
    interval_us: np.ndarray  # int64 per tag: configured, else inferred, else 0 (unknown)
    rules: pd.DataFrame  # one row per tag in ``tags`` order, every rule column filled


def prepare(
    points: pd.DataFrame,
    rules: pd.DataFrame | None = None,
    *,
    interval: pd.Timedelta | None = None,
    sentinels: tuple[float, ...] = SENTINELS,
    uncertain_is_bad: bool = False,
) -> Series:
    """Sort once and compute usability and the per-tag expected interval.

    ``interval`` overrides every tag's interval (the CLI's ``--interval``).
    """
    tag = points["tag"]
    if isinstance(tag.dtype, pd.CategoricalDtype):  # order the (few) categories by name
        used = tag.cat.remove_unused_categories()
        tag = used.cat.reorder_categories(sorted(used.cat.categories))
    tag_codes, tags = pd.factorize(tag, sort=True)
    ts = points["ts"].dt.as_unit("us").astype("int64").to_numpy()
    if _is_sorted(tag_codes, ts):  # storage and most exports already are: skip the sort
        order = np.arange(len(ts), dtype=np.int64)
        code = tag_codes.astype(np.int64)
        value = points["value"].to_numpy(dtype="float64")
        quality = (
            points["quality"].to_numpy(dtype="int8")
            if "quality" in points
            else np.zeros(len(ts), dtype=np.int8)
        )
    else:
        order = np.lexsort((ts, tag_codes)).astype(np.int64)
        code = tag_codes[order].astype(np.int64)
        ts = ts[order]
        value = points["value"].to_numpy(dtype="float64")[order]
        quality = (
            points["quality"].to_numpy(dtype="int8")[order]
            if "quality" in points
            else np.zeros(len(order), dtype=np.int8)
        )
    bounds = np.searchsorted(code, np.arange(len(tags) + 1)).astype(np.int64)

    table = pd.DataFrame(index=pd.Index(tags, name="tag"))
    for column, default in RULE_DEFAULTS.items():
        given = rules[column] if rules is not None and column in rules else None
        table[column] = given.reindex(table.index) if given is not None else np.nan
        table[column] = table[column].astype("float64").fillna(default)
    low = table["min_value"].to_numpy()[code]
    high = table["max_value"].to_numpy()[code]
    bad_quality = quality >= (1 if uncertain_is_bad else 2)
    sentinel = np.zeros(len(value), dtype=bool)
    for mark in sentinels:  # a few equality tests beat np.isin's sort for a handful of values
        sentinel |= value == mark
    usable = (
        np.isfinite(value)
        & ~sentinel
        & ~bad_quality
        & ~(value < low)  # NaN limits compare False: no limit
        & ~(value > high)
    )

    configured = table["interval_s"].to_numpy()
    if interval is not None:
        configured = np.full(len(tags), interval / pd.Timedelta(seconds=1))
    inferred = median_spacing_us(code, ts, len(tags), only=~np.isfinite(configured), bounds=bounds)
    interval_us = np.where(np.isfinite(configured), np.round(configured * US), inferred)
    return Series(
        tags=pd.Index(tags, dtype=object),
        code=code,
        ts=ts,
        value=value,
        quality=quality,
        usable=usable,
        order=order,
        bounds=bounds,
        interval_us=interval_us.astype(np.int64),
        rules=table,
    )


def median_spacing_us(
    code: np.ndarray,
    ts: np.ndarray,
    ntags: int,
    *,
    only: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
) -> np.ndarray:
    """Median positive spacing per tag (int64 µs; 0 when a tag has fewer than two times).

    ``code``/``ts`` sorted by (code, ts). ``only`` (bool per tag) limits the work to the tags
    that need it. One vectorised diff, then a median per tag: a loop over tags, not points.
    """
    if bounds is None:
        bounds = np.searchsorted(code, np.arange(ntags + 1)).astype(np.int64)
    out = np.zeros(ntags, dtype=np.int64)
    step = np.diff(ts)
    for tag in np.flatnonzero(only) if only is not None else range(ntags):
        lo, hi = bounds[tag], bounds[tag + 1]
        if hi - lo < 2:
            continue
        own = step[lo : hi - 1]
        own = own[own > 0]
        if len(own):
            out[tag] = int(np.round(np.median(own)))
    return out


def _is_sorted(code: np.ndarray, ts: np.ndarray) -> bool:
    """Sorted by (code, ts)? Equal timestamps of one tag count as sorted."""
    if len(code) < 2:
        return True
    dc = np.diff(code)
    return bool(np.all(dc >= 0) and np.all((dc > 0) | (np.diff(ts) >= 0)))


def silent_tags(
    series: Series, rules: pd.DataFrame, *, interval: pd.Timedelta | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Tags listed in ``rules`` with no point at all in ``series``, and their known interval.

    Returns (tags as an object array, interval in µs as int64), only for tags whose interval
    (``interval`` if given, else the rule's ``interval_s``) is known and positive: without an
    expected spacing nothing says how much data a silent tag should have sent.
    """
    absent = rules.index.difference(series.tags, sort=False)
    if interval is not None:
        seconds = np.full(len(absent), interval / pd.Timedelta(seconds=1))
    elif "interval_s" in rules:
        seconds = rules["interval_s"].reindex(absent).to_numpy(dtype="float64")
    else:
        seconds = np.full(len(absent), np.nan)
    known = np.isfinite(seconds) & (seconds > 0)
    return (
        np.asarray(absent[known], dtype=object),
        np.round(seconds[known] * US).astype(np.int64),
    )


def epoch_us(when: pd.Timestamp | None, name: str) -> int | None:
    """A tz-aware timestamp as int64 µs since the epoch; naive ones are refused (ValueError)."""
    if when is None:
        return None
    stamp = pd.Timestamp(when)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {stamp}); use UTC")
    return int(stamp.tz_convert("UTC").as_unit("us").asm8.astype(np.int64))


def to_timestamps(us: np.ndarray) -> pd.DatetimeIndex:
    """int64 µs → tz-aware UTC timestamps at microsecond resolution."""
    return pd.DatetimeIndex(pd.to_datetime(us, unit="us", utc=True)).as_unit("us")
