"""The accounting sections: totals, monthly volumes, book-and-claim balance, gaps, documents
and parameters. Each returns flowables under the heading it is given (numbered by the caller).
"""

from __future__ import annotations

from typing import Any

from reportlab.graphics.charts.barcharts import VerticalBarChart  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing, Rect, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from pipelines.lcfs.pdf.charts import axis_text, nice_scale
from pipelines.lcfs.pdf.style import (
    AMBER,
    BODY,
    CELL,
    GREEN,
    H1,
    INTRO,
    NAVY,
    RED,
    SERIES,
    SMALL,
    WIDTH,
    esc,
    grid,
    header_row,
    local_time,
    para,
    scaled,
    zone_label,
)
from pipelines.lcfs.render import display_totals, format_mj, format_mt, format_quantity
from pipelines.lcfs.report import LcfsReport

MAX_GAP_ROWS = 150
FILL_IN = "_" * 48  # a line to write on


def application_names(r: LcfsReport) -> dict[str, str]:
    """Application code -> the regulation's wording of its EER row, from the credit lines."""
    return {
        c.application: c.application_name for c in (x.credit for x in r.lines) if c.application_name
    }


def totals(r: LcfsReport, title: str) -> list[Flowable]:
    out: list[Flowable] = [Paragraph(title, H1)]
    if not r.totals_by_pathway or r.totals is None:
        return [*out, para(r.status, BODY)]
    names = application_names(r)
    head = [
        "Fuel pathway code",
        "Transaction type",
        "Fuel application",
        "Quantity",
        "Unit",
        "Energy (MJ)",
        "CI",
        "EER",
        "Bench-mark",
        "Credits / deficits (MT)",
    ]
    rows: list[list[Any]] = [header_row(head)]
    for p in r.totals_by_pathway:
        rows.append(
            [
                para(p.fuel_pathway_code),
                para(p.transaction_type),
                para(names.get(p.application, p.application)),
                format_quantity(p.quantity),
                para(p.unit),
                format_mj(p.energy_mj),
                f"{p.ci:.2f}",
                f"{p.eer:g}",
                f"{p.ci_benchmark:.2f}",
                format_mt(p.credits_mt),
            ]
        )
    shown = display_totals(r)
    for label, key in (("Credits", "credits_mt"), ("Deficits", "deficits_mt"), ("Net", "net_mt")):
        rows.append([Paragraph(f"<b>{label}</b>", CELL), *[""] * 8, shown[key]])
    widths = scaled([0.85, 0.9, 1.45, 0.8, 0.35, 0.8, 0.4, 0.3, 0.45, 0.75])
    out.append(grid(rows, widths, numeric_from=3, total_rows=3))
    out.append(Spacer(1, 4))
    out.append(
        Paragraph(
            "Quantity includes substituted quantity where meter data were missing (see Gaps and "
            "substitution). CI and benchmark in gCO2e/MJ. A transaction type that passes the "
            "obligation on (e.g. Sold with Obligation) counts with a negative sign. Deficits are "
            "shown as a positive amount; net = credits - deficits.",
            SMALL,
        )
    )
    return out


def monthly(r: LcfsReport, title: str) -> list[Flowable]:
    out: list[Flowable] = [Paragraph(title, H1)]
    if not r.monthly:
        return [*out, para(r.status, BODY)]
    names = application_names(r)
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
    axis = "energy (GJ)" if by_energy else f"quantity ({next(iter(units))})"
    drawing = Drawing(WIDTH, 180)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 55, 20, WIDTH - 70, 140
    chart.data = [tuple(d) for d in data]
    chart.categoryAxis.categoryNames = months
    chart.categoryAxis.labels.fontSize = 7.5
    chart.valueAxis.labels.fontSize = 7
    top, step = nice_scale(max((max(d) for d in data), default=0.0))
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, top, step
    chart.valueAxis.labelTextFormat = lambda v: axis_text(v, top)
    chart.barSpacing = 1
    chart.groupSpacing = 8
    for i in range(len(data)):
        chart.bars[i].fillColor = SERIES[i % len(SERIES)]
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    drawing.add(
        String(
            55,
            168,
            f"Monthly {axis} per fuel pathway, transaction "
            "type and application (bars left to right in legend order)",
            fontSize=8,
            fontName="Helvetica-Bold",
            fillColor=NAVY,
        )
    )
    legend: list[list[Any]] = []
    for i, (fpc, kind, app) in enumerate(keys):
        swatch = Drawing(10, 8)
        swatch.add(Rect(0, 0, 9, 7, fillColor=SERIES[i % len(SERIES)], strokeColor=None))
        legend.append([swatch, para(f"{i + 1}. {fpc}  |  {kind}  |  {names.get(app, app)}")])
    key_table = Table(legend, colWidths=[14, WIDTH - 14 - 55])
    key_table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    key_table.hAlign = "RIGHT"
    out = [KeepTogether([*out, drawing, key_table if len(keys) <= 12 else Spacer(1, 0)])]
    if len(keys) > 12:
        out.append(key_table)
    out.append(Spacer(1, 6))
    head = [
        "Month",
        "Fuel pathway code",
        "Transaction type",
        "Fuel application",
        "Quantity",
        "of which substituted",
        "Unit",
        "Energy (MJ)",
    ]
    rows: list[list[Any]] = [header_row(head)]
    for m in r.monthly:
        rows.append(
            [
                m.month,
                para(m.fuel_pathway_code),
                para(m.transaction_type),
                para(names.get(m.application, m.application)),
                format_quantity(m.quantity),
                format_quantity(m.substituted_quantity),
                para(m.unit),
                format_mj(m.energy_mj),
            ]
        )
    out.append(grid(rows, scaled([0.55, 0.9, 0.95, 1.6, 0.85, 0.8, 0.4, 0.85]), numeric_from=4))
    return out


def biomethane(r: LcfsReport, title: str) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph(title, H1),
        Paragraph(
            "Biomethane dispensed as CNG, LNG or L-CNG is claimed through book-and-claim: the "
            "energy claimed under a pathway cannot exceed what was injected into the pipeline "
            "(this facility's injection meters plus attested supply). MJ on the "
            "lower-heating-value basis.",
            INTRO,
        ),
    ]
    status = {"covered": "Covered", "excess": "EXCESS CLAIM", "no_claim": "No claim"}
    rows: list[list[Any]] = [
        header_row(
            [
                "Fuel pathway code",
                "Injected and attested (MJ)",
                "Claimed (MJ)",
                "Excess claim (MJ)",
                "Status",
            ]
        )
    ]
    extra = []
    for i, b in enumerate(r.biomethane, start=1):
        rows.append(
            [
                para(b.fuel_pathway_code),
                format_mj(b.injected_mj),
                format_mj(b.claimed_mj),
                format_mj(b.excess_mj),
                status.get(b.status, b.status),
            ]
        )
        if b.status == "excess":
            extra += [
                ("TEXTCOLOR", (4, i), (4, i), RED),
                ("FONT", (4, i), (4, i), "Helvetica-Bold", 7.5),
            ]
    out.append(grid(rows, scaled([1.3, 1.3, 1.1, 1.1, 0.9]), numeric_from=1, extra=extra))
    return out


def gaps(r: LcfsReport, title: str) -> list[Flowable]:
    zone = zone_label(r.timezone, r.year)
    filled = sum(1 for g in r.gaps if g.substituted_points)
    bridged = sum(1 for g in r.gaps if g.method == "CTR")
    unfilled = sum(1 for g in r.gaps if g.method == "NONE")
    out: list[Flowable] = [
        Paragraph(title, H1),
        Paragraph(
            f"{len(r.gaps)} gap(s): {filled} filled by substitution ({esc(r.substitution_method)}, "
            f"code {esc(r.substitution_code)}), {bridged} bridged by a totalizer's counter "
            f"difference (CTR), {unfilled} not filled (NONE: no usable data to base a value on; "
            "excluded from the quantities). Substituted quantity is integrated over the gap and "
            f"reported apart. Times in {esc(zone)}.",
            INTRO,
        ),
    ]
    if r.gaps:
        head = [
            "Tag",
            "Gap start",
            "Gap end",
            "Minutes",
            "Missing points",
            "Method",
            "Substituted points",
            "Substituted quantity",
            "Unit",
        ]
        rows: list[list[Any]] = [header_row(head)]
        for g in r.gaps[:MAX_GAP_ROWS]:
            rows.append(
                [
                    para(g.tag),
                    local_time(g.gap_start, r.timezone),
                    local_time(g.gap_end, r.timezone),
                    f"{g.duration_minutes:,.0f}",
                    f"{g.missing_points:,}",
                    g.method,
                    f"{g.substituted_points:,}",
                    format_quantity(g.substituted_quantity),
                    para(g.unit),
                ]
            )
        widths = scaled([0.95, 1.15, 1.15, 0.55, 0.6, 0.5, 0.7, 0.9, 0.4])
        out.append(grid(rows, widths, numeric_from=3))
        if len(r.gaps) > MAX_GAP_ROWS:
            out.append(
                Paragraph(
                    f"... and {len(r.gaps) - MAX_GAP_ROWS} more gap(s), listed in "
                    "the JSON file that accompanies this report.",
                    SMALL,
                )
            )
    if r.counter_events:
        out.append(Spacer(1, 6))
        out.append(Paragraph("<b>Totalizer rollovers and resets</b>", BODY))
        rows = [header_row(["Tag", "Time", "Kind", "Before", "After", "Increment counted"])]
        for e in r.counter_events:
            rows.append(
                [
                    para(e.tag),
                    local_time(e.ts, r.timezone),
                    e.kind,
                    format_quantity(e.before),
                    format_quantity(e.after),
                    format_quantity(e.increment),
                ]
            )
        out.append(grid(rows, scaled([1, 1.3, 0.7, 1, 1, 1]), numeric_from=3))
    return out


def documents(r: LcfsReport, title: str) -> list[Flowable]:
    counts = dict(r.documents_summary)
    out: list[Flowable] = [
        Paragraph(title, H1),
        Paragraph(
            f"{len(r.documents)} document(s) reconciled against metered quantities: "
            f"<b>{counts.get('pass', 0)} pass</b>, "
            f"<font color='#C77C02'><b>{counts.get('warn', 0)} warn</b></font>, "
            f"<font color='#B03A2E'><b>{counts.get('fail', 0)} fail</b></font>.",
            BODY,
        ),
    ]
    if not r.documents:
        return out
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
    rows: list[list[Any]] = [header_row(head)]
    tint = {"pass": GREEN, "warn": AMBER, "fail": RED}
    extra = []
    for i, d in enumerate(r.documents, start=1):
        rows.append(
            [
                para(d.document_number),
                d.date.isoformat(),
                para(d.fuel_pathway_code),
                format_quantity(d.quantity),
                format_quantity(d.metered_quantity),
                format_quantity(d.difference),
                para(d.unit),
                d.status.upper(),
            ]
        )
        extra.append(("TEXTCOLOR", (7, i), (7, i), tint.get(d.status, colors.black)))
    widths = scaled([1.1, 0.75, 1.1, 0.9, 0.8, 0.8, 0.4, 0.5])
    out.append(grid(rows, widths, numeric_from=3, extra=extra))
    flagged = [d for d in r.documents if d.status in ("warn", "fail")]
    if flagged:
        out.append(Spacer(1, 6))
        out.append(
            Paragraph("<b>Failed and warned reconciliations: how each was resolved</b>", BODY)
        )
        rows = [header_row(["Document", "Status", "Finding", "Resolution"])]
        for d in flagged:
            note = d.note or f"difference {format_quantity(d.difference)} {d.unit}".strip()
            resolution = (
                para(d.resolution_note)
                if d.resolution_note.strip()
                else Paragraph(f"<br/>{FILL_IN}", CELL)
            )
            rows.append([para(d.document_number), d.status.upper(), para(note), resolution])
        table = grid(rows, scaled([1.0, 0.5, 2.2, 2.6]))
        out.append(Spacer(1, 3))
        out.append(table)
    return out


def parameters(r: LcfsReport, title: str) -> list[Flowable]:
    names = application_names(r)
    out: list[Flowable] = [Paragraph(title, H1)]
    rows: list[list[Any]] = [
        header_row(["Parameter", "Applies to", "Value", "Unit", "Checked", "Source"])
    ]
    extra = []
    for i, p in enumerate(r.parameters, start=1):
        value, unit, key = f"{p.value:g}", p.unit, p.key
        if p.name == "substitution method":
            value, unit = p.unit, ""
        elif p.name == "transaction type":
            value, unit = f"{p.value:+g}", f"effect ({p.unit})" if p.unit else "effect"
        elif p.name == "EER":
            key = names.get(p.key, p.key)
        checked = "not yet" if p.status == "unconfirmed" else "yes"
        if p.status == "unconfirmed":
            extra += [
                ("TEXTCOLOR", (4, i), (4, i), RED),
                ("FONT", (4, i), (4, i), "Helvetica-Bold", 7.5),
            ]
        rows.append([para(p.name), para(key), value, para(unit), checked, para(p.source)])
    out.append(grid(rows, scaled([0.85, 1.3, 0.5, 0.65, 0.55, 3.0]), extra=extra))
    out.append(Spacer(1, 4))
    out.append(
        Paragraph(
            "Checked: whether the figure has been compared with the regulation text or agency "
            "document it cites. Figures marked <b>not yet</b> are listed under Before filing; a "
            "deployment replaces them with its own parameter tables once checked.",
            SMALL,
        )
    )
    return out


def callout(lines: list[Flowable], border: Any, background: Any) -> Table:
    """A full-width box around ``lines``."""
    box = Table([[x] for x in lines], colWidths=[WIDTH])
    box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.2, border),
                ("BACKGROUND", (0, 0), (-1, -1), background),
                ("LEFTPADDING", (0, 0), (-1, -1), 10),
                ("RIGHTPADDING", (0, 0), (-1, -1), 10),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, 0), 7),
                ("BOTTOMPADDING", (0, -1), (-1, -1), 8),
            ]
        )
    )
    return box
