"""Signed report PDFs: with a signing certificate configured, the stored PDF carries a PAdES
signature that pyHanko's validator accepts against the issuing CA, and any change breaks it."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.factories import build_report, report_facility
from worker.settings import get_settings
from worker.signing import sign_pdf


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificates(where: Path) -> tuple[Path, Path, Path]:
    """A test CA and a document-signing certificate it issued (key, cert, CA cert files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Tickwork Test CA"))
        .issuer_name(_name("Tickwork Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Valley RNG compliance"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (where / "signer.key", where / "signer.pem", where / "ca.pem")
    paths[0].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


def _validate(pdf: bytes, ca: Path):  # type: ignore[no-untyped-def]
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(ca))])
    (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return validate_pdf_signature(signature, context)


@pytest.fixture
def signing(tmp_path: Path, configure) -> Path:  # type: ignore[no-untyped-def]
    key, cert, ca = _certificates(tmp_path)
    configure(TICKWORK_REPORT_SIGNING_KEY=str(key), TICKWORK_REPORT_SIGNING_CERT=str(cert))
    return ca


@pytest.fixture
def db(any_db: str, configure, signing: Path) -> str:  # type: ignore[no-untyped-def]
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def test_a_built_report_pdf_is_signed_and_validates(db: str, signing: Path) -> None:
    _, fac = report_facility(db, points=False)
    # A quarter without data still makes a PDF (it says so): enough to sign.
    row = build_report(db, fac, fmt="pdf")
    assert row.status == "generated", row.error
    status = _validate(row.content, signing)
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted
    assert status.signing_cert.subject.native["common_name"] == "Valley RNG compliance"


def test_a_changed_byte_breaks_the_signature(signing: Path) -> None:
    from pipelines.lcfs import LcfsInputs, compute_quarter, render_lcfs_pdf

    report = compute_quarter(LcfsInputs("fac-1", "Plant", "UTC", 2025, 3))
    signed = sign_pdf(render_lcfs_pdf(report), settings=get_settings())
    assert _validate(signed, signing).bottom_line
    at = signed.index(b"/Title (LCFS") + len(b"/Title (")  # inside the signed byte range
    tampered = signed[:at] + b"X" + signed[at + 1 :]
    assert not _validate(tampered, signing).intact


def test_without_a_certificate_the_pdf_is_left_as_rendered(configure) -> None:  # type: ignore[no-untyped-def]
    from pipelines.lcfs import LcfsInputs, compute_quarter, render_lcfs_pdf

    configure(TICKWORK_REPORT_SIGNING_KEY="", TICKWORK_REPORT_SIGNING_CERT="")
    pdf = render_lcfs_pdf(compute_quarter(LcfsInputs("fac-1", "Plant", "UTC", 2025, 3)))
    assert sign_pdf(pdf, settings=get_settings()) == pdf
