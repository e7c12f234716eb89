"""Webhook delivery: a sweep that sends due messages in batches until none are left."""

from __future__ import annotations

import time

from worker.celery_app import app
from worker.settings import get_settings
from worker.webhook_delivery import deliver_due, settings_from_env


@app.task(name="webhooks.deliver", ignore_result=True, acks_late=True,
          reject_on_worker_lost=True)  # fmt: skip
def deliver(max_seconds: float = 25.0) -> int:
    """Send due messages batch after batch for up to ``max_seconds``; returns how many.

    Safe to run in several workers at once: each batch is leased in the database. Retries are
    scheduled with ``next_attempt_at`` rows swept by beat, never with broker countdowns.
    """
    settings = settings_from_env()
    batch = get_settings().webhook_batch_size
    deadline = time.monotonic() + max_seconds
    sent = 0
    while time.monotonic() < deadline:
        done = deliver_due(settings=settings, batch_size=batch)
        sent += done
        if done < batch:
            break
    return sent
