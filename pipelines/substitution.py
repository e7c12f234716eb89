"""Substitute values for the missing slots of gaps, each row tagged with its method code.

Detection (``pipelines.gaps``) says *where* data is missing; substitution is policy, so the
method is an argument (docs/gaps-and-quality.md, missing data):

========================  ====  ==============================================================
method                    code  value for every slot of a gap
========================  ====  ==============================================================
``before_after_mean``     BAM   EPA Part 98 §98.355(b),(c) (also §98.325(b), §98.365(b)): the
                                arithmetic mean of the last usable value before the gap and the
                                first usable value after it; only one of them: that one;
                                neither: the gap is skipped (no rows), as there is nothing to
                                base a value on.
``percentile_90``         P90   EPA Part 75 §75.33: 90th percentile of the lookback values.
``percentile_95``         P95   EPA Part 75 §75.33: 95th percentile of the lookback values.
``maximum``               MAX   EPA Part 75 §75.33: maximum of the lookback values.
``mean_plus_2sd``         M2SD  EU MRR Art. 45 / Annex VIII Eq. 4: mean + 2 * sample standard
                                deviation (ddof=1; 0 with a single value) of the lookback values.
========================  ====  ==============================================================

*Lookback values*: the tag's usable values with ``gap_start - lookback <= ts <= gap_start``
(the point that opens an interior gap is included). When there are none, the lookback methods
fall back to ``before_after_mean`` but keep their own code, as Part 75 records the tier chosen.
Percentiles interpolate linearly between order statistics (numpy's default). Part 75's full
tiering by availability and gap length ("the greater of the percentile and the before/after
mean") is not applied here; it can be layered on top of these methods.

*Slots*: ``gap_start + k * interval`` for ``k = 1 .. missing`` with
``missing = round((gap_end - gap_start) / interval) - 1``, exactly ``missing_points`` of
``pipelines.gaps``. When no usable point stands at ``gap_start`` (a leading gap or a tag with no
data, which start at the window start) the slots start at ``gap_start`` itself (``k = 0 ..
missing - 1`` with ``missing = round((gap_end - gap_start) / interval)``). Every slot lies
strictly before ``gap_end``, and a slot that coincides with a usable measured point is dropped,
so substitutes never overwrite measured data even with stale or foreign ``gaps``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from pipelines.timeseries import Series, prepare, to_timestamps

Side = Literal["left", "right"]

METHODS = {
    "before_after_mean": "BAM",
    "percentile_90": "P90",
    "percentile_95": "P95",
    "maximum": "MAX",
    "mean_plus_2sd": "M2SD",
}
# Where each method comes from, as printed in reports.
SOURCES = {
    "before_after_mean": "40 CFR §98.355(b)-(c): mean of the quality-assured values before and "
    "after the missing-data period",
    "percentile_90": "40 CFR §75.33: 90th percentile of the lookback hourly values",
    "percentile_95": "40 CFR §75.33: 95th percentile of the lookback hourly values",
    "maximum": "40 CFR §75.33: maximum of the lookback hourly values",
    "mean_plus_2sd": "Commission Implementing Regulation (EU) 2018/2066, Art. 45 and Annex VIII: "
    "mean plus twice the standard deviation",
}
SUBSTITUTE_COLUMNS = ("tag", "ts", "value", "method")


def substitute(
    points: pd.DataFrame,
    gaps: pd.DataFrame,
    rules: pd.DataFrame | None = None,
    *,
    method: str = "before_after_mean",
    interval: pd.Timedelta | None = None,
    lookback: pd.Timedelta = pd.Timedelta(days=90),
) -> pd.DataFrame:
    """One row per missing slot of each gap in ``gaps`` (columns of ``pipelines.gaps``).

    ``points``/``rules``/``interval`` as given to ``find_gaps`` (usability and the expected
    interval come from them). Returns columns ``SUBSTITUTE_COLUMNS``: tag (object), ts
    (datetime64[us, UTC]), value (float64, the tag's unit), method (object, a code of
    ``METHODS``); sorted by tag, ts. Raises ``ValueError`` for an unknown ``method``.
    """
    if method not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise ValueError(f"unknown substitution method {method!r}; choose one of: {known}")
    series = prepare(points, rules, interval=interval)
    ts, value, bounds = _usable(series)

    code = series.tags.get_indexer(pd.Index(gaps["tag"], dtype=object)).astype(np.int64)
    gap_start = _epoch_us(gaps["gap_start"])
    gap_end = _epoch_us(gaps["gap_end"])
    ok = code >= 0
    iv = np.zeros(len(code), dtype=np.int64)
    iv[ok] = series.interval_us[code[ok]]
    ok[ok] = (iv[ok] > 0) & (bounds[code[ok] + 1] > bounds[code[ok]])
    # Gaps of tags without an interval or without usable data have nothing to base a value on.
    code, gap_start, gap_end, iv = code[ok], gap_start[ok], gap_end[ok], iv[ok]

    lo, hi = bounds[code], bounds[code + 1]
    upto_start = _search(ts, bounds, code, gap_start, "right")  # first index with ts > start
    from_end = _search(ts, bounds, code, gap_end, "left")  # first index with ts >= end
    has_before, has_after = upto_start > lo, from_end < hi
    before = value[np.where(has_before, upto_start - 1, lo)]
    after = value[np.where(has_after, from_end, lo)]
    fill = np.where(
        has_before & has_after,
        (before + after) / 2,
        np.where(has_before, before, np.where(has_after, after, np.nan)),
    )
    if method != "before_after_mean":
        since = _search(ts, bounds, code, gap_start - _us(lookback), "left")
        fill = _lookback_statistic(method, value, since, upto_start, fill)

    # At the start: a measured point opens the gap (slots from k = 1), else slots from k = 0.
    opened = has_before & (ts[np.where(has_before, upto_start - 1, lo)] == gap_start)
    width = gap_end - gap_start
    count = np.where(opened, (2 * width + iv) // (2 * iv) - 1, (2 * width + iv) // (2 * iv))
    count = np.where(np.isfinite(fill), np.maximum(count, 0), 0)

    gap_of = np.repeat(np.arange(len(count)), count)
    offset = np.cumsum(count) - count  # first slot row of each gap
    k = np.arange(len(gap_of)) - offset[gap_of] + opened[gap_of]
    slot_code = code[gap_of]
    slot_ts = gap_start[gap_of] + k * iv[gap_of]
    slot_value = fill[gap_of]

    at = _search(ts, bounds, slot_code, slot_ts, "left")
    measured = (at < bounds[slot_code + 1]) & (ts[np.minimum(at, len(ts) - 1)] == slot_ts)
    order = np.lexsort((slot_ts, slot_code))
    order = order[~measured[order]]
    slot_code, slot_ts, slot_value = slot_code[order], slot_ts[order], slot_value[order]
    repeat = np.zeros(len(slot_ts), dtype=bool)  # overlapping gaps in the input: keep one
    repeat[1:] = (slot_code[1:] == slot_code[:-1]) & (slot_ts[1:] == slot_ts[:-1])
    slot_code, slot_ts, slot_value = slot_code[~repeat], slot_ts[~repeat], slot_value[~repeat]
    return pd.DataFrame(
        {
            "tag": pd.Series(np.asarray(series.tags, dtype=object)[slot_code], dtype=object),
            "ts": to_timestamps(slot_ts),
            "value": slot_value.astype(np.float64),
            "method": pd.Series(np.full(len(slot_ts), METHODS[method]), dtype=object),
        },
        columns=list(SUBSTITUTE_COLUMNS),
    )


def _lookback_statistic(
    method: str, value: np.ndarray, lo: np.ndarray, hi: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Per gap, the method's statistic of ``value[lo:hi]``; ``fallback`` where that is empty."""
    out = fallback.astype(np.float64, copy=True)
    for i in np.flatnonzero(hi > lo):  # one small slice per gap; gaps are few
        window = value[lo[i] : hi[i]]
        if method == "percentile_90":
            out[i] = np.percentile(window, 90)
        elif method == "percentile_95":
            out[i] = np.percentile(window, 95)
        elif method == "maximum":
            out[i] = window.max()
        else:  # mean_plus_2sd
            spread = window.std(ddof=1) if len(window) > 1 else 0.0
            out[i] = window.mean() + 2 * spread
    return out


def _usable(series: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps, values and per-tag bounds of the usable points only."""
    keep = series.usable
    bounds = np.searchsorted(np.flatnonzero(keep), series.bounds).astype(np.int64)
    return series.ts[keep], series.value[keep], bounds


def _search(
    ts: np.ndarray, bounds: np.ndarray, code: np.ndarray, t: np.ndarray, side: Side
) -> np.ndarray:
    """``np.searchsorted`` of each ``t`` within its tag's slice ``bounds[code]:bounds[code+1]``.

    Returns absolute indices into ``ts``. One vectorised search per distinct tag.
    """
    out = np.empty(len(t), dtype=np.int64)
    if len(t) == 0:
        return out
    order = np.argsort(code, kind="stable")
    tags, first = np.unique(code[order], return_index=True)
    for c, a, b in zip(tags, first, [*first[1:], len(order)], strict=True):
        rows = order[a:b]
        lo, hi = bounds[c], bounds[c + 1]
        out[rows] = lo + np.searchsorted(ts[lo:hi], t[rows], side=side)
    return out


def _epoch_us(column: pd.Series) -> np.ndarray:
    stamps = pd.DatetimeIndex(column)
    if stamps.tz is None:
        raise ValueError("gap_start/gap_end must be timezone-aware (UTC)")
    return np.asarray(stamps.tz_convert("UTC").as_unit("us").asi8, dtype=np.int64)


def _us(delta: pd.Timedelta) -> int:
    return int(delta / pd.Timedelta(microseconds=1))
