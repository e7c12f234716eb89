"""A deterministic corpus of fuel documents for the extraction tests and the benchmark.

``specs(seed, n)`` draws document specs (type, issuer, values, layout); ``render_pdf`` draws one
with reportlab, ``render_html`` writes one as HTML that LibreOffice turns into a PDF
(``convert_html``: one ``soffice`` call for many files). Each spec knows the fields a reader
should get back (``expected``), including ``document_type``.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import escape
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

US, EU = "us", "eu"
TITLES = {
    "invoice": ("INVOICE", "Invoice", "TAX INVOICE"),
    "bill_of_lading": ("BILL OF LADING", "Bill of Lading", "STRAIGHT BILL OF LADING"),
    "product_transfer_document": ("PRODUCT TRANSFER DOCUMENT", "Product Transfer Document"),
}


@dataclass(frozen=True)
class Issuer:
    name: str
    address: str
    style: str
    types: tuple[str, ...]
    number: str  # format for the document number, gets one int


ISSUERS = (
    Issuer(
        "Acme Fuels LLC",
        "1200 Harbor Way, Long Beach, CA 90802",
        US,
        ("invoice",),
        "INV-2025-{:04d}",
    ),
    Issuer(
        "Nordic Bio AS",
        "Havnegata 4, 0150 Oslo, Norway",
        EU,
        ("invoice", "bill_of_lading"),
        "NB-{t}-{:06d}",
    ),
    Issuer(
        "Pacific Renewable Gas Inc",
        "88 Mission St, San Francisco, CA 94105",
        US,
        ("product_transfer_document",),
        "PRG-2025-{:04d}",
    ),
    Issuer(
        "Sierra Fuel Logistics",
        "5 Depot Rd, Fresno, CA 93706",
        US,
        ("bill_of_lading",),
        "SFL{:07d}",
    ),
    Issuer(
        "Valley Biofuels Co",
        "410 Orchard Ave, Modesto, CA 95354",
        US,
        ("invoice", "bill_of_lading", "product_transfer_document"),
        "VB-{:05d}",
    ),
    Issuer(
        "Rhein Energie GmbH",
        "Hafenstrasse 12, 47119 Duisburg, Germany",
        EU,
        ("invoice", "bill_of_lading"),
        "RE{:06d}",
    ),
    Issuer(
        "Great Plains Ethanol LLC",
        "9 Mill Rd, Hastings, NE 68901",
        US,
        ("invoice", "product_transfer_document"),
        "GPE-{:06d}",
    ),
)
BUYERS = (
    "Coastal Transit Co",
    "Bay Area Fleet Services",
    "Golden State Freight Inc",
    "Metro Bus Authority",
    "Harbor Logistics Ltd",
    "Sunline Energy Partners",
)
FUELS = (
    "Renewable Diesel R99",
    "Biodiesel B100",
    "Ethanol E100",
    "Renewable Propane",
    "Sustainable Aviation Fuel",
    "Renewable Diesel R100",
)
LABELS = {
    "invoice": {
        "document_number": ("Invoice No", "Invoice Number", "Invoice #"),
        "document_date": ("Invoice Date", "Date"),
    },
    "bill_of_lading": {
        "document_number": ("BOL #", "BOL No", "B/L No", "Bill of Lading No"),
        "document_date": ("Ship Date", "BOL Date", "Date"),
    },
    "product_transfer_document": {"document_number": ("PTD No", "PTD Number", "Document No")},
}
SELLER = {
    "invoice": ("Seller", "Sold By", "Vendor"),
    "bill_of_lading": ("Shipper", "Consignor"),
    "product_transfer_document": ("Transferor",),
}
BUYER = {
    "invoice": ("Bill To", "Sold To", "Customer"),
    "bill_of_lading": ("Consignee",),
    "product_transfer_document": ("Recipient",),
}
LAYOUTS = ("label_left", "label_above", "table", "label_right", "multipage", "rotated")
HTML_LAYOUTS = ("html_table", "html_paragraphs", "html_above")


@dataclass
class Spec:
    name: str
    document_type: str
    issuer: Issuer
    layout: str
    title: str
    header: list[tuple[str, str]] = field(default_factory=list)  # (label, shown value)
    parties: list[tuple[str, str, str]] = field(default_factory=list)  # (label, name, address)
    items: tuple[list[str], list[str]] | None = None  # header row, value row
    totals: list[tuple[str, str]] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    expected: dict[str, str | float] = field(default_factory=dict)


def fmt_number(value: float, style: str, decimals: int = 2) -> str:
    text = f"{value:,.{decimals}f}"
    if style == EU:
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_date(day: date, style: str, rng: random.Random) -> str:
    months = (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    )
    month = months[day.month - 1]
    if style == US:
        choices = (
            f"{day.month:02d}/{day.day:02d}/{day.year}",
            f"{month} {day.day}, {day.year}",
            day.isoformat(),
            f"{month[:3]} {day.day}, {day.year}",
        )
    else:
        choices = (
            f"{day.day:02d}.{day.month:02d}.{day.year}",
            f"{day.day} {month[:3]} {day.year}",
            day.isoformat(),
            f"{day.day} {month} {day.year}",
        )
    return rng.choice(choices)


def money(value: float, style: str, currency: str) -> str:
    if currency == "USD":
        return f"${fmt_number(value, style)}"
    return f"{fmt_number(value, style)} EUR" if style == EU else f"EUR {fmt_number(value, style)}"


def specs(seed: int, n: int, layouts: tuple[str, ...] = LAYOUTS) -> list[Spec]:
    """``n`` document specs drawn from ``seed``; layouts cycle so each appears evenly."""
    rng = random.Random(seed)
    return [_spec(rng, f"doc{seed}_{i:03d}", layouts[i % len(layouts)]) for i in range(n)]


def _spec(rng: random.Random, name: str, layout: str) -> Spec:
    issuer = rng.choice(ISSUERS)
    kind = rng.choice(issuer.types)
    if issuer.name == "Acme Fuels LLC" and layout in ("label_right", "html_above"):
        layout = "label_left"  # the Acme template reads its own layout, label-left
    style = issuer.style
    tag = {"invoice": "INV", "bill_of_lading": "BL", "product_transfer_document": "PTD"}[kind]
    number = issuer.number.format(rng.randrange(1, 10**4), t=tag)
    when = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 900))
    fuel, buyer = rng.choice(FUELS), rng.choice(BUYERS)
    unit = "L" if style == EU and rng.random() < 0.6 else "gal"
    quantity = round(rng.uniform(800, 24000), rng.choice((0, 2)))
    spec = Spec(name, kind, issuer, layout, rng.choice(TITLES[kind]))
    exp = spec.expected
    exp["document_type"] = kind
    # Acme's template reads "Invoice Date" in MM/DD/YYYY and "Invoice No".
    acme = issuer.name == "Acme Fuels LLC"
    if kind != "product_transfer_document":
        num_label = "Invoice No" if acme else rng.choice(LABELS[kind]["document_number"])
        date_label = "Invoice Date" if acme else rng.choice(LABELS[kind]["document_date"])
        shown_date = (
            f"{when.month:02d}/{when.day:02d}/{when.year}" if acme else fmt_date(when, style, rng)
        )
        spec.header += [(num_label, number), (date_label, shown_date)]
        exp |= {"document_number": number, "document_date": when.isoformat()}
    else:
        spec.header.append((rng.choice(LABELS[kind]["document_number"]), number))
        exp["document_number"] = number
        spec.header.append(("Transaction Date", fmt_date(when, style, rng)))
        exp["transaction_date"] = when.isoformat()
    if rng.random() < 0.5 or kind == "product_transfer_document":
        facility = f"F-{rng.randrange(10000, 99999)}"
        spec.header.append(("Facility ID", facility))
        exp["facility_id"] = facility
    spec.parties = [
        (rng.choice(SELLER[kind]), issuer.name, issuer.address),
        (
            rng.choice(BUYER[kind]),
            buyer,
            f"{rng.randrange(10, 999)} Commerce Blvd, Oakland, CA 94607",
        ),
    ]
    exp |= {
        "seller": issuer.name,
        "buyer": buyer,
        "fuel_type": fuel,
        "quantity": quantity,
        "unit": unit,
    }
    decimals = 2 if quantity != int(quantity) else rng.choice((0, 2))
    shown_qty = fmt_number(quantity, style, decimals)
    if kind == "invoice":
        currency = "USD" if style == US else "EUR"
        price = round(rng.uniform(0.6, 5.5), 2)
        total = round(quantity * price, 2)
        spec.items = (
            ["Product", "Quantity", "Unit", "Unit Price", "Amount"],
            [fuel, shown_qty, unit, money(price, style, currency), money(total, style, currency)],
        )
        spec.totals = [
            (
                rng.choice(("Total", "Amount Due", "Total Due")) if not acme else "Amount Due",
                money(total, style, currency),
            )
        ]
        exp |= {"unit_price": price, "total_amount": total, "currency": currency}
        if rng.random() < 0.4:
            ci = round(rng.uniform(20, 80), 2)
            fpc = f"CA{rng.choice(('RD', 'BD', 'ETH'))}{rng.randrange(1000, 9999)}"
            spec.header += [
                ("Fuel Pathway Code", fpc),
                ("Carbon Intensity", f"{fmt_number(ci, style)} gCO2e/MJ"),
            ]
            exp |= {"fuel_pathway_code": fpc, "carbon_intensity": ci}
    elif kind == "bill_of_lading":
        if unit == "gal" and rng.random() < 0.5:
            spec.items = (
                ["Product", "Net Gallons", "Gross Gallons"],
                [fuel, shown_qty, fmt_number(quantity * 1.004, style, 0)],
            )
        else:
            spec.items = (["Description", "Quantity", "UOM"], [fuel, shown_qty, unit])
    else:
        ci = round(rng.uniform(-150, 95), 2)
        fpc = f"CA{rng.choice(('RNG', 'RD', 'ETH'))}{rng.randrange(1000, 9999)}"
        with_obligation = rng.random() < 0.5
        ttype = "Sold with obligation" if with_obligation else "Sold without obligation"
        spec.header += [
            ("Transaction Type", ttype),
            ("Fuel Type", fuel),
            ("Fuel Pathway Code", fpc),
            ("Carbon Intensity", f"{fmt_number(ci, style)} gCO2e/MJ"),
            ("Quantity", f"{shown_qty} {'gallons' if unit == 'gal' else 'litres'}"),
            ("EPA Company ID", str(rng.randrange(1000, 9999))),
            ("EPA Facility ID", str(rng.randrange(10000, 99999))),
        ]
        exp |= {
            "transaction_type": ttype,
            "fuel_pathway_code": fpc,
            "carbon_intensity": ci,
            "epa_company_id": spec.header[-2][1],
            "epa_facility_id": spec.header[-1][1],
            "compliance_obligation": "recipient" if with_obligation else "transferor",
        }
        spec.statements.append(
            "The compliance obligation passes to the recipient."
            if with_obligation
            else "The compliance obligation is retained by the transferor."
        )
    return spec


# --- reportlab -----------------------------------------------------------------------------


def render_pdf(spec: Spec) -> bytes:
    """The spec drawn with reportlab in its layout."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=True)
    width, height = letter
    if spec.layout == "rotated":
        c.setPageRotation(90)
        c.translate(width, 0)
        c.rotate(90)
        width, height = height, width
    y = _letterhead(c, spec, height)
    if spec.layout in ("label_left", "multipage", "rotated"):
        y = _pairs_left(c, spec.header, y, width)
        y = _parties_above(c, spec.parties, y - 10)
        if spec.layout == "multipage":
            c.setFont("Helvetica", 8)
            c.drawString(72, 40, "Page 1 of 2 - continued")
            c.showPage()
            y = height - 72
            c.setFont("Helvetica", 9)
            c.drawString(72, y, f"{spec.issuer.name} - continued")
            y -= 30
        y = _items(c, spec.items, y - 10, right_align=False)
        y = _pairs_left(c, spec.totals, y - 10, width, x=340)
    elif spec.layout == "label_above":
        y = _pairs_above(c, spec.header, y)
        y = _parties_above(c, spec.parties, y - 6)
        y = _items(c, spec.items, y - 10, right_align=True)
        y = _pairs_left(c, spec.totals, y - 10, width, x=340)
    elif spec.layout == "table":
        y = _grid(c, [(lbl, val) for lbl, val in spec.header], y)
        y = _parties_above(c, spec.parties, y - 10)
        y = _items(c, spec.items, y - 10, right_align=True, grid=True)
        y = _grid(c, spec.totals, y - 10, x=330)
    else:  # label_right
        y = _pairs_right(c, spec.header + [(lbl, name) for lbl, name, _ in spec.parties], y)
        y = _items(c, spec.items, y - 10, right_align=False)
        y = _pairs_right(c, spec.totals, y - 10)
    for text in spec.statements:
        c.setFont("Helvetica", 9)
        c.drawString(72, y - 20, text)
        y -= 14
    c.showPage()
    c.save()
    return buf.getvalue()


def _letterhead(c: canvas.Canvas, spec: Spec, height: float) -> float:
    y = height - 60
    c.setFont("Helvetica-Bold", 15)
    c.drawString(72, y, spec.issuer.name.upper() if spec.issuer.style == US else spec.issuer.name)
    c.setFont("Helvetica", 8)
    c.drawString(72, y - 12, spec.issuer.address)
    c.setFont("Helvetica-Bold", 13)
    c.drawRightString(540, y, spec.title)
    return y - 44


def _pairs_left(
    c: canvas.Canvas, pairs: list[tuple[str, str]], y: float, width: float, x: float | None = None
) -> float:
    c.setFont("Helvetica", 9)
    cols = (72, 330) if x is None else (x,)
    for k, (label, value) in enumerate(pairs):
        col = cols[k % len(cols)]
        c.drawString(col, y, f"{label}:")
        c.drawString(col + 105, y, value)
        if k % len(cols) == len(cols) - 1:
            y -= 14
    return y - (14 if len(pairs) % len(cols) else 0)


def _pairs_right(c: canvas.Canvas, pairs: list[tuple[str, str]], y: float) -> float:
    c.setFont("Helvetica", 9)
    for k, (label, value) in enumerate(pairs):
        col = (72, 330)[k % 2]
        c.drawString(col, y, value)
        c.drawString(col + 140, y, label)
        if k % 2:
            y -= 14
    return y - (14 if len(pairs) % 2 else 0)


def _pairs_above(c: canvas.Canvas, pairs: list[tuple[str, str]], y: float) -> float:
    for start in range(0, len(pairs), 3):
        for k, (label, value) in enumerate(pairs[start : start + 3]):
            c.setFont("Helvetica-Bold", 8)
            c.drawString(72 + 170 * k, y, label)
            c.setFont("Helvetica", 9)
            c.drawString(72 + 170 * k, y - 12, value)
        y -= 32
    return y


def _parties_above(c: canvas.Canvas, parties: list[tuple[str, str, str]], y: float) -> float:
    for k, (label, name, address) in enumerate(parties):
        x = 72 + 260 * k
        c.setFont("Helvetica-Bold", 9)
        c.drawString(x, y, label)
        c.setFont("Helvetica", 9)
        c.drawString(x, y - 12, name)
        c.drawString(x, y - 24, address)
    return y - 44


def _grid(c: canvas.Canvas, pairs: list[tuple[str, str]], y: float, x: float = 72) -> float:
    c.setFont("Helvetica", 9)
    row = 16
    for k, (label, value) in enumerate(pairs):
        top = y - k * row
        c.rect(x, top - 5, 120, row, stroke=1, fill=0)
        c.rect(x + 120, top - 5, 140, row, stroke=1, fill=0)
        c.drawString(x + 4, top, label)
        c.drawString(x + 124, top, value)
    return y - len(pairs) * row - 6


def _items(
    c: canvas.Canvas,
    items: tuple[list[str], list[str]] | None,
    y: float,
    *,
    right_align: bool,
    grid: bool = False,
) -> float:
    if items is None:
        return y
    header, row = items
    xs = (72, 250, 330, 380, 470)[: len(header)]
    widths = [b - a for a, b in zip(xs, [*xs[1:], 560], strict=True)]
    c.setFont("Helvetica-Bold", 9)
    for x, text in zip(xs, header, strict=True):
        c.drawString(x, y, text)
    c.setFont("Helvetica", 9)
    for k, (x, text) in enumerate(zip(xs, row, strict=True)):
        if right_align and k > 0 and any(ch.isdigit() for ch in text):
            c.drawRightString(x + widths[k] - 12, y - 14, text)
        else:
            c.drawString(x, y - 14, text)
    if grid:
        c.line(72, y - 4, 560, y - 4)
        c.line(72, y - 18, 560, y - 18)
    return y - 34


# --- HTML for LibreOffice --------------------------------------------------------------------


def render_html(spec: Spec) -> str:
    """The spec as an HTML page in its ``html_*`` layout (LibreOffice makes it a PDF)."""
    e = escape
    parts = [
        f"<html><head><meta charset='utf-8'><title>{e(spec.name)}</title></head><body>",
        f"<p><b>{e(spec.issuer.name)}</b><br/>{e(spec.issuer.address)}</p><h2>{e(spec.title)}</h2>",
    ]
    parties = [(label, name) for label, name, _ in spec.parties]
    if spec.layout == "html_paragraphs":
        parts += [f"<p>{e(label)}: {e(value)}</p>" for label, value in spec.header + parties]
    elif spec.layout == "html_above":
        for start in range(0, len(spec.header), 3):
            chunk = spec.header[start : start + 3]
            parts.append(
                "<table width='100%'><tr>"
                + "".join(f"<td><b>{e(lbl)}</b></td>" for lbl, _ in chunk)
                + "</tr>"
            )
            parts.append(
                "<tr>" + "".join(f"<td>{e(val)}</td>" for _, val in chunk) + "</tr></table>"
            )
        parts.append(
            "<table width='100%'><tr>"
            + "".join(f"<td><b>{e(lbl)}</b></td>" for lbl, _ in parties)
            + "</tr>"
        )
        parts.append("<tr>" + "".join(f"<td>{e(n)}</td>" for _, n in parties) + "</tr></table>")
    else:  # html_table: key/value rows, two pairs a row
        pairs = spec.header + parties
        parts.append("<table border='1' cellpadding='3'>")
        for start in range(0, len(pairs), 2):
            cells = "".join(
                f"<td>{e(lbl)}</td><td>{e(val)}</td>" for lbl, val in pairs[start : start + 2]
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    if spec.items:
        header, row = spec.items
        parts.append(
            "<p></p><table border='1' cellpadding='3' width='100%'><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in header)
            + "</tr>"
        )
        parts.append("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr></table>")
    parts += [f"<p>{e(label)}: {e(value)}</p>" for label, value in spec.totals]
    parts += [f"<p>{e(text)}</p>" for text in spec.statements]
    parts.append("</body></html>")
    return "\n".join(parts)


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_html(pages: dict[str, str], workdir: Path, timeout: float = 240) -> dict[str, bytes]:
    """HTML pages (name -> html) to PDFs with one headless LibreOffice call."""
    binary = soffice()
    if binary is None:
        raise RuntimeError("LibreOffice (soffice) is not installed")
    src, out = workdir / "html", workdir / "pdf"
    src.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for name, html in pages.items():
        (src / f"{name}.html").write_text(html, encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-", dir=workdir))
    subprocess.run(
        [
            binary,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--infilter=HTML (StarWriter)",
            "--convert-to",
            "pdf:writer_pdf_Export",
            "--outdir",
            str(out),
            *sorted(str(src / f"{name}.html") for name in pages),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "HOME": str(workdir)},
    )
    return {name: (out / f"{name}.pdf").read_bytes() for name in pages}


def corpus(
    seed: int, n_reportlab: int, n_libreoffice: int, workdir: Path | None
) -> list[tuple[Spec, str, bytes]]:
    """(spec, producer, pdf) triples; LibreOffice documents only when ``workdir`` is given."""
    out = [(s, "reportlab", render_pdf(s)) for s in specs(seed, n_reportlab)]
    if workdir is not None and n_libreoffice:
        html_specs = specs(seed + 1, n_libreoffice, HTML_LAYOUTS)
        pdfs = convert_html({s.name: render_html(s) for s in html_specs}, workdir)
        out += [(s, "libreoffice", pdfs[s.name]) for s in html_specs]
    return out


# --- files a document reader must refuse -------------------------------------------------------


def encrypted(pdf: bytes, user: str = "secret", owner: str = "owner") -> bytes:
    """``pdf`` encrypted with AES-256 (an empty ``user`` password opens it without one)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user, owner, algorithm="AES-256")
    return _written(writer)


def png() -> bytes:
    """A small PNG image: not a PDF, whatever the upload says."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(out, format="PNG")
    return out.getvalue()


def image_only() -> bytes:
    """A PDF whose only text is inside a picture: it needs OCR."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(img).text((10, 10), "INVOICE No 123  Total 45.00", fill=0)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.drawImage(ImageReader(img), 72, 500, width=450, height=150)
    c.showPage()
    c.save()
    return buf.getvalue()


def blank_pages(n: int) -> bytes:
    """A PDF of ``n`` empty letter-size pages."""
    writer = PdfWriter()
    for _ in range(n):
        writer.add_blank_page(612, 792)
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
