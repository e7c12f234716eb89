"""Document extraction: value parsing, fields, reconciliation, bad input and fuzzing."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas
from typer.testing import CliRunner

from pipelines.documents import (
    MAX_DOCUMENT_BYTES,
    CorruptPdfError,
    DocumentError,
    EncryptedPdfError,
    ExtractionTimeoutError,
    Limits,
    NeedsOcrError,
    NotAPdfError,
    TooLargeError,
    TooManyPagesError,
    UnsupportedDocumentTypeError,
    extract_document,
    reconcile,
)
from pipelines.documents.values import parse_currency, parse_date, parse_number, parse_unit
from pipelines.errors import PipelineError
from tests.documents_corpus import blank_pages, encrypted, image_only, png, render_pdf, specs
from tests.factories import examples
from worker.cli.documents import documents_app

# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "style", "value", "ambiguous"),
    [
        ("1,234.56", None, 1234.56, False),
        ("1.234,56", None, 1234.56, False),
        ("$20,825.00", None, 20825.0, False),
        ("20.825,00 EUR", None, 20825.0, False),
        ("1 234,5", None, 1234.5, False),
        ("1,234,567", None, 1234567.0, False),
        ("-4.38 gCO2e/MJ", None, -4.38, False),
        ("(12.00)", None, -12.0, False),
        ("45,12", None, 45.12, False),
        ("1,234", None, 1234.0, True),
        ("1,234", "eu", 1.234, True),
        ("1.234", "eu", 1234.0, True),
        ("8500", None, 8500.0, False),
    ],
)
def test_parse_number(text: str, style: str | None, value: float, ambiguous: bool) -> None:
    parsed = parse_number(text, style=style)  # type: ignore[arg-type]
    assert parsed is not None
    assert parsed.value == pytest.approx(value)
    assert parsed.ambiguous is ambiguous


@pytest.mark.parametrize(
    ("text", "order", "iso", "ambiguous"),
    [
        ("2025-03-15", None, "2025-03-15", False),
        ("03/15/2025", None, "2025-03-15", False),
        ("15/03/2025", None, "2025-03-15", False),
        ("15.03.2025", None, "2025-03-15", False),
        ("March 15, 2025", None, "2025-03-15", False),
        ("Mar 15, 2025", None, "2025-03-15", False),
        ("15 Mar 2025", None, "2025-03-15", False),
        ("15-Mar-2025", None, "2025-03-15", False),
        ("4 April 2025", None, "2025-04-04", False),
        ("2025/03/15", None, "2025-03-15", False),
        ("03/04/2025", None, "2025-03-04", True),
        ("03/04/2025", "DMY", "2025-04-03", True),
        ("Date: 02/30/2025", None, None, False),
    ],
)
def test_parse_date(text: str, order: str | None, iso: str | None, ambiguous: bool) -> None:
    parsed = parse_date(text, order=order)  # type: ignore[arg-type]
    if iso is None:
        assert parsed is None
        return
    assert parsed is not None
    assert (parsed.value, parsed.ambiguous) == (iso, ambiguous)


def test_units_and_currencies() -> None:
    assert [parse_unit(t) for t in ("8,500 gallons", "Litres", "12 m3", "MMBtu", "45")] == [
        "gal",
        "L",
        "m3",
        "MMBtu",
        None,
    ]
    assert [parse_currency(t) for t in ("$3.41", "3,45 EUR", "€ 12", "CAD 4", "12.00")] == [
        "USD",
        "EUR",
        "EUR",
        "CAD",
        None,
    ]


# --- extraction ------------------------------------------------------------------------------


def _page(lines: list[tuple[float, float, str]]) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=True)
    c.setFont("Helvetica", 10)
    for x, y, text in lines:
        c.drawString(x, y, text)
    c.showPage()
    c.save()
    return buf.getvalue()


INVOICE_LINES = [
    (72, 720, "VALLEY BIOFUELS CO"),
    (400, 720, "INVOICE"),
    (72, 690, "Invoice No:"),
    (170, 690, "VB-1001"),
    (330, 690, "Invoice Date:"),
    (430, 690, "03/15/2025"),
    (72, 650, "Seller"),
    (330, 650, "Bill To"),
    (72, 638, "Valley Biofuels Co"),
    (330, 638, "Coastal Transit Co"),
    (72, 600, "Product"),
    (250, 600, "Quantity"),
    (330, 600, "Unit"),
    (380, 600, "Unit Price"),
    (470, 600, "Amount"),
    (72, 586, "Renewable Diesel R99"),
    (250, 586, "8,500.00"),
    (330, 586, "gal"),
    (380, 586, "$2.45"),
    (470, 586, "$20,825.00"),
    (330, 550, "Total:"),
    (430, 550, "$20,825.00"),
]
INVOICE = _page(INVOICE_LINES)


def test_invoice_fields_and_arithmetic_check() -> None:
    result = extract_document(INVOICE)
    assert result.document_type == "invoice"
    values = {k: f.value for k, f in result.fields.items()}
    assert values == {
        "document_number": "VB-1001",
        "document_date": "2025-03-15",
        "seller": "Valley Biofuels Co",
        "buyer": "Coastal Transit Co",
        "fuel_type": "Renewable Diesel R99",
        "quantity": 8500.0,
        "unit": "gal",
        "unit_price": 2.45,
        "total_amount": 20825.0,
        "currency": "USD",
    }
    # quantity x unit price = total: all three are raised to "confident"
    assert (
        min(result.fields[n].confidence for n in ("quantity", "unit_price", "total_amount")) >= 0.9
    )
    assert result.fields["quantity"].source == "8,500.00"
    assert result.warnings == ()
    assert (result.pages, result.text_chars > 100) == (1, True)


def test_arithmetic_mismatch_lowers_confidence_and_warns() -> None:
    bad = _page([(x, y, "$21,825.00" if t == "$20,825.00" else t) for x, y, t in INVOICE_LINES])
    result = extract_document(bad)
    assert any("unit price" in w for w in result.warnings)
    assert all(
        result.fields[n].confidence < 0.9 for n in ("quantity", "unit_price", "total_amount")
    )


def test_to_dict_shape_is_json() -> None:
    out = extract_document(INVOICE).to_dict()
    assert set(out) >= {"document_type", "fields", "warnings"}
    assert set(out["fields"]["quantity"]) == {"value", "confidence", "source"}
    json.dumps(out)


def test_ptd_fields_from_lcfs_reference() -> None:
    spec = next(s for s in specs(5, 40) if s.document_type == "product_transfer_document")
    result = extract_document(render_pdf(spec))
    assert result.document_type == "product_transfer_document"
    for name in (
        "transaction_date",
        "fuel_pathway_code",
        "carbon_intensity",
        "quantity",
        "compliance_obligation",
        "seller",
        "buyer",
        "epa_company_id",
        "epa_facility_id",
    ):
        assert result.fields[name].value == spec.expected[name], name


def test_caller_can_force_the_type_and_bad_types_are_rejected() -> None:
    assert (
        extract_document(INVOICE, document_type="bill_of_lading").document_type == "bill_of_lading"
    )
    with pytest.raises(UnsupportedDocumentTypeError):
        extract_document(INVOICE, document_type="receipt")


def test_unknown_document_type_warns() -> None:
    result = extract_document(_page([(72, 700, "Quarterly newsletter: nothing to see here today")]))
    assert result.document_type == "unknown"
    assert any("not recognised" in w for w in result.warnings)


# --- reconciliation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "metered", "status"),
    [
        (1000.0, 1000.0, "pass"),
        (1019.0, 1000.0, "pass"),
        (1030.0, 1000.0, "warn"),
        (950.0, 1000.0, "warn"),
        (949.0, 1000.0, "fail"),
        (0.0, 0.0, "pass"),
        (5.0, 0.0, "fail"),
    ],
)
def test_reconcile(quantity: float, metered: float, status: str) -> None:
    result = reconcile(quantity, "gal", "2025-03-15", metered)
    assert result.status == status
    assert result.difference == pytest.approx(quantity - metered)
    if metered:
        assert result.difference_pct == pytest.approx((quantity - metered) / metered)


def test_reconcile_rejects_bad_tolerances() -> None:
    with pytest.raises(PipelineError):
        reconcile(1.0, "gal", None, 1.0, tolerance_warn=0.1, tolerance_fail=0.05)


# --- bad input -------------------------------------------------------------------------------


def flate_bomb(size: int) -> bytes:
    """A one-page PDF whose content stream inflates to ``size`` bytes."""
    data = zlib.compress(b"0" * size, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_empty_user_password_is_opened() -> None:
    result = extract_document(encrypted(INVOICE, "", "owner-secret"))
    assert result.fields["document_number"].value == "VB-1001"


@pytest.mark.parametrize(
    ("make", "error", "code"),
    [
        (lambda: encrypted(INVOICE, "secret", "owner"), EncryptedPdfError, "encrypted"),
        (lambda: INVOICE[: len(INVOICE) // 2], CorruptPdfError, "corrupt_pdf"),
        (lambda: INVOICE[:200], CorruptPdfError, "corrupt_pdf"),
        (lambda: b"%PDF-1.7\n" + b"\x00garbage" * 50, CorruptPdfError, "corrupt_pdf"),
        (png, NotAPdfError, "not_a_pdf"),
        (lambda: b"Invoice No: 1\nTotal: 3.00\n", NotAPdfError, "not_a_pdf"),
        (lambda: b"", NotAPdfError, "not_a_pdf"),
        (image_only, NeedsOcrError, "needs_ocr"),
        (lambda: blank_pages(5000), TooManyPagesError, "too_many_pages"),
        (lambda: flate_bomb(100 * 2**20), TooLargeError, "too_large"),
    ],
    ids=[
        "password",
        "truncated",
        "header-only",
        "garbage",
        "png",
        "text",
        "empty",
        "scan",
        "5000-pages",
        "flate-bomb",
    ],
)
def test_bad_input_raises_its_leaf(make: object, error: type[DocumentError], code: str) -> None:
    with pytest.raises(error) as info:
        extract_document(make())  # type: ignore[operator]
    assert info.value.code == code
    assert str(info.value)


def test_png_says_what_it_is() -> None:
    with pytest.raises(NotAPdfError) as info:
        extract_document(png())
    assert info.value.detected == "png"


def _zip_holding_the_invoice() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("invoice.pdf", INVOICE)  # stored: "%PDF-" near the start of the file
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "detected"),
    [
        (_zip_holding_the_invoice, "zip"),
        (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 56 + INVOICE, "ole"),
        (lambda: png() + INVOICE, "png"),
        (lambda: b"\x1f\x8b\x08\x00" + b"\x00" * 6 + INVOICE, "gzip"),
        (lambda: b"<html><body>" + INVOICE, "html or xml"),
        (lambda: b"MZ\x90\x00" + INVOICE, "executable"),
    ],
    ids=["zip", "ole", "png", "gzip", "html", "exe"],
)
def test_another_formats_signature_is_not_a_pdf(make: object, detected: str) -> None:
    """A file that starts like another format is that format, even with a PDF inside it."""
    data = make()  # type: ignore[operator]
    assert b"%PDF-" in data[:1024]
    with pytest.raises(NotAPdfError) as info:
        extract_document(data)
    assert (info.value.code, info.value.detected) == ("not_a_pdf", detected)


def test_junk_before_the_pdf_header_is_still_read() -> None:
    assert extract_document(b"\r\n \x00junk\n" + INVOICE).fields


def test_stream_cap_follows_limits() -> None:
    with pytest.raises(TooLargeError) as info:
        extract_document(flate_bomb(4 * 2**20), limits=Limits(max_stream_bytes=2**20))
    assert (info.value.what, info.value.limit) == ("stream", 2**20)


def test_file_size_limit_and_default_constant() -> None:
    assert Limits().max_bytes == MAX_DOCUMENT_BYTES
    with pytest.raises(TooLargeError) as info:
        extract_document(INVOICE, limits=Limits(max_bytes=100))
    assert info.value.what == "file"


def test_time_budget() -> None:
    with pytest.raises(ExtractionTimeoutError) as info:
        extract_document(INVOICE, limits=Limits(timeout_s=0.0))
    assert info.value.code == "timeout"


def test_page_limit_follows_limits() -> None:
    two = render_pdf(next(s for s in specs(7, 12) if s.layout == "multipage"))
    assert extract_document(two).pages == 2
    with pytest.raises(TooManyPagesError):
        extract_document(two, limits=Limits(max_pages=1))


def test_every_error_is_a_pipeline_error_leaf_with_a_code() -> None:
    leaves = [c for c in DocumentError.__subclasses__()]
    assert len({c.code for c in leaves}) == len(leaves)
    assert all(issubclass(c, PipelineError) and not c.__subclasses__() for c in leaves)


SMALL = render_pdf(specs(3, 1)[0])


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(SMALL) - 1), st.integers(0, 255), st.sampled_from("rid")),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, len(SMALL)),
)
def test_fuzzed_pdfs_only_raise_document_errors(
    edits: list[tuple[int, int, str]], cut: int
) -> None:
    data = bytearray(SMALL)
    for at, byte, op in edits:
        at %= max(len(data), 1)
        if op == "r":
            data[at] = byte
        elif op == "i":
            data.insert(at, byte)
        elif data:
            del data[at]
    if cut < len(SMALL) // 8:
        data = data[: cut * 8]
    try:
        extract_document(bytes(data), limits=Limits(timeout_s=10))
    except DocumentError as exc:
        assert not type(exc).__subclasses__()
        assert exc.code


# --- CLI -------------------------------------------------------------------------------------


def test_cli_parse_json(tmp_path: Path) -> None:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(INVOICE)
    result = CliRunner().invoke(documents_app, ["parse", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"document_type", "fields", "warnings"}
    assert out["fields"]["document_number"] == {"value": "VB-1001", "confidence": 0.85}


def test_cli_table_and_type_option(tmp_path: Path) -> None:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(INVOICE)
    result = CliRunner().invoke(documents_app, ["parse", str(path), "--type", "invoice"])
    assert result.exit_code == 0
    assert "VB-1001" in result.output


@pytest.mark.parametrize(
    ("content", "code"), [(b"\x89PNG\r\n\x1a\n....", "not_a_pdf"), (None, "file_not_found")]
)
def test_cli_unreadable_exits_2(tmp_path: Path, content: bytes | None, code: str) -> None:
    path = tmp_path / "scan.pdf"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(documents_app, ["parse", str(path), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["error"]["code"] == code
