"""Charts drawn with reportlab.graphics: daily meter trends and daily completeness strips.

Everything is drawn shape by shape (no chart widgets) so measured and substituted quantities,
gap days and missing metrics each get their own pattern, and every pattern is named in a
legend in words: the charts read in greyscale and without colour.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

from pipelines.lcfs.pdf.style import AMBER, GREY, NAVY, RULE, WIDTH
from pipelines.lcfs.report import DailyMeter

GAP_BAND = colors.HexColor("#DADDE2")
SUB_FILL = colors.HexColor("#FCE9C6")
FONT = "Helvetica"
# Completeness bins of the daily strip: (lowest %, fill, label), lightest = complete.
BINS = (
    (99.5, colors.HexColor("#D9EEF2"), "99.5-100%"),
    (95.0, colors.HexColor("#7FB8C4"), "95-99.5%"),
    (80.0, colors.HexColor("#C77C02"), "80-95%"),
    (0.0, colors.HexColor("#7A1F17"), "below 80%"),
)


def trend_chart(
    tag: str,
    days: Sequence[DailyMeter],
    gap_days: set[str],
    unfilled_days: set[str],
    first: dt.date,
    last: dt.date,
) -> Drawing:
    """Daily measured quantity of one tag as bars, substitution stacked and hatched on top,
    days with a gap in the readings shaded, days with an unfilled gap marked by a triangle."""
    height = 150.0
    d = Drawing(WIDTH, height)
    left, right, bottom, top = 58.0, WIDTH - 8.0, 42.0, height - 22.0
    count = (last - first).days + 1
    step = (right - left) / count
    by_day = {m.day: m for m in days}
    head = days[0]
    peak = max((m.measured + m.substituted for m in days), default=0.0)
    axis_top, axis_step = nice_scale(peak)
    scale = (top - bottom) / axis_top
    role = "injection meter" if head.role == "injection" else "fuel meter"
    d.add(
        String(
            left,
            height - 10,
            f"{tag}  |  {head.fuel_pathway_code}  |  {role}  |  {head.unit} per day",
            fontName="Helvetica-Bold",
            fontSize=8,
            fillColor=NAVY,
        )
    )
    for k in range(count):
        day = (first + dt.timedelta(days=k)).isoformat()
        x = left + k * step
        if day in gap_days:
            d.add(Rect(x, bottom, step, top - bottom, fillColor=GAP_BAND, strokeColor=None))
    for i in range(round(axis_top / axis_step) + 1):
        value = axis_step * i
        y = bottom + value * scale
        d.add(Line(left, y, right, y, strokeColor=RULE, strokeWidth=0.3))
        d.add(
            String(
                left - 4,
                y - 2.5,
                axis_text(value, axis_top),
                fontName=FONT,
                fontSize=6.5,
                textAnchor="end",
                fillColor=GREY,
            )
        )
    for k in range(count):
        day_date = first + dt.timedelta(days=k)
        day = day_date.isoformat()
        x = left + k * step + step * 0.12
        w = step * 0.76
        m = by_day.get(day)
        if m is not None and m.measured > 0:
            d.add(Rect(x, bottom, w, m.measured * scale, fillColor=NAVY, strokeColor=None))
        if m is not None and m.substituted > 0:
            base = bottom + max(m.measured, 0.0) * scale
            _hatched(d, x, base, w, max(m.substituted * scale, 1.5))
        if day in unfilled_days:
            d.add(_triangle(x + w / 2, bottom - 9, 3.2))
        if day_date.day == 1 or k == 0:
            d.add(
                Line(
                    left + k * step,
                    bottom,
                    left + k * step,
                    bottom - 4,
                    strokeColor=GREY,
                    strokeWidth=0.5,
                )
            )
            d.add(
                String(
                    left + k * step + 1,
                    bottom - 12,
                    month_day(day_date),
                    fontName=FONT,
                    fontSize=6.5,
                    fillColor=GREY,
                )
            )
    d.add(Line(left, bottom, right, bottom, strokeColor=GREY, strokeWidth=0.6))
    _legend(d, left, 8.0)
    return d


def _legend(d: Drawing, x: float, y: float) -> None:
    d.add(Rect(x, y, 9, 7, fillColor=NAVY, strokeColor=None))
    d.add(String(x + 12, y + 1, "Measured", fontName=FONT, fontSize=7))
    x += 62
    _hatched(d, x, y, 9, 7)
    d.add(String(x + 12, y + 1, "Substituted (hatched)", fontName=FONT, fontSize=7))
    x += 100
    d.add(Rect(x, y - 1, 9, 9, fillColor=GAP_BAND, strokeColor=None))
    d.add(
        String(x + 12, y + 1, "Shaded: day with a gap in the readings", fontName=FONT, fontSize=7)
    )
    x += 150
    d.add(_triangle(x + 4.5, y + 1, 3.2))
    d.add(
        String(x + 12, y + 1, "Triangle: gap not filled (not claimed)", fontName=FONT, fontSize=7)
    )


def _hatched(d: Drawing, x: float, y: float, w: float, h: float) -> None:
    """A box with diagonal hatching, the lines clipped to the box."""
    d.add(Rect(x, y, w, h, fillColor=SUB_FILL, strokeColor=AMBER, strokeWidth=0.5))
    gap = 2.5
    c = -h
    while c < w:
        # the line x' - y' = c inside [0, w] x [0, h]
        x0, y0 = max(c, 0.0), max(-c, 0.0)
        x1, y1 = min(w, h + c), min(h, w - c)
        if x1 > x0:
            d.add(Line(x + x0, y + y0, x + x1, y + y1, strokeColor=AMBER, strokeWidth=0.5))
        c += gap


def _triangle(cx: float, base: float, r: float) -> Polygon:
    return Polygon(
        [cx - r, base, cx + r, base, cx, base + 1.7 * r], fillColor=colors.black, strokeColor=None
    )


def completeness_strips(
    rows: Sequence[tuple[str, dict[str, float]]], first: dt.date, last: dt.date
) -> Drawing:
    """One strip per tag, one cell per local day, shaded by the day's completeness bin (darker
    = less complete); a day without stored metrics is a blank cell crossed out."""
    count = (last - first).days + 1
    row_h, left, right = 11.0, 70.0, WIDTH - 4.0
    height = 24.0 + row_h * len(rows) + 16
    d = Drawing(WIDTH, height)
    step = (right - left) / count
    top = height - 6
    for i, (tag, by_day) in enumerate(rows):
        y = top - (i + 1) * row_h
        d.add(
            String(
                left - 4,
                y + 2.5,
                fit(tag, left - 6, 7),
                fontName=FONT,
                fontSize=7,
                textAnchor="end",
            )
        )
        for k in range(count):
            day = (first + dt.timedelta(days=k)).isoformat()
            x = left + k * step
            pct = by_day.get(day)
            if pct is None:
                d.add(
                    Rect(
                        x,
                        y,
                        step,
                        row_h - 2,
                        fillColor=colors.white,
                        strokeColor=RULE,
                        strokeWidth=0.3,
                    )
                )
                d.add(Line(x, y, x + step, y + row_h - 2, strokeColor=RULE, strokeWidth=0.3))
                continue
            fill = next(f for low, f, _ in BINS if pct >= low)
            d.add(
                Rect(
                    x, y, step, row_h - 2, fillColor=fill, strokeColor=colors.white, strokeWidth=0.2
                )
            )
    axis_y = top - len(rows) * row_h - 2
    for k in range(count):
        on = first + dt.timedelta(days=k)
        if on.day == 1 or on.weekday() == 0:
            x = left + k * step
            d.add(
                Line(
                    x,
                    axis_y,
                    x,
                    axis_y - (4 if on.day == 1 else 2),
                    strokeColor=GREY,
                    strokeWidth=0.4,
                )
            )
        if on.day == 1:
            d.add(
                String(
                    left + k * step + 1,
                    axis_y - 11,
                    month_day(on),
                    fontName=FONT,
                    fontSize=6.5,
                    fillColor=GREY,
                )
            )
    x, y = left, 4.0
    d.add(String(x - 4, y + 1, "Completeness:", fontName=FONT, fontSize=7, textAnchor="end"))
    for _, fill, label in BINS:
        d.add(Rect(x, y, 10, 8, fillColor=fill, strokeColor=None))
        d.add(String(x + 13, y + 1, label, fontName=FONT, fontSize=7))
        x += 20 + 4.2 * len(label)
    d.add(Rect(x, y, 10, 8, fillColor=colors.white, strokeColor=RULE, strokeWidth=0.3))
    d.add(Line(x, y, x + 10, y + 8, strokeColor=RULE, strokeWidth=0.3))
    d.add(String(x + 13, y + 1, "no metrics stored", fontName=FONT, fontSize=7))
    return d


def nice_scale(peak: float) -> tuple[float, float]:
    """(top, step): a 1-2-2.5-5 step giving at most five steps, the top the first step above
    ``peak`` with a little headroom."""
    if peak <= 0:
        return 1.0, 0.2
    raw = peak * 1.05 / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(peak * 1.05 / step), step


def axis_text(value: float, top: float) -> str:
    """Axis labels with thousands separators, in k or M when the axis is large."""
    if value == 0:
        return "0"
    if top >= 10_000_000:
        return f"{value / 1e6:,.1f}M".replace(".0M", "M")
    if top >= 100_000:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}" if top >= 10 else f"{value:.2f}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_day(day: dt.date) -> str:
    """``Jul 1`` whatever the process locale."""
    return f"{_MONTHS[day.month - 1]} {day.day}"


def fit(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis to ``width`` points of Helvetica at ``size``."""
    if stringWidth(text, FONT, size) <= width:
        return text
    while text and stringWidth(text + "\u2026", FONT, size) > width:
        text = text[:-1]
    return text + "\u2026"
