"""Webhook endpoints created through the client, and the server's real deliveries (sent by the
worker's ``webhooks.deliver`` sweep to a local receiver) verified with ``webhooks.verify``."""

from __future__ import annotations

import pytest
import tickwork_client
from tickwork_client import webhooks

from tests.factories import wait_for
from tests.fault.harness import gap_csv
from tests.sdk.recording import Delivery, Receiver, receiving

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


def _delivered(rx: Receiver, event: str, count: int = 1) -> list[Delivery]:
    def enough() -> list[Delivery]:
        found = rx.of_event(event)
        return found if len(found) >= count else []

    return wait_for(enough, timeout=90, what=f"{count} {event} deliveries")  # beat: every 5 s


def test_create_an_endpoint_and_verify_real_deliveries(client: tickwork_client.Client) -> None:
    with receiving() as rx:
        endpoint = client.webhook_endpoints.create(url=rx.url, description="sdk receiver")
        assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
        assert endpoint.enabled and endpoint.created_at is not None
        assert client.webhook_endpoints.get(endpoint.id).secret is None  # shown once
        secret = endpoint.secret

        # endpoint.test
        message = client.webhook_endpoints.test(endpoint.id)
        (delivery,) = _delivered(rx, "endpoint.test")
        event = webhooks.verify(delivery.body, delivery.headers, secret)
        assert event.event == "endpoint.test" and event.id == delivery.headers["webhook-id"]
        assert event.id == message.message_id and event.timestamp.tzinfo is not None
        with pytest.raises(tickwork_client.WebhookVerificationError):
            webhooks.verify(delivery.body + b" ", delivery.headers, secret)  # body changed
        with pytest.raises(tickwork_client.WebhookVerificationError):
            webhooks.verify(delivery.body, delivery.headers, "whsec_" + "A" * 44)  # wrong key
        sent_at = int(delivery.headers["webhook-timestamp"])
        with pytest.raises(tickwork_client.WebhookVerificationError, match="too old"):
            webhooks.verify(delivery.body, delivery.headers, secret, now=sent_at + 301)
        assert webhooks.verify(delivery.body, delivery.headers, secret, now=sent_at + 299)

        # real events: an ingest with gaps -> its analysis -> data_gap.detected
        facility = client.facilities.create(name="Plant", timezone="UTC")
        job = client.jobs.wait(client.data_points.import_csv(gap_csv(), facility_id=facility.id))
        assert job.status == "succeeded"
        gaps = _delivered(rx, "data_gap.detected", 4)  # three gaps and the open trailing one
        events = [webhooks.verify(d.body, d.headers, secret) for d in gaps]
        assert {e.data["facility_id"] for e in events} == {facility.id}
        assert len({e.id for e in events}) == 4  # one message (webhook-id) per event
        listed = [e.data for e in client.events.list(type="data_gap.detected")]
        assert sorted(map(repr, listed)) == sorted(repr(e.data) for e in events)

        # rotation: both secrets sign during the grace period
        rotated = client.webhook_endpoints.rotate_secret(endpoint.id, grace_hours=1)
        assert rotated.secret != secret and rotated.previous_secrets_expire_at is not None
        client.webhook_endpoints.test(endpoint.id)
        after = _delivered(rx, "endpoint.test", 2)[-1]
        assert len(after.headers["webhook-signature"].split()) == 2
        assert webhooks.verify(after.body, after.headers, rotated.secret)
        assert webhooks.verify(after.body, after.headers, secret)
        assert webhooks.verify(after.body, after.headers, [secret, rotated.secret])

        # resend: the same webhook-id again
        client.webhook_endpoints.resend(delivery.headers["webhook-id"])
        resent = wait_for(
            lambda: [
                d
                for d in rx.of_event("endpoint.test")
                if d.headers["webhook-id"] == delivery.headers["webhook-id"]
            ][1:],
            timeout=90,
            what="the resent message",
        )
        assert webhooks.verify(resent[0].body, resent[0].headers, rotated.secret).id == event.id

    attempts = list(client.webhook_endpoints.attempts(endpoint.id))
    assert len(attempts) >= 7 and all(a.outcome == "success" for a in attempts)
    assert all(a.status_code == 200 and a.attempted_at.tzinfo for a in attempts)
    updated = client.webhook_endpoints.update(endpoint.id, description="renamed")
    assert updated.description == "renamed"
    assert [e.id for e in client.webhook_endpoints.list()] == [endpoint.id]
    client.webhook_endpoints.delete(endpoint.id)
    with pytest.raises(tickwork_client.NotFoundError):
        client.webhook_endpoints.get(endpoint.id)
