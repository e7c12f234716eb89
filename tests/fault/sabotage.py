"""Deliberate defects, to check that each fault test can fail (a check that cannot fail is a
defect of its own).

``TICKWORK_FAULT_BREAK=<name> pytest tests/fault -k <test>`` starts every worker, beat and API
process of the fault suite through this module instead of ``worker.celery_app`` / ``api.app``;
it loads the real application and then applies the named defect. Product code is not changed.

    early_ack         ingest and analysis tasks ack on receipt (acks_late off)
    no_reconnect      workers give up when the broker connection is lost
    no_retry          transient errors are not retried (max_retries 0)
    api_500           the API has no handler for "database unavailable"
    no_period_lock    scheduled tasks skip their once-per-period / mutex Redis key
    no_lease          webhook sweeps do not lease what they send
    long_lease        a webhook lease lasts 100 times longer (a dead sender's batch waits)
    fresh_webhook_id  every webhook attempt gets a new webhook-id
    no_job_guard      a finished job runs again when its message is delivered again
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

import worker.tasks.analysis as analysis_tasks
import worker.tasks.ingest as ingest_tasks
import worker.tasks.jobs as job_tasks
import worker.tasks.webhooks  # noqa: F401 - register every task, as the real app does
import worker.webhook_delivery as delivery
from worker.celery_app import app

BREAK = os.environ.get("TICKWORK_FAULT_BREAK", "")


@contextlib.contextmanager
def _always(*args: Any, **kwargs: Any) -> Iterator[bool]:
    yield True


if BREAK == "early_ack":
    for task in (ingest_tasks.process_upload, analysis_tasks.analyse_ingest):
        task.acks_late = False
        task.reject_on_worker_lost = False
elif BREAK == "no_reconnect":
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
elif BREAK == "no_retry":
    ingest_tasks.process_upload.max_retries = 0
elif BREAK == "no_period_lock":
    analysis_tasks.once_per_period = _always
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
