"""Assembling the PDF: section order and numbering, page header and footer, "Page N of M".

The page count is known only once the story is laid out, so the canvas keeps every page's
state and draws the header and footer of all pages when it saves (the NumberedCanvas recipe).
Nothing reads the clock and ``invariant=1`` fixes the creation date and document id: the same
report gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from reportlab.lib.pagesizes import letter  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import Flowable, PageBreak, SimpleDocTemplate  # type: ignore[import-untyped]

from pipelines.lcfs.pdf import front, quality, sections
from pipelines.lcfs.pdf.style import GREY, MARGIN, PAGE_H, PAGE_W, RED, RULE
from pipelines.lcfs.report import LcfsReport

Section = Callable[[LcfsReport, str], list[Flowable]]


def render_lcfs_pdf(report: LcfsReport) -> bytes:
    """The report as PDF bytes (US Letter)."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=0.8 * inch,
        bottomMargin=0.9 * inch,
        title=f"LCFS quarterly report {report.period} - {report.facility_name}",
        author=report.organization_name or "Tickwork",
        subject=f"California LCFS fuel transactions, {report.facility_id}, {report.period}",
        creator=f"Tickwork pipelines.lcfs {report.software_version}".strip(),
        keywords=f"LCFS, {report.period}, input-sha256 {report.input_sha256}",
        invariant=1,
    )
    story: list[Flowable] = [*front.cover(report), PageBreak()]
    parts: list[Section] = [
        front.benchmarks,
        sections.totals,
        sections.monthly,
        *([sections.biomethane] if report.biomethane else []),
        quality.data_quality,
        quality.trends,
        sections.gaps,
        sections.documents,
        sections.parameters,
        front.provenance,
        front.sign_off,
    ]
    names: dict[Section, str] = {
        front.benchmarks: "Carbon-intensity benchmarks and formula",
        sections.totals: "Totals by fuel pathway and transaction type",
        sections.monthly: "Monthly volumes",
        sections.biomethane: "Biomethane book-and-claim balance",
        quality.data_quality: "Data completeness and quality",
        quality.trends: "Daily meter trends",
        sections.gaps: "Gaps and substitution",
        sections.documents: "Document reconciliation",
        sections.parameters: "Parameters and their sources",
        front.provenance: "Provenance and reproducibility",
        front.sign_off: "Sign-off",
    }
    for number, part in enumerate(parts, start=1):
        story += part(report, f"{number}. {names[part]}")
    doc.build(story, canvasmaker=_numbered(lambda c, n, total: _decorate(report, c, n, total)))
    return buffer.getvalue()


def _decorate(r: LcfsReport, canvas: Any, page: int, total: int) -> None:
    canvas.saveState()
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, PAGE_H - 0.55 * inch, PAGE_W - MARGIN, PAGE_H - 0.55 * inch)
    canvas.line(MARGIN, 0.5 * inch, PAGE_W - MARGIN, 0.5 * inch)
    canvas.setFont("Helvetica", 7.5)
    canvas.setFillColor(GREY)
    canvas.drawString(
        MARGIN,
        PAGE_H - 0.48 * inch,
        f"California LCFS quarterly report  |  {r.facility_name} ({r.facility_id})  |  {r.period}",
    )
    canvas.drawString(MARGIN, 0.36 * inch, f"Input SHA-256 {r.input_sha256[:16]}...")
    canvas.drawRightString(PAGE_W - MARGIN, 0.36 * inch, f"Page {page} of {total}")
    if r.unconfirmed:
        canvas.setFont("Helvetica-Bold", 7.5)
        canvas.setFillColor(RED)
        canvas.drawString(MARGIN, 0.58 * inch, front.UNCONFIRMED_NOTICE)
    canvas.restoreState()


def _numbered(decorate: Callable[[Any, int, int], None]) -> type[Any]:
    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                decorate(self, self._pageNumber, total)
                super().showPage()
            super().save()

    return NumberedCanvas
