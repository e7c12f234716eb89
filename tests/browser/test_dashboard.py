"""The dashboard in a real headless Chromium against a running ``tickwork serve``: signing in and
out, each page, an upload to a finished job, a report to a download, API keys created and
revoked, a read-only key refused on every form, and another tenant's pages not found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipelines.gaps import find_stale_gaps
from tests.browser.browsing import Browser, Visit
from tests.factories import (
    document_facility,
    ingest_rows,
    invoice,
    make_tenant,
    minute_rows,
    report_facility,
    serve,
    submit_document,
    wait_for,
)
from tests.serving import Server
from worker.storage import tenants
from worker.storage.analysis import (
    last_usable_times,
    reconcile_stale_gaps,
    tags_of,
    tags_with_points,
)
from worker.storage.db import session_scope
from worker.storage.endpoints import send_test
from worker.storage.models import (
    Alert,
    Document,
    Facility,
    FuelTransaction,
    Job,
    Report,
    WebhookEndpoint,
)
from worker.storage.points import count_points
from worker.storage.reports import create_report
from worker.storage.webhooks import create_endpoint
from worker.tasks.analysis import thresholds

# One worker runs them all, so one server (and one browser) serves the package.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
]

GAP_MINUTES = 300  # one hole in the readings: above the 60-minute alert threshold


def _plant(server: Server, *, scope: str = "write") -> tuple[str, str, str]:
    """A tenant with a facility whose tag ``flow_rate`` has 1-minute readings from three days
    ago to 30 minutes ago, but for a ``GAP_MINUTES`` hole the day before yesterday (06:00 UTC
    on) and a spike that day, analysed: (tenant id, facility id, API key). The stale scan then
    opens a trailing gap, since the readings stopped."""
    tenant = make_tenant(server.db, "plant", scope=scope)
    fac = f"fac_{tenant.id[-8:]}"
    with session_scope(server.db) as s:
        s.add(
            Facility(
                id=fac,
                tenant_id=tenant.id,
                name="Valley RNG",
                timezone="UTC",
                created_at=datetime.now(UTC),
            )
        )
    now = datetime.now(UTC)
    ingest_rows(server.db, tenant.id, fac, _readings(), now=now)
    with session_scope(server.db) as s:  # what the beat's stale scan does, now rather than soon
        tags = tags_of(s, tenant_id=tenant.id, tag_ids=[t.id for t in tags_with_points(s)])
        gaps = find_stale_gaps(last_usable_times(s, tags=tags), now=pd.Timestamp(now))
        reconcile_stale_gaps(s, tags=tags, gaps=gaps, thresholds=thresholds())
    return tenant.id, fac, tenant.key


def _readings() -> list[tuple[datetime, float]]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first = now.replace(hour=0, minute=0) - timedelta(days=3)
    hole = first + timedelta(days=1, hours=6)
    count = int((now - timedelta(minutes=30) - first) / timedelta(minutes=1))
    spike = first + timedelta(days=1, hours=15)  # and one spike, the same day
    rows = [
        (t, 500.0 if t == spike else 40.0 + (i % 7) * 0.5)
        for i, (t, _) in enumerate(minute_rows(first, count))
    ]
    return [r for r in rows if not hole <= r[0] < hole + timedelta(minutes=GAP_MINUTES)]


def _read_only_key(server: Server, tenant_id: str) -> str:
    with session_scope(server.db) as s:
        _, key = tenants.create_api_key(s, tenant_id=tenant_id, name="viewer", scope="read")
    return key


def test_sign_in_and_sign_out(server: Server, browser: Browser) -> None:
    _, _, key = _plant(server)
    v = browser.visit()
    v.go("/app/")  # not signed in: sent to the form, and back after
    assert "/app/sign-in" in v.page.url
    v.page.fill("#api_key", "tw_nothing_wrong")
    v.page.click("button[type=submit]")
    assert "not valid" in v.page.inner_text("[role=alert]")
    v.sign_in(key)
    assert v.page.inner_text("h1") == "Facilities"
    cookie = next(c for c in v.context.cookies() if c["name"] == "tw_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and key not in cookie["value"]
    v.page.click("text=Sign out")
    v.page.wait_for_url(re.compile(r".*/app/sign-in$"))
    v.go("/app/jobs")
    assert "/app/sign-in" in v.page.url


def test_overview_facility_and_tag_pages(server: Server, browser: Browser) -> None:
    tenant_id, fac, key = _plant(server)
    v = browser.visit()
    v.sign_in(key)
    row = v.page.locator("tr", has_text="Valley RNG")
    assert "1 open" in row.inner_text()  # the trailing gap; the hole is closed
    assert "100.0 %" in row.inner_text()  # yesterday's completeness
    assert "2 new" in row.inner_text()  # alerts: the hole and the trailing gap

    v.follow("text=Valley RNG")
    assert v.page.inner_text("h1") == "Valley RNG"
    assert v.page.locator("table.heat td a").count() >= 3  # three scored days
    v.follow(v.page.locator("table.heat td.q-poor a").first)  # the day with the hole
    assert "completeness" in v.page.inner_text("#dims")
    assert "0.79" in v.page.inner_text("#dims")  # (1440 - 300) / 1440
    assert v.page.locator("svg.timeline rect.gapbar").count() == 2
    gaps = v.page.locator("section[aria-labelledby=gaps-h] tbody tr")
    assert [gaps.nth(i).locator("td .badge").inner_text() for i in range(2)] == ["open", "closed"]
    cells = gaps.nth(1).locator("td")  # last reading before to first after; readings missing
    assert (cells.nth(2).inner_text(), cells.nth(3).inner_text()) == (
        f"{GAP_MINUTES + 1}",
        f"{GAP_MINUTES}",
    )

    alerts = v.page.locator("#alerts button:has-text('Acknowledge')").count()
    with v.page.expect_navigation():
        v.page.locator("#alerts button:has-text('Acknowledge')").first.click()
    assert v.page.locator("#alerts button:has-text('Acknowledge')").count() == alerts - 1
    with session_scope(server.db) as s:
        seen = s.query(Alert).filter(Alert.facility_id == fac, Alert.acknowledged_at.isnot(None))
        assert [a.acknowledged_by.split("_")[0] for a in seen] == ["api"]

    v.follow("text=flow_rate")
    chart = v.page.locator("figure.trend svg")
    assert chart.locator("polyline.line").count() == 2  # broken by the hole, not drawn across
    assert chart.locator("rect.gap").count() == 2  # the hole and the trailing gap
    [day] = chart.locator("rect.dayflag").all()  # the day of the spike
    assert "1 spike" in day.locator("title").text_content()
    caption = v.page.inner_text("figure.trend figcaption")
    readings = int(re.search(r"(\d+) readings", caption).group(1))
    drawn = int(re.search(r"drawn from (\d+)", caption).group(1))
    with session_scope(server.db) as s:  # every stored reading of the tag is in the range
        stored = count_points(s, tenant_id=tenant_id, facility_id=fac)
    assert readings == stored and drawn <= 4 * 880 < readings


def test_csv_upload_to_a_finished_job(server: Server, browser: Browser, tmp_path) -> None:
    _, fac, key = _plant(server)
    csv = tmp_path / "points.csv"
    lines = [f"flow,2025-01-01T00:{m:02d}:00Z,{m}.5" for m in range(30)]
    csv.write_text("tag,timestamp,value\n" + "\n".join(lines) + "\nflow,not-a-time,1\n")
    v = browser.visit()
    v.sign_in(key)
    v.go("/app/upload")
    v.page.select_option("#facility_id", fac)
    v.page.set_input_files("#file", str(csv))
    v.page.click("button:has-text('Upload')")
    v.page.wait_for_url(re.compile(r".*/app/jobs/job_\w+$"))
    v.page.wait_for_selector("#job-status .badge:text('succeeded')", timeout=60_000)
    assert v.page.locator("#upload-bar").count() == 0  # on the job's page now
    rejected = v.page.locator("table.list tbody tr")
    assert rejected.count() == 1 and rejected.first.locator("th").inner_text() == "32"
    assert "not-a-time" in rejected.first.inner_text()
    v.go("/app/jobs")
    assert v.page.locator("tbody tr .badge:text('succeeded')").count() >= 1


def test_report_request_to_download(server: Server, browser: Browser) -> None:
    tenant_id, fac = report_facility(server.db)
    with session_scope(server.db) as s:
        _, key = tenants.create_api_key(s, tenant_id=tenant_id, name="compliance")
    v = browser.visit()
    v.sign_in(key)
    v.go("/app/reports")
    v.page.select_option("#r-facility", fac)
    v.page.fill("#r-year", "2025")
    v.page.select_option("#r-quarter", "Q4")
    v.page.fill("#r-preparer", "A. Engineer")
    v.page.click("button:has-text('Request report')")
    link = v.page.locator("a:has-text('Download PDF')")
    link.wait_for(timeout=90_000)  # the page refreshes while the report is queued
    with v.page.expect_download() as download:
        link.click()
    path = download.value.path()
    assert path is not None and Path(path).read_bytes()[:5] == b"%PDF-"
    assert download.value.suggested_filename == f"lcfs_{fac}_2025Q4.pdf"
    v.follow("table.list tbody th a")  # the report's own page: totals and a preview
    totals = v.page.inner_text("#totals")
    assert re.search(r"Net\s+[\d,.]+ t CO₂e", totals), totals
    assert v.page.get_attribute("object.pdf", "type") == "application/pdf"


def test_api_key_created_and_revoked(server: Server, browser: Browser) -> None:
    _, _, key = _plant(server)
    admin = browser.visit()
    admin.sign_in(key)
    admin.go("/app/settings/keys")
    admin.page.fill("#k-name", "SCADA export")
    admin.page.select_option("#k-scope", "read")
    admin.page.click("button:has-text('Create key')")
    new_key = admin.page.input_value("#new-key")
    assert new_key.startswith("tw_")
    admin.go("/app/settings/keys")  # shown once: not on the page again
    assert new_key not in admin.page.content()

    other = browser.visit()
    other.sign_in(new_key)
    assert "read-only" in other.page.inner_text("header")

    row = admin.page.locator("tr", has_text="SCADA export")
    with admin.page.expect_navigation():
        row.locator("button:has-text('Revoke')").click()
    assert "revoked" in admin.page.locator("tr", has_text="SCADA export").inner_text()
    other.go("/app/")  # the revoked key's session ends at once
    assert "/app/sign-in" in other.page.url


@dataclass(frozen=True)
class Things:
    """One of each object a dashboard form acts on, of one tenant."""

    facility: str
    alert: str
    key: str
    job: str
    report: str
    document: str
    endpoint: str
    message: str


def _things(server: Server, tenant_id: str, fac: str) -> Things:
    with session_scope(server.db) as s:
        alert = s.query(Alert).filter(Alert.facility_id == fac).first().id
        key = tenants.list_api_keys(s, tenant_id=tenant_id)[0].id
        job = s.query(Job).filter(Job.tenant_id == tenant_id).first().id
        report, _ = create_report(s, facility=s.get(Facility, fac), year=2025, quarter=4, fmt="pdf")
        endpoint, _ = create_endpoint(
            s, tenant_id=tenant_id, url="https://example.com/hook", event_types=[]
        )
        message = send_test(s, endpoint=endpoint)
        report_id, endpoint_id = report.id, endpoint.id
    job_id = submit_document(server.db, tenant_id, invoice(), facility_id=fac)
    with session_scope(server.db) as s:
        document = s.get(Job, job_id).params["document_id"]
    assert message is not None
    return Things(fac, alert, key, job, report_id, document, endpoint_id, message)


def _forms(t: Things) -> dict[str, dict[str, str]]:
    """Every dashboard form that changes something, aimed at ``t``, with valid fields."""
    return {
        f"/app/alerts/{t.alert}/acknowledge": {},
        "/app/settings/keys": {"name": "x", "scope": "write"},
        f"/app/settings/keys/{t.key}/revoke": {},
        "/app/reports": {"facility_id": t.facility, "year": "2025", "quarter": "Q4"},
        "/app/webhooks": {"url": "https://example.com/other"},
        f"/app/webhooks/{t.endpoint}": {"description": "x", "enabled": "on"},
        f"/app/webhooks/{t.endpoint}/rotate": {},
        f"/app/webhooks/{t.endpoint}/test": {},
        f"/app/webhooks/{t.endpoint}/recover": {"since": "2026-01-01T00:00"},
        f"/app/webhook-messages/{t.message}/resend": {},
        f"/app/documents/{t.document}/note": {"note": "x"},
        f"/app/documents/{t.document}/review": {"field.quantity": "1"},
    }


def test_read_only_key_is_refused_on_every_form(server: Server, browser: Browser) -> None:
    tenant_id, fac, _ = _plant(server)
    things = _things(server, tenant_id, fac)
    v = browser.visit()
    v.sign_in(_read_only_key(server, tenant_id))
    v.go(f"/app/facilities/{fac}")
    assert v.page.locator("button:has-text('Acknowledge')").count() == 0
    token = v.csrf()
    for path, fields in _forms(things).items():
        answer = v.page.request.post(
            server.url + path, form={"csrf": token, **fields}, max_redirects=0
        )
        assert answer.status == 403 and "read-only" in answer.text(), path
    for path, name in (("/app/upload", "a.csv"), ("/app/documents", "a.pdf")):
        upload = v.page.request.post(
            server.url + path,
            headers={"X-CSRF-Token": token},
            multipart={
                "file": {
                    "name": name,
                    "mimeType": "text/csv",
                    "buffer": b"tag,timestamp,value\nf,2025-01-01T00:00:00Z,1\n",
                },
                "facility_id": fac,
            },
            max_redirects=0,
        )
        assert upload.status == 403, path
    stale = v.page.request.post(
        server.url + "/app/settings/keys", form={"name": "x"}, max_redirects=0
    )
    assert stale.status == 403 and "stale" in stale.text()  # no token: refused before scope
    with session_scope(server.db) as s:
        assert s.get(Alert, things.alert).acknowledged_at is None
        assert len(tenants.list_api_keys(s, tenant_id=tenant_id)) == 2
        assert s.get(WebhookEndpoint, things.endpoint).description == ""
        assert s.get(Document, things.document).resolution_note == ""
        assert s.query(Report).filter(Report.facility_id == fac).count() == 1


def test_another_tenants_pages_and_forms_are_not_found(server: Server, browser: Browser) -> None:
    a_tenant, a_fac, _ = _plant(server)
    a = _things(server, a_tenant, a_fac)
    _, _, b_key = _plant(server)
    v = browser.visit()
    v.sign_in(b_key)
    pages = (
        f"/app/facilities/{a.facility}",
        f"/app/facilities/{a.facility}/tags/flow_rate",
        f"/app/jobs/{a.job}",
        f"/app/reports/{a.report}",
        f"/app/reports/{a.report}/file",
        f"/app/documents/{a.document}",
        f"/app/webhooks/{a.endpoint}",
    )
    for path in pages:
        answer = v.go(path)
        assert answer.status == 404, path
    v.go("/app/")
    token = v.csrf()
    for path, fields in _forms(a).items():
        if (
            a.facility not in path
            and path != "/app/reports"
            and not any(
                ident in path for ident in (a.alert, a.key, a.endpoint, a.message, a.document)
            )
        ):
            continue  # creates something of B's own: not about A
        answer = v.page.request.post(
            server.url + path, form={"csrf": token, **fields}, max_redirects=0
        )
        assert answer.status == 404, path
    for listing in (
        "/app/",
        "/app/jobs",
        "/app/reports",
        "/app/documents",
        "/app/webhooks",
        "/app/audit",
        "/app/settings/keys",
    ):
        text = v.go(listing).text()
        for ident in (a.facility, a.job, a.report, a.document, a.endpoint, a.key):
            assert ident not in text, (listing, ident)


def test_webhook_endpoint_created_tested_and_resent(server: Server, browser: Browser) -> None:
    _, _, key = _plant(server)
    receiver, httpd = serve()
    receiver.status["/hook"] = 500  # the first delivery fails
    try:
        v = browser.visit()
        v.sign_in(key)
        v.go("/app/webhooks")
        v.page.fill("#w-url", f"{receiver.url}/hook")
        v.page.check("input[value='report.generated']")  # none happen here: only the test event
        v.page.click("button:has-text('Add endpoint')")
        secret = v.page.input_value("#new-secret")
        assert secret.startswith("whsec_")
        v.page.click(f"a:has-text('{receiver.url}/hook')")
        with v.page.expect_navigation():
            v.page.click("button:has-text('Send a test event')")
        assert "test event" in v.page.inner_text("[role=status]")
        failed = _reload_until(v, "table.attempts .badge:text('failure')")
        assert "500" in failed.locator("xpath=ancestor::tr").inner_text()

        receiver.status["/hook"] = 200
        with v.page.expect_navigation():
            v.page.locator("table.attempts button:has-text('Resend')").first.click()
        assert "queued again" in v.page.inner_text("[role=status]")
        _reload_until(v, "table.attempts .badge:text('success')")
        ids = {r.headers["webhook-id"] for r in receiver.got}
        assert len(ids) == 1 and len(receiver.got) >= 2  # the same message, sent again
        [payload] = {
            r.body: p for r, p in zip(receiver.got, receiver.verified(secret), strict=True)
        }.values()
        assert payload["event"] == "endpoint.test"

        v.page.select_option("#f-status", "failure")
        v.follow("button:has-text('Filter')")
        outcomes = v.page.locator("table.attempts tbody .badge").all_inner_texts()
        assert outcomes and set(outcomes) == {"failure"}
    finally:
        httpd.shutdown()


def _reload_until(v: Visit, selector: str, timeout: float = 60) -> object:
    """Reload the page until ``selector`` is on it (deliveries happen in the worker)."""

    def shown() -> object | None:
        found = v.page.locator(selector)
        if found.count():
            return found.first
        v.page.reload()
        return None

    return wait_for(shown, timeout=timeout, what=f"{selector} on the page", every=1)


def test_document_upload_to_its_fields(server: Server, browser: Browser, tmp_path) -> None:
    _, _, key = _plant(server)
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(invoice(1234.5))
    v = browser.visit()
    v.sign_in(key)
    v.go("/app/documents")
    v.page.set_input_files("#d-file", str(pdf))
    v.page.select_option("#d-type", "invoice")
    v.page.click("button:has-text('Upload document')")
    v.page.wait_for_url(re.compile(r".*/app/documents/doc_\w+$"))
    v.page.wait_for_selector("#doc-status .badge:text('processed')", timeout=60_000)
    quantity = v.page.locator("#fields tr", has_text="quantity")
    assert v.page.input_value("#field-quantity") == "1234.5"
    assert re.search(r"\d+ %", quantity.inner_text())  # its confidence
    assert "Not reconciled" in v.page.inner_text("main")  # no facility named


def test_document_review_changes_its_reconciliation(
    server: Server, browser: Browser, tmp_path
) -> None:
    tenant_id, fac = document_facility(server.db)
    with session_scope(server.db) as s:
        _, key = tenants.create_api_key(s, tenant_id=tenant_id, name="reviewer")
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(invoice(1100.0))  # 14 % above the metered 962.5 gal: fails
    v = browser.visit()
    v.sign_in(key)
    v.go("/app/documents")
    v.page.set_input_files("#d-file", str(pdf))
    v.page.select_option("#d-facility", fac)
    v.page.click("button:has-text('Upload document')")
    v.page.wait_for_selector("#doc-status .badge:text('processed')", timeout=60_000)
    assert v.page.inner_text("#reconciliation .badge") == "fail"

    v.page.fill("#field-quantity", "970")  # the reviewer reads the invoice again
    with v.page.expect_navigation():
        v.page.click("button:has-text('Save review')")
    assert "1 field(s) reviewed" in v.page.inner_text("[role=status]")
    assert v.page.inner_text("#reconciliation .badge") == "pass"
    row = v.page.locator("#fields tr", has_text="quantity")
    assert "reviewed" in row.inner_text() and "1100" in row.inner_text()  # what was read stays
    assert v.page.input_value("#field-quantity") == "970"
    with session_scope(server.db) as s:
        [tx] = s.query(FuelTransaction).filter(FuelTransaction.facility_id == fac).all()
        assert tx.quantity == 970.0


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""


def test_every_control_has_a_label_and_the_keyboard_reaches_the_content(
    server: Server, browser: Browser
) -> None:
    tenant_id, fac, key = _plant(server)
    t = _things(server, tenant_id, fac)
    v = browser.visit()
    v.sign_in(key)
    pages = (
        "/app/",
        f"/app/facilities/{fac}",
        f"/app/facilities/{fac}/tags/flow_rate",
        "/app/upload",
        "/app/jobs",
        f"/app/jobs/{t.job}",
        "/app/reports",
        f"/app/reports/{t.report}",
        "/app/documents",
        f"/app/documents/{t.document}",
        "/app/webhooks",
        f"/app/webhooks/{t.endpoint}",
        "/app/audit",
        "/app/settings/keys",
    )
    for path in pages:
        v.go(path)
        assert v.page.evaluate(UNLABELLED) == [], path
        assert v.page.locator("h1").count() == 1, path
    v.go(f"/app/facilities/{fac}")
    v.page.keyboard.press("Tab")  # the first stop skips the navigation
    assert v.page.evaluate("document.activeElement.textContent") == "Skip to content"
    v.page.keyboard.press("Enter")
    assert v.page.evaluate("document.activeElement.id") == "main"


def test_the_outside_request_check_catches_other_hosts() -> None:
    here = Server(url="http://127.0.0.1:8000", db="", env={}, log=Path("."))
    v = Visit(
        server=here,
        context=None,
        page=None,
        requested=[
            "http://127.0.0.1:8000/app/static/app.css",
            "data:image/png;base64,xx",
            "chrome-extension://abc/index.html",
            "https://cdn.example.com/htmx.js",
            "http://127.0.0.1:80001/app/",
            "https://fonts.googleapis.com/css",
        ],
    )
    assert v.outside() == [
        "https://cdn.example.com/htmx.js",
        "http://127.0.0.1:80001/app/",
        "https://fonts.googleapis.com/css",
    ]
