"""Unit tests for pipelines/gaps.py: planted gaps, usability, windows, DST, and invariants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from itertools import pairwise
from math import floor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from pipelines.gaps import (
    GAP_COLUMNS,
    STORED_GAP_COLUMNS,
    diff_gaps,
    find_gaps,
    find_gaps_in,
    find_stale_gaps,
    trailing_window,
)
from pipelines.timeseries import prepare
from tests.factories import GAP_DTYPES, examples, points_frame

DAY = "2025-01-01"
T0 = pd.Timestamp(f"{DAY}T00:00Z")
LA = "America/Los_Angeles"
US_PER_MIN = 60_000_000
PROPERTY_SETTINGS = settings(
    max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --------------------------------------------------------------------------------------- helpers


def at(clock: str) -> pd.Timestamp:
    """'HH:MM[:SS]' on DAY, UTC."""
    return pd.Timestamp(f"{DAY}T{clock}Z")


def points(
    tag: str,
    minutes: Iterable[float],
    *,
    value: float | Sequence[float] = 1.0,
    quality: int | Sequence[int] = 0,
) -> pd.DataFrame:
    """A tag's points at ``minutes`` after T0."""
    offsets_us = np.round(np.asarray(list(minutes), dtype=float) * US_PER_MIN).astype(np.int64)
    ts = pd.DatetimeIndex(T0 + pd.to_timedelta(offsets_us, unit="us")).as_unit("us")
    n = len(ts)
    return pd.DataFrame(
        {
            "tag": pd.Series([tag] * n, dtype=object),
            "ts": ts,
            "value": np.broadcast_to(np.asarray(value, dtype=np.float64), n).copy(),
            "quality": np.broadcast_to(np.asarray(quality, dtype=np.int8), n).copy(),
        }
    )


Row = tuple[str, str | pd.Timestamp, str | pd.Timestamp, int, bool]


def gaps(*rows: Row) -> pd.DataFrame:
    """Expected gaps from (tag, start, end, missing_points, open); 'HH:MM[:SS]' means on DAY."""

    def stamp(when: str | pd.Timestamp) -> pd.Timestamp:
        return at(when) if isinstance(when, str) else when

    start = pd.DatetimeIndex([stamp(r[1]) for r in rows], dtype="datetime64[us, UTC]")
    end = pd.DatetimeIndex([stamp(r[2]) for r in rows], dtype="datetime64[us, UTC]")
    return pd.DataFrame(
        {
            "tag": pd.Series([r[0] for r in rows], dtype=object),
            "gap_start": start,
            "gap_end": end,
            "duration_minutes": np.asarray((end - start) / pd.Timedelta(minutes=1), dtype=float),
            "missing_points": np.asarray([r[3] for r in rows], dtype=np.int64),
            "open": np.asarray([r[4] for r in rows], dtype=bool),
        }
    )


def rules(**by_tag: dict[str, float]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(by_tag, orient="index", dtype=float)
    frame.index = pd.Index(frame.index, dtype=object, name="tag")
    return frame


def hour_minus(*holes: range) -> list[int]:
    """Minutes 0..59 of a 1-minute tag with the minutes in ``holes`` left out."""
    out = set(range(60))
    for hole in holes:
        out -= set(hole)
    return sorted(out)


def check(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert tuple(found.columns) == GAP_COLUMNS
    assert_frame_equal(found, expected)


# ------------------------------------------------------------------------------ seed and shape


def test_seed_example_is_150_minutes_and_149_missing_points() -> None:
    frame = points("flow", [*range(0, 12 * 60 + 1), *range(14 * 60 + 30, 16 * 60)])
    found = find_gaps(frame)
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["gap_start"], row["gap_end"]) == (at("12:00"), at("14:30"))
    assert row["duration_minutes"] == 150.0
    assert row["missing_points"] == 149
    assert not row["open"]


def test_no_gaps_is_an_empty_frame_with_the_documented_dtypes() -> None:
    found = find_gaps(points("flow", range(60)))
    assert found.empty
    assert {c: str(t) for c, t in found.dtypes.items()} == GAP_DTYPES


def test_empty_input_gives_an_empty_frame_with_the_documented_dtypes() -> None:
    found = find_gaps(points("flow", []), start=at("00:00"), end=at("01:00"))
    assert found.empty
    assert {c: str(t) for c, t in found.dtypes.items()} == GAP_DTYPES


def test_a_gap_frame_has_the_documented_dtypes() -> None:
    found = find_gaps(points("flow", [0, 1, 2, 10, 11, 12]))
    assert {c: str(t) for c, t in found.dtypes.items()} == GAP_DTYPES
    assert isinstance(found["tag"].iloc[0], str)


# ----------------------------------------------------------------- planted gaps, one 1-min tag

WINDOW = (at("00:00"), at("01:00"))
W = WINDOW
ALL = (None, None)
SINGLE_TAG: list[tuple[str, list[float], tuple[pd.Timestamp | None, pd.Timestamp | None], Any]] = [
    ("none", list(range(60)), W, []),
    ("interior", hour_minus(range(10, 20)), W, [("f", "00:09", "00:20", 10, False)]),
    (
        "two_interior",
        hour_minus(range(10, 20), range(30, 33)),
        W,
        [("f", "00:09", "00:20", 10, False), ("f", "00:29", "00:33", 3, False)],
    ),
    ("interior_no_window", hour_minus(range(10, 20)), ALL, [("f", "00:09", "00:20", 10, False)]),
    ("leading", list(range(5, 60)), W, [("f", "00:00", "00:05", 5, False)]),
    ("leading_at_half_interval_is_no_gap", [0.5, *range(1, 60)], W, []),
    (
        "leading_past_half_interval",
        [31 / 60, *range(1, 60)],
        W,
        [("f", "00:00", "00:00:31", 1, False)],
    ),
    ("leading_needs_start", list(range(5, 60)), (None, at("01:00")), []),
    ("trailing", list(range(51)), W, [("f", "00:50", "01:00", 9, True)]),
    ("trailing_at_1.5_intervals_is_no_gap", [*range(58), 58.5], W, []),
    (
        "trailing_past_1.5_intervals",
        [*range(58), 58.49],
        W,
        [("f", "00:58:29.4", "01:00", 1, True)],
    ),
    ("trailing_needs_end", list(range(51)), (at("00:00"), None), []),
    (
        "edges_and_interior",
        hour_minus(range(0, 5), range(10, 20), range(51, 60)),
        W,
        [
            ("f", "00:00", "00:05", 5, False),
            ("f", "00:09", "00:20", 10, False),
            ("f", "00:50", "01:00", 9, True),
        ],
    ),
    ("step_of_exactly_1.5_intervals_is_no_gap", [0, 1, 2.5, 3.5, 4.5, 5.5], ALL, []),
    (
        "step_just_over_1.5_intervals",
        [0, 1, 2, 3.5001, 4.5001, 5.5001],
        ALL,
        [("f", "00:02", "00:03:30.006", 1, False)],
    ),
    (
        "step_one_microsecond_over_1.5_intervals",
        [0, 1, 2, 3.5 + 1 / US_PER_MIN],
        ALL,
        [("f", "00:02", "00:03:30.000001", 1, False)],
    ),
    ("half_rounds_up", [0, 1, 2, 4.5, 5.5, 6.5], ALL, [("f", "00:02", "00:04:30", 2, False)]),
    (
        "window_drops_outside_points",
        hour_minus(range(10, 20)),
        (at("00:15"), at("00:45")),
        [("f", "00:15", "00:20", 5, False)],
    ),
    (
        "gap_straddles_window_end",
        hour_minus(range(10, 20)),
        (at("00:00"), at("00:15")),
        [("f", "00:09", "00:15", 5, True)],
    ),
    (
        "no_point_in_window",
        list(range(60)),
        (at("02:00"), at("03:00")),
        [("f", "02:00", "03:00", 60, True)],
    ),
    ("window_shorter_than_half_interval", list(range(60)), (at("02:00"), at("02:00:30")), []),
    ("empty_window", list(range(60)), (at("00:30"), at("00:30")), []),
]


@pytest.mark.parametrize(
    ("points_at", "window", "expected"),
    [case[1:] for case in SINGLE_TAG],
    ids=[case[0] for case in SINGLE_TAG],
)
def test_planted_gaps_on_one_tag(
    points_at: list[float],
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    expected: list[Row],
) -> None:
    frame = points("f", points_at)
    found = find_gaps(frame, rules(f={"interval_s": 60.0}), start=window[0], end=window[1])
    check(found, gaps(*expected))


def test_inferred_interval_matches_configured_one() -> None:
    frame = points("f", hour_minus(range(10, 20)))
    inferred = find_gaps(frame, start=WINDOW[0], end=WINDOW[1])
    configured = find_gaps(frame, rules(f={"interval_s": 60.0}), start=WINDOW[0], end=WINDOW[1])
    check(inferred, configured)
    check(inferred, gaps(("f", "00:09", "00:20", 10, False)))


# --------------------------------------------------------------------------- unusable points

UNUSABLE: list[tuple[str, dict[str, float], dict[str, dict[str, float]], dict[str, bool]]] = [
    ("nan", {"value": np.nan}, {}, {}),
    ("infinite", {"value": np.inf}, {}, {}),
    ("bad_quality", {"quality": 2}, {}, {}),
    ("sentinel_9999", {"value": -9999.0}, {}, {}),
    ("sentinel_99999", {"value": -99999.0}, {}, {}),
    ("above_max", {"value": 1000.5}, {"f": {"max_value": 1000.0}}, {}),
    ("below_min", {"value": -0.5}, {"f": {"min_value": 0.0}}, {}),
    ("uncertain_when_bad", {"quality": 1}, {}, {"uncertain_is_bad": True}),
]


@pytest.mark.parametrize(
    ("planted", "rule", "kwargs"), [c[1:] for c in UNUSABLE], ids=[c[0] for c in UNUSABLE]
)
def test_a_run_of_unusable_points_is_a_gap(
    planted: dict[str, float], rule: dict[str, dict[str, float]], kwargs: dict[str, bool]
) -> None:
    frame = points("f", range(60), value=5.0)
    run = frame["ts"].between(at("00:10"), at("00:19"))
    for column, bad in planted.items():
        frame.loc[run, column] = bad
    found = find_gaps(
        frame, rules(**rule) if rule else None, start=WINDOW[0], end=WINDOW[1], **kwargs
    )
    check(found, gaps(("f", "00:09", "00:20", 10, False)))


USABLE: list[tuple[str, dict[str, float], dict[str, dict[str, float]]]] = [
    ("uncertain_by_default", {"quality": 1}, {}),
    ("at_max", {"value": 1000.0}, {"f": {"max_value": 1000.0}}),
    ("at_min", {"value": 0.0}, {"f": {"min_value": 0.0}}),
    ("negative_not_a_sentinel", {"value": -9998.0}, {}),
]


@pytest.mark.parametrize(("planted", "rule"), [c[1:] for c in USABLE], ids=[c[0] for c in USABLE])
def test_points_that_stay_usable_make_no_gap(
    planted: dict[str, float], rule: dict[str, dict[str, float]]
) -> None:
    frame = points("f", range(60), value=5.0)
    run = frame["ts"].between(at("00:10"), at("00:19"))
    for column, value in planted.items():
        frame.loc[run, column] = value
    found = find_gaps(frame, rules(**rule) if rule else None, start=WINDOW[0], end=WINDOW[1])
    check(found, gaps())


def test_unusable_points_at_the_window_edges_make_edge_gaps() -> None:
    frame = points("f", range(60), value=[np.nan] * 3 + [1.0] * 50 + [-9999.0] * 7)
    found = find_gaps(frame, start=WINDOW[0], end=WINDOW[1])
    check(found, gaps(("f", "00:00", "00:03", 3, False), ("f", "00:52", "01:00", 7, True)))


def test_a_tag_with_only_unusable_points_is_one_open_gap() -> None:
    frame = points("f", range(60), value=np.nan)
    found = find_gaps(frame, start=WINDOW[0], end=WINDOW[1])
    check(found, gaps(("f", "00:00", "01:00", 60, True)))


# ----------------------------------------------------------------- duplicates and row order


def test_duplicated_rows_change_nothing() -> None:
    frame = points("f", hour_minus(range(10, 20)))
    twice = pd.concat([frame, frame], ignore_index=True)
    found = find_gaps(twice, start=WINDOW[0], end=WINDOW[1])
    check(found, gaps(("f", "00:09", "00:20", 10, False)))


@pytest.mark.parametrize(
    ("edge_values", "expected_end", "missing"),
    [([np.nan, 1.0], "00:20", 10), ([1.0, np.nan], "00:20", 10), ([np.nan, np.nan], "00:21", 11)],
    ids=["usable_second_copy", "usable_first_copy", "no_usable_copy"],
)
def test_a_duplicated_edge_closes_the_gap_when_one_copy_is_usable(
    edge_values: list[float], expected_end: str, missing: int
) -> None:
    frame = pd.concat(
        [points("f", hour_minus(range(10, 21))), points("f", [20, 20], value=edge_values)],
        ignore_index=True,
    )
    found = find_gaps(frame, start=WINDOW[0], end=WINDOW[1])
    check(found, gaps(("f", "00:09", expected_end, missing, False)))


def test_reversed_and_shuffled_rows_give_the_same_gaps() -> None:
    frame = pd.concat(
        [points("a", hour_minus(range(10, 20))), points("b", hour_minus(range(40, 50)))],
        ignore_index=True,
    )
    expected = gaps(("a", "00:09", "00:20", 10, False), ("b", "00:39", "00:50", 10, False))
    check(find_gaps(frame.iloc[::-1], start=WINDOW[0], end=WINDOW[1]), expected)
    shuffled = frame.sample(frac=1.0, random_state=3)
    check(find_gaps(shuffled, start=WINDOW[0], end=WINDOW[1]), expected)


# ------------------------------------------------------------------------------------ cadence


def test_irregular_cadence_uses_the_median_spacing() -> None:
    steps_s = [50, 70, 60, 55, 65, 60, 200, 60, 58]  # median 60 s
    seconds = np.concatenate([[0], np.cumsum(steps_s)])
    frame = points("f", seconds / 60)
    found = find_gaps(frame)
    start, end = T0 + pd.Timedelta(seconds=360), T0 + pd.Timedelta(seconds=560)
    assert list(zip(found["gap_start"], found["gap_end"], strict=True)) == [(start, end)]
    assert found["missing_points"].tolist() == [2]  # round(200 / 60) - 1


def test_median_ignores_duplicates() -> None:
    frame = points("f", [0, 0, 1, 1, 2, 2, 3, 3, 6, 6, 7, 7])
    check(find_gaps(frame), gaps(("f", "00:03", "00:06", 2, False)))


@pytest.mark.parametrize(
    ("points_at", "configured_s", "override", "expected"),
    [
        (
            [0, 4, 8, 12],
            240.0,
            pd.Timedelta(minutes=2),
            [("f", f"00:{m:02d}", f"00:{m + 4:02d}", 1, False) for m in (0, 4, 8)],
        ),
        ([0, 1, 2, 3, 6], 60.0, pd.Timedelta(minutes=5), []),
        (
            [0, 1, 2, 3],
            60.0,
            pd.Timedelta(seconds=30),
            [("f", f"00:{m:02d}", f"00:{m + 1:02d}", 1, False) for m in range(3)],
        ),
    ],
    ids=["finer_than_data", "coarser_than_hole", "half_the_spacing"],
)
def test_interval_override_replaces_inferred_and_configured(
    points_at: list[float], configured_s: float, override: pd.Timedelta, expected: list[Row]
) -> None:
    frame = points("f", points_at)
    check(find_gaps(frame, interval=override), gaps(*expected))
    found = find_gaps(frame, rules(f={"interval_s": configured_s}), interval=override)
    check(found, gaps(*expected))


def test_unknown_interval_gives_no_gaps() -> None:
    one_point = points("f", [30])
    same_time = points("g", [30, 30])
    frame = pd.concat([one_point, same_time], ignore_index=True)
    check(find_gaps(frame, start=WINDOW[0], end=WINDOW[1]), gaps())
    # a configured interval makes the same tag analysable
    found = find_gaps(frame, rules(f={"interval_s": 60.0}), start=WINDOW[0], end=WINDOW[1])
    check(found, gaps(("f", "00:00", "00:30", 30, False), ("f", "00:30", "01:00", 29, True)))


# ------------------------------------------------------------------------------- several tags


def test_several_tags_with_different_intervals() -> None:
    frame = pd.concat(
        [
            points("flow", hour_minus(range(31, 40))),  # 1 min, inferred
            points("ch4", [0, 15, 60]),  # 15 min, configured
            points("zeta", range(0, 120, 10), value=np.nan),  # 10 min, no usable point
            points("h2s", [0, 5, 10, 15, 35, 40]),  # 5 min, inferred
        ],
        ignore_index=True,
    )
    rule = rules(
        ch4={"interval_s": 900.0},
        zeta={"interval_s": 600.0},
        ghost={"interval_s": 300.0},  # only in the rules
        spare={"interval_s": np.nan},  # only in the rules, no interval: nothing to say
    )
    found = find_gaps(frame, rule, start=at("00:00"), end=at("02:00"))
    expected = gaps(
        ("ch4", "00:15", "01:00", 2, False),
        ("ch4", "01:00", "02:00", 3, True),
        ("flow", "00:30", "00:40", 9, False),
        ("flow", "00:59", "02:00", 60, True),
        ("ghost", "00:00", "02:00", 24, True),
        ("h2s", "00:15", "00:35", 3, False),
        ("h2s", "00:40", "02:00", 15, True),
        ("zeta", "00:00", "02:00", 12, True),
    )
    check(found, expected)


@pytest.mark.parametrize(
    ("window", "interval", "expected"),
    [
        ((at("00:00"), at("01:00")), None, [("ghost", "00:00", "01:00", 6, True)]),
        (
            (at("00:00"), at("01:00")),
            pd.Timedelta(minutes=15),
            [("ghost", "00:00", "01:00", 4, True)],
        ),
        ((None, None), None, []),
        ((at("00:00"), None), None, []),
    ],
    ids=["window", "override", "no_window", "no_end"],
)
def test_a_rules_only_tag(
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    interval: pd.Timedelta | None,
    expected: list[Row],
) -> None:
    found = find_gaps(
        points("x", []),
        rules(ghost={"interval_s": 600.0}),
        interval=interval,
        start=window[0],
        end=window[1],
    )
    check(found, gaps(*expected))


def test_rules_only_tags_sort_among_tags_with_points() -> None:
    frame = pd.concat([points("a", [*range(30)]), points("c", [*range(30)])], ignore_index=True)
    rule = rules(b={"interval_s": 60.0}, a={"interval_s": 60.0})
    found = find_gaps(frame, rule, start=at("00:00"), end=at("00:30"))
    check(found, gaps(("b", "00:00", "00:30", 30, True)))
    found = find_gaps(frame, rule, start=at("00:00"), end=at("01:00"))
    assert found["tag"].tolist() == ["a", "b", "c"]


# --------------------------------------------------------------------------------------- DST


def local_day(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz=LA)
    return start, (start.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(LA)


@pytest.mark.parametrize("step", ["1min", "15min"])
@pytest.mark.parametrize(("day", "hours"), [("2025-03-09", 23), ("2025-11-02", 25)])
def test_a_dst_day_sampled_in_utc_has_no_gap(step: str, day: str, hours: int) -> None:
    start, end = local_day(day)
    stamps = pd.date_range(
        start.tz_convert("UTC"), end.tz_convert("UTC"), freq=step, inclusive="left", unit="us"
    )
    assert len(stamps) == hours * pd.Timedelta(hours=1) / pd.Timedelta(step)
    frame = pd.DataFrame({"tag": "f", "ts": stamps, "value": 1.0})
    check(find_gaps(frame, start=start, end=end), gaps())


@pytest.mark.parametrize("step", ["1min", "15min"])
@pytest.mark.parametrize("day", ["2025-03-09", "2025-11-02"])
def test_a_local_naive_export_converted_properly_has_no_gap(step: str, day: str) -> None:
    start, end = local_day(day)
    utc = pd.date_range(
        start.tz_convert("UTC"), end.tz_convert("UTC"), freq=step, inclusive="left", unit="us"
    )
    naive = utc.tz_convert(LA).tz_localize(None)  # what a historian in local time writes
    converted = naive.tz_localize(LA, ambiguous="infer", nonexistent="raise").tz_convert("UTC")
    frame = pd.DataFrame({"tag": "f", "ts": converted, "value": 1.0})
    check(find_gaps(frame, start=start, end=end), gaps())


@pytest.mark.parametrize(("step", "missing"), [("1min", 60), ("15min", 4)])
def test_a_local_naive_export_read_as_utc_invents_the_spring_gap(step: str, missing: int) -> None:
    # The control for the test above: the mistake it guards against is visible to find_gaps.
    start, end = local_day("2025-03-09")
    utc = pd.date_range(
        start.tz_convert("UTC"), end.tz_convert("UTC"), freq=step, inclusive="left", unit="us"
    )
    wrong = utc.tz_convert(LA).tz_localize(None).tz_localize("UTC")
    found = find_gaps(pd.DataFrame({"tag": "f", "ts": wrong, "value": 1.0}))
    last = pd.Timestamp("2025-03-09T02:00Z") - pd.Timedelta(step)
    check(found, gaps(("f", last, pd.Timestamp("2025-03-09T03:00Z"), missing, False)))


# ------------------------------------------------------------------------------- bad arguments


def test_naive_window_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_gaps(points("f", range(5)), start=pd.Timestamp("2025-01-01 00:00"))


def test_a_window_that_ends_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="before its start"):
        find_gaps(points("f", range(5)), start=at("01:00"), end=at("00:00"))


def test_find_gaps_in_works_on_a_prepared_series() -> None:
    series = prepare(points("f", hour_minus(range(10, 20))))
    start_us = int(WINDOW[0].value // 1000)
    found = find_gaps_in(series, start_us=start_us, end_us=start_us + 60 * US_PER_MIN)
    check(found, gaps(("f", "00:09", "00:20", 10, False)))


# ------------------------------------------------------------------------------ properties


def half_up(num: int, den: int) -> int:
    return floor(Fraction(num, den) + Fraction(1, 2))


def reference_gaps(
    frame: pd.DataFrame,
    rule: pd.DataFrame | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> pd.DataFrame:
    """The gap rules (docs/gaps-and-quality.md), one tag and one step at a time (usability and
    interval from prepare)."""
    series = prepare(frame, rule)
    s = None if start is None else int(start.value // 1000)
    e = None if end is None else int(end.value // 1000)
    rows: list[tuple[str, int, int, int, bool]] = []
    tags = {str(t): int(series.interval_us[i]) for i, t in enumerate(series.tags)}
    if rule is not None:
        for tag, iv_s in rule["interval_s"].items():
            if str(tag) not in tags and np.isfinite(iv_s):
                tags[str(tag)] = round(iv_s * 1_000_000)
    for tag, iv in sorted(tags.items()):
        if iv <= 0:
            continue
        t: list[int] = []
        if tag in list(series.tags):
            i = list(series.tags).index(tag)
            lo, hi = series.bounds[i], series.bounds[i + 1]
            t = sorted(
                int(x)
                for x, ok in zip(series.ts[lo:hi], series.usable[lo:hi], strict=True)
                if ok and (s is None or x >= s) and (e is None or x < e)
            )
        if not t:
            if s is not None and e is not None and 2 * (e - s) > iv:
                rows.append((tag, s, e, half_up(e - s, iv), True))
            continue
        if s is not None and 2 * (t[0] - s) > iv:
            rows.append((tag, s, t[0], half_up(t[0] - s, iv), False))
        for a, b in pairwise(t):
            if 2 * (b - a) > 3 * iv:
                rows.append((tag, a, b, half_up(b - a, iv) - 1, False))
        if e is not None and 2 * (e - t[-1]) > 3 * iv:
            rows.append((tag, t[-1], e, half_up(e - t[-1], iv) - 1, True))
    gs = np.asarray([r[1] for r in rows], dtype=np.int64)
    ge = np.asarray([r[2] for r in rows], dtype=np.int64)
    return pd.DataFrame(
        {
            "tag": pd.Series([r[0] for r in rows], dtype=object),
            "gap_start": pd.to_datetime(gs, unit="us", utc=True).as_unit("us"),
            "gap_end": pd.to_datetime(ge, unit="us", utc=True).as_unit("us"),
            "duration_minutes": (ge - gs) / US_PER_MIN,
            "missing_points": np.asarray([r[3] for r in rows], dtype=np.int64),
            "open": np.asarray([r[4] for r in rows], dtype=bool),
        }
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any]:
    """Up to three tags on 1/5/15-minute cadences with holes, duplicates, jitter and bad points,
    a rules frame (configured intervals and a max limit, a rules-only tag) and a window."""
    frames = []
    rule_rows: dict[str, dict[str, float]] = {}
    for i in range(draw(st.integers(1, 3))):
        tag = f"tag{i}"
        step_s = draw(st.sampled_from([60, 300, 900]))
        slots = draw(st.lists(st.integers(0, 48), max_size=40))
        jitter = draw(
            st.lists(
                st.sampled_from([0, 0, 0, 7, -11, 29]), min_size=len(slots), max_size=len(slots)
            )
        )
        values = draw(
            st.lists(
                st.sampled_from([1.0, 2.0, 3.0, 4.0, np.nan, -9999.0, 5000.0]),
                min_size=len(slots),
                max_size=len(slots),
            )
        )
        quality = draw(
            st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=len(slots), max_size=len(slots))
        )
        seconds = np.asarray(slots, dtype=np.int64) * step_s + np.asarray(jitter, dtype=np.int64)
        frames.append(points_frame(tag, T0, seconds, values, quality))
        configured = draw(st.booleans())
        rule_rows[tag] = {
            "interval_s": float(step_s) if configured else np.nan,
            "max_value": 1000.0,
        }
    if draw(st.booleans()):
        rule_rows["ghost"] = {"interval_s": 600.0, "max_value": np.nan}
    frame = pd.concat(frames, ignore_index=True)
    start = end = None
    kind = draw(st.sampled_from(["both", "both", "start", "end", "none"]))
    a = T0 + pd.Timedelta(seconds=draw(st.integers(-3600, 6 * 3600)))
    b = a + pd.Timedelta(seconds=draw(st.integers(0, 14 * 3600)))
    if kind in ("both", "start"):
        start = a
    if kind in ("both", "end"):
        end = b
    return frame, rules(**rule_rows), start, end


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_matches_the_step_by_step_reference(scenario: Any) -> None:
    frame, rule, start, end = scenario
    check(find_gaps(frame, rule, start=start, end=end), reference_gaps(frame, rule, start, end))


@PROPERTY_SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_row_order_does_not_matter(scenario: Any, rnd: Any) -> None:
    frame, rule, start, end = scenario
    rows = list(range(len(frame)))
    rnd.shuffle(rows)
    shuffled = frame.iloc[rows].reset_index(drop=True)
    check(
        find_gaps(shuffled, rule, start=start, end=end),
        find_gaps(frame, rule, start=start, end=end),
    )


def usable_in_window(series: Any, code: int, s: int | None, e: int | None) -> np.ndarray:
    lo, hi = series.bounds[code], series.bounds[code + 1]
    t = series.ts[lo:hi][series.usable[lo:hi]]
    inside = np.ones(len(t), dtype=bool)
    if s is not None:
        inside &= t >= s
    if e is not None:
        inside &= t < e
    return t[inside]


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_gap_durations_plus_covered_time_is_the_window(scenario: Any) -> None:
    frame, rule, start, end = scenario
    if start is None or end is None:
        start, end = T0 - pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=14)
    found = find_gaps(frame, rule, start=start, end=end)
    series = prepare(frame, rule)
    s, e = int(start.value // 1000), int(end.value // 1000)
    for code, tag in enumerate(series.tags):
        iv = int(series.interval_us[code])
        if iv <= 0:
            assert tag not in set(found["tag"])
            continue
        # Covered time: the steps of start, usable points..., end that are not gap steps.
        # The first step (from the window start) is a gap step when longer than 0.5 x interval,
        # every later one (to a point or to the window end) when longer than 1.5 x interval.
        marks = [s, *usable_in_window(series, code, s, e).tolist(), e]
        covered = 0
        for i, (a, b) in enumerate(pairwise(marks)):
            limit = iv / 2 if i == 0 else 1.5 * iv
            if b - a <= limit:
                covered += b - a
        mine = found[found["tag"] == tag]
        gap_us = int(((mine["gap_end"] - mine["gap_start"]) / pd.Timedelta(microseconds=1)).sum())
        assert gap_us + covered == e - s
        assert np.allclose(mine["duration_minutes"].sum() * US_PER_MIN, gap_us)


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_gaps_are_sorted_disjoint_long_and_empty(scenario: Any) -> None:
    frame, rule, start, end = scenario
    found = find_gaps(frame, rule, start=start, end=end)
    series = prepare(frame, rule)
    s = None if start is None else int(start.value // 1000)
    e = None if end is None else int(end.value // 1000)
    assert list(found["tag"]) == sorted(found["tag"])
    assert (found["missing_points"] >= 1).all()
    assert (found["gap_end"] > found["gap_start"]).all()
    for tag, mine in found.groupby("tag", sort=False):
        assert mine["gap_start"].is_monotonic_increasing
        assert (mine["gap_end"].iloc[:-1].to_numpy() <= mine["gap_start"].iloc[1:].to_numpy()).all()
        if tag not in set(series.tags):
            continue  # a rules-only tag: its single gap is checked by the reference property
        code = list(series.tags).index(tag)
        iv = int(series.interval_us[code])
        inside = usable_in_window(series, code, s, e)
        for row in mine.itertuples():
            a, b = row.gap_start.value // 1000, row.gap_end.value // 1000
            # A gap at the window start is measured from the virtual point start - interval.
            virtual = a == s and a not in set(inside.tolist())
            assert b - a + (iv if virtual else 0) > 1.5 * iv
            assert not ((inside > a) & (inside < b)).any()


# ------------------------------------------------------------------------- keeping stored gaps


def stored(*rows: tuple[str, str, int, bool, float | None]) -> pd.DataFrame:
    """Stored gaps from (start, end, missing_points, open, duration or None: from the times)."""
    start = pd.DatetimeIndex([at(r[0]) for r in rows], dtype="datetime64[us, UTC]")
    end = pd.DatetimeIndex([at(r[1]) for r in rows], dtype="datetime64[us, UTC]")
    computed = np.asarray((end - start) / pd.Timedelta(minutes=1), dtype=float)
    return pd.DataFrame(
        {
            "gap_start": start,
            "gap_end": end,
            "duration_minutes": [
                c if r[4] is None else r[4] for r, c in zip(rows, computed, strict=True)
            ],
            "missing_points": np.asarray([r[2] for r in rows], dtype=np.int64),
            "open": np.asarray([r[3] for r in rows], dtype=bool),
        },
        columns=list(STORED_GAP_COLUMNS),
    )


def test_diff_sorts_computed_gaps_into_new_changed_and_kept_and_finds_the_filled_ones() -> None:
    computed = gaps(
        ("flow", "01:00", "02:00", 59, False),  # stored the same: kept
        ("flow", "03:00", "05:00", 119, True),  # stored shorter and open: grew
        ("flow", "07:00", "07:30", 29, False),  # new
    )
    before = stored(
        ("09:00", "10:00", 59, False, None),  # late data filled it: resolved
        ("03:00", "04:00", 59, True, None),
        ("01:00", "02:00", 59, False, None),
        ("08:00", "08:10", 9, False, None),  # resolved too, after the first in stored order
    )
    diff = diff_gaps(before, computed, alert_minutes=90)
    assert list(diff.gaps["action"]) == ["keep", "update", "insert"]
    assert list(diff.gaps["alert"]) == [False, True, False]
    assert list(diff.resolved["gap_start"]) == [at("09:00"), at("08:00")]
    assert diff.counts == {"detected": 1, "resolved": 2, "updated": 1}
    assert_frame_equal(
        diff.gaps[list(STORED_GAP_COLUMNS)],
        computed.drop(columns="tag")[list(STORED_GAP_COLUMNS)],
    )


@pytest.mark.parametrize(
    ("stored_row", "action"),
    [
        (("03:00", "04:00", 59, True, None), "keep"),
        (("03:00", "04:05", 64, True, None), "update"),  # the end moved
        (("03:00", "04:00", 59, False, None), "update"),  # it closed
        (("03:00", "04:00", 58, True, None), "update"),  # the interval changed
        (("03:01", "04:00", 58, True, None), "insert"),  # another start: another gap
    ],
)
def test_diff_identifies_a_gap_by_its_start_and_compares_end_open_and_missing(
    stored_row: tuple[str, str, int, bool, float | None], action: str
) -> None:
    diff = diff_gaps(stored(stored_row), gaps(("t", "03:00", "04:00", 59, True)), alert_minutes=1e9)
    assert list(diff.gaps["action"]) == [action]
    assert len(diff.resolved) == (1 if action == "insert" else 0)


def test_a_kept_gap_keeps_its_stored_duration_and_alerts_at_the_threshold_inclusive() -> None:
    before = stored(("03:00", "04:00", 59, True, 60.000001))
    diff = diff_gaps(before, gaps(("t", "03:00", "04:00", 59, True)), alert_minutes=60.000001)
    assert diff.gaps["duration_minutes"].tolist() == [60.000001]
    assert diff.gaps["alert"].tolist() == [True]
    diff = diff_gaps(stored(), gaps(("t", "03:00", "04:00", 59, True)), alert_minutes=60.5)
    assert (diff.gaps["action"].tolist(), diff.gaps["alert"].tolist()) == (["insert"], [False])


def test_diff_against_its_own_result_changes_nothing() -> None:
    computed = gaps(("t", "01:00", "02:00", 59, False), ("t", "03:00", "05:00", 119, True))
    first = diff_gaps(stored(), computed, alert_minutes=100)
    assert first.counts == {"detected": 2, "resolved": 0, "updated": 0}
    again = diff_gaps(first.gaps[list(STORED_GAP_COLUMNS)], computed, alert_minutes=100)
    assert again.counts == {"detected": 0, "resolved": 0, "updated": 0}
    assert list(again.gaps["alert"]) == [False, True]
    nothing = diff_gaps(first.gaps[list(STORED_GAP_COLUMNS)], gaps(), alert_minutes=100)
    assert nothing.counts == {"detected": 0, "resolved": 2, "updated": 0}


# ---------------------------------------------------------------------------------- stale tags

NOW = at("12:00")


def latest(*rows: tuple[int, pd.Timestamp | None, float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tag": np.asarray([r[0] for r in rows], dtype=np.int64),
            "last_ts": pd.DatetimeIndex([r[1] for r in rows], dtype="datetime64[us, UTC]"),
            "interval_s": np.asarray([np.nan if r[2] is None else r[2] for r in rows], float),
        }
    )


@pytest.mark.parametrize(
    ("elapsed", "interval_s", "missing"),
    [
        (pd.Timedelta(minutes=90), 60.0, 89),
        (pd.Timedelta(seconds=90, microseconds=1), 60.0, 1),  # just over 1.5 intervals: 2
        (pd.Timedelta(seconds=150), 60.0, 1),  # 2.5 intervals: round half to even, 2
        (pd.Timedelta(seconds=210), 60.0, 3),  # 3.5 intervals: 4
        (pd.Timedelta(hours=3, microseconds=7), 600.0, 17),
    ],
)
def test_a_stale_tag_gets_one_open_gap_from_its_last_point_to_now(
    elapsed: pd.Timedelta, interval_s: float, missing: int
) -> None:
    found = find_stale_gaps(latest((7, NOW - elapsed, interval_s)), now=NOW)
    assert tuple(found.columns) == GAP_COLUMNS
    assert found.to_dict("records") == [
        {
            "tag": 7,
            "gap_start": NOW - elapsed,
            "gap_end": NOW,
            "duration_minutes": elapsed.total_seconds() / 60,
            "missing_points": missing,
            "open": True,
        }
    ]
    assert str(found["gap_start"].dtype) == str(found["gap_end"].dtype) == "datetime64[us, UTC]"


def test_fresh_tags_and_tags_without_a_point_or_an_interval_are_not_stale() -> None:
    found = find_stale_gaps(
        latest(
            (1, NOW - pd.Timedelta(seconds=90), 60.0),  # exactly 1.5 intervals: not yet
            (2, None, 60.0),  # no usable point
            (3, NOW - pd.Timedelta(hours=5), None),  # interval unknown
            (4, NOW - pd.Timedelta(hours=5), 0.0),
            (5, NOW - pd.Timedelta(hours=5), 60.0),  # the only stale one
        ),
        now=NOW,
    )
    assert found["tag"].tolist() == [5]
    assert find_stale_gaps(latest(), now=NOW).empty


@PROPERTY_SETTINGS
@given(
    elapsed_us=st.integers(min_value=0, max_value=10**13),
    interval_s=st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
)
def test_property_stale_gaps_measure_time_as_python_datetimes_do(
    elapsed_us: int, interval_s: float
) -> None:
    """Seconds as ``timedelta.total_seconds`` gives them and Python's ``round``, exactly."""
    last = NOW - pd.Timedelta(microseconds=elapsed_us)
    found = find_stale_gaps(latest((1, last, interval_s)), now=NOW)
    seconds = (NOW.to_pydatetime() - last.to_pydatetime()).total_seconds()
    if seconds <= 1.5 * interval_s:
        assert found.empty
        return
    [row] = found.to_dict("records")
    assert row["duration_minutes"] == seconds / 60
    assert row["missing_points"] == max(0, round(seconds / interval_s) - 1)


def test_trailing_window_runs_from_the_first_usable_point_to_now_or_past_the_latest() -> None:
    frame = points("flow", [0, 1, 2, 30], quality=[2, 0, 0, 0])  # the first is bad
    assert trailing_window(frame, now=at("05:00")) == (at("00:01"), at("05:00"))
    ahead = trailing_window(frame, now=at("00:10"))  # a clock ahead of ours: past its point
    assert ahead == (at("00:01"), at("00:30") + pd.Timedelta(microseconds=1))
    assert trailing_window(points("flow", [0, 1], quality=2), now=at("05:00")) is None
