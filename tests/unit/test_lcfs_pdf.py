"""The LCFS PDF a compliance officer files from: page numbers, Before filing, sign-off,
provenance hashes, facility-local times, data quality, trends and no internal-note language."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from pipelines.lcfs import (
    DocumentCheck,
    LcfsInputs,
    LcfsReport,
    Transaction,
    compute_quarter,
    render_lcfs_pdf,
)
from pipelines.lcfs.pdf.style import local_time, public, zone_label
from pipelines.lcfs.render import (
    render_lcfs_calculation_csv,
    render_lcfs_json,
    render_lcfs_upload_csv,
)
from pipelines.lcfs.report import DailyQuality
from pipelines.lcfs.synthetic import make_quarter

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")

TZ = "America/Los_Angeles"
NOTES = "lcfs" + ".md"  # the name of a notes file that is not part of the product
INTERNAL = (NOTES, "[2nd]", "NOT FOUND", "VERIFY", "reference/", "justia excerpt")
NOTICE = "Contains figures not yet checked against the regulation text — see Before filing"
AUDIT_HEAD = "5e0c" + "d1" * 30
HD_CNG = "Heavy-Duty/Off-Road: CNG or LNG (Spark-Ignition Engines)"


def _quality() -> tuple[DailyQuality, ...]:
    rows = []
    for tag in ("FIT-101", "FIT-102", "FQ-201"):
        for k in range(92):
            day = (dt.date(2025, 7, 1) + dt.timedelta(days=k)).isoformat()
            low = tag == "FIT-102" and k in (40, 41)
            rows.append(
                DailyQuality(
                    tag,
                    day,
                    60.0 if low else 95.0,
                    40.0 if low else 99.9,
                    30.0 if k % 10 == 0 else 0.0,
                    k % 7 == 0,
                    1 if k == 5 else 0,
                )
            )
    return tuple(rows)


@pytest.fixture(scope="module")
def report() -> LcfsReport:
    points, mappings = make_quarter(2025, 3, tz=TZ, tags=3, interval="1h", seed=5)
    stopped = (points["tag"] == "FIT-101") & (points["ts"] >= pd.Timestamp("2025-09-28T19:00Z"))
    points = points[~stopped].reset_index(drop=True)  # the meter stops: an unfilled gap
    return compute_quarter(
        LcfsInputs(
            facility_id="fac-7",
            facility_name="Kern Clean Fuels",
            timezone=TZ,
            year=2025,
            quarter=3,
            mappings=mappings,
            points=points,
            transactions=(  # no business partner: a warning
                Transaction(
                    "CA-RD-9",
                    "renewable_diesel",
                    2_000,
                    "gal",
                    38.0,
                    "Sold with Obligation",
                    dt.date(2025, 8, 14),
                    reference="PTD-17",
                ),
            ),
            documents=(
                DocumentCheck("PTD-17", dt.date(2025, 8, 14), 2_000, 1_990, 10, "pass", "gal"),
                DocumentCheck("INV-4", dt.date(2025, 9, 3), 900, 700, 200, "fail", "gal"),
                DocumentCheck(
                    "BOL-8",
                    dt.date(2025, 9, 9),
                    500,
                    490,
                    10,
                    "warn",
                    "gal",
                    resolution_note="Meter proved on 2025-09-12, within tolerance.",
                ),
            ),
            organization_fein="98-7654321",
            organization_name="Kern Clean Fuels LLC",
            carb_facility_id="F-00777",
            preparer="Dana Ortiz",
            reviewer="",
            generated_at=dt.datetime(2025, 10, 6, 17, 30, tzinfo=dt.UTC),
            software_version="tickwork 0.1.0",
            audit_head=AUDIT_HEAD,
            daily_quality=_quality(),
        )
    )


@pytest.fixture(scope="module")
def pdf(report: LcfsReport) -> bytes:
    return render_lcfs_pdf(report)


@pytest.fixture(scope="module")
def pages(pdf: bytes, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return _pages(pdf, tmp_path_factory.mktemp("pdf"))


def _pages(pdf: bytes, where: Path) -> list[str]:
    path = where / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode().split("\f")[:-1]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_page_says_page_n_of_m(pages: list[str]) -> None:
    assert len(pages) >= 5
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text


def test_before_filing_lists_the_warnings_on_the_first_page(
    report: LcfsReport, pages: list[str]
) -> None:
    assert any("names no business partner" in w for w in report.warnings)
    assert any("not filled" in w for w in report.warnings)
    first = _flat(pages[0])
    assert "Before filing" in first
    for warning in report.warnings:
        assert _flat(warning) in first
    assert "INV-4" in first  # a failed reconciliation without a resolution note


def test_unconfirmed_figures_are_flagged_on_every_page(
    report: LcfsReport, pages: list[str], tmp_path: Path
) -> None:
    assert report.unconfirmed  # the packaged benchmarks are not yet checked
    assert all(NOTICE in page for page in pages)
    clean = render_lcfs_pdf(dataclasses.replace(report, unconfirmed=()))
    assert not any(NOTICE in page for page in _pages(clean, tmp_path))


def test_identity_sign_off_and_generation_time(report: LcfsReport, pages: list[str]) -> None:
    text = "\n".join(pages)
    for value in ("Kern Clean Fuels LLC", "98-7654321", "F-00777", "tickwork 0.1.0"):
        assert value in text
    sign = pages[-1]
    assert "Sign-off" in sign and "Signature" in sign and "Date" in sign
    assert "Prepared by" in sign and "Dana Ortiz" in sign
    reviewed = next(line for line in sign.splitlines() if "Reviewed by" in line)
    assert (
        len(re.findall(r"_{15,}", reviewed)) == 3
    )  # no reviewer given: name, signature and date to fill
    assert "2025-10-06 10:30 PDT" in text and "2025-10-06T17:30:00Z" in text
    assert "America/Los_Angeles (PST/PDT)" in text


def test_provenance_hashes(report: LcfsReport, pages: list[str]) -> None:
    text = "\n".join(pages)
    assert report.input_sha256 in text
    assert AUDIT_HEAD in text
    assert hashlib.sha256(render_lcfs_upload_csv(report)).hexdigest() in text
    assert hashlib.sha256(render_lcfs_calculation_csv(report)).hexdigest() in text
    assert hashlib.sha256(render_lcfs_json(report)).hexdigest() in text
    assert "report.generated" in _flat(text)


def test_times_are_facility_local(report: LcfsReport, pages: list[str]) -> None:
    text = "\n".join(pages)
    assert report.gaps
    zone = ZoneInfo(TZ)
    for gap in report.gaps:
        start = dt.datetime.fromisoformat(gap.gap_start.replace("Z", "+00:00")).astimezone(zone)
        assert start.strftime("%Y-%m-%d %H:%M %Z") in text
        assert gap.gap_start not in text and gap.gap_start[:16].replace("T", " ") not in text
    assert "2025-07-01 00:00 PDT to 2025-10-01 00:00 PDT" in text


def test_application_names_quality_and_trends(report: LcfsReport, pages: list[str]) -> None:
    text = "\n".join(pages)
    assert HD_CNG in text
    assert "cng_lng_hd_si" not in text and "diesel_ci" not in text
    assert "Daily completeness and quality metrics" in text
    assert "uncertain (suspect) are counted as measured" in _flat(text)
    assert "Daily meter trends" in text
    for tag in ("FIT-101", "FIT-102", "FQ-201"):
        assert f"{tag} | " in _flat(text)  # a trend chart title per mapped meter
    assert "Substituted (hatched)" in text and "gap in the readings" in text
    assert "gap not filled (not claimed)" in text
    assert "2025-08-10: 40.00%" in text  # FIT-102's lowest day
    assert "Meter proved on 2025-09-12, within tolerance." in _flat(text)


def test_biomethane_balance_is_shown_when_claimed(report: LcfsReport, pages: list[str]) -> None:
    assert report.biomethane
    text = "\n".join(pages)
    assert "Biomethane book-and-claim balance" in text
    assert "EXCESS CLAIM" in text


def test_no_internal_note_language(report: LcfsReport, pages: list[str], tmp_path: Path) -> None:
    text = "\n".join(pages)
    for marker in INTERNAL:
        assert marker not in text
    noisy = dataclasses.replace(
        report, warnings=(f"Benchmark per reference/{NOTES} §2 [2nd], see {NOTES}.",)
    )
    text = "\n".join(_pages(render_lcfs_pdf(noisy), tmp_path))
    assert NOTES not in text and "[2nd]" not in text and "Benchmark per" in text


def test_valid_and_byte_identical(report: LcfsReport, pdf: bytes, tmp_path: Path) -> None:
    assert render_lcfs_pdf(report) == pdf
    if shutil.which("qpdf"):
        path = tmp_path / "r.pdf"
        path.write_bytes(pdf)
        subprocess.run(["qpdf", "--check", str(path)], check=True, capture_output=True)


def test_time_helpers() -> None:
    assert zone_label("America/Los_Angeles", 2025) == "America/Los_Angeles (PST/PDT)"
    assert zone_label("UTC", 2025) == "UTC"
    assert local_time("2025-08-01T19:05:30Z", "America/Los_Angeles") == "2025-08-01 12:05:30 PDT"
    assert public(f"mean (EPA Part 98 analog, {NOTES} §6)") == "mean (EPA Part 98 analog)"


def test_many_tags_lay_out(tmp_path: Path) -> None:
    # Drawings cannot split across pages: charts and strips are cut into chunks of tags.
    points, mappings = make_quarter(2025, 3, tz=TZ, tags=45, interval="6h", seed=2)
    quality = tuple(
        DailyQuality(
            m.tag, (dt.date(2025, 7, 1) + dt.timedelta(days=k)).isoformat(), 90.0, 99.0, 0.0, 0, 0
        )
        for m in mappings
        for k in range(92)
    )
    built = compute_quarter(
        LcfsInputs("f", "F", TZ, 2025, 3, mappings, points, daily_quality=quality)
    )
    pages = _pages(render_lcfs_pdf(built), tmp_path)
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert "FQ-212 | " in _flat("\n".join(pages))
