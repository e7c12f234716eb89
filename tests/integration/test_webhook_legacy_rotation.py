"""The legacy ``X-Signature`` header across a secret rotation, delivered over real HTTP: a
receiver that still holds the old secret keeps verifying until the grace period ends."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.factories import Receiver, local_delivery, publish_gap_events, webhook_endpoint
from worker.delivery.webhooks import deliver_due
from worker.storage.db import session_scope
from worker.storage.models import WebhookEndpoint
from worker.storage.webhooks import rotate_secret


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def legacy(secret: str, body: bytes) -> str:
    """What a legacy receiver computes: HMAC-SHA256 keyed with the UTF-8 bytes of the whole
    ``whsec_...`` string, hex, after ``sha256=``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def test_legacy_signature_follows_the_old_secret_until_its_grace_period_ends(
    db: str, receiver: Receiver
) -> None:
    tenant_id, endpoint_id, old = webhook_endpoint(db, f"{receiver.url}/ok", legacy_signature=True)
    with session_scope(db) as s:
        endpoint = s.get(WebhookEndpoint, endpoint_id)
        new = rotate_secret(s, endpoint=endpoint, grace=timedelta(hours=24))

    publish_gap_events(db, tenant_id)
    deliver_due(settings=local_delivery(), batch_size=10)
    [during] = receiver.got
    assert during.headers["x-signature"] == legacy(old, during.body)  # the old receiver verifies
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)

    receiver.got.clear()
    publish_gap_events(db, tenant_id, 2)  # k0 exists already: one new event
    deliver_due(
        settings=local_delivery(), batch_size=10, now=datetime.now(UTC) + timedelta(hours=25)
    )
    [after] = receiver.got
    assert after.headers["x-signature"] == legacy(new, after.body)


def test_two_rotations_keep_the_secret_receivers_held_before_both(
    db: str, receiver: Receiver
) -> None:
    tenant_id, endpoint_id, first = webhook_endpoint(
        db, f"{receiver.url}/ok", legacy_signature=True
    )
    with session_scope(db) as s:
        rotate_secret(s, endpoint=s.get(WebhookEndpoint, endpoint_id), grace=timedelta(hours=24))
    with session_scope(db) as s:
        rotate_secret(s, endpoint=s.get(WebhookEndpoint, endpoint_id), grace=timedelta(hours=48))
    publish_gap_events(db, tenant_id)
    deliver_due(settings=local_delivery(), batch_size=10)
    [got] = receiver.got
    assert got.headers["x-signature"] == legacy(first, got.body)
