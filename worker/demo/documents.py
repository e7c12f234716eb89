"""The demo's compliance documents: invoices and a product transfer document (PTD) as PDFs.

Laid out like a supplier's paperwork (letterhead, labelled fields, a line-item table) and made
with reportlab, so the demo can upload them and show what extraction and reconciliation found.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle


@dataclass(frozen=True)
class DemoDocument:
    kind: str  # invoice | product_transfer_document
    number: str
    day: date
    quantity: float  # GGE
    unit_price: float = 0.0
    fuel_pathway_code: str = "RNG-LFG-0046"  # the biomethane the station claims (demo.py)
    carbon_intensity: float = 46.42

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"


def render(doc: DemoDocument, *, facility_name: str) -> bytes:
    """The document as PDF bytes."""
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        title=doc.number,
        author="Golden State Fuels",
        leftMargin=0.8 * inch,
        rightMargin=0.8 * inch,
    )
    title = "INVOICE" if doc.kind == "invoice" else "PRODUCT TRANSFER DOCUMENT"
    story = [
        Paragraph("Golden State Fuels LLC", styles["Title"]),
        Paragraph("1200 Harbor Way, Long Beach, CA 90802", styles["Normal"]),
        Spacer(1, 12),
        Paragraph(title, styles["Heading1"]),
    ]
    if doc.kind == "invoice":
        pairs = [
            ("Invoice No:", doc.number),
            ("Invoice Date:", doc.day.strftime("%B %d, %Y")),
            ("Seller:", "Golden State Fuels LLC"),
            ("Buyer:", facility_name),
            ("Fuel Type:", "CNG"),
            ("Fuel Pathway Code:", doc.fuel_pathway_code),
            ("Carbon Intensity:", f"{doc.carbon_intensity:.2f} gCO2e/MJ"),
        ]
    else:
        pairs = [
            ("Document No:", doc.number),
            ("Transaction Date:", doc.day.strftime("%B %d, %Y")),
            ("Transferor:", "Golden State Fuels LLC"),
            ("Recipient:", facility_name),
            ("Transaction Type:", "Sold with Obligation"),
            ("Fuel Type:", "CNG"),
            ("Fuel Pathway Code:", doc.fuel_pathway_code),
            ("Carbon Intensity:", f"{doc.carbon_intensity:.2f} gCO2e/MJ"),
            ("Quantity:", f"{doc.quantity:,.2f} GGE"),
            ("Compliance Obligation:", "The recipient takes on the LCFS obligation"),
        ]
    header = Table(pairs, colWidths=[1.9 * inch, 4.4 * inch])
    header.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story += [header, Spacer(1, 18)]
    if doc.kind == "invoice":
        total = doc.quantity * doc.unit_price
        items = Table(
            [
                ["Description", "Quantity", "Unit", "Unit Price", "Amount"],
                ["CNG", f"{doc.quantity:,.2f}", "GGE", f"${doc.unit_price:,.2f}", f"${total:,.2f}"],
                ["", "", "", "Total:", f"${total:,.2f}"],
            ],
            colWidths=[2.5 * inch, 1.0 * inch, 0.6 * inch, 1.0 * inch, 1.2 * inch],
        )
        items.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                    ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                    ("FONTNAME", (3, 2), (4, 2), "Helvetica-Bold"),
                ]
            )
        )
        story += [items, Spacer(1, 12), Paragraph("Payment terms: net 30 days.", styles["Normal"])]
    pdf.build(story)
    return out.getvalue()
