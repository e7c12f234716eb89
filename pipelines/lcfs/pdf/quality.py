"""Data quality: completeness per mapped tag (quarter and day by day), the stored daily quality
metrics summed over the quarter, substituted quantities, and the daily trend chart per meter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing, String  # type: ignore[import-untyped]
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer  # type: ignore[import-untyped]

from pipelines.lcfs.pdf.charts import completeness_strips, fit, trend_chart
from pipelines.lcfs.pdf.style import (
    BODY,
    H1,
    H2,
    INTRO,
    NAVY,
    SMALL,
    TEAL,
    WIDTH,
    esc,
    grid,
    header_row,
    para,
    scaled,
    to_local,
    zone_label,
)
from pipelines.lcfs.render import format_pct, format_quantity
from pipelines.lcfs.report import DailyMeter, DailyQuality, LcfsReport, TagCompleteness

LOW_DAY_PCT = 95.0
CHUNK = 30  # tags per drawing: a drawing cannot split across pages


def data_quality(r: LcfsReport, title: str) -> list[Flowable]:
    zone = zone_label(r.timezone, r.year)
    out: list[Flowable] = [Paragraph(title, H1)]
    if not r.completeness:
        return [*out, Paragraph("No meter tags are mapped to fuel pathways.", BODY)]
    charts = [
        _completeness_chart(r.completeness[i : i + CHUNK])
        for i in range(0, len(r.completeness), CHUNK)
    ]
    out = [KeepTogether([*out, charts[0]]), *charts[1:]]
    out.append(Paragraph(suspect_sentence(r.suspect_values_counted), INTRO))
    head = [
        "Tag",
        "Fuel pathway code",
        "Kind",
        "Usable points",
        "Covered (h)",
        "Complete",
        "Quantity",
        "of which substituted",
        "Unit",
    ]
    rows: list[list[Any]] = [header_row(head)]
    for c in r.completeness:
        rows.append(
            [
                para(c.tag),
                para(c.fuel_pathway_code),
                c.kind,
                f"{c.usable_points:,}",
                f"{c.covered_hours:,.1f}",
                format_pct(c.completeness_pct),
                format_quantity(c.quantity),
                format_quantity(c.substituted_quantity),
                para(c.unit),
            ]
        )
    out.append(
        grid(rows, scaled([1.1, 1.0, 0.6, 0.75, 0.75, 0.65, 1.0, 0.9, 0.45]), numeric_from=3)
    )
    mapped = [c.tag for c in r.completeness]
    stored = [q for q in r.daily_quality if q.tag in set(mapped)]
    out.append(Paragraph("Daily completeness and quality metrics", H2))
    if not stored:
        out.append(
            Paragraph(
                "No daily quality metrics are stored for the mapped tags over this "
                "quarter; the quarter completeness above is computed from the "
                "readings themselves.",
                BODY,
            )
        )
        return out
    out.append(
        Paragraph(
            f"Each cell is one day ({esc(zone)}) of a mapped tag, shaded by the share of the day "
            "covered by usable readings as stored by the quality analysis: the darker, the less "
            "complete.",
            INTRO,
        )
    )
    by_tag: dict[str, dict[str, float]] = {t: {} for t in mapped}
    for q in stored:
        by_tag[q.tag][q.day] = q.completeness_pct
    for i in range(0, len(mapped), CHUNK):
        strip = [(t, by_tag[t]) for t in mapped[i : i + CHUNK]]
        out.append(completeness_strips(strip, r.period_start, r.period_end))
    out.append(Spacer(1, 4))
    out.append(_quality_table(r, stored))
    return out


def suspect_sentence(counted: bool) -> str:
    if counted:
        return (
            "Readings the source system flagged <b>uncertain (suspect)</b> are counted as "
            "measured. Readings flagged <b>bad</b> are not counted: their time is treated as "
            "a gap and filled by the substitution method."
        )
    return (
        "Readings the source system flagged <b>uncertain (suspect)</b> or <b>bad</b> are not "
        "counted as measured: their time is treated as a gap and filled by the substitution "
        "method."
    )


def _quality_table(r: LcfsReport, stored: list[DailyQuality]) -> Flowable:
    head = [
        "Tag",
        "Days with metrics",
        "Mean score (0-100)",
        "Mean daily complete",
        "Lowest day",
        f"Days below {LOW_DAY_PCT:g}%",
        "Flatline (min)",
        "Spikes",
        "Out of range or bad",
        "Substituted quantity",
    ]
    rows: list[list[Any]] = [header_row(head)]
    units = {c.tag: c.unit for c in r.completeness}
    substituted = {c.tag: c.substituted_quantity for c in r.completeness}
    for tag in (c.tag for c in r.completeness):
        mine = [q for q in stored if q.tag == tag]
        if not mine:
            rows.append(
                [
                    para(tag),
                    "0",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"{format_quantity(substituted[tag])} {units[tag]}",
                ]
            )
            continue
        low = min(mine, key=lambda q: (q.completeness_pct, q.day))
        rows.append(
            [
                para(tag),
                f"{len(mine)}",
                f"{sum(q.score for q in mine) / len(mine):.1f}",
                format_pct(sum(q.completeness_pct for q in mine) / len(mine)),
                para(f"{low.day}: {format_pct(low.completeness_pct)}"),
                f"{sum(1 for q in mine if q.completeness_pct < LOW_DAY_PCT)}",
                f"{sum(q.flatline_minutes for q in mine):,.0f}",
                f"{sum(q.spikes for q in mine):,}",
                f"{sum(q.out_of_range for q in mine):,}",
                para(f"{format_quantity(substituted[tag])} {units[tag]}"),
            ]
        )
    table = grid(
        rows, scaled([0.9, 0.6, 0.65, 0.7, 1.3, 0.6, 0.65, 0.5, 0.55, 1.1]), numeric_from=1
    )
    note = Paragraph(
        "Flatline minutes, spikes and unusable readings (outside the tag's limits or of bad "
        "quality) are summed over the "
        "quarter's days; substituted quantity is the quarter's, in the tag's unit "
        "(see Gaps and substitution).",
        SMALL,
    )
    return KeepTogether([table, Spacer(1, 3), note])


def _completeness_chart(rows: Sequence[TagCompleteness]) -> Drawing:
    tags = [fit(c.tag, 112, 7) for c in rows]
    height = 14 * len(tags) + 40
    drawing = Drawing(WIDTH, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 120, 20, WIDTH - 150, height - 35
    chart.data = [tuple(c.completeness_pct for c in reversed(rows))]
    chart.categoryAxis.categoryNames = list(reversed(tags))
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 10
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d%%"
    chart.bars[0].fillColor = TEAL
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = "%.1f%%"
    chart.barLabels.fontSize = 6
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    drawing.add(
        String(
            120,
            height - 10,
            "Share of the quarter covered by usable readings",
            fontSize=8,
            fontName="Helvetica-Bold",
            fillColor=NAVY,
        )
    )
    return drawing


def trends(r: LcfsReport, title: str) -> list[Flowable]:
    zone = zone_label(r.timezone, r.year)
    intro = [
        Paragraph(title, H1),
        Paragraph(
            f"Quantity per day ({esc(zone)}) of each mapped meter. Substituted quantity is stacked "
            "on the measured bar and hatched; days on which the meter's readings have a gap are "
            "shaded, and a triangle under a day marks a gap that could not be filled (that "
            "quantity is not claimed).",
            INTRO,
        ),
    ]
    if not r.daily:
        return [*intro, Paragraph("No meter tags are mapped.", BODY)]
    gap_days, unfilled = _gap_days(r)
    out: list[Flowable] = []
    for tag in sorted({m.tag for m in r.daily}):
        rows: list[DailyMeter] = [m for m in r.daily if m.tag == tag]
        chart = trend_chart(
            tag,
            rows,
            gap_days.get(tag, set()),
            unfilled.get(tag, set()),
            r.period_start,
            r.period_end,
        )
        out.append(KeepTogether([*([] if out else intro), chart, Spacer(1, 8)]))
    return out


def _gap_days(r: LcfsReport) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Facility-local days touched by each tag's gaps, and by its unfilled gaps."""
    touched: dict[str, set[str]] = {}
    unfilled: dict[str, set[str]] = {}
    for g in r.gaps:
        start = to_local(g.gap_start, r.timezone)
        end = to_local(g.gap_end, r.timezone) - dt.timedelta(microseconds=1)
        day = start.date()
        while day <= max(end.date(), start.date()):
            touched.setdefault(g.tag, set()).add(day.isoformat())
            if g.method == "NONE":
                unfilled.setdefault(g.tag, set()).add(day.isoformat())
            day += dt.timedelta(days=1)
    return touched, unfilled
