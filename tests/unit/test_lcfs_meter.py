"""Meter tags to fuel quantities: gap-aware trapezoids with substitution, totalizers."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pandas as pd
import pytest

from pipelines.gaps import find_gaps
from pipelines.lcfs import TagMapping, meter_quantities, prepare_points
from pipelines.lcfs.errors import InvalidMappingError
from pipelines.lcfs.meter import check_mappings, points_digest
from tests.factories import GAP_DTYPES

T0 = pd.Timestamp("2025-07-01T00:00:00Z")
HOUR_US = 3_600_000_000
EDGES = [int(T0.value // 1000) + k * 12 * HOUR_US for k in range(3)]  # two 12-hour periods


def frame(tag: str, minutes: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    ts = T0 + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame({"tag": tag, "ts": pd.DatetimeIndex(ts).as_unit("us"), "value": values})


def rate(tag: str = "FIT-101", **kw: object) -> TagMapping:
    kw.setdefault("rate_per", "h")
    return TagMapping(tag, "FPC-RNG", "rng", 20.0, "scf", kind="rate", **kw)  # type: ignore[arg-type]


def run(points: pd.DataFrame, mappings: list[TagMapping], **kw: object):  # type: ignore[no-untyped-def]
    series = prepare_points(points, mappings)
    return meter_quantities(series, mappings, EDGES, **kw)  # type: ignore[arg-type]


def per_period(result, column: str) -> list[float]:  # type: ignore[no-untyped-def]
    return result.monthly.sort_values("month")[column].tolist()


def test_constant_rate_integrates_exactly() -> None:
    minutes = np.arange(0, 24 * 60 + 1)  # 00:00 .. 24:00 inclusive: the whole window
    result = run(frame("FIT-101", minutes, np.full(len(minutes), 60.0)), [rate()])
    assert per_period(result, "measured") == pytest.approx([720.0, 720.0])  # 60 scf/h x 12 h
    assert per_period(result, "substituted") == [0.0, 0.0]
    assert result.has_data


def test_linear_rate_with_a_gap_filled_by_substitution_matches_the_integral() -> None:
    # r(t) = 10 + 5 t (t in hours); integral over [0, 24] = 10*24 + 2.5*24^2 = 1680.
    minutes = np.arange(0, 24 * 60 + 1)
    values = 10 + 5 * minutes / 60
    keep = (minutes < 300) | (minutes > 420)  # gap from 04:59 (last reading) to 07:01
    result = run(frame("FIT-101", minutes[keep], values[keep]), [rate()])
    total = sum(per_period(result, "measured")) + sum(per_period(result, "substituted"))
    # Before/after mean over a linear rate is exact: the gap's trapezoids sum to
    # (gap length) x (r(04:59) + r(07:01)) / 2 = 122/60 h x (10 + 5 x 360/60) = 81.333 scf.
    expected_gap = 122 / 60 * (10 + 5 * 6)
    assert total == pytest.approx(1680.0, rel=1e-12)
    assert sum(per_period(result, "substituted")) == pytest.approx(expected_gap, rel=1e-12)
    (gap,) = result.gaps.itertuples()
    assert (gap.method, gap.substituted_points, gap.missing_points) == ("BAM", 121, 121)
    assert gap.substituted_quantity == pytest.approx(expected_gap, rel=1e-12)
    row = result.completeness.iloc[0]
    assert row["completeness_pct"] == pytest.approx(100 * (1440 - 122) / 1440)


def test_split_at_period_edges_is_exact_for_off_grid_steps() -> None:
    minutes = np.arange(0, 24 * 60 + 7, 7)  # 7-minute steps straddle the 12:00 edge
    values = 10 + 5 * minutes / 60
    result = run(frame("FIT-101", minutes, values), [rate()])
    last = minutes[-1] / 60
    first_half = 10 * 12 + 2.5 * 12**2  # integral of r over [0, 12]
    second_half = 10 * (24 - 12) + 2.5 * (24**2 - 12**2)  # [12, 24]; points past 24:00 clipped
    assert last > 24
    assert per_period(result, "measured") == pytest.approx([first_half, second_half], rel=1e-12)


def test_unfilled_gap_is_left_out_and_reported() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    points = frame("FIT-101", minutes, np.full(len(minutes), 60.0))
    gaps = find_gaps(points.iloc[:0].assign(tag=pd.Series([], dtype=object)))
    other = rate("FIT-102")
    result = run(points, [rate(), other], gaps=gaps)
    silent = result.gaps[result.gaps["tag"] == "FIT-102"].iloc[0]
    assert silent["method"] == "NONE" and silent["duration_minutes"] == 24 * 60
    comp = result.completeness.set_index("tag")
    assert comp.loc["FIT-102", "completeness_pct"] == 0.0
    assert comp.loc["FIT-101", "completeness_pct"] == 100.0


def test_a_tag_that_stopped_reporting_is_not_filled_to_the_end() -> None:
    """Data for the first 6 hours only: the open trailing gap claims no fuel."""
    minutes = np.arange(0, 6 * 60 + 1)
    result = run(frame("FIT-101", minutes, np.full(len(minutes), 60.0)), [rate()])
    assert per_period(result, "measured") == pytest.approx([360.0, 0.0])  # 60 scf/h x 6 h
    assert per_period(result, "substituted") == [0.0, 0.0]
    (gap,) = result.gaps.itertuples()
    assert (gap.method, gap.substituted_quantity) == ("NONE", 0.0)


def totalizer(**kw: object) -> TagMapping:
    return TagMapping("FQ-201", "FPC-EV", "electricity", 80.0, "kWh", kind="totalizer", **kw)  # type: ignore[arg-type]


def test_totalizer_rollover() -> None:
    points = frame(
        "FQ-201", np.array([60, 120, 180, 240, 300]), np.array([900.0, 950.0, 990.0, 20.0, 60.0])
    )
    result = run(points, [totalizer(rollover_at=1000.0)])
    assert sum(per_period(result, "measured")) == pytest.approx(50 + 40 + 30 + 40)
    (event,) = result.events.itertuples()
    assert (event.kind, event.increment) == ("rollover", 30.0)


def test_totalizer_reset() -> None:
    points = frame("FQ-201", np.array([60, 120, 180, 240]), np.array([900.0, 950.0, 5.0, 30.0]))
    for mapping in (totalizer(), totalizer(rollover_at=1e6)):  # wrapped 999,055 is implausible
        result = run(points, [mapping])
        assert sum(per_period(result, "measured")) == pytest.approx(50 + 5 + 25)
        assert result.events["kind"].tolist() == ["reset"]


def test_totalizer_difference_spans_a_gap_and_splits_by_time() -> None:
    # 11:00 -> 13:00 with no reading between: 120 kWh, half before the 12:00 edge.
    points = frame("FQ-201", np.array([600, 660, 780, 840]), np.array([0.0, 60.0, 180.0, 240.0]))
    result = run(points, [totalizer()])
    assert per_period(result, "measured") == pytest.approx([60 + 60, 60 + 60])
    # The counter bridges 11:00-13:00; before 10:00 and after 14:00 it has no reading, so what
    # it counted there is in no difference: those gaps are not filled.
    assert result.gaps["method"].tolist() == ["NONE", "CTR", "NONE"]


def test_other_substitution_methods_keep_their_code() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    values = np.where(minutes % 2 == 0, 50.0, 70.0)
    keep = (minutes < 600) | (minutes > 660)
    result = run(frame("FIT-101", minutes[keep], values[keep]), [rate()], method="maximum")
    (gap,) = result.gaps.itertuples()
    assert gap.method == "MAX"
    assert gap.substituted_quantity == pytest.approx(70.0 * (661 - 599) / 60, rel=1e-3)


def test_mapping_errors() -> None:
    with pytest.raises(InvalidMappingError, match="mapped twice"):
        run(frame("FIT-101", np.arange(3), np.ones(3)), [rate(), rate()])
    with pytest.raises(InvalidMappingError, match="rate_per"):
        run(frame("FIT-101", np.arange(3), np.ones(3)), [rate(rate_per="fortnight")])


# --- totalizers: window edges, several tags, roll-over boundaries, repeated timestamps --------


def counter(tag: str = "FQ-201", **kw: object) -> TagMapping:
    return TagMapping(tag, "FPC-EV", "electricity", 80.0, "kWh", kind="totalizer", **kw)  # type: ignore[arg-type]


def readings(tag: str, pairs: list[tuple[float, float]]) -> pd.DataFrame:
    minutes, values = zip(*pairs, strict=True)
    return frame(tag, np.array(minutes), np.array(values, dtype=float))


def test_a_counter_is_shared_in_time_at_the_window_and_period_edges() -> None:
    # 1 kWh a minute, read at times that straddle the window start (00:00), the 12:00 edge and
    # the window end (24:00): each 12-hour period gets exactly 720 kWh. Readings wholly before
    # or after the window count nothing.
    points = readings(
        "FQ-201",
        [
            (-120, 0),
            (-60, 60),
            (60, 180),
            (660, 780),
            (780, 900),
            (1380, 1500),
            (1500, 1620),
            (1560, 1680),
            (1620, 1740),
        ],
    )
    result = run(points, [counter()])
    assert per_period(result, "measured") == pytest.approx([720.0, 720.0], rel=1e-12)
    assert result.events.empty


def test_counters_of_several_tags_are_differenced_each_on_its_own() -> None:
    # FQ-202 starts reading before FQ-201 does and stops before FQ-203 starts (at 5,000 kWh):
    # no difference is ever taken across two tags.
    points = pd.concat(
        [
            readings("FQ-201", [(60, 0), (120, 10), (180, 20), (240, 30), (300, 40)]),
            readings("FQ-202", [(0, 0), (30, 30), (600, 600), (690, 690)]),
            readings("FQ-203", [(700, 5000), (900, 5200), (1000, 5300)]),
        ],
        ignore_index=True,
    )
    result = run(points, [counter("FQ-201"), counter("FQ-202"), counter("FQ-203")])
    got = result.monthly.pivot(index="tag", columns="month", values="measured")
    assert got.loc["FQ-201"].tolist() == pytest.approx([40.0, 0.0])
    assert got.loc["FQ-202"].tolist() == pytest.approx([690.0, 0.0])
    assert got.loc["FQ-203"].tolist() == pytest.approx([20.0, 280.0])  # 700->900 split at 12:00
    assert result.events.empty


def test_rollover_boundaries_and_a_counter_that_does_not_move() -> None:
    # Counter of 0..1000 kWh. A wrapped increment of at most half the range (500) is a
    # rollover; a larger one is a reset (increment = the reading after it).
    points = readings(
        "FQ-201",
        [
            (0, 990.0),
            (60, 990.0),  # no flow: nothing counted, no event
            (120, 990.5),  # +0.5: a fraction of a unit is an increase, not a drop
            (180, 999.75),
            (240, 0.25),  # wrapped 0.5: rollover
            (300, 900.0),
            (360, 400.0),  # wrapped exactly 500 = half the range: still a rollover
            (420, 1000.0),
            (480, 0.0),  # wrapped 0: a rollover of nothing
            (800, 500.0),  # 500 over 320 min, 240 of them before 12:00
            (860, 100.0),  # wrapped 600 > 500: a reset, 100 counted
        ],
    )
    result = run(points, [counter(rollover_at=1000.0)])
    before_noon = 0.5 + 9.25 + 0.5 + 899.75 + 500 + 600 + 0 + 500 * 240 / 320
    assert per_period(result, "measured") == pytest.approx(
        [before_noon, 500 * 80 / 320 + 100], rel=1e-12
    )
    assert list(result.events.columns) == ["tag", "ts", "kind", "before", "after", "increment"]
    events = [tuple(e) for e in result.events.itertuples(index=False)]
    at = [T0 + pd.Timedelta(minutes=m) for m in (240, 360, 480, 860)]
    assert events == [
        ("FQ-201", at[0], "rollover", 999.75, 0.25, 0.5),
        ("FQ-201", at[1], "rollover", 900.0, 400.0, 500.0),
        ("FQ-201", at[2], "rollover", 1000.0, 0.0, 0.0),
        ("FQ-201", at[3], "reset", 500.0, 100.0, 100.0),
    ]


def test_events_are_listed_by_reading_time_within_the_window() -> None:
    # A reset read exactly at the window start belongs to this window's events, one read exactly
    # at its end to the next window's (the window is [start, end), as for every point).
    points = readings("FQ-201", [(-60, 500.0), (0, 10.0), (1380, 20.0), (1440, 5.0)])
    result = run(points, [counter()])
    assert result.events["ts"].tolist() == [T0]
    assert result.events["kind"].tolist() == ["reset"]
    assert sum(per_period(result, "measured")) == pytest.approx(10.0 + 5.0)


@pytest.mark.parametrize(
    "pairs",
    [
        [(0, 50.0), (60, 100.0), (60, 105.0), (120, 150.0)],
        [(0, 50.0), (60, 105.0), (60, 100.0), (120, 150.0)],  # the second one lower
    ],
)
def test_two_readings_at_one_timestamp_lose_nothing_and_reset_nothing(
    pairs: list[tuple[float, float]],
) -> None:
    # Whichever of the two is right, the counter rose from 50 to 150 kWh: the last one stands
    # (as in ingest) and the differences add up to 100. The same for a second counter.
    points = pd.concat([readings("FQ-201", pairs), readings("FQ-202", pairs)], ignore_index=True)
    result = run(points, [counter("FQ-201", rollover_at=1e6), counter("FQ-202", rollover_at=1e6)])
    measured = result.monthly.groupby("tag")["measured"].sum()
    assert measured.tolist() == pytest.approx([100.0, 100.0])
    assert result.events.empty


def test_a_counter_bridges_gaps_that_start_or_end_at_its_first_or_last_reading() -> None:
    # An hourly counter read at 00:00, then from 03:00 to 20:00, then at 23:00 (its last
    # reading): 00:00-03:00 and 20:00-23:00 are gaps, each spanned by a difference.
    hours = np.r_[0, np.arange(3, 21), 23]
    result = run(
        readings("FQ-201", [(h * 60, 10.0 * h) for h in hours]), [counter(interval_s=3600.0)]
    )
    gaps = [(g.gap_start.hour, g.gap_end.hour, g.method) for g in result.gaps.itertuples()]
    assert gaps == [(0, 3, "CTR"), (20, 23, "CTR")]
    assert sum(per_period(result, "measured")) == pytest.approx(230.0)
    assert result.gaps["substituted_points"].dtype == np.int64
    assert result.gaps["substituted_quantity"].tolist() == [0.0, 0.0]


def test_a_silent_tag_misses_the_readings_its_interval_expects() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    points = frame("FIT-101", minutes, np.full(len(minutes), 60.0))
    mappings = [
        rate(),
        rate("FIT-102", interval_s=60.0),
        rate("FIT-103", interval_s=90.0),
        rate("FIT-104"),
    ]
    gaps = run(points, mappings).gaps.set_index("tag")
    assert gaps.loc["FIT-102", "missing_points"] == 24 * 60  # one a minute over the 24 h
    assert gaps.loc["FIT-103", "missing_points"] == 24 * 40
    assert gaps.loc["FIT-104", "missing_points"] == 0  # no interval given: none expected
    assert gaps.loc["FIT-104", "open"]


# --- substitution: every tag's gaps, the first reading, the lookback ---------------------------


def test_gaps_of_two_tags_are_each_filled_from_their_own_readings() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    linear = 10 + 5 * minutes / 60
    keep1 = (minutes < 300) | (minutes > 420)  # 04:59 .. 07:01, as above: 81.333 scf
    keep2 = (minutes < 600) | (minutes > 840)  # 09:59 .. 14:01 at 100 scf/h, across 12:00
    points = pd.concat(
        [
            frame("FIT-101", minutes[keep1], linear[keep1]),
            frame("FIT-102", minutes[keep2], np.full(keep2.sum(), 100.0)),
        ],
        ignore_index=True,
    )
    result = run(points, [rate("FIT-101"), rate("FIT-102")])
    subs = result.monthly.pivot(index="tag", columns="month", values="substituted")
    assert subs.loc["FIT-101"].tolist() == pytest.approx([122 / 60 * 40, 0.0], rel=1e-12)
    assert subs.loc["FIT-102"].tolist() == pytest.approx([100 * 121 / 60, 100 * 121 / 60])
    gaps = result.gaps.set_index("tag")
    assert gaps.loc["FIT-102", "method"] == "BAM"
    assert gaps.loc["FIT-102", "substituted_points"] == 241
    assert gaps.loc["FIT-102", "substituted_quantity"] == pytest.approx(100 * 242 / 60)


def test_a_gap_after_the_first_reading_is_filled_from_both_sides() -> None:
    # 20 scf/h at 00:00, nothing until 02:00, then 60 scf/h: the 119 one-minute slots take the
    # before/after mean 40, so the gap holds (30 + 118 x 40 + 50) / 60 = 80 scf.
    minutes = np.r_[0, np.arange(120, 24 * 60 + 1)]
    values = np.where(minutes == 0, 20.0, 60.0)
    result = run(frame("FIT-101", minutes, values), [rate()])
    (gap,) = result.gaps.itertuples()
    assert (gap.method, gap.substituted_points) == ("BAM", 119)
    assert gap.substituted_quantity == pytest.approx(80.0, rel=1e-12)
    assert sum(per_period(result, "measured")) == pytest.approx(60.0 * 22)


def test_lookback_methods_read_the_90_days_before_the_gap() -> None:
    # Hourly readings of 50 scf/h from 100 days before the window, with one hour at 200 scf/h
    # 60 days back and one at 300 scf/h 95 days back (outside the lookback). A gap from 10:00
    # to 14:00 filled with the maximum: 200 for the slots 11:00, 12:00, 13:00.
    hours = np.arange(-100 * 24, 24 + 1)
    hours = hours[(hours <= 10) | (hours >= 14)]
    values = np.full(len(hours), 50.0)
    values[hours == -60 * 24] = 200.0
    values[hours == -95 * 24] = 300.0
    result = run(frame("FIT-101", hours * 60, values), [rate()], method="maximum")
    (gap,) = result.gaps.itertuples()
    assert (gap.method, gap.substituted_points) == ("MAX", 3)
    assert gap.substituted_quantity == pytest.approx(125 + 200 + 200 + 125, rel=1e-12)
    assert per_period(result, "substituted") == pytest.approx([125 + 200, 200 + 125])


# --- rate tags: the window, the gap threshold, several tags, the gap table ---------------------


def test_rate_readings_outside_the_window_count_only_their_part_inside() -> None:
    # 60 scf/h read every 7 minutes from 01:03 before the window to 01:05 after it.
    minutes = np.arange(-63, 24 * 60 + 66, 7)
    result = run(frame("FIT-101", minutes, np.full(len(minutes), 60.0)), [rate()])
    assert per_period(result, "measured") == pytest.approx([720.0, 720.0], rel=1e-12)
    assert per_period(result, "substituted") == [0.0, 0.0]


def test_a_step_of_exactly_one_and_a_half_intervals_is_no_gap() -> None:
    # The gap rule: a step *longer* than 1.5 x the expected interval (60 s here) is a gap.
    seconds = np.arange(0, 24 * 3600 + 1, 90)
    points = frame("FIT-101", seconds / 60, np.full(len(seconds), 60.0))
    result = run(points, [rate(interval_s=60.0)])
    assert per_period(result, "measured") == pytest.approx([720.0, 720.0], rel=1e-12)
    assert result.gaps.empty


def test_a_tag_that_starts_as_another_stops_keeps_its_own_quantity() -> None:
    # FIT-101 reads 60 scf/h until 10:00, FIT-102 120 scf/h from 10:01: no step joins them.
    first = np.arange(0, 601)
    second = np.arange(601, 24 * 60 + 1)
    points = pd.concat(
        [
            frame("FIT-101", first, np.full(len(first), 60.0)),
            frame("FIT-102", second, np.full(len(second), 120.0)),
        ],
        ignore_index=True,
    )
    result = run(points, [rate("FIT-101"), rate("FIT-102")])
    measured = result.monthly.pivot(index="tag", columns="month", values="measured")
    assert measured.loc["FIT-101"].tolist() == pytest.approx([600.0, 0.0], rel=1e-12)
    assert measured.loc["FIT-102"].tolist() == pytest.approx([2 * 119, 2 * 720], rel=1e-12)


def test_a_substituted_step_across_a_period_edge_is_split_and_attributed_to_its_gap() -> None:
    # FIT-102 reads r(t) = 10 + 5 t scf/h (t in hours) every 7 minutes; the readings from 11:47
    # to 12:15 are missing, so the gap 11:40 .. 12:22 gets slots at 11:47, 11:54, 12:01, 12:08,
    # 12:15, all at m = (r(11:40) + r(12:22)) / 2, and the step 11:54 .. 12:01 straddles 12:00.
    minutes = np.arange(0, 24 * 60 + 1, 7)
    keep = (minutes <= 700) | (minutes >= 742)
    full = np.arange(0, 24 * 60 + 1)
    points = pd.concat(
        [
            frame("FIT-101", full, np.full(len(full), 60.0)),
            frame("FIT-102", minutes[keep], 10 + 5 * minutes[keep] / 60),
        ],
        ignore_index=True,
    )
    result = run(points, [rate("FIT-101"), rate("FIT-102")])
    r700, r742 = 10 + 5 * 700 / 60, 10 + 5 * 742 / 60
    m = (r700 + r742) / 2
    # Trapezoids in scf/h x minutes: 3.5 (r700 + m) + 7 m + 6 m before 12:00, the rest after.
    before, after = 3.5 * r700 + 16.5 * m, 18.5 * m + 3.5 * r742
    subs = result.monthly.pivot(index="tag", columns="month", values="substituted")
    assert subs.loc["FIT-102"].tolist() == pytest.approx([before / 60, after / 60], rel=1e-12)
    assert subs.loc["FIT-101"].tolist() == [0.0, 0.0]
    (gap,) = result.gaps[result.gaps["tag"] == "FIT-102"].itertuples()
    assert (gap.method, gap.substituted_points) == ("BAM", 5)
    assert gap.substituted_quantity == pytest.approx(42 * m / 60, rel=1e-14)


def test_one_missing_reading_is_one_substituted_point() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    keep = minutes != 300
    result = run(frame("FIT-101", minutes[keep], np.full(keep.sum(), 60.0)), [rate()])
    (gap,) = result.gaps.itertuples()
    assert (gap.method, gap.missing_points, gap.substituted_points) == ("BAM", 1, 1)
    assert gap.substituted_quantity == pytest.approx(2.0)  # 2 minutes at 60 scf/h
    assert per_period(result, "measured") == pytest.approx([718.0, 720.0])


def test_two_gaps_around_a_single_reading_are_attributed_apart() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    keep = ~(((minutes >= 300) & (minutes < 310)) | ((minutes > 310) & (minutes < 320)))
    result = run(frame("FIT-101", minutes[keep], np.full(keep.sum(), 60.0)), [rate()])
    rows = [(g.substituted_points, g.substituted_quantity) for g in result.gaps.itertuples()]
    assert rows == [(10, pytest.approx(11.0)), (9, pytest.approx(10.0))]  # 04:59-05:10, -05:20


def test_a_leading_gap_is_filled_from_the_first_reading() -> None:
    minutes = np.arange(120, 24 * 60 + 1)  # nothing before 02:00
    result = run(frame("FIT-101", minutes, np.full(len(minutes), 60.0)), [rate()])
    (gap,) = result.gaps.itertuples()
    assert (gap.gap_start, gap.open, gap.method) == (T0, False, "BAM")
    assert (gap.missing_points, gap.substituted_points) == (120, 120)  # slots 00:00 .. 01:59
    assert gap.substituted_quantity == pytest.approx(120.0)
    assert per_period(result, "measured") == pytest.approx([600.0, 720.0])


def test_gaps_given_for_a_wider_span_are_clipped_to_the_window() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    points = frame("FIT-101", minutes, np.full(len(minutes), 60.0))
    h = pd.Timedelta(hours=1)
    spans = [
        (T0 - 3 * h, T0),
        (T0 - 2 * h, T0 + h),
        (T0 + 23 * h, T0 + 26 * h),
        (T0 + 24 * h, T0 + 25 * h),
    ]
    given = pd.DataFrame(
        {
            "tag": pd.Series(["FIT-101"] * 4, dtype=object),
            "gap_start": pd.DatetimeIndex([a for a, _ in spans]).as_unit("us"),
            "gap_end": pd.DatetimeIndex([b for _, b in spans]).as_unit("us"),
            "duration_minutes": [(b - a) / pd.Timedelta(minutes=1) for a, b in spans],
            "missing_points": [0, 0, 0, 0],
            "open": [False] * 4,
        }
    )
    result = run(points, [rate()], gaps=given)
    # Only the two that reach into the window, clipped to it; its readings stay measured.
    assert [(g.gap_start, g.gap_end, g.duration_minutes) for g in result.gaps.itertuples()] == [
        (T0, T0 + h, 60.0),
        (T0 + 23 * h, T0 + 24 * h, 60.0),
    ]
    assert result.gaps["substituted_quantity"].tolist() == [0.0, 0.0]
    assert per_period(result, "measured") == pytest.approx([720.0, 720.0])
    assert result.completeness.iloc[0]["completeness_pct"] == pytest.approx(100 * 22 / 24)


def test_the_gap_table_lists_found_and_silent_tags_with_its_column_types() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    keep = (minutes < 300) | (minutes > 420)
    hours = np.r_[np.arange(0, 6), np.arange(8, 25)] * 60  # hourly, none at 06:00 and 07:00
    points = pd.concat(
        [
            frame("FIT-101", minutes[keep], np.full(keep.sum(), 60.0)),
            frame("FQ-201", hours, hours / 60),
        ],
        ignore_index=True,
    )
    mappings = [rate(), rate("FIT-102"), counter("FQ-201"), counter("FQ-202")]
    gaps = run(points, mappings).gaps
    assert gaps["tag"].tolist() == ["FIT-101", "FIT-102", "FQ-201", "FQ-202"]
    assert gaps["method"].tolist() == ["BAM", "NONE", "CTR", "NONE"]  # FQ-202 reads nothing
    assert gaps["open"].tolist() == [False, True, False, True]
    assert gaps["substituted_points"].tolist() == [121, 0, 0, 0]
    assert {c: str(t) for c, t in gaps.dtypes.items()} == {
        **GAP_DTYPES,
        "method": "object",
        "substituted_points": "int64",
        "substituted_quantity": "float64",
    }


def test_points_digest_follows_its_documented_layout() -> None:
    """SHA-256 over, per tag in name order: the name's length (uint32) and bytes, the number of
    points (uint64), then their µs timestamps (int64), values (float64, one NaN pattern) and
    quality (int8), all little-endian."""
    odd_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0BAD))[0]
    ts = T0 + pd.to_timedelta([0, 60, 30], unit="s")
    points = pd.DataFrame(
        {
            "tag": ["b-tag", "b-tag", "A"],
            "ts": pd.DatetimeIndex(ts).as_unit("us"),
            "value": [1.5, odd_nan, -2.0],
            "quality": [0, 2, 1],
        }
    )
    series = prepare_points(points, [])
    t0 = int(T0.value // 1000)
    expected = hashlib.sha256()
    for name, rows in (
        ("A", [(t0 + 30_000_000, -2.0, 1)]),
        ("b-tag", [(t0, 1.5, 0), (t0 + 60_000_000, float("nan"), 2)]),
    ):
        expected.update(struct.pack("<I", len(name)) + name.encode() + struct.pack("<Q", len(rows)))
        expected.update(b"".join(struct.pack("<q", t) for t, _, _ in rows))
        expected.update(b"".join(struct.pack("<d", v) for _, v, _ in rows))
        expected.update(b"".join(struct.pack("<b", q) for _, _, q in rows))
    assert points_digest(series) == expected.hexdigest()
    renamed = prepare_points(points.assign(tag=points["tag"].replace({"A": "C"})), [])
    assert points_digest(renamed) != points_digest(series)


# --- mappings and inputs: exact refusals, empty inputs, typed empty frames ---------------------


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            TagMapping("FIT-101", "F", "rng", 20.0, "scf", kind="counter"),  # type: ignore[arg-type]
            "tag 'FIT-101': kind must be rate or totalizer",
        ),
        (rate(rate_per="week"), "tag 'FIT-101': rate_per 'week' is not one of s, min, h, d"),
        (counter(rollover_at=0.0), "tag 'FQ-201': rollover_at must be positive"),
        (counter(rollover_at=-1e6), "tag 'FQ-201': rollover_at must be positive"),
        (rate(interval_s=0.0), "tag 'FIT-101': interval_s must be positive"),
        (rate(interval_s=-60.0), "tag 'FIT-101': interval_s must be positive"),
    ],
)
def test_mapping_refusals_are_exact(mapping: TagMapping, message: str) -> None:
    with pytest.raises(InvalidMappingError) as info:
        run(frame("FIT-101", np.arange(3), np.ones(3)), [mapping])
    assert str(info.value) == message


def test_fractional_rollover_and_interval_are_accepted() -> None:
    check_mappings([rate(interval_s=0.5), counter(rollover_at=0.5)])  # raises nothing


def test_the_mapped_interval_sets_the_gap_rule() -> None:
    # Readings every minute but none from 05:01 to 05:09: with the default (the median spacing,
    # 60 s) that is a gap and is substituted; with interval_s = 600 it is an ordinary step.
    minutes = np.arange(0, 24 * 60 + 1)
    keep = (minutes <= 300) | (minutes >= 310)
    points = frame("FIT-101", minutes[keep], np.full(keep.sum(), 60.0))
    default = run(points, [rate()])
    assert sum(per_period(default, "substituted")) == pytest.approx(10.0)
    ten_minutes = run(points, [rate(interval_s=600.0)])
    assert per_period(ten_minutes, "measured") == pytest.approx([720.0, 720.0])
    assert per_period(ten_minutes, "substituted") == [0.0, 0.0]
    assert ten_minutes.gaps.empty


def test_points_frames_without_rows_or_columns() -> None:
    for empty in (None, pd.DataFrame(), pd.DataFrame({"tag": [], "ts": [], "value": []})):
        result = run(empty, [rate()])  # type: ignore[arg-type]
        assert not result.has_data
        assert result.gaps["open"].tolist() == [True]
    with pytest.raises(InvalidMappingError) as info:
        prepare_points(pd.DataFrame(index=[0]), [rate()])
    assert str(info.value) == "points frame lacks column(s) tag, ts, value"
    with pytest.raises(InvalidMappingError) as info:
        prepare_points(pd.DataFrame({"tag": ["a", "b"], "value": [1.0, 2.0]}), [rate()])
    assert str(info.value) == "points frame lacks column(s) ts"
    naive = pd.DataFrame({"tag": ["a"], "ts": [pd.Timestamp("2025-07-01")], "value": [1.0]})
    with pytest.raises(InvalidMappingError) as info:
        prepare_points(naive, [rate()])
    assert str(info.value) == "points ts must be timezone-aware (UTC) timestamps"


def test_given_gaps_must_be_timezone_aware() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    points = frame("FIT-101", minutes, np.full(len(minutes), 60.0))
    naive = pd.DataFrame(
        {
            "tag": ["FIT-101"],
            "gap_start": [pd.Timestamp("2025-07-01 01:00")],
            "gap_end": [pd.Timestamp("2025-07-01 02:00")],
            "duration_minutes": [60.0],
            "missing_points": [59],
            "open": [False],
        }
    )
    with pytest.raises(InvalidMappingError) as info:
        run(points, [rate()], gaps=naive)
    assert str(info.value) == "gap and substitute timestamps must be timezone-aware (UTC)"


def test_without_totalizers_the_event_table_is_empty_but_typed() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    events = run(frame("FIT-101", minutes, np.full(len(minutes), 60.0)), [rate()]).events
    assert events.empty
    assert {c: str(t) for c, t in events.dtypes.items()} == {
        "tag": "object",
        "ts": "datetime64[us, UTC]",
        "kind": "object",
        "before": "float64",
        "after": "float64",
        "increment": "float64",
    }


def test_an_unknown_substitution_method_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidMappingError) as info:
        run(frame("FIT-101", np.arange(3), np.ones(3)), [rate()], method="median")
    assert str(info.value) == (
        "unknown substitution method 'median'; choose one of: before_after_mean, maximum, "
        "mean_plus_2sd, percentile_90, percentile_95"
    )


def test_only_usable_readings_of_mapped_tags_in_the_window_count() -> None:
    # FIT-101 every minute from 23:59 the day before to 24:00, unusable (NaN) from 05:00 to
    # 05:59; FIT-100 and ZZZ-999 are read but not mapped.
    minutes = np.arange(-1, 24 * 60 + 1)
    values = np.where((minutes >= 300) & (minutes < 360), np.nan, 60.0)
    points = pd.concat(
        [
            frame("FIT-100", minutes, np.full(len(minutes), 500.0)),
            frame("FIT-101", minutes, values),
            frame("ZZZ-999", minutes, np.full(len(minutes), 900.0)),
        ],
        ignore_index=True,
    )
    result = run(points, [rate("FIT-101"), rate("FIT-102")])
    assert result.monthly["tag"].tolist() == ["FIT-101", "FIT-101", "FIT-102", "FIT-102"]
    measured = result.monthly.pivot(index="tag", columns="month", values="measured")
    assert measured.loc["FIT-101"].tolist() == pytest.approx([720.0 - 61, 720.0])
    assert measured.loc["FIT-102"].tolist() == [0.0, 0.0]
    assert sum(per_period(result, "substituted")) == pytest.approx(61.0)  # 04:59 .. 06:00
    comp = result.completeness.set_index("tag")
    assert comp.loc["FIT-101", "usable_points"] == 1440 - 60  # 00:00 .. 23:59, not 24:00
    assert comp.loc["FIT-102", "usable_points"] == 0


def test_has_data_only_for_readings_inside_the_window() -> None:
    outside = frame("FIT-101", np.array([-60, -1, 24 * 60, 24 * 60 + 5]), np.full(4, 60.0))
    assert not run(outside, [rate()]).has_data
    assert run(frame("FIT-101", np.array([0]), np.array([60.0])), [rate()]).has_data


def test_without_a_gap_table_a_long_step_is_not_integrated_across() -> None:
    # No gaps given (and so none substituted): the 10-minute hole is longer than 1.5 x the
    # 1-minute spacing and counts nothing, whatever the interval of an unmapped tag.
    # A step of 105 s (1.75 x) is not integrated either.
    minutes = np.arange(0, 24 * 60 + 1).astype(float)
    keep = (minutes <= 300) | (minutes >= 310)
    minutes = np.r_[minutes[keep & (minutes != 1000)], 999.25]  # 999:15 .. 1001:00
    hourly = np.arange(0, 24 * 60 + 1, 60)
    points = pd.concat(
        [
            frame("FIT-101", np.sort(minutes), np.full(len(minutes), 60.0)),
            frame("ZZZ-999", hourly, np.full(len(hourly), 1.0)),
        ],
        ignore_index=True,
    )
    no_gaps = find_gaps(points.iloc[:0].assign(tag=pd.Series([], dtype=object)))
    result = run(points, [rate()], gaps=no_gaps)
    assert per_period(result, "measured") == pytest.approx([710.0, 720.0 - 1.75])


def test_completeness_of_short_empty_and_barely_read_windows() -> None:
    minutes = np.arange(0, 31)
    points = prepare_points(frame("FIT-101", minutes, np.full(len(minutes), 60.0)), [rate()])
    start = int(T0.value // 1000)
    half_hour = meter_quantities(points, [rate()], [start, start + 30 * 60_000_000])
    assert half_hour.completeness["completeness_pct"].tolist() == [100.0]
    assert per_period(half_hour, "measured") == pytest.approx([30.0])
    empty = meter_quantities(points, [rate()], [start, start])
    assert empty.completeness["completeness_pct"].tolist() == [0.0]
    # Read once a minute by its mapping, but only at 00:00 and 24:00: nothing is covered.
    ends = run(
        frame("FIT-101", np.array([0, 24 * 60]), np.array([60.0, 60.0])), [rate(interval_s=60.0)]
    )
    row = ends.completeness.iloc[0]
    assert (row["usable_points"], row["covered_hours"], row["completeness_pct"]) == (1, 0.0, 0.0)
    # Without a mapped interval the spacing itself (24 h) is the interval: fully covered.
    daily = run(frame("FIT-101", np.array([0, 24 * 60]), np.array([60.0, 60.0])), [rate()])
    assert daily.completeness["completeness_pct"].tolist() == [100.0]


def test_overlapping_given_gaps_never_make_coverage_negative() -> None:
    minutes = np.arange(0, 24 * 60 + 1)
    points = frame("FIT-101", minutes, np.full(len(minutes), 60.0))
    day = pd.Timedelta(hours=24)
    given = pd.DataFrame(
        {
            "tag": pd.Series(["FIT-101"] * 2, dtype=object),
            "gap_start": pd.DatetimeIndex([T0, T0]).as_unit("us"),
            "gap_end": pd.DatetimeIndex([T0 + day, T0 + day]).as_unit("us"),
            "duration_minutes": [1440.0, 1440.0],
            "missing_points": [0, 0],
            "open": [False, False],
        }
    )
    row = run(points, [rate()], gaps=given).completeness.iloc[0]
    assert (row["covered_hours"], row["completeness_pct"]) == (0.0, 0.0)
