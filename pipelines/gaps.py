"""Gaps: stretches of a tag's time series with no usable point, found with one ``np.diff``.

Rules (docs/gaps-and-quality.md), per tag, against its expected interval ``iv``
(``Series.interval_us``: configured ``interval_s``, else the median spacing; an ``interval``
argument overrides every tag):

* Only *usable* points count (``Series.usable``: finite, not a sentinel such as -9999, within the
  physical limits, quality not bad; uncertain too when ``uncertain_is_bad``). An unusable point
  never closes a gap. Duplicate timestamps are harmless: a spacing of 0 is never a gap.
* **Interior gap**: two consecutive usable points ``a < b`` with ``b - a > 1.5 * iv``.
  ``gap_start = a``, ``gap_end = b``, ``missing_points = round((b - a) / iv) - 1``
  (12:00 -> 14:30 at 1 min: 150 minutes, 149 missing points). ``open`` is False.
* **Window** ``[start, end)`` (end exclusive, each bound optional): points outside it are ignored.
  The edges follow from the interior rule with two *virtual points*: the window start is treated
  as if a point stood one interval before it, ``start - iv`` (the previous window's last slot),
  and the window end as if a point stood at ``end`` (the next window's first slot, which ``end``
  excludes). Reported gaps are clipped to the window, so they never reach outside it.

  - **Leading gap** (needs ``start``): the first usable point ``p`` satisfies
    ``p - (start - iv) > 1.5 * iv``, i.e. ``p - start > 0.5 * iv``. ``gap_start = start``,
    ``gap_end = p``, ``missing_points = round((p - start) / iv)`` (the slot at ``start`` itself
    is missing), ``open`` False.
  - **Trailing gap** (needs ``end``): the last usable point ``q`` satisfies ``end - q > 1.5 * iv``.
    ``gap_start = q``, ``gap_end = end``, ``missing_points = round((end - q) / iv) - 1``,
    ``open`` True: data has not resumed yet.
  - **No usable point in the window** (needs both; includes a tag that is only in ``rules`` with a
    configured ``interval_s``): one gap ``start -> end`` when ``end - start > 0.5 * iv``, with
    ``missing_points = round((end - start) / iv)``, ``open`` True.

  Without ``start``/``end`` there are no edge gaps. A tag whose interval is unknown (0: fewer
  than two distinct timestamps and nothing configured) has no gaps at all.
* ``round`` rounds halves up and is done in integer microseconds, so it is exact.

**Identity.** For each tag with a known interval and a window ``[start, end)``, let
``start = t_0 <= t_1 <= ... <= t_k < t_{k+1} = end`` be the window bounds around the usable points
in the window, and call the step ``t_{i+1} - t_i`` a *gap step* when it is a leading (``i = 0``,
longer than ``0.5 * iv``), interior (longer than ``1.5 * iv``) or trailing (``i = k``, longer than
``1.5 * iv``) gap by the rules above (with ``k = 0`` the single step ``start -> end`` is a gap
step when longer than ``0.5 * iv``). *Covered time* is the sum of all other steps. Every gap is
exactly one gap step (the edges are clipped to ``start``/``end`` rather than to the virtual
points), so ``sum(duration) + covered time == end - start`` for every tag. Gaps therefore never
overlap, never reach outside the window, and a trailing gap of ``[a, b)`` meets a leading gap
of ``[b, c)`` at ``b``.

Implementation: the points are sorted once by ``prepare``; detection is one ``np.diff`` over the
usable timestamps (copied only when some point is unusable or outside the window), compared with a
scalar threshold when all tags share one cadence, else with a per-point threshold; the few
candidates are then checked against their own tag's threshold and tag boundary. Edges come from
the first/last usable point of each tag (per-tag bounds), vectorised; no per-tag Python loop.

Keeping stored gaps current: ``diff_gaps`` says which computed gaps are new, changed or already
stored, which stored ones late data filled, and which are long enough to alert;
``find_stale_gaps`` opens the trailing gap of tags whose data stopped arriving, between analyses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.timeseries import US, Series, epoch_us, prepare, silent_tags, to_timestamps

GAP_COLUMNS = ("tag", "gap_start", "gap_end", "duration_minutes", "missing_points", "open")
_NEVER = np.iinfo(np.int64).max  # threshold of a tag with an unknown interval
_MINUTE_US = 60 * US


def find_gaps(
    points: pd.DataFrame,
    rules: pd.DataFrame | None = None,
    *,
    interval: pd.Timedelta | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    uncertain_is_bad: bool = False,
) -> pd.DataFrame:
    """Gaps of every tag in ``points`` (and every tag of ``rules`` with a configured interval).

    ``points``/``rules`` as in ``pipelines.timeseries``. ``start``/``end`` (tz-aware) bound the
    window ``[start, end)``. Returns columns ``GAP_COLUMNS``: tag (object), gap_start and gap_end
    (datetime64[us, UTC]), duration_minutes (float64, minutes), missing_points (int64,
    expected readings absent), open (bool: runs to the window end); sorted by tag, gap_start.
    """
    series = prepare(points, rules, interval=interval, uncertain_is_bad=uncertain_is_bad)
    start_us = epoch_us(start, "start")
    end_us = epoch_us(end, "end")
    found = find_gaps_in(series, start_us=start_us, end_us=end_us)
    if rules is None or start_us is None or end_us is None:
        return found
    silent, iv = silent_tags(series, rules, interval=interval)
    if len(silent) == 0:
        return found
    width = end_us - start_us
    due = 2 * width > iv  # same rule as a tag with points but none usable in the window
    tags = silent[due]
    extra = _frame(tags, *_part(tags, start_us, end_us, _round_div(width, iv[due]), True)[1:])
    both = pd.concat([found, extra], ignore_index=True) if len(found) else extra
    return both.sort_values(["tag", "gap_start"], kind="stable", ignore_index=True)


def find_gaps_in(
    series: Series, *, start_us: int | None = None, end_us: int | None = None
) -> pd.DataFrame:
    """Gaps of the tags in ``series`` within ``[start_us, end_us)`` (µs since the epoch, UTC).

    Same output as ``find_gaps``; tags that are only in ``rules`` are not seen here.
    """
    if start_us is not None and end_us is not None and end_us < start_us:
        raise ValueError(f"window end ({end_us} µs) is before its start ({start_us} µs)")
    ntags = len(series.tags)
    ts, bounds = series.ts, series.bounds
    keep = series.usable
    nonempty = bounds[1:] > bounds[:-1]
    # Compare every timestamp with the window only when some point lies outside it.
    if start_us is not None and (ts[bounds[:-1][nonempty]] < start_us).any():
        keep = keep & (ts >= start_us)
    if end_us is not None and (ts[bounds[1:][nonempty] - 1] >= end_us).any():
        keep = keep & (ts < end_us)
    if not keep.all():  # copy only when something is dropped
        drop = np.flatnonzero(~keep)
        dropped = np.bincount(np.searchsorted(bounds, drop, side="right") - 1, minlength=ntags)
        bounds = np.zeros(ntags + 1, dtype=np.int64)
        np.cumsum(np.diff(series.bounds) - dropped, out=bounds[1:])
        ts = ts[keep]

    iv = series.interval_us
    threshold = np.where(iv > 0, (3 * iv) // 2, _NEVER)  # d > 1.5 iv  <=>  d > (3 iv) // 2
    step = np.diff(ts)
    known = np.unique(threshold[iv > 0])
    if len(known) <= 1:  # one cadence (the usual case): compare with a scalar
        cand = np.flatnonzero(step > (known[0] if len(known) else _NEVER))
    else:  # a scalar minimum would make every step of slower tags a candidate
        cand = np.flatnonzero(step > np.repeat(threshold, np.diff(bounds))[:-1])
    cand_tag = np.searchsorted(bounds, cand, side="right") - 1
    hit = (cand + 1 < bounds[cand_tag + 1]) & (step[cand] > threshold[cand_tag])
    at, tag = cand[hit], cand_tag[hit]
    parts = [_part(tag, ts[at], ts[at + 1], _round_div(step[at], iv[tag]) - 1, False)]

    # Edges, per tag: first/last usable point in the window (meaningless where ``has`` is False).
    has = bounds[1:] > bounds[:-1]
    first = ts[np.minimum(bounds[:-1], len(ts) - 1)] if len(ts) else np.zeros(ntags, np.int64)
    last = ts[np.maximum(bounds[1:] - 1, 0)] if len(ts) else np.zeros(ntags, np.int64)
    codes = np.arange(ntags, dtype=np.int64)
    if start_us is not None:  # virtual point at start - iv: gap when first - start > 0.5 iv
        lead = has & (iv > 0) & (2 * (first - start_us) > iv)
        gap = first[lead] - start_us
        parts.append(_part(codes[lead], start_us, first[lead], _round_div(gap, iv[lead]), False))
    if end_us is not None:  # virtual point at end: gap when end - last > 1.5 iv
        trail = has & (iv > 0) & (2 * (end_us - last) > 3 * iv)
        gap = end_us - last[trail]
        parts.append(_part(codes[trail], last[trail], end_us, _round_div(gap, iv[trail]) - 1, True))
    if start_us is not None and end_us is not None:  # both virtual points: > 0.5 iv
        width = end_us - start_us
        empty = ~has & (iv > 0) & (2 * width > iv)
        parts.append(_part(codes[empty], start_us, end_us, _round_div(width, iv[empty]), True))

    tag, gap_start, gap_end, missing, is_open = (
        np.concatenate(c) for c in zip(*parts, strict=True)
    )
    order = np.lexsort((gap_start, tag))  # tags are sorted, so code order is tag order
    names = np.asarray(series.tags, dtype=object)[tag[order]]
    return _frame(names, gap_start[order], gap_end[order], missing[order], is_open[order])


def _part(
    tag: np.ndarray,
    start: np.ndarray | int,
    end: np.ndarray | int,
    missing: np.ndarray,
    is_open: bool,
) -> tuple[np.ndarray, ...]:
    """One kind of gap as five int64/bool arrays of equal length (scalars are broadcast)."""
    n = len(tag)
    return (
        tag,
        np.broadcast_to(np.asarray(start, dtype=np.int64), n),
        np.broadcast_to(np.asarray(end, dtype=np.int64), n),
        np.broadcast_to(np.asarray(missing, dtype=np.int64), n),
        np.full(n, is_open, dtype=bool),
    )


def _frame(
    tag: np.ndarray, start: np.ndarray, end: np.ndarray, missing: np.ndarray, is_open: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tag": pd.Series(tag, dtype=object),
            "gap_start": to_timestamps(start),
            "gap_end": to_timestamps(end),
            "duration_minutes": (end - start) / _MINUTE_US,
            "missing_points": missing.astype(np.int64),
            "open": is_open.astype(bool),
        },
        columns=list(GAP_COLUMNS),
    )


def _round_div(num: np.ndarray | int, den: np.ndarray) -> np.ndarray:
    """round(num / den) for positive int64 ``den``, halves up, exact."""
    out: np.ndarray = (2 * num + den) // (2 * den)
    return out


# --- keeping stored gaps current ----------------------------------------------------------------

STORED_GAP_COLUMNS = ("gap_start", "gap_end", "duration_minutes", "missing_points", "open")


@dataclass(frozen=True)
class GapDiff:
    """What makes one tag's stored active gaps equal its computed ones (``diff_gaps``).

    ``gaps``: the computed gaps in their order, as they are to be stored: ``STORED_GAP_COLUMNS``
    plus ``action`` (object: "insert" a new gap, "update" the stored gap with the same start, or
    "keep" it as stored) and ``alert`` (bool: at least the alert length). ``resolved``: the stored
    gaps (their rows, in their order) that are no longer there: late data filled them.
    """

    gaps: pd.DataFrame
    resolved: pd.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        action = self.gaps["action"]
        return {
            "detected": int((action == "insert").sum()),
            "resolved": len(self.resolved),
            "updated": int((action == "update").sum()),
        }


def diff_gaps(stored: pd.DataFrame, computed: pd.DataFrame, *, alert_minutes: float) -> GapDiff:
    """Compare one tag's stored active gaps with the gaps just computed for the same span.

    ``stored`` has ``STORED_GAP_COLUMNS`` (gap_start unique): gap_start and gap_end
    (datetime64, UTC), duration_minutes (float64, minutes), missing_points (int64), open (bool).
    ``computed`` has ``GAP_COLUMNS`` (one tag). A gap is identified by its start: a computed gap
    whose start is not stored is new; one whose stored gap differs in end, open or missing
    points is updated in place (an open gap grows or closes); the rest is kept as stored. A gap
    alerts when its duration (as stored afterwards) is at least ``alert_minutes``.
    """
    start = _utc_us(computed["gap_start"])
    at = pd.DatetimeIndex(_utc_us(stored["gap_start"])).get_indexer(start)
    known = at >= 0
    old = stored.iloc[at[known]]
    same = np.zeros(len(computed), dtype=bool)
    same[known] = (
        (_utc_us(old["gap_end"]) == _utc_us(computed["gap_end"][known]))
        & (old["open"].to_numpy(dtype=bool) == computed["open"].to_numpy(dtype=bool)[known])
        & (old["missing_points"].to_numpy() == computed["missing_points"].to_numpy()[known])
    )
    duration = computed["duration_minutes"].to_numpy(dtype=np.float64).copy()
    kept = np.flatnonzero(same)
    duration[kept] = stored["duration_minutes"].to_numpy(dtype=np.float64)[at[kept]]
    gaps = pd.DataFrame(
        {
            "gap_start": start,
            "gap_end": _utc_us(computed["gap_end"]),
            "duration_minutes": duration,
            "missing_points": computed["missing_points"].to_numpy(dtype=np.int64),
            "open": computed["open"].to_numpy(dtype=bool),
            "action": np.where(known, np.where(same, "keep", "update"), "insert").astype(object),
            "alert": duration >= alert_minutes,
        }
    )
    gone = ~pd.DatetimeIndex(_utc_us(stored["gap_start"])).isin(start)
    return GapDiff(gaps=gaps, resolved=stored[gone])


def find_stale_gaps(latest: pd.DataFrame, *, now: pd.Timestamp) -> pd.DataFrame:
    """The open gap of every tag whose data stopped arriving, from its last usable point to now.

    ``latest``: tag (int64 tag id), last_ts (datetime64, UTC; NaT when the tag has no usable
    point), interval_s (float64 seconds; NaN or 0 when unknown). A tag is stale when its last
    usable point is more than 1.5 intervals before ``now`` (tz-aware). Returns ``GAP_COLUMNS``
    in the order of ``latest``: gap_start the last point, gap_end ``now``, duration_minutes,
    missing_points ``round(elapsed / interval) - 1`` (halves to even, at least 0), open True.
    """
    now_us = epoch_us(now, "now")
    assert now_us is not None
    last = _utc_us(latest["last_ts"])
    interval = latest["interval_s"].to_numpy(dtype=np.float64)
    has = np.asarray(last.notna(), dtype=bool) & (np.nan_to_num(interval) != 0)
    elapsed_s = np.full(len(latest), np.nan)
    elapsed_s[has] = (now_us - last.asi8[has]) / US
    stale = has & ~(elapsed_s <= 1.5 * interval)
    elapsed = elapsed_s[stale]
    missing = np.maximum(0, np.rint(elapsed / interval[stale]).astype(np.int64) - 1)
    n = int(stale.sum())
    return pd.DataFrame(
        {
            "tag": latest["tag"].to_numpy(dtype=np.int64)[stale],
            "gap_start": last[stale],
            "gap_end": to_timestamps(np.full(n, now_us, dtype=np.int64)),
            "duration_minutes": elapsed / 60,
            "missing_points": missing,
            "open": np.ones(n, dtype=bool),
        },
        columns=list(GAP_COLUMNS),
    )


def trailing_window(
    points: pd.DataFrame, rules: pd.DataFrame | None = None, *, now: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The window ``[start, end)`` in which ``find_gaps`` shows that a tag's data stopped
    arriving (a trailing open gap): from its first usable point to ``now`` (tz-aware), or to just
    after its latest point when that is later (a clock ahead of ours). None when no point is
    usable. ``points``/``rules`` of one tag, as in ``pipelines.timeseries``.
    """
    series = prepare(points, rules)
    usable = series.ts[series.usable]
    if not len(usable):
        return None
    latest = points["ts"].max() + pd.Timedelta(microseconds=1)
    return to_timestamps(usable[:1])[0], max(now, latest)


def _utc_us(stamps: pd.Series | pd.Index) -> pd.DatetimeIndex:
    """Timestamps as a UTC DatetimeIndex of microseconds (what the database stores)."""
    return pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).as_unit("us")
