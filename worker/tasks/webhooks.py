"""Webhook delivery: a sweep that sends due messages in batches until none are left."""

from __future__ import annotations

import asyncio
import logging

from worker import kinds
from worker.celery_app import app
from worker.delivery.webhooks import settings_from_env, sweep
from worker.settings import get_settings

log = logging.getLogger(__name__)


@app.task(
    name=kinds.DELIVER_WEBHOOKS, ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def deliver(max_seconds: float = 25.0) -> int:
    """Send due messages batch after batch for up to ``max_seconds``; returns how many.

    Safe to run in several workers at once: each batch is leased in the database. Retries are
    scheduled with ``next_attempt_at`` rows swept by beat, never with broker countdowns. One
    aiohttp session (a keep-alive pool per endpoint) serves every batch of the sweep.
    """
    stats = asyncio.run(
        sweep(
            settings_from_env(),
            batch_size=get_settings().webhook_batch_size,
            max_seconds=max_seconds,
        )
    )
    if stats.sent:
        log.info("webhook sweep: %s", stats.as_dict())
    return stats.sent
