"""Operations through the API: /healthz and /readyz, /metrics, and /v1/stats after real work.

The work (ingest, report, documents, webhook deliveries) is real: submitted through the API,
then the task bodies run here, in this process, exactly as a worker runs them, on PostgreSQL and
SQLite; webhooks go to a local HTTP receiver.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tests.asgi import AppClient
from tests.factories import (
    MAPPING,
    Receiver,
    Tenant,
    assert_error,
    invoice,
    make_tenant,
    new_facility,
)
from worker.delivery.webhooks import Settings, deliver_due
from worker.kinds import QUEUES
from worker.storage.db import session_scope
from worker.storage.models import Document, Job, Report, WebhookMessage
from worker.storage.tenants import create_api_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- /healthz and /readyz ----------------------------------------------------------------------


def test_readyz_is_ready_when_database_and_broker_answer(client: AppClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_is_503_when_the_broker_is_unreachable(client: AppClient, configure) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    configure(TICKWORK_BROKER_URL=url, TICKWORK_REDIS_URL=url)
    response = client.get("/readyz")
    error = assert_error(response, 503, "not_ready")
    assert error["type"] == "service_unavailable"
    assert error["checks"] == {"database": "ok", "broker": "unavailable"}
    assert "broker" in error["message"] and "database" not in error["message"]
    assert "127.0.0.1" not in response.text  # no internals to strangers
    assert client.get("/healthz").json() == {"status": "ok"}  # liveness does not care


def test_readyz_is_503_when_the_database_is_unreachable(client: AppClient, configure) -> None:
    configure(TICKWORK_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    error = assert_error(client.get("/readyz"), 503, "not_ready")
    assert error["checks"] == {"database": "unavailable", "broker": "ok"}
    assert client.get("/healthz").status_code == 200


# --- /metrics ----------------------------------------------------------------------------------


def scrape(client: AppClient) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_by_route_template(client: AppClient, alice: Tenant) -> None:
    before = scrape(client)
    for _ in range(3):
        client.get("/v1/jobs/job_nope", headers=alice.headers)
    for _ in range(2):
        client.get("/v1/facilities", headers=alice.headers)
    client.get("/no/such/path")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "tickwork_http_requests_total"
    assert moved(requests, method="GET", route="/v1/jobs/{job_id}", status="404") == 3
    assert moved(requests, method="GET", route="/v1/facilities", status="200") == 2
    assert moved(requests, method="GET", route="unmatched", status="404") == 1
    count = "tickwork_http_request_duration_seconds_count"
    assert moved(count, method="GET", route="/v1/facilities") == 2
    assert not any("/no/such/path" in str(labels) for _, labels in after)  # bounded labels
    assert not any("job_nope" in str(labels) for _, labels in after)


def test_metrics_state_gauges_read_broker_and_database(
    client: AppClient, alice: Tenant, configure
) -> None:
    fac = new_facility(client, alice)
    content = f"facility_id,tag,timestamp,value\n{fac},flow,2025-01-01T00:00:00Z,1\n".encode()
    for _ in range(2):  # two jobs: their messages wait in the ingest queue (no worker here)
        response = client.post("/v1/data-points/import", headers=alice.headers,
                               files={"file": ("p.csv", content, "text/csv")})  # fmt: skip
        assert response.status_code == 202
    endpoints = [client.post("/v1/webhook-endpoints", headers=alice.headers,
                             json={"url": "https://hooks.example.com/in"}).json()["id"]
                 for _ in range(2)]  # fmt: skip
    for endpoint in endpoints:
        client.post(f"/v1/webhook-endpoints/{endpoint}/test", headers=alice.headers)
    off = client.patch(f"/v1/webhook-endpoints/{endpoints[1]}", headers=alice.headers,
                       json={"enabled": False})  # fmt: skip
    assert off.status_code == 200, off.text  # its message waits, but is not due for sending

    samples = scrape(client)
    depths = {q: value(samples, "tickwork_queue_depth", queue=q) for q in QUEUES}
    assert depths == {q: 2.0 if q == "ingest" else 0.0 for q in QUEUES}
    assert value(samples, "tickwork_jobs", status="queued") == 2
    assert value(samples, "tickwork_jobs", status="running") == 0
    assert value(samples, "tickwork_webhook_backlog") == 1
    assert value(samples, "tickwork_job_oldest_queued_age_seconds") >= 0
    assert value(samples, "tickwork_metrics_source_up", source="broker") == 1
    assert value(samples, "tickwork_metrics_source_up", source="database") == 1

    url = f"redis://127.0.0.1:{closed_port()}/0"
    configure(TICKWORK_BROKER_URL=url, TICKWORK_REDIS_URL=url)
    samples = scrape(client)  # still served: the broker's gauges are missing, and say so
    assert value(samples, "tickwork_metrics_source_up", source="broker") == 0
    assert not any(name == "tickwork_queue_depth" for name, _ in samples)
    assert value(samples, "tickwork_jobs", status="queued") == 2


# --- /v1/stats ---------------------------------------------------------------------------------


@pytest.fixture
def ops(any_db: str, redis_url: str, configure) -> Iterator[dict]:
    configure(
        TICKWORK_DATABASE_URL=any_db,
        TICKWORK_BROKER_URL=redis_url,
        TICKWORK_REDIS_URL=redis_url,
        TICKWORK_WEBHOOK_ALLOW_HTTP="true",
        TICKWORK_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
    )
    from api.app import create_app

    with AppClient(create_app(), raise_server_exceptions=False) as client:
        yield {"client": client, "db": any_db}


DELIVERY = Settings(
    allow=["127.0.0.1/32"],
    allow_http=True,
    connect_timeout=1.0,
    timeout=1.0,
    concurrency=10,
    disable_after=timedelta(days=365),  # keep retrying the failing endpoint to the last attempt
)


def ingest_rows(client: AppClient, who: Tenant, content: bytes, **form: str) -> dict:
    from worker.tasks.ingest import process_upload

    response = client.post("/v1/data-points/import", headers=who.headers, data=form,
                           files={"file": ("p.csv", content, "text/csv")})  # fmt: skip
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    process_upload(job_id)
    return client.get(f"/v1/jobs/{job_id}", headers=who.headers).json()


def _document(client: AppClient, who: Tenant, pdf: bytes, **form: str) -> None:
    from worker.tasks.documents import process

    response = client.post("/v1/documents", headers=who.headers, data=form,
                           files={"file": ("i.pdf", pdf, "application/pdf")})  # fmt: skip
    assert response.status_code == 202, response.text
    process(response.json()["job_id"])


def _usage(points: int = 0, jobs: int = 0, reports: int = 0, documents: int = 0,
           succeeded: int = 0, failed: int = 0) -> dict:  # fmt: skip
    return {"points_ingested": points, "ingest_jobs": jobs, "reports_built": reports,
            "documents_processed": documents,
            "webhook_deliveries": {"succeeded": succeeded, "failed": failed}}  # fmt: skip


def test_stats_count_real_work_by_facility_and_tenant(ops: dict, receiver: Receiver) -> None:
    from api.routes.stats import utc_now
    from worker.tasks.reports import build_lcfs

    client, db = ops["client"], ops["db"]
    month = "2025-06"  # the month everything below is dated in, and "now" for the API
    client.app.dependency_overrides[utc_now] = lambda: datetime(2025, 6, 20, 9, 30, tzinfo=UTC)
    alice, bob = make_tenant(db, "Alice Fuels"), make_tenant(db, "Bob Biogas")
    fac_a = new_facility(client, alice, name="North Digester")
    fac_b = new_facility(client, alice, name="South Station")
    subscriptions = {"/ok": ["report.generated", "document.processed"],
                     "/down": ["ingest.completed"]}  # fmt: skip
    for path, events in subscriptions.items():
        body = {"url": receiver.url + path, "event_types": events}
        response = client.post("/v1/webhook-endpoints", headers=alice.headers, json=body)
        assert response.status_code == 201, response.text
    receiver.status["/down"] = 500

    # Facility named per row: attributed through the tags the job wrote.
    rows_a = "".join(f"{fac_a},flow,2025-01-01T00:0{i}:00Z,{i}\n" for i in range(3))
    file_a = f"facility_id,tag,timestamp,value\n{rows_a}".encode()
    assert ingest_rows(client, alice, file_a)["result"]["inserted"] == 3
    assert ingest_rows(client, alice, file_a)["result"]["inserted"] == 0  # the same file: no points
    # Facility named with the upload.
    file_b = b"tag,timestamp,value\nkwh,2025-01-01T00:00:00Z,1\nkwh,2025-01-01T01:00:00Z,2\n"
    assert ingest_rows(client, alice, file_b, facility_id=fac_b)["result"]["inserted"] == 2
    # Two facilities in one file: its result cannot be split, so it is unattributed.
    mixed = (f"facility_id,tag,timestamp,value\n{fac_a},gas,2025-01-02T00:00:00Z,1\n"
             f"{fac_b},gas,2025-01-02T00:00:00Z,1\n").encode()  # fmt: skip
    assert ingest_rows(client, alice, mixed)["result"]["inserted"] == 2
    # A job that fails in the worker (a header naming a column twice) counts, with no points.
    bad = b"tag,timestamp,value,value\nkwh,2025-01-03T00:00:00Z,1,2\n"
    assert ingest_rows(client, alice, bad, facility_id=fac_b)["status"] == "failed"

    mapped = client.put(f"/v1/facilities/{fac_a}/fuel-mappings", headers=alice.headers,
                        json={"data": [MAPPING]})  # fmt: skip
    assert mapped.status_code == 200, mapped.text
    wanted = {"report_type": "lcfs_quarterly", "facility_id": fac_a, "quarter": "Q1",
              "year": 2025, "format": "csv"}  # fmt: skip
    built = client.post("/v1/reports", headers=alice.headers, json=wanted).json()
    build_lcfs(built["job_id"])
    queued = client.post("/v1/reports", headers=alice.headers, json={**wanted, "format": "json"})
    assert queued.status_code == 202  # requested, never built: not counted
    _document(client, alice, invoice(), facility_id=fac_b)
    _document(client, alice, invoice(number="VB-00043"))  # no facility

    now = datetime.now(UTC)
    deliver_due(settings=DELIVERY, batch_size=100, now=now)
    for day in range(1, 30):  # the failing endpoint, to the end of its retry schedule
        if not deliver_due(settings=DELIVERY, batch_size=100, now=now + timedelta(days=day)):
            break
    # Work counts in the month it was submitted: date all of it in June 2025, so the counts
    # below cannot depend on which month the test runs in (or straddles).
    with session_scope(db) as s:
        for model in (Job, Report, Document, WebhookMessage):
            s.execute(update(model).values(created_at=datetime(2025, 6, 15, tzinfo=UTC)))

    response = client.get("/v1/stats", headers=alice.headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    start = f"{month}-01T00:00:00Z"
    assert stats["tenant_id"] == alice.id
    assert stats["period"]["start"] == start and stats["period"]["end"].startswith(month)
    assert stats["period"]["end"].endswith("T23:59:59Z")
    assert stats["by_facility"] == {
        fac_a: {"name": "North Digester", **_usage(points=3, jobs=1, reports=1, succeeded=1)},
        fac_b: {"name": "South Station", **_usage(points=2, jobs=2, documents=1, succeeded=1)},
    }
    # The re-sent file and the mixed one; a document without facility; four ingest.completed
    # messages given up on, one document.processed delivered.
    assert stats["unattributed"] == _usage(points=2, jobs=2, documents=1, succeeded=1, failed=4)
    assert stats["totals"] == _usage(points=7, jobs=5, reports=1, documents=2, succeeded=3,
                                     failed=4)  # fmt: skip
    assert len(receiver.got) > 7  # the failing endpoint really was retried

    explicit = client.get("/v1/stats", headers=alice.headers, params={"period": month})
    assert explicit.json() == stats
    with session_scope(db) as s:  # a read-only key of the tenant may read its stats
        _, reader = create_api_key(s, tenant_id=alice.id, scope="read")
    as_reader = client.get("/v1/stats", headers={"Authorization": f"Bearer {reader}"})
    assert as_reader.status_code == 200 and as_reader.json() == stats

    past = client.get("/v1/stats", headers=alice.headers, params={"period": "2020-02"}).json()
    assert past["period"] == {"start": "2020-02-01T00:00:00Z", "end": "2020-02-29T23:59:59Z"}
    assert (past["totals"], past["by_facility"]) == (_usage(), {})

    theirs = client.get("/v1/stats", headers=bob.headers)
    assert theirs.status_code == 200
    assert theirs.json()["tenant_id"] == bob.id
    assert theirs.json()["totals"] == _usage() and theirs.json()["by_facility"] == {}
    assert fac_a not in theirs.text and "North Digester" not in theirs.text


def test_stats_period_must_be_a_month(ops: dict) -> None:
    who = make_tenant(ops["db"], "T")
    for period in ("2026-13", "2026-1", "26-01", "2026-00", "1900-01", "9999-12", "now", ""):
        response = ops["client"].get("/v1/stats", headers=who.headers, params={"period": period})
        assert_error(response, 400, "invalid_parameter", "period")
    december = ops["client"].get("/v1/stats", headers=who.headers, params={"period": "2025-12"})
    assert december.json()["period"] == {"start": "2025-12-01T00:00:00Z",
                                         "end": "2025-12-31T23:59:59Z"}  # fmt: skip


def test_stats_need_a_key(ops: dict) -> None:
    assert_error(ops["client"].get("/v1/stats"), 401, "unauthorized")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_everything_from_this_server(client: AppClient, page: str) -> None:
    """/docs and /redoc work without internet: every script, style and icon they name is
    served here, and nothing points to another host."""
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assets += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html.text)  # Swagger UI's spec URL
    assert any(a.endswith(".js") for a in assets), assets
    assert not [a for a in assets if "//" in a], assets  # no other host, no scheme
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
