"""LCFS reports from stored data: the build task on both databases, the schedule, the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from pipelines import lcfs
from tests.factories import RNG_RATE, build_report, report_facility, rng_mapping
from worker.storage.db import session_scope
from worker.storage.models import Event, Facility, Report
from worker.storage.reports import (
    add_transactions,
)
from worker.tasks.reports import periods_due

RATE = RNG_RATE  # m3/h on tag rng_flow every 10 minutes of 2025 Q4 (report_facility)
MAPPING = rng_mapping()


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def test_quarter_report_from_stored_points(db: str) -> None:
    _, fac = report_facility(db)
    row = build_report(db, fac, fmt="json")
    assert row.status == "generated", row.error
    body = json.loads(row.content)
    hours = (datetime(2026, 1, 1, 8, tzinfo=UTC) - datetime(2025, 10, 1, 7, tzinfo=UTC)) / (
        timedelta(hours=1))  # fmt: skip
    # Hand computation: quantity = 10 m3/h x hours; m3 -> scf (35.3146667 scf/m3, NIST);
    # energy density of RNG 0.98 MJ/scf; Q4 2025 diesel benchmark 81.70 x EER 0.9 (HD SI).
    quantity = RATE * hours
    energy = quantity * 35.31466672148859 * 0.98
    expected = (81.70 * 0.9 - 40.0) * energy * 1e-6
    assert row.has_data is True
    assert row.totals["net_mt"] == pytest.approx(expected, rel=1e-6)
    assert body["totals"]["net_mt"] == pytest.approx(expected, rel=1e-6)
    assert row.input_sha256 and len(row.input_sha256) == 64
    with session_scope(db) as s:
        events = [e.payload for e in s.scalars(select(Event).where(
            Event.type == "report.generated"))]  # fmt: skip
    assert [e["data"]["report_id"] for e in events] == [row.id]
    assert events[0]["data"]["input_sha256"] == row.input_sha256


def test_same_data_twice_gives_the_same_bytes_and_hash(db: str) -> None:
    _, fac = report_facility(db)
    first, second = build_report(db, fac, fmt="csv"), build_report(db, fac, fmt="csv")
    assert first.id != second.id
    assert first.content == second.content
    assert first.input_sha256 == second.input_sha256
    assert first.file_sha256 == second.file_sha256


def test_pdf_is_valid_and_carries_the_totals(db: str) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    _, fac = report_facility(db)
    pdf, as_json = build_report(db, fac, fmt="pdf"), build_report(db, fac, fmt="json")
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
    assert as_json.totals["display"]["net_mt"] in text
    assert pdf.input_sha256 == as_json.input_sha256
    assert pdf.input_sha256 in text.replace("\n", "")


def test_transactions_count_in_the_report(db: str) -> None:
    _, fac = report_facility(db, points=False)
    with session_scope(db) as s:
        add_transactions(s, facility=s.get(Facility, fac), source="api", transactions=[
            lcfs.Transaction(fuel_pathway_code="CNG-RNG-001", fuel_type="rng", quantity=1000.0,
                             unit="scf", ci=40.0, transaction_type="Purchased with Obligation",
                             date=datetime(2025, 11, 3).date())])  # fmt: skip
    row = build_report(db, fac, fmt="json")
    expected = (81.70 * 0.9 - 40.0) * 1000.0 * 0.98 * 1e-6
    assert row.totals["net_mt"] == pytest.approx(expected, rel=1e-9)


def test_transactions_on_the_quarters_first_and_last_local_day_count(db: str) -> None:
    """2025 Q4 in Los Angeles: 1 October and 31 December count, 30 September and 1 January
    (in the neighbouring quarters) do not."""
    _, fac = report_facility(db, points=False)
    days = {"2025-09-30": 1.0, "2025-10-01": 10.0, "2025-12-31": 100.0, "2026-01-01": 1000.0}
    with session_scope(db) as s:
        add_transactions(s, facility=s.get(Facility, fac), source="api", transactions=[
            lcfs.Transaction(fuel_pathway_code="CNG-RNG-001", fuel_type="rng", quantity=q,
                             unit="scf", ci=40.0, transaction_type="Purchased with Obligation",
                             date=datetime.fromisoformat(day).date())
            for day, q in days.items()])  # fmt: skip
    row = build_report(db, fac, fmt="json")
    assert row.status == "generated", row.error
    per_scf = (81.70 * 0.9 - 40.0) * 0.98 * 1e-6
    assert row.totals["net_mt"] == pytest.approx(110.0 * per_scf, rel=1e-9)


def test_a_quarter_without_data_says_so(db: str) -> None:
    _, fac = report_facility(db)
    row = build_report(db, fac, fmt="json", quarter=3)  # the points are all in Q4
    assert row.status == "generated"
    assert row.has_data is False
    assert "credits_mt" not in row.totals
    assert "no meter data" in row.totals["message"]


def test_a_year_without_benchmark_fails_the_report_not_the_worker(db: str) -> None:
    _, fac = report_facility(db, points=False)
    row = build_report(db, fac, fmt="pdf", year=2031, quarter=1)
    assert row.status == "failed"
    assert row.error.startswith("lcfs_no_benchmark:")
    with session_scope(db) as s:
        failed = s.scalar(select(func.count()).select_from(Event).where(
            Event.type == "report.failed"))  # fmt: skip
    assert failed == 1


def test_schedule_builds_the_closed_quarter_once_and_weekly_drafts(db: str, redis_url: str,
                                                                   configure) -> None:  # fmt: skip
    from worker.tasks import reports

    configure(TICKWORK_REDIS_URL=redis_url, TICKWORK_BROKER_URL=redis_url)
    report_facility(db, points=False)
    # 2026-01-01 07:30 UTC is still 2025-12-31 in Los Angeles: Q4 has not closed there yet.
    assert periods_due("America/Los_Angeles", datetime(2026, 1, 1, 7, 30, tzinfo=UTC))[0][:2] == (
        2025, 3)  # fmt: skip
    at = datetime(2026, 1, 2, 12, tzinfo=UTC).isoformat()
    assert reports.schedule_quarterly.run(at) == 2  # Q4 final + this week's Q1 draft
    assert reports.schedule_quarterly.run(at) == 0  # the same period again: nothing new
    later = datetime(2026, 1, 9, 12, tzinfo=UTC).isoformat()
    assert reports.schedule_quarterly.run(later) == 1  # a new week: a new draft only
    with session_scope(db) as s:
        rows = s.execute(select(Report.year, Report.quarter, Report.draft)).all()
    assert sorted(rows) == [(2025, 4, False), (2026, 1, True), (2026, 1, True)]


def test_document_fuel_of_a_metered_pathway_is_not_counted_twice(db: str) -> None:
    _, fac = report_facility(db, points=False)
    day = datetime(2025, 11, 3).date()

    def tx(fpc: str) -> lcfs.Transaction:
        return lcfs.Transaction(fuel_pathway_code=fpc, fuel_type="rng", quantity=1000.0,
                                unit="scf", ci=40.0, transaction_type="Sold with Obligation",
                                date=day)  # fmt: skip

    with session_scope(db) as s:
        facility = s.get(Facility, fac)
        add_transactions(s, facility=facility, source="document", document_id="doc_metered",
                         transactions=[tx(MAPPING.fuel_pathway_code)])  # fmt: skip
        add_transactions(s, facility=facility, source="document", document_id="doc_other",
                         transactions=[tx("CNG-RNG-OTHER-002")])  # fmt: skip
    row = build_report(db, fac, fmt="json")
    codes = {p["fuel_pathway_code"] for p in row.totals["by_pathway"]}
    assert codes == {"CNG-RNG-OTHER-002"}  # the metered pathway's document is reconciled only
