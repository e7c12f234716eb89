"""Hand committed jobs to the broker. Call only after the job row is committed."""

from __future__ import annotations

import logging

from amqp.exceptions import MessageNacked
from kombu.exceptions import OperationalError as KombuOperationalError

from worker.celery_app import app
from worker.kinds import route_for
from worker.storage.db import session_scope
from worker.storage.jobs import mark_enqueued

log = logging.getLogger(__name__)

# Publishing gives up quickly: the job row is already committed, and the beat task
# `jobs.requeue_stale` re-sends any job whose publish failed.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


def dispatch(job_id: str, kind: str) -> bool:
    """Publish one job's task (task id = job id). False when the broker could not be reached.

    On RabbitMQ the publish is confirmed (worker.celery_app.transport_options): True means the
    broker holds the message; a refused one (``MessageNacked``) is left to ``requeue_stale``.
    """
    try:
        app.send_task(
            kind,
            args=[job_id],
            task_id=job_id,
            queue=route_for(kind),
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )
    except (KombuOperationalError, ConnectionError, OSError, MessageNacked) as exc:
        log.warning("job %s not published yet (%s); it will be re-sent", job_id, exc)
        return False
    with session_scope() as s:
        mark_enqueued(s, job_id=job_id)
    return True
