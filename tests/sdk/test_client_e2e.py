"""The client library against a real ``tickwork serve``: the quick start, paging, uploads and
jobs, reports, documents, analyses, the audit log, errors and idempotency keys."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import tickwork_client
from tickwork_client import models

from tests.factories import Tenant
from tests.fault.harness import gap_csv, invoice_pdf, meter_csv
from tests.sdk.recording import Recorder
from tests.serving import Server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

START = datetime(2025, 10, 1, tzinfo=UTC)


def _facility_with_points(client: tickwork_client.Client, rows: int = 2500) -> str:
    facility = client.facilities.create(name="RNG plant", timezone="UTC")
    accepted = client.data_points.import_csv(
        meter_csv(rows, tags=1, start="2025-10-01"), facility_id=facility.id, filename="m.csv"
    )
    job = client.jobs.wait(accepted, timeout=120)
    assert job.status == "succeeded", job
    assert job.result is not None and job.result["inserted"] == rows
    return facility.id


def test_quick_start_lists_2500_points_through_pages(
    client: tickwork_client.Client, recorder: Recorder
) -> None:
    facility_id = _facility_with_points(client)
    recorder.statuses.clear()

    # The quick start, as written: every point, pages fetched as the loop needs them.
    data_points = client.data_points.list(
        facility_id=facility_id, start_date="2025-10-01", end_date="2025-10-31"
    )
    points = []
    for point in data_points:
        points.append(point)
    assert len(points) == 2500 == data_points.total
    pages = [s for s in recorder.statuses if s[1] == "/v1/data-points"]
    assert pages == [("GET", "/v1/data-points", 200)] * 25  # server default: 100 a page
    assert len({p.id for p in points}) == 2500
    stamps = [p.timestamp for p in points]
    assert stamps == sorted(stamps) and stamps[0] == START
    assert stamps[-1] == START + timedelta(minutes=2499)
    assert all(isinstance(p, models.DataPoint) and p.tag == "flow_0" for p in points)
    assert all(t.tzinfo is not None for t in stamps)

    # Bigger pages: 3 requests; and nothing is fetched before the loop asks.
    recorder.statuses.clear()
    pager = client.data_points.list(
        facility_id=facility_id, start_date=START, end_date=START + timedelta(days=7), limit=1000
    )
    assert recorder.statuses == []
    first_page = next(iter(pager.pages()))
    assert len(first_page.items) == 1000 and len(recorder.statuses) == 1
    assert [p.id for p in pager] == [p.id for p in points]
    sent = [r for r in recorder.requests if r.url.path == "/v1/data-points"]
    # The server offers cursors: after the first page the client continues from the last id.
    after = [r.url.params.get("starting_after") for r in sent[-3:]]
    assert after[0] is None and all(after[1:]) and len(set(after[1:])) == 2
    assert [r.url.params.get("page") for r in sent[-3:]] == [None, None, None]


def test_upload_csv_wait_for_job_and_rejected_rows(client: tickwork_client.Client) -> None:
    facility = client.facilities.create(name="Plant")
    csv = (
        b"tag,timestamp,value\n"
        b"flow,2025-01-01T00:00:00Z,1.0\n"
        b"flow,2025-01-01T00:01:00,2.0\n"
        b"flow,2025-01-01T00:02:00Z,three\n"
        b"flow,2025-01-01T00:03:00Z,4.0\n"
    )
    accepted = client.data_points.import_csv(csv, facility_id=facility.id)
    assert accepted.job_id.startswith("job_")
    job = client.jobs.wait(accepted.job_id, timeout=120)
    assert job.status == "succeeded" and job.kind == "ingest.process_upload"
    assert job.result is not None
    assert (job.result["rows"], job.result["accepted"], job.result["rejected"]) == (4, 2, 2)
    assert isinstance(job.created_at, datetime) and isinstance(job.finished_at, datetime)
    assert job.logs and isinstance(job.logs[0], models.LogLine)
    rejected = list(client.jobs.rejected_rows(job.id))
    assert [(r.row, r.raw) for r in rejected] == [
        (3, "flow,2025-01-01T00:01:00,2.0"),
        (4, "flow,2025-01-01T00:02:00Z,three"),
    ]
    assert job.id in [j.id for j in client.jobs.list(kind="ingest.process_upload")]

    batch = client.data_points.create(
        [{"tag": "flow", "timestamp": datetime(2025, 1, 1, 0, 5, tzinfo=UTC), "value": 5.0}],
        facility_id=facility.id,
    )
    assert client.jobs.wait(batch, timeout=120).status == "succeeded"
    values = [
        p.value
        for p in client.data_points.list(
            facility_id=facility.id, start_date="2025-01-01", end_date="2025-01-01"
        )
    ]
    assert values == [1.0, 4.0, 5.0]


def test_build_and_download_a_report(client: tickwork_client.Client, tmp_path: Path) -> None:
    facility_id = _facility_with_points(client)
    mapping = models.FuelMapping(
        tag="flow_0",
        fuel_pathway_code="CNG-RNG-001",
        fuel_type="rng",
        ci=40.0,
        unit="m3",
        kind="rate",
        rate_per="h",
    )
    saved = client.facilities.set_fuel_mappings(facility_id, [mapping])
    assert [m.tag for m in saved] == ["flow_0"]
    assert client.facilities.fuel_mappings(facility_id)[0].fuel_pathway_code == "CNG-RNG-001"

    report = client.reports.create(facility_id=facility_id, quarter="Q4", year=2025)
    assert report.status == "queued" and report.quarter == "Q4"
    with pytest.raises(tickwork_client.ConflictError) as not_yet:
        client.reports.download(report)
    assert not_yet.value.code == "report_not_ready"
    done = client.reports.wait(report, timeout=300)
    assert done.status == "generated", done
    assert isinstance(done.generated_at, datetime)
    pdf = client.reports.download(done, to=tmp_path / "q4.pdf")
    assert pdf.startswith(b"%PDF-")
    assert hashlib.sha256(pdf).hexdigest() == done.file_sha256
    assert (tmp_path / "q4.pdf").read_bytes() == pdf
    assert [r.id for r in client.reports.list(facility_id=facility_id)] == [report.id]


def test_document_upload_and_get(client: tickwork_client.Client) -> None:
    content, expected = invoice_pdf()
    accepted = client.documents.upload(content, document_type="invoice", filename="inv.pdf")
    document = client.documents.wait(accepted, timeout=120)
    assert document.status == "processed", document
    assert document.filename == "inv.pdf" and document.pages == 2
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert "fuel_pathway_code" in document.fields
    field = document.fields["fuel_pathway_code"]
    assert isinstance(field, models.DocumentField)
    assert field.value == expected["fuel_pathway_code"] and 0 < field.confidence <= 1
    again = client.documents.upload(content, filename="inv.pdf")
    assert again.duplicate and again.document_id == accepted.document_id
    assert [d.id for d in client.documents.list()] == [document.id]
    reviewed = client.documents.review(document.id, resolution_note="matched the BOL")
    assert (
        reviewed.resolution_note
        == "matched the BOL"
        == client.documents.get(document.id).resolution_note
    )
    extracted = document.fields["quantity"].value
    corrected = client.documents.review(document.id, {"quantity": extracted + 10})
    assert corrected.effective_fields["quantity"]["value"] == extracted + 10
    assert corrected.reviewed_fields["quantity"]["extracted"] == extracted
    assert corrected.fields["quantity"].value == extracted  # what was read stays
    with pytest.raises(tickwork_client.InvalidRequestError) as refused:
        client.documents.review(document.id, {"no_such_field": 1})
    assert refused.value.field == "fields.no_such_field"
    with pytest.raises(ValueError):
        client.documents.review(document.id, {"quantity": 1}, resolution_note="both")


def test_gaps_quality_alerts_events_and_audit_log(client: tickwork_client.Client) -> None:
    facility = client.facilities.create(name="Plant", timezone="UTC")
    client.tags.create(facility.id, name="flow", unit="m3/h", expected_interval_seconds=60)
    job = client.jobs.wait(client.data_points.import_csv(gap_csv(), facility_id=facility.id))
    assert job.status == "succeeded"
    analysis = client.jobs.wait(job.result["analysis_job_id"], timeout=120)  # type: ignore[index]
    assert analysis.status == "succeeded", analysis

    gaps = list(client.gaps.list(facility_id=facility.id, tag="flow", status="closed"))
    assert sorted(g.duration_minutes for g in gaps) == [30.0, 90.0, 150.0]
    assert all(isinstance(g.gap_start, datetime) and g.gap_start.tzinfo for g in gaps)
    (trailing,) = client.gaps.list(facility_id=facility.id, status="open")  # data stopped
    assert trailing.gap_start == datetime(2025, 1, 15, 23, 59, tzinfo=UTC)
    quality = list(client.quality.list(facility_id=facility.id))
    assert [q.day.isoformat() for q in quality] == ["2025-01-15"]
    assert 0 < quality[0].score < 100 and 0 < quality[0]["completeness"] < 1
    alerts = list(client.alerts.list(facility_id=facility.id, rule="gap_too_long"))
    assert len(alerts) == 3 and all(a.tag == "flow" for a in alerts)  # 90, 150 min, open
    seen = client.alerts.acknowledge(alerts[0].id)
    assert seen.id == alerts[0].id and seen.acknowledged_at is not None
    assert seen.acknowledged_by.startswith("api_key:")
    assert [
        a.acknowledged_at is not None
        for a in client.alerts.list(facility_id=facility.id, rule="gap_too_long")
    ] == [True, False, False]
    events = list(client.events.list(type="data_gap.detected"))
    assert len(events) == 4 and all(e.event == "data_gap.detected" for e in events)
    assert {30.0, 90.0, 150.0} < {e.data["duration_minutes"] for e in events}
    assert all(isinstance(e.timestamp, datetime) for e in events)

    tag = client.tags.get(facility.id, "flow")
    assert tag.expected_interval_seconds == 60
    assert [t.name for t in client.tags.list(facility.id)] == ["flow"]

    entries = list(client.audit_log.list(limit=2))
    assert entries and [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert {"ingest.completed"} <= {e.action for e in entries} | {
        e.action for e in client.audit_log.list(action="ingest.completed")
    }
    one = client.audit_log.get(entries[0].id)
    assert one.chain["row_hash"] == entries[0].chain["row_hash"]
    verified = client.audit_log.verify()
    assert verified.valid and verified.entries == len(list(client.audit_log.list()))
    assert verified.first_problem is None


def test_errors_are_typed(client: tickwork_client.Client, server: Server) -> None:
    with pytest.raises(tickwork_client.NotFoundError) as missing:
        client.jobs.get("job_does_not_exist")
    assert missing.value.status_code == 404 and missing.value.type == "not_found"

    facility = client.facilities.create(name="Plant")
    with pytest.raises(tickwork_client.InvalidRequestError) as bad:
        # a list is lazy: the error comes with its first page
        list(
            client.data_points.list(
                facility_id=facility.id, start_date="yesterday", end_date="2025"
            )
        )
    assert bad.value.status_code == 400 and bad.value.field == "start_date"
    assert bad.value.type == "invalid_request" and bad.value.code

    with pytest.raises(tickwork_client.InvalidRequestError) as bad_quarter:
        client.reports.create(facility_id=facility.id, quarter="Q5", year=2025)
    assert bad_quarter.value.field is not None

    with (
        tickwork_client.Client("tw_nope_nope", base_url=server.url) as stranger,
        pytest.raises(tickwork_client.AuthenticationError) as denied,
    ):
        stranger.facilities.get(facility.id)
    assert denied.value.status_code == 401

    with (
        tickwork_client.Client(
            "tw_x", base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=1
        ) as nowhere,
        pytest.raises(tickwork_client.APIConnectionError),
    ):
        nowhere.facilities.get("fac_x")


def _closed_port() -> int:
    from worker.broker import free_port

    return free_port()


def test_every_post_carries_its_own_idempotency_key(
    client: tickwork_client.Client, recorder: Recorder
) -> None:
    facility = client.facilities.create(name="A")
    client.facilities.create(name="B")
    client.data_points.import_csv(
        b"tag,timestamp,value\nf,2025-01-01T00:00:00Z,1\n", facility_id=facility.id
    )
    client.facilities.get(facility.id)
    posts = [r for r in recorder.requests if r.method == "POST"]
    keys = [r.headers.get("idempotency-key") for r in posts]
    assert len(posts) == 3 and len(set(keys)) == 3
    assert all(uuid.UUID(k).version == 4 for k in keys if k)
    gets = [r for r in recorder.requests if r.method == "GET"]
    assert gets and all("idempotency-key" not in r.headers for r in gets)


def test_async_client(server: Server, tenant: Tenant) -> None:
    async def run() -> None:
        async with tickwork_client.AsyncClient(tenant.key, base_url=server.url) as client:
            facility = await client.facilities.create(name="Async plant")
            accepted = await client.data_points.import_csv(
                meter_csv(1200, tags=1, start="2025-10-01"), facility_id=facility.id
            )
            job = await client.jobs.wait(accepted, timeout=120)
            assert job.status == "succeeded"
            pager = client.data_points.list(
                facility_id=facility.id,
                start_date="2025-10-01",
                end_date="2025-10-02",
                limit=500,
            )
            points = [p async for p in pager]
            assert len(points) == 1200 == pager.total
            assert points[0].timestamp == START
            with pytest.raises(tickwork_client.NotFoundError):
                await client.reports.get("rep_missing")
            stats = await client.request("GET", "/v1/stats")
            assert stats["totals"]["points_ingested"] == 1200

    asyncio.run(run())


def test_a_custom_http_client_and_raw_request(server: Server, tenant: Tenant) -> None:
    with httpx.Client() as http:
        with tickwork_client.Client(tenant.key, base_url=server.url, http_client=http) as client:
            assert client.request("GET", "/v1/audit-log/verify")["valid"] is True
        assert not http.is_closed  # the caller's client stays the caller's to close
