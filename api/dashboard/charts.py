"""Charts drawn on the server as SVG: a tag's trend and a facility's gap timeline.

The trend takes what ``pipelines.downsample.m4`` kept (at most four readings per pixel column),
so a quarter of 1-minute data is a few thousand coordinates, not 130,000. Gaps are shaded bands
with their times in a ``<title>`` (a tooltip, and text for screen readers); flagged readings are
marked with a shape, not only a colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

TimeLabel = Callable[[int], str]
WIDTH, HEIGHT = 960, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 36


@dataclass(frozen=True)
class Band:
    start_ns: int
    end_ns: int
    label: str


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return list(np.linspace(lo, hi, count))


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def trend_svg(
    *,
    ts_ns: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    start_ns: int,
    end_ns: int,
    gaps: Sequence[Band],
    flagged_ns: npt.NDArray[np.int64],
    flagged_values: npt.NDArray[np.float64],
    time_label: TimeLabel,
    title: str,
    unit: str,
    day_marks: Sequence[Band] = (),
) -> str:
    """An SVG line chart of the kept readings over ``[start_ns, end_ns)``; a line breaks where
    a gap band lies, so a gap never looks like a straight stretch of data. ``day_marks`` (days
    whose quality check found spikes or flatlines) are a strip along the bottom of the plot."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(end_ns - start_ns, 1)
    finite = values[np.isfinite(values)]
    everything = np.concatenate([finite, flagged_values[np.isfinite(flagged_values)]])
    lo, hi = (float(everything.min()), float(everything.max())) if everything.size else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad

    def x(ns: npt.NDArray[np.int64] | int) -> npt.NDArray[np.float64]:
        return LEFT + (np.asarray(ns, dtype=np.float64) - start_ns) / span * plot_w

    def y(v: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
        return TOP + (hi - np.asarray(v, dtype=np.float64)) / (hi - lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-labelledby="trend-title"><title id="trend-title">{escape(title)}'
        "</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>',
    ]
    for band in gaps:
        x0 = float(x(max(band.start_ns, start_ns)))
        x1 = float(x(min(band.end_ns, end_ns)))
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1.5):.1f}" height="{plot_h}" '
            f'class="gap"><title>{escape(band.label)}</title></rect>'
        )
    for band in day_marks:
        x0 = float(x(max(band.start_ns, start_ns)))
        x1 = float(x(min(band.end_ns, end_ns)))
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP + plot_h - 6}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="6" class="dayflag"><title>{escape(band.label)}</title></rect>'
        )
    for v in _ticks(lo + pad, hi - pad):
        yy = float(y(v))
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" class="axis" text-anchor="end">'
            f"{escape(_fmt(v))}</text>"
        )
    for ns in np.linspace(start_ns, end_ns, 6)[:-1].astype(np.int64):
        xx = float(x(int(ns)))
        parts.append(
            f'<text x="{xx:.1f}" y="{HEIGHT - 12}" class="axis" text-anchor="start">'
            f"{escape(time_label(int(ns)))}</text>"
        )
    parts.append(
        f'<text x="{LEFT}" y="{TOP - 2 + 10}" class="unit" dx="4">{escape(unit)}</text>'
        if unit
        else ""
    )
    for segment in _segments(ts_ns, values, gaps):
        xs, ys = x(ts_ns[segment]), y(values[segment])
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
        if len(xs) == 1:
            parts.append(f'<circle cx="{xs[0]:.1f}" cy="{ys[0]:.1f}" r="1.5" class="line-dot"/>')
        else:
            parts.append(f'<polyline points="{coords}" class="line"/>')
    for ns, v in zip(flagged_ns, flagged_values, strict=True):
        if np.isfinite(v):
            cx, cy = float(x(int(ns))), float(y(float(v)))
            parts.append(
                f'<path d="M{cx - 4:.1f},{cy - 4:.1f}L{cx + 4:.1f},{cy + 4:.1f}'
                f'M{cx - 4:.1f},{cy + 4:.1f}L{cx + 4:.1f},{cy - 4:.1f}" class="flag">'
                f"<title>flagged {escape(_fmt(float(v)))} at {escape(time_label(int(ns)))}"
                "</title></path>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _segments(
    ts_ns: npt.NDArray[np.int64], values: npt.NDArray[np.float64], gaps: Sequence[Band]
) -> list[npt.NDArray[np.intp]]:
    """Index runs of finite readings not interrupted by a gap band."""
    keep = np.flatnonzero(np.isfinite(values))
    if keep.size == 0:
        return []
    breaks = np.zeros(keep.size, dtype=bool)
    t = ts_ns[keep]
    for band in gaps:
        # A reading after a band whose predecessor is before it starts a new run.
        after = np.searchsorted(t, band.end_ns, side="left")
        before = np.searchsorted(t, band.start_ns, side="right") - 1
        if 0 <= before < after < t.size:
            breaks[after] = True
    return [run for run in np.split(keep, np.flatnonzero(breaks)) if run.size]


def timeline_svg(
    *,
    rows: Sequence[tuple[str, Sequence[Band]]],
    start_ns: int,
    end_ns: int,
    time_label: TimeLabel,
) -> str:
    """One lane per tag with its gaps as bars over ``[start_ns, end_ns)``."""
    lane, label_w = 22, 180
    plot_w = WIDTH - label_w - RIGHT
    height = TOP + lane * max(len(rows), 1) + BOTTOM
    span = max(end_ns - start_ns, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        'class="chart timeline" aria-label="Gap timeline">'
    ]
    for i, (name, bands) in enumerate(rows):
        top = TOP + i * lane
        parts.append(
            f'<text x="{label_w - 8}" y="{top + 15}" class="axis" text-anchor="end">'
            f"{escape(name[:28])}</text>"
            f'<rect x="{label_w}" y="{top + 4}" width="{plot_w}" height="{lane - 8}" '
            'class="lane"/>'
        )
        for band in bands:
            s, e = max(band.start_ns, start_ns), min(band.end_ns, end_ns)
            x0 = label_w + (s - start_ns) / span * plot_w
            w = max((e - s) / span * plot_w, 2.0)
            parts.append(
                f'<rect x="{x0:.1f}" y="{top + 4}" width="{w:.1f}" height="{lane - 8}" '
                f'class="gapbar"><title>{escape(band.label)}</title></rect>'
            )
    for ns in np.linspace(start_ns, end_ns, 6)[:-1].astype(np.int64):
        xx = label_w + (int(ns) - start_ns) / span * plot_w
        parts.append(
            f'<text x="{xx:.1f}" y="{height - 12}" class="axis">{escape(time_label(int(ns)))}'
            "</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def label_for(tz: tzinfo) -> TimeLabel:
    """A function writing an epoch-ns instant as local ``YYYY-MM-DD HH:MM`` in ``tz``."""

    def label(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=tz).strftime("%Y-%m-%d %H:%M")

    return label
