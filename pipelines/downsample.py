"""Downsampling a tag's readings for a chart: M4 aggregation.

A chart ``width`` pixels wide cannot show more than ``width`` columns of data, so drawing a
quarter of 1-minute readings (~130,000 points) sends and draws far more than anyone can see. M4
keeps, for each pixel column's time bucket, the first and last reading and the lowest and
highest: at most four points per column. A line drawn through them covers exactly the pixels the
line through every reading covers (Jugel, Jerzak, Hackenbroich and Markl, "M4: A Visualization-
Oriented Time Series Data Aggregation", PVLDB 7(10), 2014), so spikes and dips survive, which
averaging or picking every n-th point would hide.

Buckets are equal slices of ``[start, end)``; a bucket without readings yields nothing, so a gap
stays a gap in the chart. Readings must be finite; what counts as usable is the caller's rule
(``pipelines.timeseries``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Downsampled:
    """The kept readings in time order (nanoseconds since the epoch, values) and how many
    readings they stand for."""

    ts_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    source_points: int


def m4(
    ts_ns: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    *,
    start_ns: int,
    end_ns: int,
    buckets: int,
) -> Downsampled:
    """First, last, minimum and maximum reading of each of ``buckets`` equal time slices of
    ``[start_ns, end_ns)``; ``ts_ns`` sorted ascending, readings outside the range ignored."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    if end_ns <= start_ns:
        raise ValueError("end must be after start")
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if ts_ns.shape != values.shape:
        raise ValueError("timestamps and values differ in length")
    lo, hi = np.searchsorted(ts_ns, [start_ns, end_ns], side="left")
    ts, vals = ts_ns[lo:hi], values[lo:hi]
    if len(ts) <= 4 * buckets:  # nothing to gain: every reading is kept
        return Downsampled(ts.copy(), vals.copy(), len(ts))
    # Bucket of each reading, by integer arithmetic (no float rounding at the edges).
    span = end_ns - start_ns
    bucket = ((ts - start_ns).astype(np.int64) // -(-span // buckets)).clip(0, buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])  # first index of each bucket
    ends = np.r_[starts[1:], len(ts)] - 1
    keep = np.zeros(len(ts), dtype=bool)
    keep[starts] = True
    keep[ends] = True
    keep[_arg_extreme(vals, starts, np.minimum)] = True
    keep[_arg_extreme(vals, starts, np.maximum)] = True
    return Downsampled(ts[keep], vals[keep], len(ts))


def _arg_extreme(
    values: npt.NDArray[np.float64], starts: npt.NDArray[np.intp], ufunc: np.ufunc
) -> npt.NDArray[np.intp]:
    """Index of the first reading equal to its bucket's minimum (or maximum)."""
    extreme = ufunc.reduceat(values, starts)
    lengths = np.diff(np.r_[starts, len(values)])
    is_extreme = values == np.repeat(extreme, lengths)
    # First True at or after each bucket start: the running count of matches tells where.
    hits = np.flatnonzero(is_extreme)
    return hits[np.searchsorted(hits, starts)]
