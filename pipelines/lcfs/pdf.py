"""The quarterly LCFS report as a PDF for people (a compliance engineer hands it to a verifier).

reportlab platypus for the layout and reportlab.graphics for the charts. Deterministic:
``invariant=1`` fixes the creation date and document id, and nothing reads the clock, so the
same report gives the same bytes. Totals are printed with the formatters of
``pipelines.lcfs.render``, so the PDF text matches the JSON's ``display`` block.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart  # type: ignore[import-untyped]
from reportlab.graphics.charts.legends import Legend  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import letter  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from pipelines.lcfs.render import (
    display_totals,
    format_mj,
    format_mt,
    format_pct,
    format_quantity,
)
from pipelines.lcfs.report import LcfsReport

NAVY = colors.HexColor("#1F3A5F")
TEAL = colors.HexColor("#2E7D8C")
LIGHT = colors.HexColor("#EEF2F6")
RULE = colors.HexColor("#B8C4D0")
RED = colors.HexColor("#B03A2E")
GREEN = colors.HexColor("#2E7D32")
AMBER = colors.HexColor("#C77C02")
SERIES = [
    NAVY,
    TEAL,
    colors.HexColor("#8FB8DE"),
    AMBER,
    colors.HexColor("#7B5EA7"),
    colors.HexColor("#5D8A3A"),
    colors.HexColor("#A0522D"),
    colors.HexColor("#607D8B"),
]
MAX_GAP_ROWS = 150
PAGE_W, PAGE_H = letter
MARGIN = 0.7 * inch
WIDTH = PAGE_W - 2 * MARGIN

_base = getSampleStyleSheet()
TITLE = ParagraphStyle(
    "t", parent=_base["Title"], fontSize=20, leading=24, textColor=NAVY, alignment=0, spaceAfter=4
)
SUBTITLE = ParagraphStyle(
    "st", parent=_base["Normal"], fontSize=11, leading=14, textColor=colors.HexColor("#44546A")
)
H1 = ParagraphStyle(
    "h1",
    parent=_base["Heading2"],
    fontSize=13,
    leading=16,
    textColor=NAVY,
    spaceBefore=10,
    spaceAfter=6,
    keepWithNext=1,
)
BODY = ParagraphStyle("b", parent=_base["Normal"], fontSize=8.5, leading=11)
INTRO = ParagraphStyle("i", parent=BODY, keepWithNext=1, spaceAfter=4)
SMALL = ParagraphStyle("s", parent=BODY, fontSize=7.5, leading=9.5)
CELL = ParagraphStyle("c", parent=BODY, fontSize=7.5, leading=9)
CELL_R = ParagraphStyle("cr", parent=CELL, alignment=TA_RIGHT)
MONO = ParagraphStyle("m", parent=BODY, fontName="Courier", fontSize=8, leading=10)
BIG = ParagraphStyle(
    "big", parent=BODY, fontName="Helvetica-Bold", fontSize=16, leading=20, alignment=TA_RIGHT
)


def render_lcfs_pdf(report: LcfsReport) -> bytes:
    """The report as PDF bytes (US Letter)."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=0.8 * inch,
        bottomMargin=0.7 * inch,
        title=f"LCFS quarterly report {report.period} - {report.facility_name}",
        author="Tickwork",
        subject=f"California LCFS fuel transactions, {report.facility_id}, {report.period}",
        creator="Tickwork pipelines.lcfs",
        keywords=f"LCFS, {report.period}, input-sha256 {report.input_sha256}",
        invariant=1,
    )
    story: list[Flowable] = []
    story += _cover(report)
    story.append(PageBreak())
    story += _totals(report)
    story += _monthly(report)
    story += _completeness(report)
    story += _gaps(report)
    story += _documents(report)
    story += _parameters(report)
    story += _provenance(report)

    def decorate(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, PAGE_H - 0.55 * inch, PAGE_W - MARGIN, PAGE_H - 0.55 * inch)
        canvas.line(MARGIN, 0.5 * inch, PAGE_W - MARGIN, 0.5 * inch)
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#44546A"))
        canvas.drawString(
            MARGIN,
            PAGE_H - 0.48 * inch,
            f"California LCFS quarterly report  |  {report.facility_name} "
            f"({report.facility_id})  |  {report.period}",
        )
        canvas.drawString(MARGIN, 0.36 * inch, f"Input SHA-256 {report.input_sha256[:16]}...")
        canvas.drawRightString(PAGE_W - MARGIN, 0.36 * inch, f"Page {doc.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _cover(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [
        Spacer(1, 0.3 * inch),
        Paragraph("California Low Carbon Fuel Standard", SUBTITLE),
        Paragraph("Quarterly Fuel Transactions Report", TITLE),
        Paragraph(
            f"{r.period} &nbsp;({r.period_start.isoformat()} to {r.period_end.isoformat()},"
            f" {_esc(r.timezone)})",
            SUBTITLE,
        ),
        Spacer(1, 0.25 * inch),
    ]
    facts = [
        ["Facility", f"{r.facility_name}"],
        ["Facility ID", r.facility_id],
        ["Organization FEIN", r.organization_fein or "not given"],
        [
            "Reporting period",
            f"{r.period} ({r.period_start.isoformat()} to {r.period_end.isoformat()})",
        ],
        ["Time zone (month and quarter boundaries)", r.timezone],
        ["Status", r.status],
    ]
    out.append(
        _grid(
            [[Paragraph(f"<b>{_esc(k)}</b>", CELL), Paragraph(_esc(v), CELL)] for k, v in facts],
            [2.4 * inch, WIDTH - 2.4 * inch],
            header=False,
        )
    )
    out.append(Spacer(1, 0.25 * inch))
    if r.totals is None:
        box = Table(
            [
                [Paragraph("<b>NO DATA FOR THIS QUARTER</b>", BIG)],
                [Paragraph(_esc(r.status), BODY)],
            ],
            colWidths=[WIDTH],
        )
        box.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 1, AMBER),
                    ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#FFF6E5")),
                    ("LEFTPADDING", (0, 0), (-1, -1), 10),
                    ("TOPPADDING", (0, 0), (-1, -1), 8),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
                ]
            )
        )
        out.append(box)
    else:
        shown = display_totals(r)
        labels = [
            ("Credits generated", "credits_mt", GREEN),
            ("Deficits incurred", "deficits_mt", RED),
            ("Net credits", "net_mt", NAVY),
        ]
        cells = [
            [
                Paragraph(f"<font color='#44546A'>{label} (MT CO2e)</font>", CELL)
                for label, _, _ in labels
            ],
            [
                Paragraph(f"<font color='{c.hexval().replace('0x', '#')}'>{shown[k]}</font>", BIG)
                for _, k, c in labels
            ],
        ]
        box = Table(cells, colWidths=[WIDTH / 3] * 3)
        box.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 0.8, RULE),
                    ("INNERGRID", (0, 0), (-1, -1), 0.4, RULE),
                    ("BACKGROUND", (0, 0), (-1, -1), LIGHT),
                    ("TOPPADDING", (0, 0), (-1, -1), 6),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
                ]
            )
        )
        out.append(box)
    out.append(Spacer(1, 0.3 * inch))
    out.append(Paragraph("Carbon-intensity benchmarks used", H1))
    rows = [["Displaced fuel", "CI benchmark (gCO2e/MJ)", "In force", "Source"]]
    for b in r.benchmarks:
        rows.append(
            [
                b.displaced,
                f"{b.ci_benchmark:.2f}",
                Paragraph(f"{b.effective_from or '...'} to {_day_before(b.effective_to)}", CELL),
                Paragraph(_esc(b.source), CELL),
            ]
        )
    out.append(_grid(rows, [0.9 * inch, 1.35 * inch, 1.25 * inch, WIDTH - 3.5 * inch]))
    out.append(Spacer(1, 0.2 * inch))
    out.append(
        Paragraph(
            "Credits (MT CO2e; negative = deficits) = (CI<sub>benchmark</sub> x EER - "
            "CI<sub>fuel</sub>) x quantity x energy density x 10<super>-6</super>, "
            "17 CCR §95486.1(a), the EER counted once. Benchmarks by quarter: the 2024 "
            "amendments apply from Q3 2025.",
            ParagraphStyle("formula", parent=SMALL, leading=13),
        )
    )
    out.append(Spacer(1, 0.15 * inch))
    out.append(
        Paragraph("<b>Input SHA-256</b> (canonical inputs, all meter points included)", SMALL)
    )
    out.append(Paragraph(r.input_sha256, MONO))
    return out


def _totals(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("1. Totals by fuel pathway and transaction type", H1)]
    if not r.totals_by_pathway:
        return [*out, Paragraph(_esc(r.status), BODY)]
    head = [
        "Fuel pathway code",
        "Transaction type",
        "Application",
        "Quantity",
        "Unit",
        "Energy (MJ)",
        "CI",
        "EER",
        "Benchmark",
        "Credits / deficits (MT)",
    ]
    rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
    for p in r.totals_by_pathway:
        rows.append(
            [
                Paragraph(_esc(p.fuel_pathway_code), CELL),
                Paragraph(p.transaction_type, CELL),
                Paragraph(p.application, CELL),
                format_quantity(p.quantity),
                p.unit,
                format_mj(p.energy_mj),
                f"{p.ci:.2f}",
                f"{p.eer:g}",
                f"{p.ci_benchmark:.2f}",
                format_mt(p.credits_mt),
            ]
        )
    assert r.totals is not None
    shown = display_totals(r)
    for label, key in (("Credits", "credits_mt"), ("Deficits", "deficits_mt"), ("Net", "net_mt")):
        rows.append(
            [Paragraph(f"<b>{label}</b>", CELL), "", "", "", "", "", "", "", "", shown[key]]
        )
    widths = [0.9, 0.95, 0.8, 0.8, 0.35, 0.8, 0.4, 0.3, 0.68, 0.85]
    scale = WIDTH / (sum(widths) * inch)
    table = _grid(rows, [w * inch * scale for w in widths], numeric_from=3, total_rows=3)
    out.append(table)
    out.append(Spacer(1, 4))
    out.append(
        Paragraph(
            "Quantity includes substituted quantity where meter data were missing (section 4). CI "
            "and benchmark in gCO2e/MJ. Deficits are shown as a positive amount; net = credits - "
            "deficits.",
            SMALL,
        )
    )
    return out


def _monthly(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("2. Monthly volumes", H1)]
    if not r.monthly:
        return [*out, Paragraph(_esc(r.status), BODY)]
    months = sorted({m.month for m in r.monthly})
    keys = sorted({(m.fuel_pathway_code, m.transaction_type, m.application) for m in r.monthly})
    units = {m.unit for m in r.monthly}
    by_energy = len(units) > 1
    data = []
    for key in keys:
        row = {
            m.month: m
            for m in r.monthly
            if (m.fuel_pathway_code, m.transaction_type, m.application) == key
        }
        data.append([row[mo].energy_mj / 1000 if by_energy else row[mo].quantity for mo in months])
    axis = "energy (GJ)" if by_energy else f"quantity ({units.pop()})"
    drawing = Drawing(WIDTH, 190)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 55, 25, WIDTH - 230, 150
    chart.data = [tuple(d) for d in data]
    chart.categoryAxis.categoryNames = months
    chart.categoryAxis.labels.fontSize = 7.5
    chart.valueAxis.labels.fontSize = 7
    top, step = _nice_scale(max((max(d) for d in data), default=0.0))
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, top, step
    chart.valueAxis.labelTextFormat = _axis_format(top)
    chart.barSpacing = 1
    chart.groupSpacing = 8
    for i in range(len(data)):
        chart.bars[i].fillColor = SERIES[i % len(SERIES)]
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    drawing.add(
        String(
            55,
            180,
            f"Monthly {axis} per fuel pathway and transaction type",
            fontSize=8,
            fontName="Helvetica-Bold",
            fillColor=NAVY,
        )
    )
    legend = Legend()
    legend.x, legend.y = WIDTH - 165, 170
    legend.fontSize = 6.5
    legend.boxAnchor = "nw"
    legend.columnMaximum = 12
    legend.colorNamePairs = [
        (SERIES[i % len(SERIES)], f"{k[0]} / {_short(k[1])} / {k[2]}") for i, k in enumerate(keys)
    ]
    drawing.add(legend)
    out = [KeepTogether([*out, drawing])]
    head = [
        "Month",
        "Fuel pathway code",
        "Transaction type",
        "Application",
        "Quantity",
        "of which substituted",
        "Unit",
        "Energy (MJ)",
    ]
    rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
    for m in r.monthly:
        rows.append(
            [
                m.month,
                Paragraph(_esc(m.fuel_pathway_code), CELL),
                Paragraph(m.transaction_type, CELL),
                Paragraph(m.application, CELL),
                format_quantity(m.quantity),
                format_quantity(m.substituted_quantity),
                m.unit,
                format_mj(m.energy_mj),
            ]
        )
    widths = [0.6, 1.1, 1.2, 1.0, 1.0, 0.9, 0.45, 0.9]
    scale = WIDTH / (sum(widths) * inch)
    out.append(_grid(rows, [w * inch * scale for w in widths], numeric_from=4))
    return out


def _completeness(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("3. Data completeness per meter tag", H1)]
    if not r.completeness:
        return [*out, Paragraph("No meter tags are mapped to fuel pathways.", BODY)]
    tags = [c.tag for c in r.completeness]
    height = 14 * len(tags) + 40
    drawing = Drawing(WIDTH, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 120, 20, WIDTH - 150, height - 35
    chart.data = [tuple(c.completeness_pct for c in reversed(r.completeness))]
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
    out = [KeepTogether([*out, drawing])]
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
    rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
    for c in r.completeness:
        rows.append(
            [
                Paragraph(_esc(c.tag), CELL),
                Paragraph(_esc(c.fuel_pathway_code), CELL),
                c.kind,
                f"{c.usable_points:,}",
                f"{c.covered_hours:,.1f}",
                format_pct(c.completeness_pct),
                format_quantity(c.quantity),
                format_quantity(c.substituted_quantity),
                c.unit,
            ]
        )
    widths = [1.2, 1.0, 0.6, 0.75, 0.75, 0.65, 1.0, 0.9, 0.45]
    scale = WIDTH / (sum(widths) * inch)
    out.append(_grid(rows, [w * inch * scale for w in widths], numeric_from=3))
    return out


def _gaps(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("4. Gaps and substitution", H1)]
    filled = sum(1 for g in r.gaps if g.substituted_points)
    bridged = sum(1 for g in r.gaps if g.method == "CTR")
    unfilled = sum(1 for g in r.gaps if g.method == "NONE")
    out.append(
        Paragraph(
            f"{len(r.gaps)} gap(s): {filled} filled by substitution ({r.substitution_method}, code "
            f"{r.substitution_code}), {bridged} bridged by a totalizer's counter difference (CTR), "
            f"{unfilled} not filled (NONE: no usable data to base a value on; excluded from the "
            "quantities). Substituted quantity is integrated over the gap and reported apart.",
            INTRO,
        )
    )
    if r.gaps:
        head = [
            "Tag",
            "Gap start (UTC)",
            "Gap end (UTC)",
            "Minutes",
            "Missing points",
            "Method",
            "Substituted points",
            "Substituted quantity",
            "Unit",
        ]
        rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
        for g in r.gaps[:MAX_GAP_ROWS]:
            rows.append(
                [
                    Paragraph(_esc(g.tag), CELL),
                    g.gap_start.replace("T", " ")[:-1],
                    g.gap_end.replace("T", " ")[:-1],
                    f"{g.duration_minutes:,.0f}",
                    f"{g.missing_points:,}",
                    g.method,
                    f"{g.substituted_points:,}",
                    format_quantity(g.substituted_quantity),
                    g.unit,
                ]
            )
        widths = [1.1, 1.05, 1.05, 0.55, 0.6, 0.5, 0.65, 0.9, 0.4]
        scale = WIDTH / (sum(widths) * inch)
        out.append(_grid(rows, [w * inch * scale for w in widths], numeric_from=3))
        if len(r.gaps) > MAX_GAP_ROWS:
            out.append(
                Paragraph(
                    f"... and {len(r.gaps) - MAX_GAP_ROWS} more gap(s), listed in "
                    "the JSON rendering of this report.",
                    SMALL,
                )
            )
    if r.counter_events:
        out.append(Spacer(1, 6))
        out.append(Paragraph("<b>Totalizer rollovers and resets</b>", BODY))
        rows = [
            [
                Paragraph(f"<b>{h}</b>", CELL)
                for h in ("Tag", "Time (UTC)", "Kind", "Before", "After", "Increment counted")
            ]
        ]
        for e in r.counter_events:
            rows.append(
                [
                    Paragraph(_esc(e.tag), CELL),
                    e.ts.replace("T", " ")[:-1],
                    e.kind,
                    format_quantity(e.before),
                    format_quantity(e.after),
                    format_quantity(e.increment),
                ]
            )
        out.append(_grid(rows, [WIDTH / 6] * 6, numeric_from=3))
    return out


def _documents(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("5. Document reconciliation", H1)]
    counts = dict(r.documents_summary)
    out.append(
        Paragraph(
            f"{len(r.documents)} document(s) reconciled against metered quantities: "
            f"<font color='#2E7D32'><b>{counts.get('pass', 0)} pass</b></font>, "
            f"<font color='#C77C02'><b>{counts.get('warn', 0)} warn</b></font>, "
            f"<font color='#B03A2E'><b>{counts.get('fail', 0)} fail</b></font>.",
            BODY,
        )
    )
    if r.documents:
        out.append(Spacer(1, 4))
        head = [
            "Document",
            "Date",
            "Fuel pathway code",
            "Document quantity",
            "Metered",
            "Difference",
            "Unit",
            "Status",
        ]
        rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
        tint = {"pass": GREEN, "warn": AMBER, "fail": RED}
        extra = []
        for i, d in enumerate(r.documents, start=1):
            rows.append(
                [
                    Paragraph(_esc(d.document_number), CELL),
                    d.date.isoformat(),
                    Paragraph(_esc(d.fuel_pathway_code), CELL),
                    format_quantity(d.quantity),
                    format_quantity(d.metered_quantity),
                    format_quantity(d.difference),
                    d.unit,
                    d.status.upper(),
                ]
            )
            extra.append(("TEXTCOLOR", (7, i), (7, i), tint.get(d.status, colors.black)))
        widths = [1.1, 0.75, 1.1, 0.9, 0.8, 0.8, 0.4, 0.5]
        scale = WIDTH / (sum(widths) * inch)
        out.append(_grid(rows, [w * inch * scale for w in widths], numeric_from=3, extra=extra))
    return out


def _parameters(r: LcfsReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("6. Parameters and their sources", H1)]
    head = ["Parameter", "Applies to", "Value", "Unit", "Source"]
    rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
    for p in r.parameters:
        value = p.unit if p.name == "substitution method" else f"{p.value:g}"
        unit = "" if p.name == "substitution method" else p.unit
        rows.append(
            [
                Paragraph(_esc(p.name), CELL),
                Paragraph(_esc(p.key), CELL),
                value,
                Paragraph(_esc(unit), CELL),
                Paragraph(_esc(p.source), CELL),
            ]
        )
    widths = [0.95, 1.25, 0.6, 0.7, 3.3]
    scale = WIDTH / (sum(widths) * inch)
    out.append(_grid(rows, [w * inch * scale for w in widths]))
    out.append(Spacer(1, 4))
    out.append(
        Paragraph(
            "Figures marked NOT FOUND or VERIFY were not confirmed against the regulation text in "
            "force; a deployment overrides them with its own parameter tables.",
            SMALL,
        )
    )
    return out


def _provenance(r: LcfsReport) -> list[Flowable]:
    return [
        KeepTogether(
            [
                Paragraph("7. Reproducibility", H1),
                Paragraph(
                    "The SHA-256 below is computed over a canonical serialisation of every input "
                    "of this report: facility and period, tag mappings, all meter points, gaps, "
                    "fuel transactions, documents, the substitution method and the parameter "
                    "tables. Rebuilding from the same inputs gives the same hash and the same "
                    "figures.",
                    BODY,
                ),
                Spacer(1, 4),
                Paragraph(f"<b>Input SHA-256:</b> {r.input_sha256}", MONO),
            ]
        )
    ]


def _grid(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    header: bool = True,
    numeric_from: int | None = None,
    total_rows: int = 0,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), LIGHT), ("LINEBELOW", (0, 0), (-1, 0), 0.8, NAVY)]
        for i in range(2, len(rows), 2):
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#F8FAFC")))
    if numeric_from is not None:
        style.append(("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"))
    if total_rows:
        first = len(rows) - total_rows
        style += [
            ("LINEABOVE", (0, first), (-1, first), 0.8, NAVY),
            ("FONT", (0, first), (-1, -1), "Helvetica-Bold", 7.5),
            ("BACKGROUND", (0, first), (-1, -1), LIGHT),
        ]
    style += list(extra)
    table.setStyle(TableStyle(style))
    return table


def _day_before(iso: str) -> str:
    if not iso:
        return "..."
    return (dt.date.fromisoformat(iso) - dt.timedelta(days=1)).isoformat()


def _nice_scale(peak: float) -> tuple[float, float]:
    """An axis top above ``peak`` on a 1-2-5 grid of five steps."""
    if peak <= 0:
        return 1.0, 0.2
    raw = peak * 1.05 / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * 5, step


def _axis_format(top: float) -> str:
    return "%.0f" if top >= 10 else "%.2f"


def _short(kind: str) -> str:
    return kind if len(kind) <= 26 else kind[:25] + "."


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
