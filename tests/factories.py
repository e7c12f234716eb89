"""Helpers shared by several test modules: tenants, API calls, stored data, documents, a webhook
receiver, ingest fuzz inputs and end-to-end process helpers.

Test modules import from here (or get fixtures from a conftest.py), never from each other, so a
test file can be moved, renamed or run alone without breaking another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import redis
from hypothesis import settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    import ssl

    from tests.asgi import AppClient
    from worker.storage.models import Report

T = TypeVar("T")


class TimedOut(AssertionError):
    """What ``wait_for`` raises when its condition never came true."""


def wait_for(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    every: float = 0.05,
    guard: Callable[[], None] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail with ``what``
    after ``timeout`` seconds. ``guard`` runs before each poll (e.g. to fail at once when a
    process died). The one place the tests wait: every wait is on a condition, never a fixed
    sleep."""
    deadline = time.monotonic() + timeout
    while True:
        if guard is not None:
            guard()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# --- tenants ---------------------------------------------------------------------------------


@dataclass
class Tenant:
    id: str
    key: str
    headers: dict[str, str]


def make_tenant(db_url: str, name: str, *, scope: str = "write") -> Tenant:
    from worker.storage.db import session_scope
    from worker.storage.tenants import create_api_key, create_tenant

    with session_scope(db_url) as s:
        tenant = create_tenant(s, name=name)
        _, key = create_api_key(s, tenant_id=tenant.id, scope=scope)
    return Tenant(tenant.id, key, {"Authorization": f"Bearer {key}"})


# --- the HTTP API ----------------------------------------------------------------------------

CSV = (
    b"facility_id,tag,timestamp,value,unit\n"
    b"{fac},flow,2025-01-01T00:00:00Z,1.5,m3/h\n"
    b"{fac},flow,2025-01-01T00:01:00Z,1.6,m3/h\n"
)
MAPPING = {"tag": "flow", "fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng", "ci": 40.0,
           "unit": "m3", "kind": "rate", "rate_per": "h"}  # fmt: skip


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error["field"] == field
    return error


def new_facility(client: AppClient, who: Tenant, **extra) -> str:
    response = client.post(
        "/v1/facilities",
        headers=who.headers,
        json={"name": "Plant", "timezone": "America/Los_Angeles", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def queued_messages(redis_url: str, queue: str = "ingest") -> int:
    return int(redis.Redis.from_url(redis_url).llen(queue))


def tenant_world(client: AppClient, who: Tenant) -> dict[str, str]:
    """One of everything the API has, owned by ``who``: a facility with a tag and fuel mapping,
    an import job, an alert, a webhook endpoint and its test message, a report, a document, a
    second API key (read-only) and audit entries. Returns the ids, by the path parameter names of
    the API."""
    fac = new_facility(client, who)
    tag = client.post(
        f"/v1/facilities/{fac}/tags", headers=who.headers, json={"name": "flow", "unit": "m3/h"}
    )
    assert tag.status_code == 201
    job = client.post(
        "/v1/data-points/import",
        headers=who.headers,
        files={"file": ("p.csv", CSV.replace(b"{fac}", fac.encode()), "text/csv")},
    )
    endpoint = client.post(
        "/v1/webhook-endpoints", headers=who.headers, json={"url": "https://hooks.example.com/in"}
    ).json()
    ping = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=who.headers)
    mapped = client.put(f"/v1/facilities/{fac}/fuel-mappings", headers=who.headers,
                        json={"data": [MAPPING]})  # fmt: skip
    assert mapped.status_code == 200, mapped.text
    wanted = {"report_type": "lcfs_quarterly", "facility_id": fac, "quarter": "Q4", "year": 2025}
    report = client.post("/v1/reports", headers=who.headers, json=wanted)
    assert report.status_code == 202, report.text
    document = client.post("/v1/documents", headers=who.headers,
                           files={"file": ("d.pdf", b"%PDF-1.4 x", "application/pdf")})  # fmt: skip
    assert document.status_code == 202, document.text
    key = client.post("/v1/api-keys", headers=who.headers, json={"name": "world", "scope": "read"})
    assert key.status_code == 201, key.text
    alert = _alert(who.id, fac, tag="flow")
    entries = client.get("/v1/audit-log", headers=who.headers).json()["data"]
    return {
        "alert_id": alert,
        "entry_id": entries[0]["id"],
        "document_id": document.json()["document_id"],
        "report_id": report.json()["id"],
        "facility_id": fac,
        "name": "flow",
        "job_id": job.json()["job_id"],
        "endpoint_id": endpoint["id"],
        "message_id": ping.json()["message_id"],
        "key_id": key.json()["id"],
    }


def _alert(tenant_id: str, facility_id: str, *, tag: str) -> str:
    """An alert on the tag, as the analysis raises one, in the configured database."""
    from sqlalchemy import select

    from worker.storage.db import new_id, session_scope
    from worker.storage.models import Alert, Tag

    with session_scope() as s:
        tag_id = s.scalar(select(Tag.id).where(Tag.facility_id == facility_id, Tag.name == tag))
        alert = Alert(id=new_id("alr"), tenant_id=tenant_id, facility_id=facility_id,
                      tag_id=tag_id, rule="gap_too_long", key="world",
                      message=f"{tag}: no usable data for 90 min", details={"minutes": 90},
                      triggered_at=datetime.now(UTC))  # fmt: skip
        s.add(alert)
        return alert.id


def store_points(db_url: str, tenant_id: str, facility_id: str) -> None:
    """Hourly points of tags ``flow`` (m3/h) and ``ch4`` (%) for 2025-01-01 and -02, UTC."""
    from worker.storage.db import session_scope
    from worker.storage.points import resolve_tags, upsert_points

    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        (tag, start + timedelta(hours=h), float(h)) for tag in ("flow", "ch4") for h in range(48)
    ]
    points = pd.DataFrame(
        {
            "row": range(len(rows)),
            "facility_id": pd.Categorical([facility_id] * len(rows)),
            "tag": pd.Categorical([r[0] for r in rows]),
            "ts": pd.to_datetime([r[1] for r in rows], utc=True).as_unit("us"),
            "value": [r[2] for r in rows],
            "unit": pd.Categorical(["m3/h" if r[0] == "flow" else "%" for r in rows]),
            "quality": [0] * len(rows),
        }
    )
    with session_scope(db_url) as s:
        resolved = resolve_tags(s, tenant_id=tenant_id, points=points, intervals=pd.Series())
        upsert_points(
            s,
            tag_id=resolved.tag_id,
            ts=points["ts"],
            value=points["value"].to_numpy(),
            quality=points["quality"].to_numpy(),
        )


# --- stored, analysed data -------------------------------------------------------------------

ANALYSED_AT = datetime(2025, 2, 1, tzinfo=UTC)


def setup_facility(db: str, *, tz: str = "UTC", strict: bool = False) -> tuple[str, str]:
    """A new tenant with one facility: (tenant id, facility id)."""
    from worker.storage.db import session_scope
    from worker.storage.models import Facility

    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        fac = Facility(
            id=f"fac_{tenant.id[-8:]}",
            tenant_id=tenant.id,
            name="F",
            timezone=tz,
            strict_tags=strict,
            created_at=datetime.now(UTC),
        )
        s.add(fac)
    return tenant.id, fac.id


def minute_rows(start: datetime, count: int, value: float = 1.0) -> list[tuple[datetime, float]]:
    return [(start + timedelta(minutes=i), value) for i in range(count)]


def ingest_rows(
    db: str,
    tenant_id: str,
    fac: str,
    rows: list[tuple[datetime, float]],
    tag: str = "flow_rate",
    now: datetime = ANALYSED_AT,
) -> dict:
    """Store ``rows`` of ``tag`` as an ingest job does, then analyse them (a 60 s cadence)."""
    from sqlalchemy import select

    from pipelines.ingest import parse_csv
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job
    from worker.storage.models import Tag
    from worker.storage.points import store_parsed
    from worker.tasks.analysis import analyse

    body = "".join(f"{fac},{tag},{t.isoformat()},{v}\n" for t, v in rows)
    parsed = parse_csv(("facility_id,tag,timestamp,value\n" + body).encode())
    with session_scope(db) as s:
        job = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload")
    with session_scope(db) as s:
        result = store_parsed(s, job_id=job.id, tenant_id=tenant_id, upload_id=None, parsed=parsed)
        s.flush()
        ranges = {
            int(k): (
                datetime.fromisoformat(a.replace("Z", "+00:00")),
                datetime.fromisoformat(b.replace("Z", "+00:00")),
            )
            for k, (a, b) in result["ranges"].items()
        }
        tags = list(s.scalars(select(Tag).where(Tag.id.in_(list(ranges)))))
        for t in tags:  # tests state the cadence rather than rely on the first batch's median
            t.expected_interval_s = 60.0
        return analyse(s, tags=tags, ranges=ranges, now=now)


# --- LCFS reports ----------------------------------------------------------------------------

# 10 m3/h of RNG for the whole of 2025 Q4 (Los Angeles time), one reading every 10 minutes.
RNG_RATE = 10.0


def rng_mapping() -> Any:
    from pipelines import lcfs

    return lcfs.TagMapping(tag="rng_flow", fuel_pathway_code="CNG-RNG-001", fuel_type="rng",
                           ci=40.0, unit="m3", kind="rate", rate_per="h")  # fmt: skip


def report_facility(db: str, *, points: bool = True) -> tuple[str, str]:
    """A tenant and facility mapped for LCFS (``rng_mapping()``), with ``RNG_RATE`` on tag
    ``rng_flow`` every 10 minutes of 2025 Q4 unless ``points`` is false."""
    from pipelines.ingest import parse_csv
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job
    from worker.storage.models import Facility
    from worker.storage.points import store_parsed
    from worker.storage.reports import quarter_bounds, replace_mappings

    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        fac = Facility(id=f"fac_{tenant.id[-8:]}", tenant_id=tenant.id, name="Valley RNG",
                       timezone="America/Los_Angeles", created_at=datetime.now(UTC))  # fmt: skip
        s.add(fac)
        s.flush()
        replace_mappings(s, facility=fac, mappings=[rng_mapping()])
    if points:
        start, end = quarter_bounds(2025, 4, "America/Los_Angeles")
        stamps = [start + timedelta(minutes=10 * i) for i in range(int((end - start) / timedelta(
            minutes=10)) + 1)]  # fmt: skip
        body = "".join(f"{fac.id},rng_flow,{t.isoformat()},{RNG_RATE}\n" for t in stamps)
        parsed = parse_csv(("facility_id,tag,timestamp,value\n" + body).encode())
        with session_scope(db) as s:
            job = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload")
        with session_scope(db) as s:
            store_parsed(s, job_id=job.id, tenant_id=tenant.id, upload_id=None, parsed=parsed)
    return tenant.id, fac.id


def build_report(db: str, fac_id: str, *, fmt: str, year: int = 2025, quarter: int = 4) -> Report:
    """Create a report and run its build task in this process; the stored row, detached."""
    from worker.storage.db import session_scope
    from worker.storage.models import Facility, Job, Report
    from worker.storage.reports import create_report
    from worker.tasks.reports import build_lcfs

    with session_scope(db) as s:
        report, job = create_report(s, facility=s.get(Facility, fac_id), year=year,
                                    quarter=quarter, fmt=fmt)  # fmt: skip
        report_id, job_id = report.id, job.id
    build_lcfs.run(job_id)
    with session_scope(db) as s:
        row = s.get(Report, report_id)
        _ = row.content  # load the deferred column before the session closes
        s.expunge(row)
        assert s.get(Job, job_id).status in ("succeeded", "failed")
        return row


# --- documents -------------------------------------------------------------------------------

INVOICE_DAY = "2025-03-10"  # a whole 24 h local day in Los Angeles (PDT since 2025-03-09)
INVOICE_FPC = "CARD1234"


def invoice(quantity: float = 1000.0, *, number: str = "VB-00042", unit: str = "gal", **extra):
    """A one-page invoice (tests/documents_corpus layout) with LCFS pathway and CI."""
    from tests.documents_corpus import ISSUERS, Spec, render_pdf

    issuer = next(i for i in ISSUERS if i.name == "Valley Biofuels Co")
    spec = Spec("t", "invoice", issuer, "label_left", "INVOICE")
    spec.header = [
        ("Invoice No", number),
        ("Invoice Date", extra.get("date", INVOICE_DAY)),
        ("Fuel Pathway Code", extra.get("fpc", INVOICE_FPC)),
        ("Carbon Intensity", "35.50 gCO2e/MJ"),
    ]
    spec.parties = [
        ("Seller", issuer.name, issuer.address),
        ("Bill To", "Coastal Transit Co", "1 Commerce Blvd, Oakland, CA 94607"),
    ]
    amount = f"${quantity * 2:,.2f}"
    spec.items = (
        ["Product", "Quantity", "Unit", "Unit Price", "Amount"],
        ["Renewable Diesel R99", f"{quantity:,.2f}", unit, "$2.00", amount],
    )
    spec.totals = [("Total", amount)]
    return render_pdf(spec)


# --- documents against metered data ----------------------------------------------------------

DOCUMENT_TZ = "America/Los_Angeles"
DOCUMENT_DAY = INVOICE_DAY  # a whole 24 h local day (PDT since 2025-03-09): 07:00Z to 07:00Z
DOCUMENT_DAY_START = datetime(2025, 3, 10, 7, tzinfo=UTC)
DOCUMENT_NOON = datetime(2025, 3, 10, 19, tzinfo=UTC)  # local noon
# Rate tag, gal/h, a reading every 15 min from 06:00Z to 08:00Z the next day: 30 before local
# noon, 50 from local noon. Trapezoids over [07:00Z, 07:00Z+1d):
#   07:00-18:45 at 30 = 11.75 h x 30 = 352.5; 18:45-19:00 (30 -> 50) = 0.25 h x 40 = 10;
#   19:00-07:00 at 50 = 12 h x 50 = 600.                                  total = 962.5 gal
DOCUMENT_METERED = 962.5
DOCUMENT_FPC = INVOICE_FPC


def document_facility(db: str, *, mapping_unit: str | None = "gal") -> tuple[str, str]:
    """A tenant and its facility (Los Angeles time): tag ``rd_flow`` (gal/h) mapped to
    ``DOCUMENT_FPC`` unless ``mapping_unit`` is None, with readings for ``DOCUMENT_DAY`` that
    total ``DOCUMENT_METERED`` gallons: (tenant id, facility id)."""

    from worker.storage.db import session_scope
    from worker.storage.models import Facility, FuelMapping, Tag
    from worker.storage.points import upsert_points

    tenant = make_tenant(db, "T")
    fac_id = f"fac_{tenant.id[-8:]}"
    with session_scope(db) as s:
        s.add(Facility(id=fac_id, tenant_id=tenant.id, name="F", timezone=DOCUMENT_TZ))
        s.flush()
        tag = Tag(tenant_id=tenant.id, facility_id=fac_id, name="rd_flow", unit="gal/h")
        s.add(tag)
        if mapping_unit is not None:
            s.add(FuelMapping(
                tenant_id=tenant.id, facility_id=fac_id, tag="rd_flow",
                fuel_pathway_code=DOCUMENT_FPC, fuel_type="Renewable Diesel", ci=35.5,
                unit=mapping_unit, kind="rate", rate_per="h",
                transaction_type="Production in California", interval_s=900.0,
            ))  # fmt: skip
        s.flush()
        ts = pd.Series(
            pd.date_range("2025-03-10T06:00Z", "2025-03-11T08:00Z", freq="15min").as_unit("us")
        )
        value = np.where(ts < DOCUMENT_NOON, 30.0, 50.0)
        upsert_points(s, tag_id=np.full(len(ts), tag.id, dtype=np.int64), ts=ts, value=value,
                      quality=np.zeros(len(ts), dtype=np.int8))  # fmt: skip
    return tenant.id, fac_id


def submit_document(db: str, tenant_id: str, content: bytes, *, facility_id: str | None,
                    **kw: Any) -> str:  # fmt: skip
    """What POST /v1/documents stores; returns the job id."""
    from worker.storage.db import session_scope
    from worker.storage.documents import create_document
    from worker.storage.jobs import create_job
    from worker.storage.uploads import save_upload

    with session_scope(db) as s:
        upload = save_upload(s, tenant_id=tenant_id, content=content,
                             content_type="application/pdf")  # fmt: skip
        doc, _ = create_document(
            s, tenant_id=tenant_id, upload=upload, facility_id=facility_id,
            declared_type=kw.get("declared_type"), filename="x.pdf",
        )  # fmt: skip
        job = create_job(s, tenant_id=tenant_id, kind="documents.process", upload_id=upload.id,
                         params={"document_id": doc.id})  # fmt: skip
        doc.job_id = job.id
        return job.id


def run_document_job(db: str, job_id: str) -> tuple[Any, Any]:
    """The document task itself, in this process (no broker): (document, job), detached."""
    from worker.storage.db import session_scope
    from worker.storage.models import Document, Job
    from worker.tasks.documents import process

    process(job_id)
    with session_scope(db) as s:
        job = s.get(Job, job_id)
        doc = s.get(Document, job.params["document_id"])
        s.expunge_all()
    return doc, job


# --- webhooks: a real local receiver ---------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # arrival, for rate checks


@dataclass
class Receiver:
    url: str
    got: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # path -> status to answer
    retry_after: str | None = None  # sent with every answer when set
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI of each handshake
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self, secret: str) -> list[dict]:
        from standardwebhooks.webhooks import Webhook

        return [Webhook(secret).verify(r.body, r.headers) for r in self.got]


REDIRECTS = (301, 302, 303, 307, 308)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing, with the two things every test receiver does."""

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def answer_ok(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served in a thread on a port the system picks, until the block ends; yields
    the base URL (``http://127.0.0.1:<port>``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve(host: str = "127.0.0.1", port: int = 0,
          tls: ssl.SSLContext | None = None) -> tuple[Receiver, ThreadingHTTPServer]:  # fmt: skip
    """A real HTTP(S) receiver in a thread. Paths: /slow answers after 2 s, /trickle sends its
    headers at once and then one byte of the body every 0.1 s for 3 s, /big answers 100 KB,
    /hold answers after 0.2 s (counting requests in flight); any other path answers
    ``status[path]`` (200), a redirect pointing back at /ok on the same receiver."""
    state = Receiver(url="")

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.body()
            with state.lock:
                state.got.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                self._answer()
            except OSError:
                pass  # the sender gave up
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self) -> None:
            # The paths below are receivers that are slow on purpose (the behaviour under test:
            # a sender's timeouts and concurrency), not waits of the test.
            if self.path == "/slow":
                time.sleep(2)
            if self.path == "/hold":
                time.sleep(0.2)
            if self.path == "/trickle":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(30):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            status = state.status.get(self.path, 200)
            body = b"x" * 100_000 if self.path == "/big" else f"answer {status}".encode()
            self.send_response(status)
            if status in REDIRECTS:
                self.send_header("Location", f"{state.url}/ok")
            if state.retry_after is not None:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    scheme = "http"
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: state.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state.url = f"{scheme}://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


def local_delivery() -> Any:
    """Webhook delivery settings that allow the local receiver, with short timeouts."""
    from worker.delivery.webhooks import Settings

    return Settings(
        allow=["127.0.0.1/32"],
        allow_http=True,
        connect_timeout=1.0,
        timeout=1.0,
        concurrency=10,
        disable_after=timedelta(days=5),
    )


def webhook_endpoint(db: str, url: str, **kw) -> tuple[str, str, str]:
    """A new tenant with an endpoint for every event type: (tenant id, endpoint id, secret)."""
    from worker.storage.db import session_scope
    from worker.storage.webhooks import create_endpoint

    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        ep, secret = create_endpoint(s, tenant_id=tenant.id, url=url, event_types=[], **kw)
    return tenant.id, ep.id, secret


def publish_gap_events(db: str, tenant_id: str, n: int = 1) -> None:
    """``n`` data_gap.detected events with keys k0, k1, ... and ``data["n"]`` 0, 1, ..."""
    from worker.storage.db import session_scope
    from worker.storage.events import publish

    with session_scope(db) as s:
        for i in range(n):
            publish(
                s,
                tenant_id=tenant_id,
                type="data_gap.detected",
                key=f"k{i}",
                data={
                    "facility_id": "fac_1",
                    "tag": "flow_rate",
                    "n": i,
                    "gap_start": "2025-01-15T12:00:00Z",
                    "gap_end": "2025-01-15T14:30:00Z",
                    "duration_minutes": 150,
                },
            )


# --- property tests (Hypothesis) -------------------------------------------------------------


def examples(thorough: int) -> int:
    """How many examples a property test tries: ``thorough`` under the "ci" Hypothesis profile
    (what CI runs), at most the loaded profile's own number otherwise (tests/conftest.py registers
    both profiles; "dev", the default, tries 20)."""
    if os.environ.get("HYPOTHESIS_PROFILE", "dev") == "ci":
        return thorough
    return min(thorough, settings.default.max_examples)


# --- ingest fuzz inputs (hypothesis strategies) ----------------------------------------------

COLUMNS = ("facility_id", "tag", "timestamp", "value", "unit", "quality")
BASE = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def valid_rows(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 12) -> list[dict]:
    """Rows with distinct (facility, tag, instant) keys, so none supersedes another."""
    count = draw(st.integers(min_value=min_size, max_value=max_size))
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["F1", "F2", "plant-7"]),
                st.sampled_from(["flow", "ch4_pct", "h2s ppm", "T/1"]),
                st.integers(min_value=0, max_value=10**6),
            ),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    rows = []
    for facility, tag, seconds in keys:
        value = draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
        moment = BASE + timedelta(seconds=seconds)
        rows.append(
            {
                "facility_id": facility,
                "tag": tag,
                "timestamp": moment.isoformat().replace("+00:00", "Z"),
                "ts": pd.Timestamp(moment),
                "value": value,
                "unit": draw(st.sampled_from(["", "scfm", "%", "kg CO2e"])),
                "quality": draw(st.sampled_from(["", "good", "uncertain", "Bad"])),
            }
        )
    return rows


def csv_line(row: dict) -> str:
    return ",".join(
        repr(row[c]) if c == "value" and isinstance(row[c], float) else str(row[c]) for c in COLUMNS
    )


def csv_bytes(rows: list[dict]) -> bytes:
    return ("\n".join([",".join(COLUMNS), *map(csv_line, rows)]) + "\n").encode()


def item(row: dict) -> dict:
    return {c: row[c] for c in COLUMNS}


TEXT_PIECES = st.sampled_from(
    ["\ufeff", "\x00", "\r", "\r\n", "\n", ",", '"', '""', " ", "é", "\x01", "\U0001d7d8"]
)


def mutate_bytes(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, at, chunk in edits:
        at = at % (len(out) + 1)
        if kind == "flip" and out:
            out[at % len(out)] ^= chunk[0] if chunk else 0xFF
        elif kind == "insert":
            out[at:at] = chunk
        elif kind == "delete":
            del out[at : at + len(chunk) + 1]
        elif kind == "truncate":
            del out[at:]
        elif kind == "repeat":
            out[at:at] = out[at : at + 64]
    return bytes(out)


BYTE_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]),
        st.integers(min_value=0, max_value=10**6),
        st.one_of(
            st.binary(min_size=1, max_size=8),
            TEXT_PIECES.map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.sampled_from(
                [b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3", b"\x80", b'"', b"\n", b",,,,", b"\r"]
            ),
        ),
    ),
    min_size=1,
    max_size=6,
)
ODD_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN and infinities included (json.dumps writes NaN, Infinity)
    st.text(max_size=30),
    st.sampled_from(["1.5", " 2 ", "NaN", "1e400", "2025-01-01T00:00:00Z", "\x00", "\x01"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
ENVELOPES = st.one_of(
    st.recursive(
        ODD_JSON_VALUES,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.dictionaries(st.sampled_from(["data", "facility_id", "Data"]), ODD_JSON_VALUES),
    st.builds(lambda v: {"data": v}, ODD_JSON_VALUES),
)


# --- end-to-end: worker processes and jobs ---------------------------------------------------


def stack_env(db: str, broker: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    """The settings every process of an end-to-end stack shares."""
    return {
        "TICKWORK_DATABASE_URL": db,
        "TICKWORK_BROKER_URL": broker,
        "TICKWORK_REDIS_URL": redis_url,
        "TICKWORK_DATA_DIR": str(data_dir),
    }


def wait_worker_ready(log: Path, proc: subprocess.Popen, broker: str, timeout: float = 60) -> None:
    """Until the worker logging to ``log`` is ready to consume, and check it is connected to
    ``broker``'s kind (so a RabbitMQ run cannot quietly run on Redis)."""

    def read() -> str:
        return log.read_text(errors="replace") if log.exists() else ""

    def exited() -> None:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{read()[-3000:]}")

    try:
        wait_for(lambda: " ready." in read(), timeout=timeout, what="the worker", guard=exited)
    except TimedOut as exc:
        raise AssertionError(f"{exc}:\n{read()[-3000:]}") from None
    text = read()
    scheme = broker.split("://", 1)[0]
    assert f"Connected to {scheme}://" in text, text[-3000:]


def wait_job(client: AppClient, who: Tenant, job_id: str, timeout: float = 120) -> dict:

    def finished() -> dict | None:
        view = client.get(f"/v1/jobs/{job_id}", headers=who.headers).json()
        return view if view["status"] in ("succeeded", "failed") else None

    return wait_for(finished, timeout=timeout, what=f"job {job_id} to finish", every=0.2)


def post_file(
    client: AppClient, who: Tenant, path: str, file: tuple[str, bytes, str], **form: str
) -> dict:
    """POST ``file`` (name, content, type) and ``form`` as multipart to ``path``; the 202's body."""
    response = client.post(path, headers=who.headers, data=form, files={"file": file})
    assert response.status_code == 202, response.text
    return response.json()


def upload(client: AppClient, who: Tenant, content: bytes, **form: str) -> str:
    """A CSV of points imported; the ingest job's id."""
    file = ("points.csv", content, "text/csv")
    return post_file(client, who, "/v1/data-points/import", file, **form)["job_id"]


def upload_document(client: AppClient, who: Tenant, content: bytes, **form: str) -> str:
    """A PDF submitted as a document; its id."""
    file = ("doc.pdf", content, "application/pdf")
    return post_file(client, who, "/v1/documents", file, **form)["document_id"]


def stop_process(proc: subprocess.Popen, *, timeout: float = 20) -> None:
    """SIGTERM a process started in a session of its own; SIGKILL its whole group if it does not
    stop within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# The seed's gap example: readings every minute up to 12:00 and again from 14:30 (UTC).
SEED_GAP = {
    "tag": "flow_rate",
    "gap_start": "2025-01-15T12:00:00Z",
    "gap_end": "2025-01-15T14:30:00Z",
    "duration_minutes": 150.0,
    "missing_points": 149,
    "open": False,
}


# --- frames in the pipelines' layout -----------------------------------------------------------

# The columns and dtypes of a gap frame (pipelines.gaps.GAP_COLUMNS), as docs/gaps-and-quality.md
# describes them; spelled out here so that a change in the code cannot change what is checked.
GAP_DTYPES = {
    "tag": "object",
    "gap_start": "datetime64[us, UTC]",
    "gap_end": "datetime64[us, UTC]",
    "duration_minutes": "float64",
    "missing_points": "int64",
    "open": "bool",
}


def points_frame(
    tag: str, t0: pd.Timestamp, seconds: Any, values: Any, quality: Any = None
) -> pd.DataFrame:
    """One tag's points ``seconds`` after ``t0``, in the layout the pipelines take (tag, ts in
    microseconds UTC, value, and quality when given)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    columns = {
        "tag": pd.Series([tag] * len(seconds), dtype=object),
        "ts": pd.DatetimeIndex(t0 + pd.to_timedelta(seconds, unit="s")).as_unit("us"),
        "value": np.asarray(values, dtype=np.float64),
    }
    if quality is not None:
        columns["quality"] = np.asarray(quality, dtype=np.int8)
    return pd.DataFrame(columns)
