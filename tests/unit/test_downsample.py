"""M4 downsampling keeps each bucket's first, last, lowest and highest reading and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.downsample import m4

MINUTE = 60 * 10**9


def _series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(n, dtype=np.int64) * MINUTE, rng.normal(100, 5, n)


def test_a_quarter_of_minutes_becomes_at_most_four_points_per_pixel() -> None:
    ts, values = _series(92 * 1440)
    out = m4(ts, values, start_ns=0, end_ns=92 * 1440 * MINUTE, buckets=800)
    assert out.source_points == 92 * 1440
    assert 2 * 800 <= len(out.ts_ns) <= 4 * 800
    assert np.all(np.diff(out.ts_ns) > 0)  # time order, no reading twice
    assert out.values.max() == values.max() and out.values.min() == values.min()


def test_a_spike_survives_and_its_neighbours_do_not_crowd_it_out() -> None:
    ts, values = _series(10_000)
    values[4321] = 1e6
    out = m4(ts, values, start_ns=0, end_ns=10_000 * MINUTE, buckets=10)
    assert 1e6 in out.values
    assert ts[4321] in out.ts_ns


def test_a_gap_stays_a_gap() -> None:
    ts, values = _series(10_000)
    hole = (ts >= 4000 * MINUTE) & (ts < 6000 * MINUTE)
    out = m4(ts[~hole], values[~hole], start_ns=0, end_ns=10_000 * MINUTE, buckets=10)
    assert not np.any((out.ts_ns >= 4000 * MINUTE) & (out.ts_ns < 6000 * MINUTE))
    # The readings either side of the hole are kept: the line ends and starts where data does.
    assert 3999 * MINUTE in out.ts_ns and 6000 * MINUTE in out.ts_ns


def test_small_series_are_returned_whole_and_the_range_is_honoured() -> None:
    ts, values = _series(100)
    out = m4(ts, values, start_ns=10 * MINUTE, end_ns=50 * MINUTE, buckets=100)
    assert out.ts_ns.tolist() == ts[10:50].tolist()
    assert out.values.tolist() == values[10:50].tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"buckets": 0}, "buckets must be at least 1"),
        ({"end_ns": 0}, "end must be after start"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, int], message: str) -> None:
    ts, values = _series(10)
    args = {"start_ns": 0, "end_ns": 10 * MINUTE, "buckets": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        m4(ts, values, **args)


@given(
    steps=st.lists(st.integers(1, 5 * MINUTE), min_size=1, max_size=400),
    values=st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=400, max_size=400),
    buckets=st.integers(1, 60),
)
def test_every_bucket_keeps_exactly_its_first_last_min_and_max(
    steps: list[int], values: list[float], buckets: int
) -> None:
    ts = np.cumsum(np.asarray(steps, dtype=np.int64))
    vals = np.asarray(values[: len(ts)])
    start, end = 0, int(ts[-1]) + 1
    out = m4(ts, vals, start_ns=start, end_ns=end, buckets=buckets)
    kept = dict(zip(out.ts_ns.tolist(), out.values.tolist(), strict=True))
    if len(ts) <= 4 * buckets:
        assert len(kept) == len(ts)
        return
    width = -(-(end - start) // buckets)
    expected: dict[int, float] = {}
    for b in range(buckets):
        inside = (ts >= start + b * width) & (ts < start + (b + 1) * width)
        if not inside.any():
            continue
        bt, bv = ts[inside], vals[inside]
        for i in (0, len(bt) - 1, int(np.argmin(bv)), int(np.argmax(bv))):
            expected[int(bt[i])] = float(bv[i])
    assert kept == expected
