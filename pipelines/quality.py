"""Data quality per tag and period: each dimension on its own, plus a documented 0-100 score.

Input is the canonical sorted form of ``pipelines.timeseries`` (``prepare`` / ``Series``): the
points, their usability and the per-tag rule columns. Output: one row per tag per period,
columns ``QUALITY_COLUMNS``, sorted by tag then period_start.

**Periods.** The window ``[start, end)`` is cut at the boundaries of ``freq`` in the facility
time zone ``tz``: with ``"1D"`` at each *local* midnight, so a DST day is 23 h or 25 h long
(``period_start``/``period_end`` are those instants in UTC). Calendar offsets (``"1D"``, ``"MS"``,
``"W"``, ...) are cut in local wall time; fixed ones (``"1h"``, ``"15min"``) every so much real
time from the local boundary at or before ``start``. The first/last period is clipped to the
window when ``start``/``end`` is not on a boundary. ``freq=None``: one period, the whole window.
Without ``start``/``end`` the window is the data's own: the first timestamp to the latest
``last timestamp + interval`` over the tags.

**Dimensions** (per tag and period; the value rules run on the whole series, so a spike or a
flat run next to a period edge is judged with its real neighbours, then attributed by time):

* ``expected_points``: slots of the tag's interval grid (``k * interval`` since the Unix epoch)
  inside the period, i.e. period length / interval whenever the interval divides the length
  (1380 and 1500 for a 1-min tag on the 23 h / 25 h days), else its floor or ceiling. A property
  of the period alone, so it does not depend on the window and adds up over periods. 0 when the
  tag's interval is unknown (fewer than two distinct timestamps and none configured).
* ``received_points``: rows, duplicates included. ``duplicates``: rows sharing (tag, ts) beyond
  the first. ``out_of_order``: rows whose timestamp is earlier than that of the previous row of
  the same tag in input order (flag, then sort; never drop).
* ``usable_points``: distinct timestamps holding at least one usable row (``Series.usable``:
  finite, not a sentinel, within min/max, quality not bad; not uncertain either with
  ``uncertain_is_bad``).
* ``completeness = min(1, usable_points / expected_points)``. **Count-based** (a choice
  to make): a missing or unusable *reading* costs the same whatever the spacing around it,
  which is what the expected-interval contract and the gap rules count (``missing_points``), and
  what compliance availability ratios count (hours with a valid value, 40 CFR §75.32). The
  time-weighted alternative, OPC UA PercentGood = good duration / period (OPC 10000-13,
  Aggregates), would weigh each reading by how long it is held; it suits exception-reported
  historian data, which a per-tag ``interval_s`` (scan rate / CompMax) handles here instead.
  With ``expected_points == 0`` completeness is 1 if the interval is known (the period is
  shorter than one interval) and 0 if it is unknown (nothing shows the tag is complete).
* ``validity = usable_points / (received_points - duplicates)``: share of received timestamps
  that pass range, source quality, finiteness and sentinel checks; 0 when no row
  was received. Missing (no row) and invalid (a bad row) are kept apart. Flat and
  spiky values stay valid here: they are their own dimensions
  (docs/gaps-and-quality.md), rather than folded into validity.
* The value rules see one point per usable distinct timestamp: its value, or for duplicates the
  midpoint of their smallest and largest usable values (order-independent; the conflict itself is
  already counted in ``duplicates``). "Consecutive" means adjacent in that sequence of the tag.
* **Flatline** (QARTOD flat-line test, measured in time): a run is a
  maximal stretch of consecutive points with ``|Δvalue| <= flatline_tolerance`` and no gap
  between them (spacing ``<= 1.5 * interval``, as in the gap rule, so unobserved time is never
  called flat). Its duration is ``last ts - first ts``; it is a flatline when the duration
  ``>= flatline_min_s``. ``flatline_minutes`` = flat time inside the period (runs as ``[first,
  last)`` clipped to the period), ``flatline_runs`` = flatlines with flat time in the period. A
  slow drift whose every step is within the tolerance counts as flat (consecutive differences, not
  the run's range).
* **Spikes** (QARTOD spike test): ``|x[i] - (x[i-1] + x[i+1]) / 2| > threshold``, tested
  where both neighbours are of the same tag with no gap (``<= 1.5 * interval``) on either side,
  as the neighbour mean assumes even spacing, and counted at the peak only: an
  outlier of height h lifts its neighbours' deviation to h / 2, so a point whose tested neighbour
  deviates more is not counted. ``threshold = spike_threshold``, or when NaN
  ``SPIKE_K * median(|Δx| > 0)``: 8 times the median of the tag's non-zero consecutive changes,
  taken on an evenly strided sample of at most ``SPIKE_SAMPLE`` changes per tag. For white noise
  with standard deviation s that median is 0.95 s and the spike statistic's deviation 1.22 s, so
  the default sits 6.2 of those out (~5e-10 false alarms per point); a spike moves a median by
  one rank at most; ignoring zero changes keeps mostly-flat or quantised tags from getting a
  zero threshold. A tag without any non-zero change is not tested.
* ``rate_violations``: ``|Δvalue| / Δt > max_rate`` (units per second over the real Δt, QARTOD
  rate-of-change), counted at the later point; NaN ``max_rate``: not evaluated (0).

**Score** (0-100), from five sub-scores in [0, 1] and their weights ``WEIGHTS``::

    others = sum(WEIGHTS[k] * s[k] for k != completeness)
    score  = 100 * completeness * (WEIGHTS[completeness] + others) / sum(WEIGHTS.values())
    s[completeness] = completeness
    s[validity]     = validity
    s[flatline]     = 1 - flatline time / period length
    s[spikes]       = 1 - min(1, (spikes + rate_violations) / usable_points)
    s[consistency]  = 1 - min(1, (duplicates + out_of_order) / received_points)

The other dimensions are scaled by completeness: they describe the readings that arrived, so a
day with one good reading out of 1440 scores ~0, not the ~60 a plain weighted mean would give.
With full completeness it is the plain weighted mean. A period without any usable point scores 0.
An unusable row lowers both completeness and validity: it is a missing reading *and* a bad one.

Vectorised: prepare sorts once; the period edges are binary-searched into each tag's sorted slice
(all tags at once), and every count is a difference of ``np.searchsorted`` positions of the
flagged points; runs come from ``np.diff``/``np.flatnonzero``. No Python loop touches points.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Tick

from pipelines.timeseries import US, Series, epoch_us, prepare, silent_tags, to_timestamps

QUALITY_COLUMNS = (
    "tag",
    "period_start",
    "period_end",
    "expected_points",
    "received_points",
    "usable_points",
    "duplicates",
    "out_of_order",
    "completeness",
    "validity",
    "flatline_minutes",
    "flatline_runs",
    "spikes",
    "rate_violations",
    "score",
)
# Completeness dominates: missing data is what compliance reports have to substitute for.
WEIGHTS: dict[str, float] = {
    "completeness": 0.40,
    "validity": 0.20,
    "flatline": 0.15,
    "spikes": 0.15,  # spikes and rate-of-change violations
    "consistency": 0.10,  # duplicates and out-of-order rows
}
SPIKE_K = 8.0
SPIKE_SAMPLE = 4096
_MINUTE_US = 60 * US
_NEVER = np.iinfo(np.int64).max
_COUNTS = (
    "expected_points",
    "received_points",
    "usable_points",
    "duplicates",
    "out_of_order",
    "flatline_runs",
    "spikes",
    "rate_violations",
)


def score_quality(
    points: pd.DataFrame,
    rules: pd.DataFrame | None = None,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    freq: str | None = "1D",
    tz: str = "UTC",
    interval: pd.Timedelta | None = None,
    uncertain_is_bad: bool = False,
) -> pd.DataFrame:
    """Quality of every tag per period of ``freq`` in ``tz`` within ``[start, end)``.

    ``points``/``rules`` as in ``pipelines.timeseries``; ``start``/``end`` tz-aware (default: the
    data's own window). With both bounds given, a tag listed in ``rules`` with a configured
    ``interval_s`` (any listed tag when ``interval`` is given) that has no point at all still
    gets its rows (received 0, completeness 0, score 0), as in ``pipelines.gaps``.

    Columns ``QUALITY_COLUMNS``: tag (object), period_start and period_end
    (datetime64[us, UTC]), counts int64, completeness/validity float64 in [0, 1],
    flatline_minutes float64 (minutes), score float64 in [0, 100].
    """
    series = prepare(points, rules, interval=interval, uncertain_is_bad=uncertain_is_bad)
    start_us, end_us = epoch_us(start, "start"), epoch_us(end, "end")
    if len(series.ts) and (start_us is None or end_us is None):
        first = int(series.ts.min())
        last = series.ts[series.bounds[1:] - 1] + np.maximum(series.interval_us, 1)
        start_us = first if start_us is None else start_us
        end_us = int(last.max()) if end_us is None else end_us
    if start_us is None or end_us is None:  # no points and no window: nothing to score
        return _frame(np.empty(0, dtype=object), {}, np.zeros(1, dtype=np.int64))
    scores = score_series(series, start_us=start_us, end_us=end_us, freq=freq, tz=tz)
    if rules is None or start is None or end is None:
        return scores
    return _with_silent_tags(scores, series, rules, interval, start_us, end_us, freq, tz)


def score_series(
    series: Series, *, start_us: int, end_us: int, freq: str | None = "1D", tz: str = "UTC"
) -> pd.DataFrame:
    """Quality of the tags of ``series`` in ``[start_us, end_us)`` (µs since the epoch, UTC).

    Same output and definitions as ``score_quality``.
    """
    if end_us <= start_us:
        raise ValueError(f"window end ({end_us} µs) is not after its start ({start_us} µs)")
    edges = period_edges(start_us, end_us, freq=freq, tz=tz)
    pos = _edge_positions(series.ts, series.bounds, edges)
    ts = series.ts
    same = _same_tag(len(ts), series.bounds)
    repeat = ts[1:] == ts[:-1]
    repeat &= same
    dup_at = np.flatnonzero(repeat) + 1
    received = np.diff(pos, axis=1)
    slots = _usable_slots(series, dup_at)
    spike_at, rate_at, flat_us, runs = _value_rules(slots, series.rules, series.interval_us, edges)
    counts = {
        "expected_points": _expected(series.interval_us, edges),
        "received_points": received,
        "usable_points": received - _count(slots.dropped, pos),
        "duplicates": _count(dup_at, pos),
        "out_of_order": _count(_out_of_order(series, same), pos),
        "flatline_runs": runs,
        "spikes": _count(slots.at(spike_at), pos),
        "rate_violations": _count(slots.at(rate_at), pos),
    }
    return _frame(np.asarray(series.tags, dtype=object), counts, edges, flat_us, series.interval_us)


def period_edges(start_us: int, end_us: int, *, freq: str | None, tz: str) -> np.ndarray:
    """Period boundaries (int64 µs, UTC): ``start_us``, the ``freq`` boundaries in ``tz``
    strictly inside the window, ``end_us``."""
    if freq is None:
        return np.array([start_us, end_us], dtype=np.int64)
    offset = to_offset(freq)
    first, last = to_timestamps(np.array([start_us, end_us], dtype=np.int64)).tz_convert(tz)
    wall_first, wall_last = first.tz_localize(None), last.tz_localize(None)
    # pandas < 3 makes "1D" a Tick; a day here is always a calendar (local) day
    if isinstance(offset, Tick) and not isinstance(offset, pd.offsets.Day):
        step = offset.nanos // 1000  # fixed length: real-time steps from the local boundary
        if step <= 0:
            raise ValueError(f"freq {freq!r} is shorter than a microsecond")
        anchor = _to_us(_localize(pd.DatetimeIndex([wall_first.floor(freq)]), tz))[0]
        inner = np.arange(anchor + step, end_us, step, dtype=np.int64)
    else:  # calendar: boundaries in local wall time (local midnights for "1D")
        begin = offset.rollback(wall_first.normalize())
        wall = pd.date_range(begin, wall_last, freq=offset)
        wall = pd.DatetimeIndex(wall.append(pd.DatetimeIndex([wall[-1] + offset])))
        inner = np.unique(_to_us(_localize(wall, tz)))
    inner = inner[(inner > start_us) & (inner < end_us)]
    return np.concatenate(([start_us], inner, [end_us])).astype(np.int64)


# ----------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Slots:
    """One point per usable distinct timestamp, in sorted order: the series without the rows at
    the sorted positions ``dropped`` (unusable rows, and usable rows repeating a timestamp)."""

    dropped: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    bounds: np.ndarray  # per-tag slices, len(tags) + 1

    def at(self, index: np.ndarray) -> np.ndarray:
        """Sorted positions in the series of the slot indices ``index`` (ascending)."""
        if len(self.dropped) == 0:
            return index
        kept_before = self.dropped - np.arange(len(self.dropped))  # slots before each dropped row
        return index + np.searchsorted(kept_before, index, side="right")


def _usable_slots(series: Series, dup_at: np.ndarray) -> _Slots:
    keep = series.usable
    if len(dup_at):
        # Rows sharing (tag, ts) are adjacent; dup_at are all but the first of each group.
        new = np.diff(dup_at, prepend=-2) != 1
        head = np.maximum.accumulate(np.where(new, dup_at - 1, 0))
        heads = head[new]
        members = np.concatenate((heads, dup_at))
        group = np.concatenate((np.arange(len(heads)), np.cumsum(new) - 1))
        ok = keep[members]
        members, group = members[ok], group[ok]
        value = series.value[members]
        first = np.full(len(heads), np.iinfo(np.int64).max)
        low, high = np.full(len(heads), np.inf), np.full(len(heads), -np.inf)
        np.minimum.at(first, group, members)
        np.minimum.at(low, group, value)
        np.maximum.at(high, group, value)
        has = first < np.iinfo(np.int64).max
        first, low, high = first[has], low[has], high[has]
        keep = keep.copy()
        keep[members] = False
        keep[first] = True  # the first usable row of the group stands for it
    if keep.all():  # the usual case: no copies
        return _Slots(np.empty(0, dtype=np.int64), series.ts, series.value, series.bounds)
    dropped = np.flatnonzero(~keep)
    ts, value = series.ts[keep], series.value[keep]
    if len(dup_at):
        value[first - np.searchsorted(dropped, first)] = np.where(
            low == high, low, 0.5 * low + 0.5 * high
        )
    bounds = series.bounds - np.searchsorted(dropped, series.bounds)
    return _Slots(dropped, ts, value, bounds)


def _value_rules(
    slots: _Slots, rules: pd.DataFrame, interval_us: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spikes and rate violations (slot indices), flat µs and flatline runs per (tag, period).

    Whole-array passes only find candidates; tag boundaries and gaps are checked on those.
    """
    t, x, bounds = slots.ts, slots.value, slots.bounds
    gap = np.where(interval_us > 0, (3 * interval_us) // 2, _NEVER)  # d <= 1.5 iv, in integers

    def joined(i: np.ndarray) -> np.ndarray:
        """Slots i and i + 1 are of one tag with no gap between them."""
        tag = np.searchsorted(bounds, i, side="right") - 1
        nxt = np.minimum(i + 1, len(t) - 1)
        out: np.ndarray = (i + 1 < bounds[tag + 1]) & (t[nxt] - t[i] <= gap[tag])
        return out

    step = np.diff(x)
    np.abs(step, out=step)

    threshold = rules["spike_threshold"].to_numpy(dtype="float64")
    auto = np.isnan(threshold)
    if auto.any():
        threshold = np.where(auto, SPIKE_K * _change_scale(step, bounds, auto), threshold)
    threshold = np.where(np.isnan(threshold), np.inf, threshold)  # no change at all: no test
    # One buffer, in place: allocating series-long temporaries costs more than the arithmetic.
    buffer = np.empty(len(step))
    dev = buffer[: max(len(x) - 2, 0)]  # dev[j] is point j + 1
    np.add(x[:-2], x[2:], out=dev)
    dev *= 0.5
    np.subtract(x[1:-1], dev, out=dev)
    np.abs(dev, out=dev)
    cand = _beyond(dev, threshold, bounds, above=True)
    cand = cand[joined(cand) & joined(cand + 1)]
    # One outlier of height h puts its neighbours at h / 2: count only the peak deviation.
    left, right = np.maximum(cand - 1, 0), np.minimum(cand + 1, len(dev) - 1)
    beaten = ((cand > 0) & joined(left) & joined(cand) & (dev[left] > dev[cand])) | (
        (cand + 1 < len(dev)) & joined(cand + 1) & joined(cand + 2) & (dev[right] > dev[cand])
    )
    spike_at = cand[~beaten] + 1

    max_rate = rules["max_rate"].to_numpy(dtype="float64")
    rate_at = np.empty(0, dtype=np.int64)
    if np.isfinite(max_rate).any():
        rate = buffer  # the deviations are no longer needed
        np.subtract(t[1:], t[:-1], out=rate)
        rate /= US
        with np.errstate(divide="ignore", invalid="ignore"):  # Δt <= 0 only across tags
            np.divide(step, rate, out=rate)  # units per second
        cand = _beyond(rate, max_rate, bounds, above=True)  # NaN limit: not evaluated
        tag = np.searchsorted(bounds, cand, side="right") - 1
        rate_at = cand[cand + 1 < bounds[tag + 1]] + 1  # any Δt: the rate uses the real one

    tolerance = rules["flatline_tolerance"].to_numpy(dtype="float64")
    cand = _beyond(step, tolerance, bounds, above=False)
    flat_us, runs = _flatlines(cand[joined(cand)], slots, rules, edges)
    return spike_at, rate_at, flat_us, runs


def _change_scale(step: np.ndarray, bounds: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per tag: median of the non-zero |Δx| within the tag, on a strided sample (NaN: none)."""
    changes = np.where(wanted, np.maximum(np.diff(bounds) - 1, 0), 0)
    stride = np.maximum(1, -(-changes // SPIKE_SAMPLE))
    taken = -(-changes // stride)
    tag = np.repeat(np.arange(len(changes)), taken)
    rank = np.arange(len(tag)) - np.repeat(np.cumsum(taken) - taken, taken)
    sample = step[bounds[:-1][tag] + rank * stride[tag]]
    nonzero = sample > 0
    medians = pd.Series(sample[nonzero]).groupby(tag[nonzero]).median()
    out = np.full(len(changes), np.nan)
    out[medians.index.to_numpy()] = medians.to_numpy()
    return out


def _flatlines(
    flat_steps: np.ndarray, slots: _Slots, rules: pd.DataFrame, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flat µs and flatline runs per (tag, period) from the flat steps (slot i to i + 1)."""
    ntags, nper = len(slots.bounds) - 1, len(edges) - 1
    t = slots.ts
    brk = np.flatnonzero(np.diff(flat_steps) != 1)  # runs of consecutive flat steps
    first = flat_steps[np.concatenate(([0], brk + 1))] if len(flat_steps) else flat_steps
    last = (
        flat_steps[np.concatenate((brk, [len(flat_steps) - 1]))] + 1 if len(flat_steps) else first
    )
    tag = np.searchsorted(slots.bounds, first, side="right") - 1
    min_us = np.round(rules["flatline_min_s"].to_numpy(dtype="float64") * US)
    long = t[last] - t[first] >= min_us[tag]
    run_start, run_end, tag = t[first[long]], t[last[long]], tag[long]
    # a run [start, end) touches the periods from the one holding start to the one holding end-1
    p0 = np.maximum(np.searchsorted(edges, run_start, side="right") - 1, 0)
    p1 = np.minimum(np.searchsorted(edges, run_end - 1, side="right") - 1, nper - 1)
    inside = p1 >= p0
    p0, p1, tag = p0[inside], p1[inside], tag[inside]
    run_start, run_end = run_start[inside], run_end[inside]
    span = p1 - p0 + 1
    run = np.repeat(np.arange(len(span)), span)
    period = p0[run] + np.arange(len(run)) - np.repeat(np.cumsum(span) - span, span)
    overlap = np.minimum(run_end[run], edges[period + 1]) - np.maximum(
        run_start[run], edges[period]
    )
    cell = tag[run] * nper + period
    flat_us = np.bincount(cell, weights=overlap, minlength=ntags * nper).reshape(ntags, nper)
    runs = np.bincount(cell, minlength=ntags * nper).reshape(ntags, nper)
    return flat_us, runs.astype(np.int64)


def _out_of_order(series: Series, same: np.ndarray) -> np.ndarray:
    """Sorted positions of rows earlier than the previous row of their tag in input order."""
    order = series.order
    inversion = order[1:] < order[:-1]
    inversion &= same
    if not inversion.any():  # every tag arrived in time order
        return np.empty(0, dtype=np.int64)
    # Positions of each tag listed in input order; timsort is near-linear on nearly ordered input.
    key = series.code * len(order)
    key += order
    seq = np.argsort(key, kind="stable")
    # The sort in prepare is stable, so within a tag a smaller sorted position after a later
    # input row means a strictly earlier timestamp. seq has the same per-tag slices as the series.
    late = seq[1:] < seq[:-1]
    late &= same
    return np.sort(seq[1:][late])


def _edge_positions(ts: np.ndarray, bounds: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(tags, periods + 1): first sorted position of each tag at or after each edge.

    A binary search over all (tag, edge) pairs at once: ~log2(n) vectorised steps.
    """
    lo = np.repeat(bounds[:-1], len(edges))
    hi = np.repeat(bounds[1:], len(edges))
    target = np.tile(edges, len(bounds) - 1)
    last = max(len(ts) - 1, 0)
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        below = active & (ts[np.minimum(mid, last)] < target)
        lo = np.where(below, mid + 1, lo)
        hi = np.where(active & ~below, mid, hi)
    return lo.reshape(len(bounds) - 1, len(edges))


def _count(at: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Flagged sorted positions ``at`` (ascending) per (tag, period)."""
    return np.diff(np.searchsorted(at, pos), axis=1).astype(np.int64)


def _expected(interval_us: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Slots ``k * interval`` (µs since the epoch) in each period (0 for an unknown interval)."""
    iv = np.maximum(interval_us, 1)[:, None]
    upto = -(-edges[None, :] // iv)  # ceil(edge / iv): slots before each edge, plus a constant
    return np.where(interval_us[:, None] > 0, np.diff(upto, axis=1), 0).astype(np.int64)


def _same_tag(n: int, bounds: np.ndarray) -> np.ndarray:
    """``out[i]``: points i and i + 1 belong to the same tag."""
    out = np.ones(max(n - 1, 0), dtype=bool)
    cut = bounds[1:-1] - 1
    out[cut[(cut >= 0) & (cut < n - 1)]] = False
    return out


def _beyond(
    values: np.ndarray, per_tag: np.ndarray, bounds: np.ndarray, *, above: bool
) -> np.ndarray:
    """Indices j where ``values[j]`` is above (else at or below) the limit of the tag of point
    ``j + 1``. A NaN limit never matches. One scalar pass with the loosest limit finds the
    candidates; only those are checked against their own tag's limit."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    limit = np.where(np.isnan(per_tag), np.inf if above else -np.inf, per_tag)
    loose = limit.min() if above else limit.max()
    cand = np.flatnonzero(values > loose if above else values <= loose)
    if (limit == loose).all():
        return cand
    if len(cand) > len(values) // 8:  # the loose limit lets too much through: go exact
        exact = np.repeat(limit, np.diff(bounds))[1 : len(values) + 1]
        return np.flatnonzero(values > exact if above else values <= exact)
    tag = np.searchsorted(bounds, cand + 1, side="right") - 1
    keep = values[cand] > limit[tag] if above else values[cand] <= limit[tag]
    return cand[keep]


def _frame(
    tags: np.ndarray,
    counts: dict[str, np.ndarray],
    edges: np.ndarray,
    flat_us: np.ndarray | None = None,
    interval_us: np.ndarray | None = None,
) -> pd.DataFrame:
    ntags, nper = len(tags), len(edges) - 1
    shape = (ntags, nper)
    got = {k: counts.get(k, np.zeros(shape, dtype=np.int64)) for k in _COUNTS}
    flat = np.zeros(shape) if flat_us is None else flat_us
    known = np.zeros(ntags, bool) if interval_us is None else interval_us > 0
    expected, usable = got["expected_points"], got["usable_points"]
    received = got["received_points"]
    distinct = received - got["duplicates"]
    completeness = np.where(
        expected > 0, np.minimum(1.0, usable / np.maximum(expected, 1)), known[:, None] * 1.0
    )
    validity = np.where(distinct > 0, usable / np.maximum(distinct, 1), 0.0)
    length = np.diff(edges).astype("float64")[None, :]
    sub = {
        "completeness": completeness,
        "validity": validity,
        "flatline": 1.0 - np.minimum(1.0, flat / length),
        "spikes": 1.0
        - np.minimum(1.0, (got["spikes"] + got["rate_violations"]) / np.maximum(usable, 1)),
        "consistency": 1.0
        - np.minimum(1.0, (got["duplicates"] + got["out_of_order"]) / np.maximum(received, 1)),
    }
    weights = sum(WEIGHTS.values())
    others = sum(WEIGHTS[k] * sub[k] for k in WEIGHTS if k != "completeness")
    # Rounded to 1e-9 so a perfect period is exactly 100 despite float sums of the weights.
    total = np.round(completeness * (WEIGHTS["completeness"] + others) / weights, 9)
    score = np.where(usable > 0, np.clip(100.0 * total, 0.0, 100.0), 0.0)
    frame = pd.DataFrame(
        {
            "tag": pd.Series(np.repeat(tags, nper), dtype=object),
            "period_start": to_timestamps(np.tile(edges[:-1], ntags)),
            "period_end": to_timestamps(np.tile(edges[1:], ntags)),
            **{k: got[k].ravel().astype(np.int64) for k in _COUNTS[:5]},
            "completeness": completeness.ravel().astype("float64"),
            "validity": validity.ravel().astype("float64"),
            "flatline_minutes": (flat / _MINUTE_US).ravel().astype("float64"),
            **{k: got[k].ravel().astype(np.int64) for k in _COUNTS[5:]},
            "score": np.broadcast_to(score, shape).ravel().astype("float64"),
        }
    )
    return frame[list(QUALITY_COLUMNS)]


def _with_silent_tags(
    scores: pd.DataFrame,
    series: Series,
    rules: pd.DataFrame,
    interval: pd.Timedelta | None,
    start_us: int,
    end_us: int,
    freq: str | None,
    tz: str,
) -> pd.DataFrame:
    """Add rows for tags configured in ``rules`` that sent nothing at all (as gaps.py does)."""
    silent, iv = silent_tags(series, rules, interval=interval)
    if len(silent) == 0:
        return scores
    edges = period_edges(start_us, end_us, freq=freq, tz=tz)
    extra = _frame(silent, {"expected_points": _expected(iv, edges)}, edges)
    both = pd.concat([scores, extra], ignore_index=True)
    return both.sort_values(["tag", "period_start"], kind="stable", ignore_index=True)


def _localize(wall: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Wall times in ``tz``: an ambiguous one is its first occurrence, a skipped one moves on."""
    ambiguous = np.ones(len(wall), dtype=bool)
    return wall.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward")


def _to_us(stamps: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(stamps.tz_convert("UTC").as_unit("us").asi8, dtype=np.int64)


# --- alerts, and the days an analysis scores -----------------------------------------------------


@dataclass(frozen=True)
class AlertThresholds:
    """When a tag alerts: a gap at least ``gap_minutes`` long, a day less complete than
    ``completeness`` (a fraction), a day flat for ``flatline_hours`` or more."""

    gap_minutes: float
    completeness: float
    flatline_hours: float

    def overridden(
        self,
        *,
        gap_minutes: float | None = None,
        completeness: float | None = None,
        flatline_hours: float | None = None,
    ) -> AlertThresholds:
        """These thresholds with a tag's own values in place (None keeps the default)."""
        return AlertThresholds(
            gap_minutes=self.gap_minutes if gap_minutes is None else float(gap_minutes),
            completeness=self.completeness if completeness is None else float(completeness),
            flatline_hours=self.flatline_hours if flatline_hours is None else float(flatline_hours),
        )


def quality_alerts(rows: pd.DataFrame, thresholds: AlertThresholds) -> pd.DataFrame:
    """Which rows of ``score_quality`` alert, on the index of ``rows``: low_completeness (bool:
    completeness below the threshold) and flatline (bool: flat for at least the threshold)."""
    return pd.DataFrame(
        {
            "low_completeness": rows["completeness"] < thresholds.completeness,
            "flatline": rows["flatline_minutes"] >= thresholds.flatline_hours * 60,
        },
        index=rows.index,
    )


def days_to_score(
    start: dt.datetime, end: dt.datetime, *, tz: str, now: dt.datetime
) -> tuple[dt.date, dt.date]:
    """First and last local day in ``tz`` that ``[start, end]`` (tz-aware) touches, the last no
    later than the last day that has ended at ``now``: when it falls before the first, no day
    is due."""
    zone = ZoneInfo(tz)
    return start.astimezone(zone).date(), min(end.astimezone(zone).date(), last_ended_day(now, tz))


def last_ended_day(now: dt.datetime, tz: str) -> dt.date:
    """The last day in ``tz`` that has ended at ``now`` (tz-aware): the local yesterday."""
    return (now.astimezone(ZoneInfo(tz)) - dt.timedelta(days=1)).date()


def local_midnight(day: dt.date, tz: str) -> pd.Timestamp:
    """The start of ``day`` in ``tz``, as a UTC timestamp."""
    return pd.Timestamp(day, tz=ZoneInfo(tz)).tz_convert("UTC")
