"""Deliberate defects, to check that each fault test can fail (a check that cannot fail is a
defect of its own).

``TICKWORK_FAULT_BREAK=<name> pytest tests/fault -k <test>`` starts every worker, beat and API
process of the fault suite through this module instead of ``worker.celery_app`` / ``api.app``;
it loads the real application and then applies the named defect. Product code is not changed.

    early_ack         ingest, analysis, report and document tasks ack on receipt (acks_late
                      off)
    no_reconnect      workers give up when the broker connection is lost
    no_retry          transient errors are not retried (max_retries 0)
    api_500           the API has no handler for "database unavailable"
    no_period_lock    scheduled tasks skip their once-per-period / mutex Redis key
    no_lease          webhook sweeps do not lease what they send
    long_lease        a webhook lease lasts 100 times longer (a dead sender's batch waits)
    fresh_webhook_id  every webhook attempt gets a new webhook-id
    no_job_guard      a finished job runs again when its message is delivered again
    report_file_per_attempt
                      each attempt of a report build stores its file as soon as it is
                      rendered, in a commit of its own, as a new report row of the request
    report_build_time a report's file carries the time it was built (a rebuild differs)
    document_tx_per_attempt
                      each attempt of a document stores its fuel transaction as soon as it is
                      extracted, in a commit of its own, not keyed by the document

``TICKWORK_FAULT_PAUSE=<point>`` (set by ``harness.pause_at``, with or without a break) also
starts the processes through this module: the first task to reach the point writes its pid to
``TICKWORK_FAULT_PAUSE_FILE`` and sleeps ``TICKWORK_FAULT_PAUSE_SECONDS``, so a test can kill
it exactly there; later tasks pass the point without stopping.

    ingest_parsed       ingest.process_upload: the upload is parsed, nothing is stored yet
    report_rendered     reports.build_lcfs: the file is rendered, nothing is stored yet
    document_extracted  documents.process: the fields are extracted, nothing is stored yet
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import worker.delivery.webhooks as delivery
import worker.tasks.analysis as analysis_tasks
import worker.tasks.documents as document_tasks
import worker.tasks.ingest as ingest_tasks
import worker.tasks.jobs as job_tasks
import worker.tasks.reports as report_tasks
import worker.tasks.webhooks  # noqa: F401 - register every task, as the real app does
from worker.celery_app import app

BREAK = os.environ.get("TICKWORK_FAULT_BREAK", "")


@contextlib.contextmanager
def _always(*args: Any, **kwargs: Any) -> Iterator[bool]:
    yield True


if BREAK == "early_ack":
    for task in (ingest_tasks.process_upload, analysis_tasks.analyse_ingest,
                 report_tasks.build_lcfs, document_tasks.process):  # fmt: skip
        task.acks_late = False
        task.reject_on_worker_lost = False
elif BREAK == "no_reconnect":
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
elif BREAK == "no_retry":
    ingest_tasks.process_upload.max_retries = 0
elif BREAK == "no_period_lock":
    analysis_tasks.once_per_period = _always
    job_tasks.once_per_period = _always
    job_tasks.beat_lock = _always
elif BREAK in ("no_lease", "long_lease"):
    real_claim = delivery.claim_due
    factor = 0 if BREAK == "no_lease" else 100  # a lease of 0 expires as it is taken

    def claim(session: Any, **kwargs: Any) -> Any:
        return real_claim(session, **{**kwargs, "lease": kwargs["lease"] * factor})

    delivery.claim_due = claim
elif BREAK == "fresh_webhook_id":
    real_headers = delivery.signing.headers

    def headers(*, msg_id: str, **kwargs: Any) -> dict[str, str]:
        return real_headers(msg_id=f"{msg_id}_{secrets.token_hex(4)}", **kwargs)

    delivery.signing.headers = headers
elif BREAK == "no_job_guard":
    import worker.storage.jobs as job_storage
    import worker.tasks.base as base

    real_start = job_storage.start_attempt

    def start_again(session: Any, *, job_id: str, worker: str) -> Any:
        from worker.storage.models import Job

        job = session.get(Job, job_id, with_for_update=True)
        if job is not None and job.status in job_storage.FINISHED:
            job.status = "queued"
        return real_start(session, job_id=job_id, worker=worker)

    base.start_attempt = start_again
elif BREAK == "report_file_per_attempt":
    real_render = report_tasks.render_signed

    def render_and_store(report: Any, fmt: str) -> bytes:
        from sqlalchemy import select

        from worker.storage.db import new_id, session_scope
        from worker.storage.models import Report
        from worker.storage.reports import FORMATS

        content = real_render(report, fmt)
        with session_scope() as s:
            requested = s.scalars(
                select(Report).where(Report.facility_id == report.facility_id,
                                     Report.year == report.year, Report.quarter == report.quarter,
                                     Report.format == fmt, Report.status == "queued")
            ).first()  # fmt: skip
            if requested is not None:
                now = datetime.now(UTC)
                s.add(Report(id=new_id("rpt"), tenant_id=requested.tenant_id,
                             facility_id=requested.facility_id, year=report.year,
                             quarter=report.quarter, format=fmt, draft=requested.draft,
                             status="generated", job_id=requested.job_id, content=content,
                             file_sha256=hashlib.sha256(content).hexdigest(),
                             file_size=len(content), content_type=FORMATS[fmt],
                             input_sha256=report.input_sha256, created_at=now,
                             generated_at=now))  # fmt: skip
        return content

    report_tasks.render_signed = render_and_store
elif BREAK == "report_build_time":
    real_render = report_tasks.render_signed

    def render_stamped(report: Any, fmt: str) -> bytes:
        return real_render(report, fmt) + f"\n% built {time.time()}\n".encode()

    report_tasks.render_signed = render_stamped
elif BREAK == "document_tx_per_attempt":
    real_extract = document_tasks.docs.extract_document

    def extract_and_store(content: bytes, **kwargs: Any) -> Any:
        from sqlalchemy import select

        from pipelines import lcfs
        from worker.storage.db import session_scope
        from worker.storage.documents import document_date, transaction_type
        from worker.storage.models import Document, Facility, Upload
        from worker.storage.reports import add_transactions

        extraction = real_extract(content, **kwargs)
        digest = hashlib.sha256(content).hexdigest()
        with session_scope() as s:
            document = s.scalars(
                select(Document).join(Upload, Upload.id == Document.upload_id)
                .where(Upload.sha256 == digest)
            ).first()  # fmt: skip
            if document is not None and document.facility_id is not None:
                value = extraction.value
                add_transactions(s, facility=s.get(Facility, document.facility_id),
                                 source="document", transactions=[lcfs.Transaction(
                                     fuel_pathway_code=str(value("fuel_pathway_code")),
                                     fuel_type=str(value("fuel_type")),
                                     quantity=float(value("quantity")), unit=str(value("unit")),
                                     ci=float(value("carbon_intensity")),
                                     transaction_type=transaction_type(extraction),
                                     date=document_date(extraction),
                                     reference=str(value("document_number")))])  # fmt: skip
        return extraction

    document_tasks.docs.extract_document = extract_and_store

# --- pause points (after the breaks: a break's own effect happens before the pause) ---------

PAUSE = os.environ.get("TICKWORK_FAULT_PAUSE", "")


def pause_once() -> None:
    """The first process to get here (across the whole test) pauses; the rest pass."""
    try:
        fd = os.open(os.environ["TICKWORK_FAULT_PAUSE_FILE"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as marker:
        marker.write(str(os.getpid()))
    time.sleep(float(os.environ.get("TICKWORK_FAULT_PAUSE_SECONDS", "5")))


def _then_pause(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def paused(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        pause_once()
        return result

    return paused


if PAUSE == "ingest_parsed":
    ingest_tasks._parse = _then_pause(ingest_tasks._parse)
elif PAUSE == "report_rendered":
    report_tasks.render_signed = _then_pause(report_tasks.render_signed)
elif PAUSE == "document_extracted":
    document_tasks.docs.extract_document = _then_pause(document_tasks.docs.extract_document)
elif PAUSE:
    raise ValueError(f"unknown TICKWORK_FAULT_PAUSE point: {PAUSE!r}")


def __getattr__(name: str) -> Any:
    """``api``: the HTTP app, built on first use (uvicorn tests.fault.sabotage:api)."""
    if name != "api":
        raise AttributeError(name)
    import sqlalchemy.exc

    from api.app import create_app

    asgi = create_app()
    if BREAK == "api_500":
        asgi.exception_handlers.pop(sqlalchemy.exc.OperationalError, None)
    return asgi
