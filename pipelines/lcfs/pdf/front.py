"""The parts a compliance officer signs: cover with identity and totals, the Before filing
list, provenance (hashes, audit-chain head, generation) and the preparer/reviewer sign-off."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from pipelines.lcfs.pdf.sections import callout
from pipelines.lcfs.pdf.style import (
    AMBER,
    BIG,
    BODY,
    CELL,
    GREEN,
    H1,
    LIGHT,
    MONO,
    NAVY,
    RED,
    RULE,
    SMALL,
    SUBTITLE,
    TITLE,
    WARN_BG,
    WIDTH,
    esc,
    grid,
    header_row,
    local_midnight,
    local_time,
    para,
    public,
    scaled,
    zone_label,
)
from pipelines.lcfs.render import (
    display_totals,
    render_lcfs_calculation_csv,
    render_lcfs_json,
    render_lcfs_upload_csv,
)
from pipelines.lcfs.report import LcfsReport

UNCONFIRMED_NOTICE = (
    "Contains figures not yet checked against the regulation text \u2014 see Before filing"
)


def companion_files(r: LcfsReport) -> list[tuple[str, str]]:
    """(label, SHA-256) of the machine-readable files rendered from the same report."""
    return [
        ("Upload CSV (LRT-CBTS fuel transactions)", _sha(render_lcfs_upload_csv(r))),
        ("Calculation CSV", _sha(render_lcfs_calculation_csv(r))),
        ("Report JSON", _sha(render_lcfs_json(r))),
    ]


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def generated(r: LcfsReport) -> str:
    if not r.generated_at:
        return "not recorded"
    return f"{local_time(r.generated_at, r.timezone)} (UTC: {r.generated_at})"


def cover(r: LcfsReport) -> list[Flowable]:
    zone = zone_label(r.timezone, r.year)
    bounds = (
        f"{local_midnight(r.period_start, r.timezone)} to "
        f"{local_midnight(r.period_end + dt.timedelta(days=1), r.timezone)}"
    )
    out: list[Flowable] = [
        Paragraph("California Low Carbon Fuel Standard", SUBTITLE),
        Paragraph("Quarterly Fuel Transactions Report", TITLE),
        Paragraph(
            f"{r.period} &nbsp;|&nbsp; {esc(r.facility_name)} &nbsp;|&nbsp; "
            f"{esc(r.organization_name or 'organization not given')}",
            SUBTITLE,
        ),
        Spacer(1, 0.12 * inch),
    ]
    blank = "not given"
    facts = [
        (
            "Organization",
            r.organization_name or blank,
            "Organization FEIN",
            r.organization_fein or blank,
        ),
        (
            "Facility",
            f"{r.facility_name} ({r.facility_id})",
            "CARB facility ID (LRT-CBTS)",
            r.carb_facility_id or blank,
        ),
        (
            "Reporting period",
            f"{r.period}: {r.period_start.isoformat()} to {r.period_end.isoformat()}",
            "Time zone (all times shown)",
            zone,
        ),
        ("Quarter bounds", bounds, "Generated", generated(r)),
        ("Prepared by", r.preparer or blank, "Reviewed by", r.reviewer or blank),
        ("Status", r.status, "Software version", r.software_version or blank),
    ]
    rows = [
        [Paragraph(f"<b>{esc(a)}</b>", CELL), para(b), Paragraph(f"<b>{esc(c)}</b>", CELL), para(d)]
        for a, b, c, d in facts
    ]
    out.append(
        grid(
            rows,
            scaled([1.0, 2.1, 1.1, 2.1]),
            header=False,
            extra=[("VALIGN", (0, 0), (-1, -1), "TOP")],
        )
    )
    out.append(Spacer(1, 0.15 * inch))
    out.append(before_filing(r))
    out.append(Spacer(1, 0.15 * inch))
    out.append(_totals_box(r))
    return out


def before_filing(r: LcfsReport) -> Flowable:
    items = [public(w) for w in r.warnings]
    open_docs = [
        d.document_number
        for d in r.documents
        if d.status in ("warn", "fail") and not d.resolution_note.strip()
    ]
    if open_docs:
        items.append(
            f"{len(open_docs)} failed or warned document reconciliation(s) have no "
            f"resolution note yet: {', '.join(open_docs)} (see Document "
            "reconciliation)."
        )
    head = Paragraph(
        "<b>Before filing</b> &nbsp;<font size='8' color='#44546A'>items the "
        "reviewer must check or resolve before this report is filed</font>",
        _style(BODY, fontSize=11, leading=14),
    )
    if not items:
        body: list[Flowable] = [
            Paragraph(
                "No open items were found by the checks. The "
                "reviewer's sign-off is still required.",
                BODY,
            )
        ]
        return callout([head, *body], GREEN, colors.HexColor("#EEF7EE"))
    body = [
        Paragraph(f"{i}.&nbsp; {esc(text)}", _style(BODY, leftIndent=12, firstLineIndent=-12))
        for i, text in enumerate(items, start=1)
    ]
    if r.unconfirmed:
        body.append(
            Paragraph(
                "Figures not yet checked are marked <b>not yet</b> in the "
                "Parameters table, with the source each cites.",
                SMALL,
            )
        )
    return callout([head, *body], AMBER, WARN_BG)


def _totals_box(r: LcfsReport) -> Flowable:
    if r.totals is None:
        return callout(
            [Paragraph("<b>NO DATA FOR THIS QUARTER</b>", BIG), para(r.status, BODY)],
            AMBER,
            WARN_BG,
        )
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
    return box


def benchmarks(r: LcfsReport, title: str) -> list[Flowable]:
    out: list[Flowable] = [Paragraph(title, H1)]
    rows: list[list[Any]] = [
        header_row(["Displaced fuel", "CI benchmark (gCO2e/MJ)", "In force", "Source"])
    ]
    for b in r.benchmarks:
        until = _day_before(b.effective_to)
        rows.append(
            [
                b.displaced,
                f"{b.ci_benchmark:.2f}",
                para(f"{b.effective_from or '...'} to {until}"),
                para(b.source),
            ]
        )
    out.append(grid(rows, scaled([0.9, 1.35, 1.25, WIDTH / inch - 3.5])))
    out.append(Spacer(1, 6))
    out.append(
        Paragraph(
            "Credits (MT CO2e; negative = deficits) = effect x (CI<sub>benchmark</sub> x EER - "
            "CI<sub>fuel</sub>) x quantity x energy density x 10<super>-6</super>, 17 CCR "
            "§95486.1(a), the EER counted once; effect is +1, 0 or -1 by transaction type. "
            "Benchmarks by quarter: the 2024 amendments apply from Q3 2025.",
            _style(SMALL, leading=13),
        )
    )
    return out


def provenance(r: LcfsReport, title: str) -> list[Flowable]:
    rows: list[list[Any]] = [
        [
            Paragraph("<b>Input SHA-256</b> (canonical serialisation of every input)", CELL),
            Paragraph(r.input_sha256, MONO),
        ],
    ]
    for label, digest in companion_files(r):
        rows.append([Paragraph(f"<b>{esc(label)} SHA-256</b>", CELL), Paragraph(digest, MONO)])
    rows += [
        [
            Paragraph(
                "<b>Audit-chain head</b> (tenant's audit log when the report was requested)", CELL
            ),
            Paragraph(
                esc(r.audit_head) if r.audit_head else "not recorded",
                MONO if r.audit_head else CELL,
            ),
        ],
        [Paragraph("<b>Generated</b>", CELL), para(generated(r))],
        [Paragraph("<b>Software version</b>", CELL), para(r.software_version or "not recorded")],
    ]
    return [
        KeepTogether(
            [
                Paragraph(title, H1),
                Paragraph(
                    "The input SHA-256 is computed over a canonical serialisation of every "
                    "input of this report: facility and period, tag mappings, all meter points, "
                    "gaps, fuel transactions, documents, daily quality metrics, attested "
                    "biomethane supply, the substitution method and the parameter tables. "
                    "Rebuilding from the same inputs gives the same hash, the same figures and "
                    "the same files. The CSV and JSON files rendered from this report have the "
                    "hashes below.",
                    BODY,
                ),
                Spacer(1, 4),
                grid(
                    rows,
                    scaled([2.2, 4.3]),
                    header=False,
                    extra=[("VALIGN", (0, 0), (-1, -1), "TOP")],
                ),
                Spacer(1, 4),
                Paragraph(
                    "A PDF cannot contain its own hash: the SHA-256 of this PDF is recorded in the "
                    "audit log entry <b>report.generated</b> (file_sha256).",
                    BODY,
                ),
            ]
        )
    ]


def sign_off(r: LcfsReport, title: str) -> list[Flowable]:
    line = "_" * 34
    rows: list[list[Any]] = [header_row(["Role", "Name", "Signature", "Date"])]
    for role, name in (("Prepared by", r.preparer), ("Reviewed by", r.reviewer)):
        rows.append(
            [
                Paragraph(f"<b>{role}</b>", CELL),
                para(name) if name.strip() else Paragraph(f"<br/>{line}", CELL),
                Paragraph(f"<br/>{line}", CELL),
                Paragraph("<br/>" + "_" * 18, CELL),
            ]
        )
    table = grid(
        rows,
        scaled([0.9, 2.0, 2.2, 1.2]),
        extra=[("VALIGN", (0, 1), (-1, -1), "BOTTOM"), ("TOPPADDING", (0, 1), (-1, -1), 14)],
    )
    return [
        KeepTogether(
            [
                Paragraph(title, H1),
                Paragraph(
                    "The preparer attests that the report was built from the inputs identified by "
                    "the hashes above; the reviewer that the items under Before filing were "
                    "checked or resolved. Dates are written by hand when signing.",
                    BODY,
                ),
                Spacer(1, 6),
                table,
            ]
        )
    ]


def _day_before(iso: str) -> str:
    if not iso:
        return "..."
    return (dt.date.fromisoformat(iso) - dt.timedelta(days=1)).isoformat()


def _style(parent: Any, **kw: Any) -> Any:
    return ParagraphStyle(f"{parent.name}-{sorted(kw.items())}", parent=parent, **kw)
