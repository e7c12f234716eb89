"""From meter points to fuel quantities: rate tags integrated, totalizer tags differenced.

Per mapped tag, over the window ``[start, end)`` split at ``edges`` (month starts, UTC):

* **rate** tags (a flow in ``unit`` per ``rate_per``): trapezoid integration between consecutive
  usable points. A step longer than 1.5 x the tag's expected interval is a gap (the gap rule of
  ``pipelines.gaps``) and is never integrated across; instead the gap's missing slots are filled
  by ``pipelines.substitution.substitute`` with the facility's method and integrated like
  points, reported apart as *substituted* quantity. A gap that cannot be filled (no usable data
  at all) or is still open (the tag stopped reporting before the window's end) stays out of the
  total and is reported with method ``NONE``.
* **totalizer** tags (a counter of ``unit``): the quantity is the sum of counter differences.
  A drop is a *rollover* when ``rollover_at`` is known and the wrapped increment
  ``rollover_at - before + after`` is at most half the counter range; otherwise it is a *reset*
  to zero and the increment is ``after`` (what was counted between the last reading and the reset
  is unknown and lost). A counter keeps counting through a gap in the readings, so differences
  span gaps and nothing is substituted (method code ``CTR`` in the gap table); a gap before the
  first or after the last reading is not spanned and stays ``NONE``. Of several readings at one
  timestamp the last stands (as in ingest).

Steps that cross a month or window edge are split exactly: linear interpolation of the rate
(rate tags) or of the counter (totalizers). All of it is vectorised over all tags at once;
only the few gaps and edge-crossing steps are visited one by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.gaps import GAP_COLUMNS, find_gaps_in
from pipelines.lcfs.credits import DEFAULT_METER_TRANSACTION_TYPE
from pipelines.lcfs.errors import InvalidMappingError
from pipelines.substitution import METHODS, substitute
from pipelines.timeseries import US, Series, prepare, to_timestamps

LOOKBACK = pd.Timedelta(days=90)  # lookback of the percentile / maximum / mean+2sd methods
RATE_PER_US = {"s": US, "min": 60 * US, "h": 3600 * US, "d": 86400 * US}
MONTHLY_COLUMNS = ("tag", "month", "measured", "substituted")
COMPLETENESS_COLUMNS = ("tag", "usable_points", "covered_hours", "window_hours", "completeness_pct")
GAP_TABLE_COLUMNS = (
    *GAP_COLUMNS,
    "method",
    "substituted_points",
    "substituted_quantity",
)
EVENT_COLUMNS = ("tag", "ts", "kind", "before", "after", "increment")


@dataclass(frozen=True)
class TagMapping:
    """How one meter tag becomes a quantity of one fuel pathway.

    ``unit`` is the quantity unit: a rate tag reads ``unit`` per ``rate_per`` (``s``, ``min``,
    ``h``, ``d``; scfm = unit ``scf``, rate_per ``min``), a totalizer counts ``unit``. ``ci`` in
    gCO2e/MJ. ``application`` picks the EER row (default: the fuel type's); ``eer`` overrides it.
    ``rollover_at``: the value at which a totalizer wraps to 0. ``interval_s``: the expected
    spacing of readings (default: the median spacing).

    ``role``: ``fuel`` (the quantity is reported as fuel under ``transaction_type``) or
    ``injection`` (biomethane injected into a common-carrier pipeline: a supply record for
    book-and-claim, never a credit line; credits come from the dispensing meters that claim it).
    ``business_partner``: the counterparty printed on its lines. ``hhv_btu_per_scf`` (the gas's
    measured higher heating value) or ``lhv_hhv_ratio`` bring a therm/MMBtu quantity to the
    lower-heating-value basis of the energy densities.
    """

    tag: str
    fuel_pathway_code: str
    fuel_type: str
    ci: float
    unit: str
    kind: Literal["rate", "totalizer"] = "rate"
    rate_per: str = "h"
    application: str | None = None
    eer: float | None = None
    transaction_type: str = DEFAULT_METER_TRANSACTION_TYPE
    rollover_at: float | None = None
    interval_s: float | None = None
    role: Literal["fuel", "injection"] = "fuel"
    business_partner: str = ""
    hhv_btu_per_scf: float | None = None
    lhv_hhv_ratio: float | None = None


@dataclass(frozen=True)
class MeterQuantities:
    """Frames (columns in the ``*_COLUMNS`` constants; quantities in each tag's ``unit``).

    monthly: tag (object), month (int64, index into the edges), measured, substituted (float64)
    completeness: tag, usable_points (int64), covered_hours, window_hours, completeness_pct
    gaps: ``GAP_COLUMNS`` + method (code of ``substitution.METHODS``, ``CTR`` or ``NONE``),
      substituted_points (int64), substituted_quantity (float64); clipped to the window
    events: tag, ts (datetime64[us, UTC]), kind (rollover|reset), before, after, increment
    """

    monthly: pd.DataFrame
    completeness: pd.DataFrame
    gaps: pd.DataFrame
    events: pd.DataFrame
    has_data: bool


def check_mappings(mappings: Sequence[TagMapping]) -> None:
    seen: set[str] = set()
    for m in mappings:
        if m.tag in seen:
            raise InvalidMappingError(f"tag {m.tag!r} is mapped twice")
        seen.add(m.tag)
        if m.kind not in ("rate", "totalizer"):
            raise InvalidMappingError(f"tag {m.tag!r}: kind must be rate or totalizer")
        if m.kind == "rate" and m.rate_per not in RATE_PER_US:
            raise InvalidMappingError(
                f"tag {m.tag!r}: rate_per {m.rate_per!r} is not one of {', '.join(RATE_PER_US)}"
            )
        if m.rollover_at is not None and not m.rollover_at > 0:
            raise InvalidMappingError(f"tag {m.tag!r}: rollover_at must be positive")
        if m.interval_s is not None and not m.interval_s > 0:
            raise InvalidMappingError(f"tag {m.tag!r}: interval_s must be positive")


def prepare_points(points: pd.DataFrame | None, mappings: Sequence[TagMapping]) -> Series:
    """``pipelines.timeseries.prepare`` of every point, with the mappings' ``interval_s``."""
    if points is None or (len(points) == 0 and len(points.columns) == 0):
        points = pd.DataFrame({"tag": [], "ts": [], "value": []})
    missing = [c for c in ("tag", "ts", "value") if c not in points.columns]
    if missing:
        raise InvalidMappingError(f"points frame lacks column(s) {', '.join(missing)}")
    if len(points) and not isinstance(points["ts"].dtype, pd.DatetimeTZDtype):
        raise InvalidMappingError("points ts must be timezone-aware (UTC) timestamps")
    configured = {m.tag: m.interval_s for m in mappings if m.interval_s is not None}
    rules = (
        pd.DataFrame({"interval_s": pd.Series(configured, dtype="float64")}) if configured else None
    )
    if len(points) == 0:  # typed empty columns, whatever came in
        points = pd.DataFrame(
            {
                "tag": pd.Series([], dtype=object),
                "ts": pd.Series([], dtype="datetime64[us, UTC]"),
                "value": pd.Series([], dtype="float64"),
            }
        )
    return prepare(points, rules)


def points_digest(series: Series) -> str:
    """SHA-256 of the points in canonical order (tag, ts, then input order): tag names, int64 µs
    timestamps, float64 values (one NaN pattern) and int8 quality, little-endian."""
    h = hashlib.sha256()
    value = np.where(np.isnan(series.value), np.nan, series.value).astype("<f8")
    for i, tag in enumerate(series.tags):
        lo, hi = int(series.bounds[i]), int(series.bounds[i + 1])
        name = str(tag).encode()
        h.update(len(name).to_bytes(4, "little") + name + (hi - lo).to_bytes(8, "little"))
        h.update(series.ts[lo:hi].astype("<i8").tobytes())
        h.update(value[lo:hi].tobytes())
        h.update(series.quality[lo:hi].astype("i1").tobytes())
    return h.hexdigest()


def meter_quantities(
    series: Series,
    mappings: Sequence[TagMapping],
    edges_us: Sequence[int],
    *,
    gaps: pd.DataFrame | None = None,
    method: str = "before_after_mean",
) -> MeterQuantities:
    """Quantities per mapped tag and period between consecutive ``edges_us`` (µs, UTC).

    ``series`` from ``prepare_points``. ``gaps`` (``pipelines.gaps`` columns) default to
    ``find_gaps_in(series)`` over the window ``[edges_us[0], edges_us[-1])``.
    """
    check_mappings(mappings)
    if method not in METHODS:
        raise InvalidMappingError(
            f"unknown substitution method {method!r}; choose one of: {', '.join(sorted(METHODS))}"
        )
    edges = np.asarray(edges_us, dtype=np.int64)
    start, end = int(edges[0]), int(edges[-1])
    nperiods = len(edges) - 1
    by_tag = {m.tag: m for m in mappings}
    tags = sorted(by_tag)
    ntags = len(tags)
    # Map the series' tag codes onto mapping order; unmapped tags get -1 and are ignored.
    position = {t: i for i, t in enumerate(tags)}
    remap = np.array([position.get(str(t), -1) for t in series.tags], dtype=np.int64)
    is_rate = np.array([by_tag[t].kind == "rate" for t in tags], dtype=bool)
    per_us = np.array([RATE_PER_US.get(by_tag[t].rate_per, US) for t in tags], dtype=np.float64)

    if gaps is None:
        found = find_gaps_in(series, start_us=start, end_us=end)
    else:
        found = gaps.loc[:, list(GAP_COLUMNS)].copy()
    found = found[found["tag"].astype(object).isin(tags)].reset_index(drop=True)

    code_all = remap[series.code] if len(series.code) else np.zeros(0, dtype=np.int64)
    keep = series.usable & (code_all >= 0)
    code = code_all[keep]
    ts = series.ts[keep]
    value = series.value[keep]
    in_window = (ts >= start) & (ts < end)
    usable_points = np.bincount(code[in_window], minlength=ntags)
    has_data = bool(in_window.any())

    measured = np.zeros(ntags * nperiods)
    substituted = np.zeros(ntags * nperiods)
    seen = {str(t) for t in series.tags}
    gap_rows = _gap_rows(found, {t: m for t, m in by_tag.items() if t not in seen}, start, end)
    events = _empty_events()

    rate_mask = is_rate[code] if len(code) else np.zeros(0, dtype=bool)
    if rate_mask.any():
        subs = _substitutes(series, found, tags, is_rate, method)
        r_code, r_ts, r_val, r_sub = _merge(
            code[rate_mask], ts[rate_mask], value[rate_mask], subs, position
        )
        iv = series.interval_us
        threshold = np.full(ntags, np.iinfo(np.int64).max, dtype=np.int64)
        for i in range(len(series.tags)):
            if remap[i] >= 0 and iv[i] > 0:
                threshold[remap[i]] = (3 * iv[i]) // 2
        m_area, s_area, sub_steps = _integrate_rates(
            r_code, r_ts, r_val, r_sub, threshold, edges, ntags
        )
        scale = np.repeat(per_us, nperiods)
        measured += m_area / scale
        substituted += s_area / scale
        gap_rows = _attribute(gap_rows, sub_steps, tags, per_us, subs)
    total_mask = ~rate_mask
    if total_mask.any():
        t_area, events = _difference_totalizers(
            code[total_mask], ts[total_mask], value[total_mask], by_tag, tags, edges, ntags
        )
        measured += t_area
        gap_rows = _bridged(gap_rows, code[total_mask], ts[total_mask], position)

    monthly = pd.DataFrame(
        {
            "tag": pd.Series(np.repeat(np.array(tags, dtype=object), nperiods), dtype=object),
            "month": np.tile(np.arange(nperiods, dtype=np.int64), ntags),
            "measured": measured,
            "substituted": substituted,
        },
        columns=list(MONTHLY_COLUMNS),
    )
    window_h = (end - start) / (3600 * US)
    gap_h = np.zeros(ntags)
    if len(gap_rows):
        g_code = np.array([position[t] for t in gap_rows["tag"]], dtype=np.int64)
        np.add.at(gap_h, g_code, gap_rows["duration_minutes"].to_numpy() / 60)
    covered = np.clip(window_h - gap_h, 0.0, None)
    covered[usable_points == 0] = 0.0
    completeness = pd.DataFrame(
        {
            "tag": pd.Series(tags, dtype=object),
            "usable_points": usable_points.astype(np.int64),
            "covered_hours": covered,
            "window_hours": np.full(ntags, window_h),
            "completeness_pct": 100.0 * covered / window_h if window_h > 0 else np.zeros(ntags),
        },
        columns=list(COMPLETENESS_COLUMNS),
    )
    return MeterQuantities(
        monthly=monthly,
        completeness=completeness,
        gaps=gap_rows,
        events=events,
        has_data=has_data,
    )


def _gap_rows(
    found: pd.DataFrame, unseen: dict[str, TagMapping], start: int, end: int
) -> pd.DataFrame:
    """Gaps clipped to the window, plus a whole-window gap for the mapped tags without points."""
    g_start = _us(found["gap_start"])
    g_end = _us(found["gap_end"])
    lo, hi = np.maximum(g_start, start), np.minimum(g_end, end)
    inside = hi > lo
    out = found[inside].reset_index(drop=True)
    out["gap_start"] = to_timestamps(lo[inside])
    out["gap_end"] = to_timestamps(hi[inside])
    out["duration_minutes"] = (hi[inside] - lo[inside]) / (60 * US)
    silent = [t for t in sorted(unseen) if t not in set(found["tag"])]
    if silent:
        extra = pd.DataFrame(
            {
                "tag": pd.Series(silent, dtype=object),
                "gap_start": to_timestamps(np.full(len(silent), start, dtype=np.int64)),
                "gap_end": to_timestamps(np.full(len(silent), end, dtype=np.int64)),
                "duration_minutes": np.full(len(silent), (end - start) / (60 * US)),
                "missing_points": np.array(
                    [_expected(unseen[t], end - start) for t in silent], dtype=np.int64
                ),
                "open": np.ones(len(silent), dtype=bool),
            }
        )
        out = pd.concat([out, extra], ignore_index=True) if len(out) else extra
    out["method"] = pd.Series(["NONE"] * len(out), dtype=object)
    out["substituted_points"] = np.zeros(len(out), dtype=np.int64)
    out["substituted_quantity"] = np.zeros(len(out), dtype=np.float64)
    out = out.sort_values(["tag", "gap_start"], kind="stable", ignore_index=True)
    ordered: pd.DataFrame = out.loc[:, list(GAP_TABLE_COLUMNS)]
    return ordered


def _expected(mapping: TagMapping, width_us: int) -> int:
    if mapping.interval_s is None:
        return 0
    return round(width_us / (mapping.interval_s * US))


def _substitutes(
    series: Series, gaps: pd.DataFrame, tags: list[str], is_rate: np.ndarray, method: str
) -> pd.DataFrame:
    """Substitute slots for the gaps of rate tags, from the series already prepared."""
    rate_tags = {t for t, r in zip(tags, is_rate, strict=True) if r}
    # An open gap (the tag stopped reporting and has not come back) is not filled: a report
    # must not claim fuel for days after the meter went silent with nothing to close the gap.
    wanted = gaps[gaps["tag"].astype(object).isin(rate_tags) & ~gaps["open"].astype(bool)]
    if len(wanted) == 0:
        return pd.DataFrame({c: [] for c in ("tag", "ts", "value", "method")})
    names = [str(t) for t in series.tags]
    codes = [i for i, t in enumerate(names) if t in set(wanted["tag"])]
    # Only the usable points that a method reads: from the lookback start (or the last point
    # at or before the gap) to the first point at or after the gap end, gap by gap.
    usable = np.flatnonzero(series.usable)
    code_of = {names[i]: i for i in codes}
    g_code = np.array([code_of[t] for t in wanted["tag"].astype(object)], dtype=np.int64)
    g_start, g_end = _us(wanted["gap_start"]), _us(wanted["gap_end"])
    reach = 0 if method == "before_after_mean" else int(LOOKBACK / pd.Timedelta(microseconds=1))
    u_bounds = np.searchsorted(usable, series.bounds)
    pieces = []
    for c, a, b in zip(g_code, g_start, g_end, strict=True):
        lo, hi = u_bounds[c], u_bounds[c + 1]
        own = series.ts[usable[lo:hi]]
        first = max(np.searchsorted(own, a - reach, side="left") - (reach == 0), 0)
        last = np.searchsorted(own, b, side="left") + 1
        pieces.append(usable[lo + first : lo + min(last, hi - lo)])
    take = np.unique(np.concatenate(pieces)) if pieces else np.zeros(0, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "tag": pd.Categorical.from_codes(
                np.searchsorted(np.array(codes), series.code[take]).astype(np.int64),
                categories=pd.Index([names[i] for i in codes], dtype=str),
            ),
            "ts": to_timestamps(series.ts[take]),
            "value": series.value[take],
            "quality": series.quality[take],
        }
    )
    rules = pd.DataFrame(
        {"interval_s": series.interval_us[codes] / US}, index=pd.Index([names[i] for i in codes])
    )
    rules.loc[rules["interval_s"] <= 0, "interval_s"] = np.nan
    return substitute(frame, wanted, rules, method=method, lookback=LOOKBACK)


def _merge(
    code: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    subs: pd.DataFrame,
    position: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Measured points (sorted by code, ts) merged with the substitutes, flag True on those."""
    if len(subs) == 0:
        return code, ts, value, np.zeros(len(code), dtype=bool)
    s_code = np.array([position[t] for t in subs["tag"].astype(object)], dtype=np.int64)
    s_ts = _us(subs["ts"])
    s_val = subs["value"].to_numpy(dtype=np.float64)
    order = np.lexsort((s_ts, s_code))
    s_code, s_ts, s_val = s_code[order], s_ts[order], s_val[order]
    # Insert positions in the (code, ts) order, one searchsorted per tag slice.
    bounds = np.searchsorted(code, np.arange(len(position) + 1))
    at = np.empty(len(s_ts), dtype=np.int64)
    for c in np.unique(s_code):
        rows = np.flatnonzero(s_code == c)
        lo, hi = bounds[c], bounds[c + 1]
        at[rows] = lo + np.searchsorted(ts[lo:hi], s_ts[rows], side="left")
    where = at + np.arange(len(at))  # final slot of each substitute
    n = len(code) + len(at)
    flag = np.zeros(n, dtype=bool)
    flag[where] = True
    out_code = np.empty(n, dtype=np.int64)
    out_ts = np.empty(n, dtype=np.int64)
    out_val = np.empty(n, dtype=np.float64)
    out_code[flag], out_ts[flag], out_val[flag] = s_code, s_ts, s_val
    out_code[~flag], out_ts[~flag], out_val[~flag] = code, ts, value
    return out_code, out_ts, out_val, flag


def _integrate_rates(
    code: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    sub: np.ndarray,
    threshold: np.ndarray,
    edges: np.ndarray,
    ntags: int,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Trapezoid areas (value x µs) per (tag, period), measured and substituted apart.

    Returns the two flat arrays (index ``tag * nperiods + period``) and the substituted steps
    (code, t0, t1, in-window area) for the gap table.
    """
    nperiods = len(edges) - 1
    t0, t1 = ts[:-1], ts[1:]
    step = t1 - t0
    same = code[:-1] == code[1:]
    c = code[:-1]
    is_sub = sub[:-1] | sub[1:]
    ok = same & (step > 0) & ((step <= threshold[c]) | is_sub)
    idx = np.flatnonzero(ok)
    c, t0, t1, step, is_sub = c[idx], t0[idx], t1[idx], step[idx], is_sub[idx]
    v0, v1 = value[idx], value[idx + 1]
    area = (v0 + v1) * 0.5 * step.astype(np.float64)

    period = np.searchsorted(edges, t0, side="right") - 1
    inside = (period >= 0) & (period < nperiods)
    whole = inside & (t1 <= edges[np.clip(period + 1, 0, nperiods)])
    slot = c * nperiods + np.clip(period, 0, nperiods - 1)
    size = ntags * nperiods
    measured = np.bincount(slot[whole & ~is_sub], area[whole & ~is_sub], minlength=size)
    substituted = np.bincount(slot[whole & is_sub], area[whole & is_sub], minlength=size)
    clipped_area = np.where(whole, area, 0.0)

    crossing = ~whole & (t1 > edges[0]) & (t0 < edges[-1])  # steps fully outside: nothing
    for k in np.flatnonzero(crossing):  # steps across an edge: split at the edges, exactly
        dt = float(step[k])
        slope = float(v1[k] - v0[k]) / dt

        start, rate0 = float(t0[k]), float(v0[k])

        def part(
            a: float, b: float, start: float = start, rate0: float = rate0, slope: float = slope
        ) -> float:
            da, db = a - start, b - start
            return rate0 * (db - da) + slope * (db * db - da * da) / 2

        for j in range(nperiods):
            a = min(max(float(edges[j]), float(t0[k])), float(t1[k]))
            b = min(max(float(edges[j + 1]), float(t0[k])), float(t1[k]))
            if b > a:
                piece = part(a, b)
                target = substituted if is_sub[k] else measured
                target[c[k] * nperiods + j] += piece
                clipped_area[k] += piece
    keep = is_sub & (clipped_area != 0)
    return measured, substituted, (c[keep], t0[keep], t1[keep], clipped_area[keep])


def _attribute(
    gap_rows: pd.DataFrame,
    sub_steps: tuple[np.ndarray, ...],
    tags: list[str],
    per_us: np.ndarray,
    subs: pd.DataFrame,
) -> pd.DataFrame:
    """Fill the gap table's method, substituted points and quantity for rate tags."""
    s_code, s_t0, _, s_area = sub_steps
    if len(gap_rows) == 0:
        return gap_rows
    sub_tag = subs["tag"].astype(object).to_numpy() if len(subs) else np.array([], dtype=object)
    sub_ts = _us(subs["ts"]) if len(subs) else np.array([], dtype=np.int64)
    sub_method = subs["method"].astype(object).to_numpy() if len(subs) else sub_tag
    g_tag = gap_rows["tag"].astype(object).to_numpy()
    g_start, g_end = _us(gap_rows["gap_start"]), _us(gap_rows["gap_end"])
    methods = gap_rows["method"].to_numpy(dtype=object).copy()
    points = np.zeros(len(gap_rows), dtype=np.int64)
    quantity = np.zeros(len(gap_rows), dtype=np.float64)
    for i in range(len(gap_rows)):
        code = tags.index(g_tag[i])
        own = (s_code == code) & (s_t0 >= g_start[i]) & (s_t0 < g_end[i])
        quantity[i] = float(s_area[own].sum()) / per_us[code]
        slots = (sub_tag == g_tag[i]) & (sub_ts >= g_start[i]) & (sub_ts < g_end[i])
        points[i] = int(slots.sum())
        if points[i]:
            methods[i] = str(sub_method[np.flatnonzero(slots)[0]])
    out = gap_rows.copy()
    out["method"] = pd.Series(methods, dtype=object)
    out["substituted_points"] = points
    out["substituted_quantity"] = quantity
    return out


def _bridged(
    gap_rows: pd.DataFrame, code: np.ndarray, ts: np.ndarray, position: dict[str, int]
) -> pd.DataFrame:
    """Method ``CTR`` for the totalizer gaps that a counter difference spans: a reading at or
    before the gap's start and one at or after its end. A gap before a counter's first reading
    or after its last (or of a counter without readings) keeps ``NONE``: what was counted there
    is not in the quantities."""
    methods = gap_rows["method"].to_numpy(dtype=object).copy()
    g_start, g_end = _us(gap_rows["gap_start"]), _us(gap_rows["gap_end"])
    for i, tag in enumerate(gap_rows["tag"].astype(object)):
        if methods[i] != "NONE":  # a rate tag's substituted gap
            continue
        own = ts[code == position[tag]]
        if len(own) and own[0] <= g_start[i] and own[-1] >= g_end[i]:
            methods[i] = "CTR"
    out = gap_rows.copy()
    out["method"] = pd.Series(methods, dtype=object)
    return out


def _difference_totalizers(
    code: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    by_tag: dict[str, TagMapping],
    tags: list[str],
    edges: np.ndarray,
    ntags: int,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Counter increments per (tag, period), with rollovers and resets, and the event list."""
    nperiods = len(edges) - 1
    rollover = np.array([by_tag[t].rollover_at if by_tag[t].rollover_at else np.nan for t in tags])
    # Of readings that share a timestamp the last (input order) stands, as in ingest: the
    # differences then still add up to the counter's rise, and no pair reads as a reset.
    last = np.ones(len(ts), dtype=bool)
    last[:-1] = (code[1:] != code[:-1]) | (ts[1:] != ts[:-1])
    code, ts, value = code[last], ts[last], value[last]
    idx = np.flatnonzero(code[:-1] == code[1:])
    c, t0, t1 = code[idx], ts[idx], ts[idx + 1]
    before, after = value[idx], value[idx + 1]
    inc = after - before
    drop = inc < 0
    wrapped = rollover[c] - before + after  # NaN without a known rollover value
    is_roll = drop & (wrapped >= 0) & (wrapped <= rollover[c] / 2)
    is_reset = drop & ~is_roll
    inc = np.where(is_roll, wrapped, np.where(is_reset, after, inc))

    period = np.searchsorted(edges, t0, side="right") - 1
    inside = (period >= 0) & (period < nperiods)
    whole = inside & (t1 <= edges[np.clip(period + 1, 0, nperiods)])
    slot = c * nperiods + np.clip(period, 0, nperiods - 1)
    area = np.bincount(slot[whole], inc[whole], minlength=ntags * nperiods)
    crossing = ~whole & (t1 > edges[0]) & (t0 < edges[-1])
    for k in np.flatnonzero(crossing):  # increments across an edge: shared in time proportion
        span = float(t1[k] - t0[k])
        for j in range(nperiods):
            a = min(max(float(edges[j]), float(t0[k])), float(t1[k]))
            b = min(max(float(edges[j + 1]), float(t0[k])), float(t1[k]))
            if b > a:
                area[c[k] * nperiods + j] += float(inc[k]) * (b - a) / span

    hit = np.flatnonzero(drop & (t1 >= edges[0]) & (t1 < edges[-1]))
    events = pd.DataFrame(
        {
            "tag": pd.Series(np.array(tags, dtype=object)[c[hit]], dtype=object),
            "ts": to_timestamps(t1[hit]),
            "kind": pd.Series(np.where(is_roll[hit], "rollover", "reset"), dtype=object),
            "before": before[hit],
            "after": after[hit],
            "increment": inc[hit],
        },
        columns=list(EVENT_COLUMNS),
    )
    return area, events


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tag": pd.Series([], dtype=object),
            "ts": to_timestamps(np.array([], dtype=np.int64)),
            "kind": pd.Series([], dtype=object),
            "before": np.array([], dtype=np.float64),
            "after": np.array([], dtype=np.float64),
            "increment": np.array([], dtype=np.float64),
        },
        columns=list(EVENT_COLUMNS),
    )


def _us(column: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    stamps = pd.DatetimeIndex(column)
    if len(stamps) == 0:
        return np.zeros(0, dtype=np.int64)
    if stamps.tz is None:
        raise InvalidMappingError("gap and substitute timestamps must be timezone-aware (UTC)")
    return np.asarray(stamps.tz_convert("UTC").as_unit("us").asi8, dtype=np.int64)
