"""Unit tests for pipelines/quality.py: planted faults with exact metrics, periods and DST,
several tags, and hypothesis properties (row order, bounds, additivity over days)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from pipelines.quality import (
    QUALITY_COLUMNS,
    WEIGHTS,
    AlertThresholds,
    days_to_score,
    last_ended_day,
    local_midnight,
    period_edges,
    quality_alerts,
    score_quality,
    score_series,
)
from pipelines.timeseries import prepare
from tests.factories import examples

DAY = pd.Timestamp("2025-01-15", tz="UTC")
NEXT = DAY + pd.Timedelta(days=1)
LA = "America/Los_Angeles"
MINUTE = pd.Timedelta(minutes=1)
COUNTS = (
    "expected_points",
    "received_points",
    "usable_points",
    "duplicates",
    "out_of_order",
    "flatline_runs",
    "spikes",
    "rate_violations",
)
# The documented weights, pinned: changing them must be a deliberate, visible change.
PINNED = {
    "completeness": 0.40,
    "validity": 0.20,
    "flatline": 0.15,
    "spikes": 0.15,
    "consistency": 0.10,
}
PROPERTY_SETTINGS = settings(
    max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --------------------------------------------------------------------------------------- helpers


def wave(n: int, *, phase: float = 0.0) -> np.ndarray:
    """A smooth daily swing (100 +- 10, one cycle per 1440 points): no spike, flat or rate fault.
    phase 0 peaks at point 360; phase 0.25 peaks at points 0, 1440, ..."""
    i = np.arange(n)
    return 100.0 + 10.0 * np.sin(2 * np.pi * (i / 1440 + phase))


def points(
    tag: str = "flow",
    *,
    start: pd.Timestamp = DAY,
    n: int = 1440,
    step: pd.Timedelta = MINUTE,
    values: np.ndarray | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tag": tag,
            "ts": pd.date_range(start, periods=n, freq=step, unit="us"),
            "value": wave(n) if values is None else values,
            "quality": np.zeros(n, dtype=np.int8),
        }
    )


def rules(**columns: float) -> pd.DataFrame:
    """Rules for the tag "flow"."""
    return pd.DataFrame({k: [v] for k, v in columns.items()}, index=pd.Index(["flow"], name="tag"))


def reference_score(r: dict[str, Any]) -> float:
    """The documented formula, written out independently of the module."""
    if r["usable_points"] == 0:
        return 0.0
    minutes = (r["period_end"] - r["period_start"]) / MINUTE
    sub = {
        "completeness": r["completeness"],
        "validity": r["validity"],
        "flatline": 1 - r["flatline_minutes"] / minutes,
        "spikes": 1 - min(1, (r["spikes"] + r["rate_violations"]) / r["usable_points"]),
        "consistency": 1 - min(1, (r["duplicates"] + r["out_of_order"]) / r["received_points"]),
    }
    others = sum(PINNED[k] * sub[k] for k in PINNED if k != "completeness")
    return float(100 * round(r["completeness"] * (PINNED["completeness"] + others), 9))


def row(
    tag: str = "flow",
    start: pd.Timestamp = DAY,
    end: pd.Timestamp = NEXT,
    *,
    step: pd.Timedelta = MINUTE,
    **over: Any,
) -> dict[str, Any]:
    """Expected row: a complete, clean period unless ``over`` says otherwise."""
    n = int((end - start) / step)
    r: dict[str, Any] = {
        "tag": tag,
        "period_start": start,
        "period_end": end,
        "expected_points": n,
        "received_points": n,
        "usable_points": n,
        "duplicates": 0,
        "out_of_order": 0,
        "flatline_minutes": 0.0,
        "flatline_runs": 0,
        "spikes": 0,
        "rate_violations": 0,
    }
    r.update(over)
    distinct = r["received_points"] - r["duplicates"]
    if "completeness" not in r:
        r["completeness"] = min(1.0, r["usable_points"] / r["expected_points"])
    r.setdefault("validity", r["usable_points"] / distinct if distinct else 0.0)
    r.setdefault("score", reference_score(r))
    return r


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    out = pd.DataFrame(list(rows), columns=list(QUALITY_COLUMNS))
    out["tag"] = out["tag"].astype(object)
    for name in ("period_start", "period_end"):
        out[name] = pd.to_datetime(out[name], utc=True).dt.as_unit("us")
    for name in COUNTS:
        out[name] = out[name].astype(np.int64)
    for name in ("completeness", "validity", "flatline_minutes", "score"):
        out[name] = out[name].astype(np.float64)
    return out


def set_values(rows: slice | list[int], value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(p: pd.DataFrame) -> pd.DataFrame:
        p.loc[p.index[rows], "value"] = value
        return p

    return change


def set_quality(rows: slice, code: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(p: pd.DataFrame) -> pd.DataFrame:
        p.loc[p.index[rows], "quality"] = np.int8(code)
        return p

    return change


def drop(rows: slice) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda p: p.drop(p.index[rows]).reset_index(drop=True)


def hold(rows: slice, noise: float = 0.0) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Hold the value of the first row over ``rows``, plus a -noise/0/+noise wobble."""

    def change(p: pd.DataFrame) -> pd.DataFrame:
        idx = p.index[rows]
        wobble = noise * (np.arange(len(idx)) % 3 - 1)
        p.loc[idx, "value"] = p.loc[idx[0], "value"] + wobble
        return p

    return change


def bump(at: dict[int, float]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(p: pd.DataFrame) -> pd.DataFrame:
        value = p["value"].to_numpy(copy=True)
        value[list(at)] += list(at.values())
        p["value"] = value
        return p

    return change


def copy_rows(
    rows: list[int], *, where: str = "end", value: float | None = None
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Duplicate rows: appended at the end, or right after their original."""

    def change(p: pd.DataFrame) -> pd.DataFrame:
        extra = p.iloc[rows].copy()
        if value is not None:
            extra["value"] = value
        if where == "end":
            return pd.concat([p, extra], ignore_index=True)
        return pd.concat([p, extra]).sort_index(kind="stable").reset_index(drop=True)

    return change


def reverse(rows: slice) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(p: pd.DataFrame) -> pd.DataFrame:
        order = np.arange(len(p))
        order[rows] = order[rows][::-1]
        return p.iloc[order].reset_index(drop=True)

    return change


def score_day(p: pd.DataFrame, r: pd.DataFrame | None = None, **kwargs: Any) -> pd.DataFrame:
    return score_quality(p, r, start=DAY, end=NEXT, **kwargs)


# ------------------------------------------------------------------------ weights and shape


def test_weights_are_the_documented_ones_and_sum_to_one() -> None:
    assert WEIGHTS == PINNED
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_clean_day_scores_exactly_100_with_documented_columns_and_dtypes() -> None:
    result = score_day(points())

    assert_frame_equal(result, frame(row()))
    assert tuple(result.columns) == QUALITY_COLUMNS
    assert str(result["period_start"].dtype) == "datetime64[us, UTC]"
    assert result["score"].iloc[0] == 100.0
    assert result["completeness"].iloc[0] == 1.0


def test_empty_input_gives_empty_frame_with_columns() -> None:
    empty = points().iloc[:0]

    assert_frame_equal(score_quality(empty), frame())
    assert_frame_equal(score_day(empty), frame())


# ------------------------------------------------------------- planted faults, one 1-min day

OUT_OF_RANGE = {"min_value": 0.0, "max_value": 150.0}


@pytest.mark.parametrize(
    ("change", "rule", "kwargs", "expected"),
    [
        pytest.param(
            drop(slice(600, 660)),
            {},
            {},
            {"received_points": 1380, "usable_points": 1380},
            id="gap-60-min",
        ),
        pytest.param(
            drop(slice(0, 30)),
            {},
            {},
            {"received_points": 1410, "usable_points": 1410},
            id="leading-gap",
        ),
        pytest.param(
            set_values(slice(100, 130), np.nan), {}, {}, {"usable_points": 1410}, id="nan-run"
        ),
        pytest.param(
            set_quality(slice(200, 245), 2), {}, {}, {"usable_points": 1395}, id="bad-quality-run"
        ),
        pytest.param(set_quality(slice(200, 245), 1), {}, {}, {}, id="uncertain-is-usable"),
        pytest.param(
            set_quality(slice(200, 245), 1),
            {},
            {"uncertain_is_bad": True},
            {"usable_points": 1395},
            id="uncertain-is-bad",
        ),
        pytest.param(
            set_values([300, 700, 1100], -9999.0), {}, {}, {"usable_points": 1437}, id="sentinel"
        ),
        pytest.param(
            lambda p: set_values(slice(800, 805), -5.0)(set_values(slice(400, 410), 200.0)(p)),
            OUT_OF_RANGE,
            {},
            {"usable_points": 1425},
            id="out-of-range",
        ),
        pytest.param(
            hold(slice(270, 451)),
            {"flatline_min_s": 3600.0},
            {},
            {"flatline_minutes": 180.0, "flatline_runs": 1},
            id="flatline-3h-min-1h",
        ),
        pytest.param(
            hold(slice(270, 451)), {"flatline_min_s": 4 * 3600.0}, {}, {}, id="flatline-3h-min-4h"
        ),
        pytest.param(hold(slice(270, 451), noise=0.001), {}, {}, {}, id="near-flat-no-tolerance"),
        pytest.param(
            hold(slice(270, 451), noise=0.001),
            {"flatline_tolerance": 0.003},
            {},
            {"flatline_minutes": 180.0, "flatline_runs": 1},
            id="near-flat-within-tolerance",
        ),
        pytest.param(
            set_values(slice(None), 42.0),
            {},
            {},
            {"flatline_minutes": 1439.0, "flatline_runs": 1},
            id="constant-day-no-spike-test",
        ),
        pytest.param(
            bump({500: 5.0, 900: 50.0, 1200: -30.0}), {}, {}, {"spikes": 3}, id="spikes-auto"
        ),
        pytest.param(
            bump({500: 5.0, 900: 50.0, 1200: -30.0}),
            {"spike_threshold": 10.0},
            {},
            {"spikes": 2},
            id="spikes-threshold-10",
        ),
        pytest.param(
            bump({500: 5.0, 900: 50.0, 1200: -30.0}),
            {"spike_threshold": 100.0},
            {},
            {},
            id="spikes-threshold-100",
        ),
        pytest.param(
            bump({500: 5.0}),
            {"max_rate": 1.0 / 60},
            {},
            {"spikes": 1, "rate_violations": 2},
            id="spike-is-two-rate-violations",
        ),
        pytest.param(
            copy_rows([10, 20, 20]),
            {},
            {},
            {"received_points": 1443, "duplicates": 3, "out_of_order": 1},
            id="duplicates-appended",
        ),
        pytest.param(
            copy_rows([10, 20], where="after"),
            {},
            {},
            {"received_points": 1442, "duplicates": 2},
            id="duplicates-in-place",
        ),
        pytest.param(
            copy_rows([10], where="after", value=np.nan),
            {},
            {},
            {"received_points": 1441, "duplicates": 1},
            id="unusable-duplicate",
        ),
        pytest.param(
            copy_rows([10], where="after", value=1000.0),
            {},
            {},
            {"received_points": 1441, "duplicates": 1, "spikes": 1},
            id="conflicting-duplicate",
        ),
        pytest.param(reverse(slice(100, 110)), {}, {}, {"out_of_order": 9}, id="reversed-block"),
        pytest.param(reverse(slice(None)), {}, {}, {"out_of_order": 1439}, id="reversed-day"),
    ],
)
def test_planted_fault_metrics(
    change: Callable[[pd.DataFrame], pd.DataFrame],
    rule: dict[str, float],
    kwargs: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    result = score_day(change(points()), rules(**rule) if rule else None, **kwargs)

    assert_frame_equal(result, frame(row(**expected)))


def test_conflicting_duplicate_uses_the_midpoint_of_its_values() -> None:
    level = wave(11)[10]
    high = copy_rows([10], where="after", value=1000.0)(points())  # (w, 1000): ~550, a spike
    pair = copy_rows([10], where="after", value=level + 40.0)(points())
    pair.loc[10, "value"] = level - 40.0  # either alone is a spike; their midpoint is the wave

    assert score_day(high)["spikes"].iloc[0] == 1
    assert score_day(pair)["spikes"].iloc[0] == 0
    assert score_day(pair.iloc[::-1].reset_index(drop=True))["spikes"].iloc[0] == 0


def test_rate_of_change_uses_the_real_time_step() -> None:
    # 60 s, 60 s, then 600 s (+20 over 10 min = 0.033/s), then 60 s steps of +30 (0.5/s)
    seconds = [0, 60, 120, 720, 780, 840]
    p = pd.DataFrame(
        {
            "tag": "flow",
            "ts": DAY + pd.to_timedelta(seconds, unit="s"),
            "value": [10.0, 11.0, 12.0, 32.0, 62.0, 92.0],
        }
    )
    for max_rate, violations in [(np.nan, 0), (0.1, 2), (0.02, 3), (1.0, 0)]:
        result = score_quality(p, rules(max_rate=max_rate), freq=None)

        end = DAY + pd.Timedelta(seconds=900)  # the data's own window: last + interval
        assert_frame_equal(
            result,
            frame(
                row(
                    start=DAY,
                    end=end,
                    received_points=6,
                    usable_points=6,
                    rate_violations=violations,
                )
            ),
        )


def test_flatline_across_midnight_is_clipped_to_each_day() -> None:
    p = points(n=2880, values=wave(2880, phase=0.25))  # peaks at midnight: the hold ends level
    p = hold(slice(1320, 1561))(p)  # 22:00 -> 02:00 next day
    flat: dict[str, Any] = {"flatline_minutes": 120.0, "flatline_runs": 1}

    result = score_quality(p, start=DAY, end=NEXT + pd.Timedelta(days=1))

    assert_frame_equal(result, frame(row(**flat), row(start=NEXT, end=NEXT + (NEXT - DAY), **flat)))


def test_gap_breaks_a_flat_run() -> None:
    p = drop(slice(350, 355))(hold(slice(270, 451))(points()))  # a 6-min hole inside the hold
    r = rules(flatline_min_s=3600.0)

    result = score_day(p, r)

    # 270..349 (79 min) and 355..450 (95 min) are flat; the hole is not observed, so not flat
    assert_frame_equal(
        result,
        frame(
            row(received_points=1435, usable_points=1435, flatline_minutes=174.0, flatline_runs=2)
        ),
    )


# ------------------------------------------------------------------------ periods and zones


@pytest.mark.parametrize(
    ("day", "minutes"),
    [("2025-03-09", 1380), ("2025-11-02", 1500), ("2025-06-01", 1440)],
)
def test_local_day_length_follows_dst(day: str, minutes: int) -> None:
    start = pd.Timestamp(day, tz=LA)
    end = pd.Timestamp(day, tz=LA) + pd.offsets.Day(1)
    p = points(start=start.tz_convert("UTC"), n=minutes)

    result = score_quality(p, start=start, end=end, tz=LA)

    assert_frame_equal(result, frame(row(start=start, end=end)))
    assert result["expected_points"].iloc[0] == minutes


def test_days_around_spring_forward_are_cut_at_local_midnight() -> None:
    start = pd.Timestamp("2025-03-08", tz=LA)
    p = points(start=start.tz_convert("UTC"), n=1440 + 1380 + 1440)
    cuts = [
        pd.Timestamp(d, tz=LA) for d in ("2025-03-08", "2025-03-09", "2025-03-10", "2025-03-11")
    ]

    result = score_quality(p, tz=LA)  # the data's own window is exactly these three days

    assert_frame_equal(result, frame(*(row(start=a, end=b) for a, b in itertools.pairwise(cuts))))
    assert [t.hour for t in result["period_start"]] == [8, 8, 7]  # UTC instants of midnights


def test_window_off_midnight_clips_first_and_last_period() -> None:
    start, end = DAY + pd.Timedelta(hours=6), NEXT + pd.Timedelta(hours=3)
    p = points(n=2880)

    result = score_quality(p, start=start, end=end)

    assert_frame_equal(result, frame(row(start=start, end=NEXT), row(start=NEXT, end=end)))


def test_freq_none_is_one_period_for_the_window() -> None:
    p = drop(slice(600, 660))(points(n=3 * 1440))
    end = DAY + pd.Timedelta(days=3)

    result = score_quality(p, start=DAY, end=end, freq=None, tz=LA)

    assert_frame_equal(result, frame(row(end=end, received_points=4260, usable_points=4260)))


@pytest.mark.parametrize(
    ("freq", "tz", "start", "end", "lengths_h"),
    [
        ("1D", LA, "2025-11-01", "2025-11-04", [24, 25, 24]),
        ("1h", LA, "2025-03-09", "2025-03-10", [1] * 23),
        ("1h", "Asia/Kolkata", "2025-01-15 00:00", "2025-01-15 03:00", [1, 1, 1]),
        ("MS", "UTC", "2025-01-15", "2025-03-02", [17 * 24, 28 * 24, 24]),
        ("6h", "UTC", "2025-01-15 05:00", "2025-01-15 13:00", [1, 6, 1]),
    ],
)
def test_period_edges(freq: str, tz: str, start: str, end: str, lengths_h: list[int]) -> None:
    a, b = pd.Timestamp(start, tz=tz), pd.Timestamp(end, tz=tz)
    a_us, b_us = a.value // 1000, b.value // 1000

    edges = period_edges(a_us, b_us, freq=freq, tz=tz)

    assert edges[0] == a_us and edges[-1] == b_us
    assert list(np.diff(edges) // (3600 * 10**6)) == lengths_h
    local = pd.to_datetime(edges[1:-1], unit="us", utc=True).tz_convert(tz)
    assert all(t.minute == 0 and t.second == 0 for t in local)  # local boundaries


def test_naive_or_empty_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        score_quality(points(), start=pd.Timestamp("2025-01-15"), end=NEXT)
    with pytest.raises(ValueError, match="not after"):
        score_quality(points(), start=NEXT, end=DAY)


# ----------------------------------------------------------------------------- several tags


def test_several_tags_with_different_intervals_interleaved_in_time() -> None:
    flow = points("flow")
    ch4 = drop(slice(40, 44))(points("ch4", n=96, step=pd.Timedelta(minutes=15)))
    temp = bump({100: 30.0})(points("temp", n=288, step=pd.Timedelta(minutes=5)))
    temp.loc[200, "quality"] = np.int8(2)
    mixed = pd.concat([flow, ch4, temp]).sort_values("ts", kind="stable", ignore_index=True)
    r = pd.DataFrame({"interval_s": [900.0]}, index=pd.Index(["ch4"], name="tag"))

    result = score_day(mixed, r)

    assert_frame_equal(
        result,
        frame(
            row("ch4", step=pd.Timedelta(minutes=15), received_points=92, usable_points=92),
            row("flow"),
            row("temp", step=pd.Timedelta(minutes=5), usable_points=287, spikes=1),
        ),
    )


def test_each_tag_is_held_to_its_own_limits() -> None:
    spiky = bump({500: 50.0})
    mixed = pd.concat([spiky(points("a")), spiky(points("b")), points("c")])
    r = pd.DataFrame(
        {
            "spike_threshold": [10.0, 100.0, np.nan],
            "flatline_tolerance": [0.0, 1.0, 0.0],
            "max_rate": [np.nan, 0.5, 1e-9],
        },
        index=pd.Index(["a", "b", "c"], name="tag"),
    )

    result = score_day(mixed.sort_values("ts", kind="stable", ignore_index=True), r)

    # b: everything but the two 50-unit steps is within 1.0, so 0..499 and 501..1439 are flat;
    # the steps into and out of the spike are 50 / 60 s > 0.5 per second
    assert_frame_equal(
        result,
        frame(
            row("a", spikes=1),
            row("b", flatline_minutes=1437.0, flatline_runs=2, rate_violations=2),
            row("c", rate_violations=1439),
        ),
    )


def test_silent_tag_configured_in_rules_gets_empty_rows() -> None:
    r = pd.DataFrame(
        {"interval_s": [60.0, 900.0, np.nan]}, index=pd.Index(["flow", "silent", "unknown"])
    )
    zero: dict[str, Any] = {"received_points": 0, "usable_points": 0, "completeness": 0.0}

    result = score_day(points(), r)

    assert_frame_equal(
        result, frame(row("flow"), row("silent", step=pd.Timedelta(minutes=15), **zero))
    )
    assert list(score_quality(points(), r)["tag"]) == ["flow"]  # no explicit window: data only
    nothing = score_day(points().iloc[:0], r)
    assert_frame_equal(
        nothing, frame(row("flow", **zero), row("silent", step=pd.Timedelta(minutes=15), **zero))
    )


def test_tag_with_unknown_interval_is_not_called_complete() -> None:
    single = points("lone", n=1)

    result = score_day(single)

    assert_frame_equal(
        result,
        frame(row("lone", expected_points=0, received_points=1, usable_points=1, completeness=0.0)),
    )


def test_score_series_matches_score_quality() -> None:
    p = bump({500: 50.0})(points(n=2880))
    series = prepare(p, rules(max_rate=0.5))

    via_series = score_series(
        series, start_us=DAY.value // 1000, end_us=(NEXT + (NEXT - DAY)).value // 1000, tz=LA
    )

    assert_frame_equal(
        via_series, score_quality(p, rules(max_rate=0.5), start=DAY, end=NEXT + (NEXT - DAY), tz=LA)
    )


# ------------------------------------------------------------------------------- properties

BASE = pd.Timestamp("2025-03-08", tz=LA)  # three local days around spring-forward
WINDOW = (BASE, pd.Timestamp("2025-03-11", tz=LA))
GRID_MIN = 10
SLOTS = int((WINDOW[1] - WINDOW[0]) / pd.Timedelta(minutes=GRID_MIN))
PROPERTY_RULES = pd.DataFrame(
    {
        "min_value": 0.0,
        "max_value": 4.0,
        "flatline_min_s": 1800.0,
        "spike_threshold": [np.nan, 1.5, np.nan],
        "max_rate": [0.002, np.nan, 0.005],
    },
    index=pd.Index(["a", "b", "c"], name="tag"),
)


@st.composite
def messy_points(draw: st.DrawFn) -> pd.DataFrame:
    """1-3 tags on a 10-min grid with holes, duplicates, NaN, sentinels, bad quality, flats."""
    frames = []
    for tag in draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True)):
        slots = draw(st.lists(st.integers(0, SLOTS - 1), min_size=1, max_size=60))
        n = len(slots)
        value = st.one_of(
            st.integers(0, 5).map(float), st.just(np.nan), st.just(-9999.0), st.just(2.5)
        )
        frames.append(
            pd.DataFrame(
                {
                    "tag": tag,
                    "ts": BASE.tz_convert("UTC")
                    + pd.to_timedelta(np.asarray(slots) * GRID_MIN, unit="min"),
                    "value": draw(st.lists(value, min_size=n, max_size=n)),
                    "quality": np.asarray(
                        draw(st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=n, max_size=n)),
                        dtype=np.int8,
                    ),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["ts"] = out["ts"].dt.as_unit("us")
    return out


@PROPERTY_SETTINGS
@given(p=messy_points(), data=st.data())
def test_metrics_do_not_depend_on_row_order_except_out_of_order(
    p: pd.DataFrame, data: st.DataObject
) -> None:
    shuffled = p.iloc[data.draw(st.permutations(range(len(p))))].reset_index(drop=True)
    in_order = p.sort_values(["tag", "ts"], kind="stable", ignore_index=True)
    kwargs: dict[str, Any] = {"start": WINDOW[0], "end": WINDOW[1], "tz": LA}

    a = score_quality(p, PROPERTY_RULES, **kwargs)
    b = score_quality(shuffled, PROPERTY_RULES, **kwargs)
    c = score_quality(in_order, PROPERTY_RULES, **kwargs)

    order_free = [k for k in QUALITY_COLUMNS if k not in ("out_of_order", "score")]
    assert_frame_equal(a[order_free], b[order_free])
    assert_frame_equal(a[order_free], c[order_free])
    assert (c["out_of_order"] == 0).all()
    assert_frame_equal(c, frame(*(reference_row(r) for r in c.to_dict("records"))))


def reference_row(r: dict[Any, Any]) -> dict[str, Any]:
    """The row with completeness/validity/score recomputed from its counts."""
    out = dict(r)
    distinct = r["received_points"] - r["duplicates"]
    if r["expected_points"]:
        out["completeness"] = min(1.0, r["usable_points"] / r["expected_points"])
    out["validity"] = r["usable_points"] / distinct if distinct else 0.0
    out["score"] = reference_score(out)
    return out


@PROPERTY_SETTINGS
@given(p=messy_points())
def test_ratios_and_score_stay_in_range(p: pd.DataFrame) -> None:
    result = score_quality(p, PROPERTY_RULES, start=WINDOW[0], end=WINDOW[1], tz=LA)

    assert result["completeness"].between(0, 1).all()
    assert result["validity"].between(0, 1).all()
    assert result["score"].between(0, 100).all()
    assert (result["usable_points"] <= result["received_points"] - result["duplicates"]).all()
    assert (result["score"][result["usable_points"] == 0] == 0).all()
    lengths = (result["period_end"] - result["period_start"]).dt.total_seconds() / 60
    assert (result["flatline_minutes"] <= lengths).all()


@PROPERTY_SETTINGS
@given(p=messy_points())
def test_days_add_up_to_the_window_and_each_day_stands_alone(p: pd.DataFrame) -> None:
    kwargs: dict[str, Any] = {"start": WINDOW[0], "end": WINDOW[1], "tz": LA}
    days = score_quality(p, PROPERTY_RULES, **kwargs)
    whole = score_quality(p, PROPERTY_RULES, freq=None, **kwargs)

    additive = [
        "expected_points",
        "received_points",
        "usable_points",
        "duplicates",
        "out_of_order",
        "spikes",
        "rate_violations",
    ]
    summed = days.groupby("tag", sort=True)[additive].sum().reset_index()
    summed["tag"] = summed["tag"].astype(object)
    assert_frame_equal(summed, whole[["tag", *additive]])
    flat = days.groupby("tag", sort=True)["flatline_minutes"].sum().to_numpy()
    np.testing.assert_allclose(flat, whole["flatline_minutes"].to_numpy())
    # a day scored alone equals its row in the three-day result (neighbours across midnight count)
    second = days[days["period_start"] == pd.Timestamp("2025-03-09", tz=LA)].reset_index(drop=True)
    alone = score_quality(
        p,
        PROPERTY_RULES,
        start=second["period_start"].iloc[0],
        end=second["period_end"].iloc[0],
        tz=LA,
    )
    assert_frame_equal(alone, second)


# ------------------------------------------------------------- alerts and the days to score


def test_a_tags_own_thresholds_replace_the_defaults_one_by_one() -> None:
    defaults = AlertThresholds(gap_minutes=60, completeness=0.9, flatline_hours=4)
    assert defaults.overridden() == defaults
    assert defaults.overridden(completeness=0.5) == AlertThresholds(60, 0.5, 4)
    assert defaults.overridden(gap_minutes=0, flatline_hours=None) == AlertThresholds(0, 0.9, 4)


@pytest.mark.parametrize(
    ("completeness", "flatline_minutes", "low", "flat"),
    [
        (0.95, 0.0, False, False),
        (0.9, 239.9, False, False),  # exactly the completeness threshold: no alert
        (0.899, 240.0, True, True),  # exactly the flat-run threshold (4 h): an alert
    ],
)
def test_quality_alerts_below_completeness_and_at_least_the_flat_hours(
    completeness: float, flatline_minutes: float, low: bool, flat: bool
) -> None:
    rows = pd.DataFrame(
        {"completeness": [completeness], "flatline_minutes": [flatline_minutes]}, index=[7]
    )
    alerts = quality_alerts(rows, AlertThresholds(60, 0.9, 4))
    assert alerts.to_dict("index") == {7: {"low_completeness": low, "flatline": flat}}


@pytest.mark.parametrize(
    ("start", "end", "now", "first", "last"),
    [
        # the last day that has ended at now, in the facility's zone
        ("2025-03-08T10:00Z", "2025-03-10T10:00Z", "2025-03-10T09:00Z", "03-08", "03-09"),
        ("2025-03-08T10:00Z", "2025-03-08T11:00Z", "2025-03-10T09:00Z", "03-08", "03-08"),
        # 07:59 UTC is still the 9th in Los Angeles: the 8th is the last day ended
        ("2025-03-08T10:00Z", "2025-03-10T10:00Z", "2025-03-10T06:59Z", "03-08", "03-08"),
        # nothing ended yet: the last day falls before the first
        ("2025-03-09T10:00Z", "2025-03-09T11:00Z", "2025-03-09T12:00Z", "03-09", "03-08"),
    ],
)
def test_days_to_score_are_local_and_ended(
    start: str, end: str, now: str, first: str, last: str
) -> None:
    got = days_to_score(
        pd.Timestamp(start).to_pydatetime(),
        pd.Timestamp(end).to_pydatetime(),
        tz=LA,
        now=pd.Timestamp(now).to_pydatetime(),
    )
    assert tuple(d.isoformat() for d in got) == (f"2025-{first}", f"2025-{last}")
    assert last_ended_day(pd.Timestamp(now).to_pydatetime(), LA) >= got[1]


def test_local_midnight_follows_daylight_saving_time() -> None:
    day = pd.Timestamp("2025-03-09").date()  # clocks go forward in Los Angeles
    assert local_midnight(day, LA) == pd.Timestamp("2025-03-09T08:00Z")
    assert local_midnight(day + pd.Timedelta(days=1), LA) == pd.Timestamp("2025-03-10T07:00Z")
    assert local_midnight(day, "UTC") == pd.Timestamp("2025-03-09T00:00Z")
