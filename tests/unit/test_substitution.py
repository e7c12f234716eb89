"""Unit tests for pipelines/substitution.py: each method by hand, edge cases, and invariants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import sqrt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from pipelines.gaps import find_gaps
from pipelines.substitution import METHODS, SUBSTITUTE_COLUMNS, substitute
from pipelines.timeseries import prepare
from tests.factories import examples, points_frame

DAY = "2025-01-01"
T0 = pd.Timestamp(f"{DAY}T00:00Z")
US_PER_MIN = 60_000_000
PROPERTY_SETTINGS = settings(
    max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
DTYPES = {"tag": "object", "ts": "datetime64[us, UTC]", "value": "float64", "method": "object"}


# --------------------------------------------------------------------------------------- helpers


def at(clock: str) -> pd.Timestamp:
    return pd.Timestamp(f"{DAY}T{clock}Z")


def points(
    tag: str, minutes: Iterable[float], values: float | Sequence[float] = 1.0
) -> pd.DataFrame:
    offsets_us = np.round(np.asarray(list(minutes), dtype=float) * US_PER_MIN).astype(np.int64)
    ts = pd.DatetimeIndex(T0 + pd.to_timedelta(offsets_us, unit="us")).as_unit("us")
    return pd.DataFrame(
        {
            "tag": pd.Series([tag] * len(ts), dtype=object),
            "ts": ts,
            "value": np.broadcast_to(np.asarray(values, dtype=np.float64), len(ts)).copy(),
        }
    )


def rules(**interval_s: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"interval_s": list(interval_s.values())},
        index=pd.Index(list(interval_s), dtype=object, name="tag"),
        dtype=float,
    )


def gap_rows(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """A hand-made gaps frame: (tag, start, end); the other columns are not read."""
    return pd.DataFrame(
        {
            "tag": pd.Series([r[0] for r in rows], dtype=object),
            "gap_start": pd.DatetimeIndex([at(r[1]) for r in rows], dtype="datetime64[us, UTC]"),
            "gap_end": pd.DatetimeIndex([at(r[2]) for r in rows], dtype="datetime64[us, UTC]"),
        }
    )


def filled(*rows: tuple[str, str, float, str]) -> pd.DataFrame:
    """Expected output from (tag, 'HH:MM' slot, value, method code)."""
    return pd.DataFrame(
        {
            "tag": pd.Series([r[0] for r in rows], dtype=object),
            "ts": pd.DatetimeIndex([at(r[1]) for r in rows], dtype="datetime64[us, UTC]"),
            "value": np.asarray([r[2] for r in rows], dtype=np.float64),
            "method": pd.Series([r[3] for r in rows], dtype=object),
        }
    )


def check(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert tuple(found.columns) == SUBSTITUTE_COLUMNS
    assert_frame_equal(found, expected)


# ------------------------------------------------------------------------ each method by hand

# 1-minute tag, window [00:00, 00:14): leading gap 00:00 -> 00:02 (slots 00:00, 00:01), interior
# gap 00:04 -> 00:09 (slots 00:05..00:08), open trailing gap 00:10 -> 00:14 (00:11..00:13).
HAND = points("f", [2, 3, 4, 9, 10], [10.0, 30.0, 20.0, 50.0, 60.0])
HAND_START, HAND_END = at("00:00"), at("00:14")
# (leading, interior, trailing) values. Leading: nothing before it, so every method falls back
# to the first value after. Interior lookback: 10, 30, 20. Trailing lookback: 10, 30, 20, 50, 60.
BY_HAND: list[tuple[str, tuple[float, float, float]]] = [
    ("before_after_mean", (10.0, (20 + 50) / 2, 60.0)),
    ("percentile_90", (10.0, 20 + 0.8 * 10, 50 + 0.6 * 10)),  # positions 1.8 and 3.6
    ("percentile_95", (10.0, 20 + 0.9 * 10, 50 + 0.8 * 10)),  # positions 1.9 and 3.8
    ("maximum", (10.0, 30.0, 60.0)),
    ("mean_plus_2sd", (10.0, 20 + 2 * 10.0, 34 + 2 * sqrt(1720 / 4))),
]


def test_the_hand_example_has_the_gaps_it_claims() -> None:
    found = find_gaps(HAND, start=HAND_START, end=HAND_END)
    assert found[["gap_start", "gap_end"]].values.tolist() == [
        [at("00:00"), at("00:02")],
        [at("00:04"), at("00:09")],
        [at("00:10"), at("00:14")],
    ]
    assert found["missing_points"].tolist() == [2, 4, 3]


@pytest.mark.parametrize(("method", "values"), BY_HAND, ids=[m for m, _ in BY_HAND])
def test_each_method_on_a_hand_computed_example(
    method: str, values: tuple[float, float, float]
) -> None:
    found_gaps = find_gaps(HAND, start=HAND_START, end=HAND_END)
    code = METHODS[method]
    lead, interior, trail = values
    expected = filled(
        ("f", "00:00", lead, code),
        ("f", "00:01", lead, code),
        *[("f", f"00:0{m}", interior, code) for m in (5, 6, 7, 8)],
        *[("f", f"00:1{m}", trail, code) for m in (1, 2, 3)],
    )
    check(substitute(HAND, found_gaps, method=method), expected)


def test_method_codes() -> None:
    assert METHODS == {
        "before_after_mean": "BAM",
        "percentile_90": "P90",
        "percentile_95": "P95",
        "maximum": "MAX",
        "mean_plus_2sd": "M2SD",
    }


@pytest.mark.parametrize("method", list(METHODS))
def test_every_row_carries_the_method_code(method: str) -> None:
    found = substitute(HAND, find_gaps(HAND, start=HAND_START, end=HAND_END), method=method)
    assert len(found) == 9
    assert found["method"].tolist() == [METHODS[method]] * 9


# --------------------------------------------------------------------------------- lookback

LOOKBACK = points("f", [0, 1, 2, 3, 8], [1000.0, 1.0, 2.0, 3.0, 8.0])  # gap 00:03 -> 00:08


@pytest.mark.parametrize(
    ("method", "lookback", "value"),
    [
        ("maximum", pd.Timedelta(minutes=2), 3.0),  # [00:01, 00:03]
        ("maximum", pd.Timedelta(minutes=3), 1000.0),  # [00:00, 00:03]: the start is included
        ("maximum", pd.Timedelta(days=90), 1000.0),
        ("mean_plus_2sd", pd.Timedelta(0), 3.0),  # one value: no spread
        ("mean_plus_2sd", pd.Timedelta(minutes=1), 2.5 + 2 * sqrt(0.5)),
        ("percentile_90", pd.Timedelta(minutes=1), 2.9),
    ],
)
def test_lookback_bounds(method: str, lookback: pd.Timedelta, value: float) -> None:
    found = substitute(
        LOOKBACK, gap_rows(("f", "00:03", "00:08")), method=method, lookback=lookback
    )
    code = METHODS[method]
    check(found, filled(*[("f", f"00:0{m}", value, code) for m in (4, 5, 6, 7)]))


@pytest.mark.parametrize("method", ["percentile_90", "percentile_95", "maximum", "mean_plus_2sd"])
@pytest.mark.parametrize(
    ("lookback", "value"),
    [(pd.Timedelta(seconds=10), (1000.0 + 8.0) / 2), (pd.Timedelta(minutes=1), 1000.0)],
    ids=["empty_lookback", "one_value"],
)
def test_an_empty_lookback_falls_back_to_the_before_after_mean(
    method: str, lookback: pd.Timedelta, value: float
) -> None:
    # Leading gap 00:01 -> 00:08 of the window; 00:00 lies before it and 00:03 is unusable.
    frame = points("f", [0, 3, 8], [1000.0, np.nan, 8.0])
    gaps = find_gaps(frame, rules(f=60.0), start=at("00:01"), end=at("00:09"))
    assert gaps[["gap_start", "gap_end"]].values.tolist() == [[at("00:01"), at("00:08")]]
    found = substitute(frame, gaps, rules(f=60.0), method=method, lookback=lookback)
    code = METHODS[method]
    check(found, filled(*[("f", f"00:0{m}", value, code) for m in range(1, 8)]))


# ------------------------------------------------------------------------------- edge cases


def test_no_value_before_uses_the_first_after_and_no_value_after_the_last_before() -> None:
    frame = points("f", [5, 6, 7], [4.0, 5.0, 6.0])
    gaps = find_gaps(frame, rules(f=60.0), start=at("00:02"), end=at("00:10"))
    expected = filled(
        ("f", "00:02", 4.0, "BAM"),
        ("f", "00:03", 4.0, "BAM"),
        ("f", "00:04", 4.0, "BAM"),
        ("f", "00:08", 6.0, "BAM"),
        ("f", "00:09", 6.0, "BAM"),
    )
    check(substitute(frame, gaps, rules(f=60.0)), expected)


def test_a_value_before_the_window_counts_as_before() -> None:
    frame = points("f", [0, 5, 6, 7], [2.0, 4.0, 5.0, 6.0])
    gaps = find_gaps(frame, rules(f=60.0), start=at("00:03"), end=at("00:08"))
    expected = filled(("f", "00:03", 3.0, "BAM"), ("f", "00:04", 3.0, "BAM"))
    check(substitute(frame, gaps, rules(f=60.0)), expected)


def test_neither_before_nor_after_skips_the_gap() -> None:
    frame = pd.concat(
        [points("f", range(10), np.nan), points("g", [0, 1, 2, 6], 1.0)], ignore_index=True
    )
    gaps = find_gaps(frame, rules(f=60.0, ghost=60.0), start=at("00:00"), end=at("00:07"))
    assert set(gaps["tag"]) == {"f", "g", "ghost"}
    expected = filled(*[("g", f"00:0{m}", 1.0, "BAM") for m in (3, 4, 5)])
    check(substitute(frame, gaps, rules(f=60.0, ghost=60.0)), expected)


def test_a_stale_gap_around_all_the_data_has_nothing_before_or_after() -> None:
    frame = points("f", [4, 5, 6], [1.0, 2.0, 3.0])
    found = substitute(frame, gap_rows(("f", "00:00", "00:10")), rules(f=60.0))
    check(found, filled())


def test_slots_follow_missing_points_on_an_irregular_gap() -> None:
    frame = points("f", [0, 1, 2, 4.4, 5.4], [1.0, 1.0, 2.0, 4.0, 4.0])  # 2.4 intervals
    gaps = find_gaps(frame, rules(f=60.0))
    assert gaps["missing_points"].tolist() == [1]
    check(substitute(frame, gaps, rules(f=60.0)), filled(("f", "00:03", 3.0, "BAM")))


def test_a_measured_point_inside_a_stale_gap_is_never_overwritten() -> None:
    frame = points("f", [0, 1, 2, 3, 4, 6, 9], [0.0, 0.0, 0.0, 0.0, 2.0, 99.0, 8.0])
    stale = gap_rows(("f", "00:04", "00:09"))  # found before 00:06 arrived
    expected = filled(*[("f", f"00:0{m}", 5.0, "BAM") for m in (5, 7, 8)])
    check(substitute(frame, stale), expected)


def test_an_unusable_point_inside_a_gap_is_replaced() -> None:
    frame = points("f", [0, 1, 2, 3, 4, 6, 9], [0.0, 0.0, 0.0, 0.0, 2.0, -9999.0, 8.0])
    gaps = find_gaps(frame, rules(f=60.0))
    expected = filled(*[("f", f"00:0{m}", 5.0, "BAM") for m in (5, 6, 7, 8)])
    check(substitute(frame, gaps, rules(f=60.0)), expected)


def test_overlapping_gap_rows_give_each_slot_once() -> None:
    frame = points("f", [0, 1, 2, 6], [1.0, 1.0, 1.0, 3.0])
    gaps = gap_rows(("f", "00:02", "00:06"), ("f", "00:02", "00:06"))
    expected = filled(*[("f", f"00:0{m}", 2.0, "BAM") for m in (3, 4, 5)])
    check(substitute(frame, gaps), expected)


def test_several_tags_are_sorted_by_tag_then_time() -> None:
    frame = pd.concat(
        [points("b", [0, 1, 2, 5], [1.0, 1.0, 1.0, 3.0]), points("a", [0, 15, 60], 7.0)],
        ignore_index=True,
    )
    gaps = find_gaps(frame, rules(a=900.0, b=60.0))
    expected = filled(
        ("a", "00:30", 7.0, "BAM"),
        ("a", "00:45", 7.0, "BAM"),
        ("b", "00:03", 2.0, "BAM"),
        ("b", "00:04", 2.0, "BAM"),
    )
    check(substitute(frame, gaps.iloc[::-1], rules(a=900.0, b=60.0)), expected)


def test_interval_override_sets_the_slot_spacing() -> None:
    frame = points("f", [0, 10], [0.0, 10.0])
    gaps = find_gaps(frame, interval=pd.Timedelta(minutes=5))
    found = substitute(frame, gaps, interval=pd.Timedelta(minutes=5))
    check(found, filled(("f", "00:05", 5.0, "BAM")))


def test_no_gaps_give_an_empty_frame_with_the_documented_dtypes() -> None:
    steady = points("f", range(10))
    found = substitute(steady, find_gaps(steady, start=at("00:00"), end=at("00:10")))
    assert found.empty
    assert {c: str(t) for c, t in found.dtypes.items()} == DTYPES


def test_an_unknown_method_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"before_after_mean.*percentile_90") as info:
        substitute(HAND, find_gaps(HAND), method="linear")
    assert "'linear'" in str(info.value)


def test_naive_gap_times_are_rejected() -> None:
    gaps = gap_rows(("f", "00:04", "00:09"))
    gaps["gap_start"] = gaps["gap_start"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="timezone-aware"):
        substitute(HAND, gaps)


# ------------------------------------------------------------------------------ properties


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """One or two tags on configured 1/5/15-minute cadences with holes, jitter and bad values."""
    frames = []
    intervals: dict[str, float] = {}
    for i in range(draw(st.integers(1, 2))):
        tag = f"tag{i}"
        step_s = draw(st.sampled_from([60, 300, 900]))
        slots = draw(st.lists(st.integers(0, 40), min_size=1, max_size=30))
        jitter = draw(
            st.lists(st.sampled_from([0, 0, 13, -17]), min_size=len(slots), max_size=len(slots))
        )
        values = draw(
            st.lists(
                st.sampled_from([1.0, 2.0, 5.0, 9.0, np.nan, -9999.0]),
                min_size=len(slots),
                max_size=len(slots),
            )
        )
        seconds = np.asarray(slots, dtype=np.int64) * step_s + np.asarray(jitter, dtype=np.int64)
        frames.append(points_frame(tag, T0, seconds, values))
        intervals[tag] = float(step_s)
    start = T0 + pd.Timedelta(seconds=draw(st.integers(-3600, 3 * 3600)))
    end = start + pd.Timedelta(seconds=draw(st.integers(0, 12 * 3600)))
    return pd.concat(frames, ignore_index=True), rules(**intervals), start, end


def usable_points(frame: pd.DataFrame, rule: pd.DataFrame) -> pd.DataFrame:
    series = prepare(frame, rule)
    return frame.iloc[series.order[series.usable]][["tag", "ts", "value"]]


@PROPERTY_SETTINGS
@given(scenarios(), st.sampled_from(list(METHODS)))
def test_property_substitutes_never_touch_measured_points_and_stay_inside_gaps(
    scenario: Any, method: str
) -> None:
    frame, rule, start, end = scenario
    gaps = find_gaps(frame, rule, start=start, end=end)
    found = substitute(frame, gaps, rule, method=method)
    measured = usable_points(frame, rule)
    clash = found.merge(measured, on=["tag", "ts"], how="inner")
    assert clash.empty
    assert not found.duplicated(["tag", "ts"]).any()
    assert found.equals(found.sort_values(["tag", "ts"], kind="stable", ignore_index=True))
    assert set(found["method"]) <= {METHODS[method]}
    assert np.isfinite(found["value"]).all()
    # every slot lies in exactly one gap: after its start (or at a window start) and before its end
    slots = found.merge(gaps, on="tag")
    at_window_start = (slots["ts"] == slots["gap_start"]) & (slots["gap_start"] == start)
    inside = (slots["ts"] < slots["gap_end"]) & (
        (slots["ts"] > slots["gap_start"]) | at_window_start
    )
    assert inside.groupby([slots["tag"], slots["ts"]]).sum().eq(1).all()
    assert ((found["ts"] >= start) & (found["ts"] < end)).all()


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_one_substitute_per_missing_point(scenario: Any) -> None:
    frame, rule, start, end = scenario
    gaps = find_gaps(frame, rule, start=start, end=end)
    found = substitute(frame, gaps, rule)
    with_data = set(usable_points(frame, rule)["tag"])
    expected = gaps[gaps["tag"].isin(with_data)].groupby("tag")["missing_points"].sum()
    counts = found.groupby("tag").size()
    assert counts.reindex(expected.index, fill_value=0).tolist() == expected.tolist()
    assert set(found["tag"]) <= with_data


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_filling_every_gap_leaves_no_gap(scenario: Any) -> None:
    frame, rule, start, end = scenario
    gaps = find_gaps(frame, rule, start=start, end=end)
    found = substitute(frame, gaps, rule)
    combined = pd.concat([usable_points(frame, rule), found[["tag", "ts", "value"]]])
    left = find_gaps(combined, rule, start=start, end=end)
    with_data = set(usable_points(frame, rule)["tag"])
    assert left[left["tag"].isin(with_data)].empty


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_percentiles_and_maximum_are_ordered(scenario: Any) -> None:
    frame, rule, start, end = scenario
    gaps = find_gaps(frame, rule, start=start, end=end)
    p90, p95, top = (
        substitute(frame, gaps, rule, method=m)["value"].to_numpy()
        for m in ("percentile_90", "percentile_95", "maximum")
    )
    assert len(p90) == len(p95) == len(top)
    assert (p90 <= p95 + 1e-9).all()
    assert (p95 <= top + 1e-9).all()
