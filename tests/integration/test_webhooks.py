"""Webhook delivery to a real local receiver that verifies every request with `standardwebhooks`.

The clock is compressed by passing ``now`` to ``deliver_due``: retries that would wait minutes
become due at once, while every request really goes over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import make_tenant
from worker.storage.db import session_scope
from worker.storage.events import publish
from worker.storage.models import DeliveryAttempt, Event, WebhookEndpoint, WebhookMessage
from worker.storage.webhooks import create_endpoint, rotate_secret
from worker.webhook_delivery import Settings, deliver_due


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

    def verified(self, secret: str) -> list[dict]:
        return [Webhook(secret).verify(r.body, r.headers) for r in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.got.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if self.path == "/slow":
                time.sleep(2)
            status = state.status.get(self.path, 200)
            self.send_response(status)
            if status == 301:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(f"answer {status}".encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()


LOCAL = Settings(
    allow=["127.0.0.1/32"],
    allow_http=True,
    connect_timeout=1.0,
    timeout=1.0,
    concurrency=10,
    disable_after=timedelta(days=5),
)


STRICT = Settings(
    allow=[],
    allow_http=True,
    connect_timeout=1.0,
    timeout=1.0,
    concurrency=10,
    disable_after=timedelta(days=5),
)  # no allow-list: the receiver is internal


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def _endpoint(db: str, url: str, **kw) -> tuple[str, str, str]:
    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        ep, secret = create_endpoint(s, tenant_id=tenant.id, url=url, event_types=[], **kw)
    return tenant.id, ep.id, secret


def _event(db: str, tenant_id: str, n: int = 1) -> None:
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


def _attempts(db: str) -> list[tuple[str, int | None]]:
    with session_scope(db) as s:
        rows = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))
        return [(a.outcome, a.status_code) for a in rows]


def _message(db: str) -> WebhookMessage:
    with session_scope(db) as s:
        return s.scalars(select(WebhookMessage)).one()


def test_delivery_is_signed_and_verifiable(db: str, receiver: Receiver) -> None:
    tenant_id, _, secret = _endpoint(db, f"{receiver.url}/ok")
    _event(db, tenant_id, 3)
    assert deliver_due(settings=LOCAL, batch_size=100) == 3
    payloads = receiver.verified(secret)  # raises if any signature is wrong
    assert sorted(p["data"]["n"] for p in payloads) == [0, 1, 2]
    assert {p["event"] for p in payloads} == {"data_gap.detected"}
    assert len({r.headers["webhook-id"] for r in receiver.got}) == 3
    assert _attempts(db) == [("success", 200)] * 3
    assert deliver_due(settings=LOCAL, batch_size=100) == 0  # nothing twice
    with session_scope(db) as s:
        assert all(e.fanned_out_at for e in s.scalars(select(Event)))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(receiver.got[0].body + b" ", receiver.got[0].headers)


def test_failures_retry_on_schedule_under_one_id(db: str, receiver: Receiver) -> None:
    receiver.status["/flaky"] = 500
    tenant_id, _, secret = _endpoint(db, f"{receiver.url}/flaky")
    _event(db, tenant_id)
    now = datetime.now(UTC)
    assert deliver_due(settings=LOCAL, batch_size=10, now=now) == 1
    first = _message(db)
    assert (first.status, first.attempts) == ("pending", 1)
    delay = (first.next_attempt_at - first.last_attempt_at).total_seconds()
    assert 4 <= delay <= 6  # the second try waits 5 s, +-20 % jitter
    assert deliver_due(settings=LOCAL, batch_size=10, now=now) == 0  # not due yet
    assert deliver_due(settings=LOCAL, batch_size=10, now=now + timedelta(seconds=7)) == 1
    second = _message(db)
    assert 240 <= (second.next_attempt_at - second.last_attempt_at).total_seconds() <= 360
    receiver.status["/flaky"] = 200  # the receiver recovers
    assert deliver_due(settings=LOCAL, batch_size=10, now=now + timedelta(minutes=10)) == 1
    assert _message(db).status == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.got] == [first.id] * 3
    assert len({r.headers["webhook-timestamp"] for r in receiver.got}) >= 1
    receiver.verified(secret)
    assert _attempts(db) == [("failure", 500), ("failure", 500), ("success", 200)]


@pytest.mark.parametrize(("path", "status"), [("/moved", 301), ("/busy", 429), ("/boom", 503)])
def test_non_2xx_is_a_failure(db: str, receiver: Receiver, path: str, status: int) -> None:
    receiver.status[path] = status
    tenant_id, _, _ = _endpoint(db, f"{receiver.url}{path}")
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    assert _attempts(db) == [("failure", status)]
    assert [r.path for r in receiver.got] == [path]  # a redirect is not followed
    assert _message(db).status == "pending"


def test_410_disables_at_once(db: str, receiver: Receiver) -> None:
    receiver.status["/gone"] = 410
    tenant_id, endpoint_id, _ = _endpoint(db, f"{receiver.url}/gone")
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        ep = s.get(WebhookEndpoint, endpoint_id)
        assert (ep.enabled, ep.disabled_reason) == (False, "the receiver answered 410 Gone")
        disabled = s.scalars(select(Event).where(Event.type == "endpoint.disabled")).one()
        assert disabled.payload["data"]["endpoint_id"] == endpoint_id
    _event(db, tenant_id)  # events after that are not sent to it
    assert deliver_due(settings=LOCAL, batch_size=10) == 0


def test_failing_for_five_days_disables(db: str, receiver: Receiver) -> None:
    receiver.status["/down"] = 500
    tenant_id, endpoint_id, _ = _endpoint(db, f"{receiver.url}/down")
    _event(db, tenant_id)
    now = datetime.now(UTC)
    deliver_due(settings=LOCAL, batch_size=10, now=now)
    message_id = _message(db).id
    with session_scope(db) as s:
        ep = s.get(WebhookEndpoint, endpoint_id)
        assert ep.enabled and ep.failing_since is not None
        ep.failing_since = now - timedelta(days=5, seconds=1)
        s.get(WebhookMessage, message_id).next_attempt_at = now
    deliver_due(settings=LOCAL, batch_size=10, now=now)
    with session_scope(db) as s:
        ep = s.get(WebhookEndpoint, endpoint_id)
        assert not ep.enabled and ep.disabled_reason.startswith("every delivery failed since")


def test_slow_receiver_times_out(db: str, receiver: Receiver) -> None:
    tenant_id, _, _ = _endpoint(db, f"{receiver.url}/slow")
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert "Timeout" in attempt.error


def test_rotation_signs_with_both_secrets_during_grace(db: str, receiver: Receiver) -> None:
    tenant_id, endpoint_id, old = _endpoint(db, f"{receiver.url}/ok")
    with session_scope(db) as s:
        new = rotate_secret(
            s, endpoint=s.get(WebhookEndpoint, endpoint_id), grace=timedelta(hours=24)
        )
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    [during] = receiver.got
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    receiver.got.clear()
    _event(db, tenant_id, 2)  # keys k0 (exists) and k1: one new event
    later = datetime.now(UTC) + timedelta(hours=25)
    deliver_due(settings=LOCAL, batch_size=10, now=later)
    [after] = receiver.got
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_internal_address_is_refused_without_allow_list(db: str, receiver: Receiver) -> None:
    tenant_id, _, _ = _endpoint(db, f"{receiver.url}/ok")
    _event(db, tenant_id)
    deliver_due(settings=STRICT, batch_size=10)
    assert receiver.got == []
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert attempt.outcome == "failure" and "refused" in attempt.error
        assert "loopback" in attempt.error


def test_hostname_resolving_to_loopback_is_refused(db: str, receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    tenant_id, _, _ = _endpoint(db, f"http://localhost:{port}/ok")
    _event(db, tenant_id)
    deliver_due(settings=STRICT, batch_size=10)
    assert receiver.got == []
    assert _attempts(db) == [("failure", None)]


def test_payload_is_the_seed_shape(db: str, receiver: Receiver) -> None:
    tenant_id, _, secret = _endpoint(db, f"{receiver.url}/ok", legacy_signature=True)
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    [got] = receiver.got
    body = json.loads(got.body)
    assert list(body) == ["event", "timestamp", "data"]
    assert body["data"]["duration_minutes"] == 150
    import hashlib
    import hmac

    # seeds/001: HMAC-SHA256 of the body keyed with the secret as given, in hex
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-signature"] == f"sha256={expected}"


def test_receiver_down_is_a_failed_attempt(db: str) -> None:
    from worker.embedded import free_port

    tenant_id, _, _ = _endpoint(db, f"http://127.0.0.1:{free_port()}/nobody-listens")
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert "ConnectError" in attempt.error
    assert _message(db).status == "pending"


def test_connection_reset_is_a_failed_attempt(db: str) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def reset_everything() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            conn.close()  # linger 0: the peer sees a reset

    threading.Thread(target=reset_everything, daemon=True).start()
    tenant_id, _, _ = _endpoint(db, f"http://127.0.0.1:{port}/reset")
    _event(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    listener.close()
    assert _attempts(db) == [("failure", None)]
    assert _message(db).attempts == 1


def test_recover_resends_failed_messages_under_their_ids(db: str, receiver: Receiver) -> None:
    receiver.status["/later"] = 500
    tenant_id, endpoint_id, secret = _endpoint(db, f"{receiver.url}/later")
    _event(db, tenant_id, 2)
    now = datetime.now(UTC)
    for step in range(9):  # exhaust the schedule on a compressed clock
        deliver_due(settings=LOCAL, batch_size=10, now=now + timedelta(days=2 * step))
    with session_scope(db) as s:
        failed = {m.id: m.status for m in s.scalars(select(WebhookMessage))}
    assert set(failed.values()) == {"failed"}
    assert len(receiver.got) == 2 * 8  # eight attempts each, then it gives up
    receiver.got.clear()
    receiver.status["/later"] = 200
    with session_scope(db) as s:  # what POST .../recover does
        from sqlalchemy import update

        s.execute(
            update(WebhookMessage)
            .where(WebhookMessage.endpoint_id == endpoint_id)
            .values(status="pending", next_attempt_at=datetime.now(UTC))
        )
    deliver_due(settings=LOCAL, batch_size=10)
    assert {r.headers["webhook-id"] for r in receiver.got} == set(failed)
    receiver.verified(secret)


def test_rate_limit_spreads_requests_over_seconds(
    db: str, receiver: Receiver, redis_url: str
) -> None:
    """Five a second at most, counted in Redis (so every worker shares the budget)."""
    tenant_id, _, secret = _endpoint(db, f"{receiver.url}/limited", rate_limit=5)
    _event(db, tenant_id, 12)
    limited = Settings(**{**LOCAL.__dict__, "redis_url": redis_url})
    assert deliver_due(settings=limited, batch_size=100) == 12
    # Windows by the sender's clock (webhook-timestamp is taken right after the slot is
    # granted): arrival times would let a loaded machine's queueing merge two windows.
    sent = [int(r.headers["webhook-timestamp"]) for r in receiver.got]
    per_second: dict[int, int] = {}
    for at in sent:
        per_second[at] = per_second.get(at, 0) + 1
    assert len(sent) == 12
    assert max(per_second.values()) <= 5, per_second
    assert len(per_second) >= 3  # 12 requests at 5/s need three windows
    assert len(receiver.verified(secret)) == 12


def test_rate_limited_endpoint_gets_a_bounded_share_of_a_batch(db: str) -> None:
    from worker.storage.webhooks import claim_due, fan_out

    tenant_id, _, _ = _endpoint(db, "https://hooks.example.com/a", rate_limit=2)
    _event(db, tenant_id, 5)
    now = datetime.now(UTC)
    with session_scope(db) as s:
        assert fan_out(s, now=now) == 5
        claimed, targets = claim_due(s, now=now, limit=100, lease=timedelta(minutes=1),
                                     rate_window_s=1.0)  # fmt: skip
    assert len(claimed) == 2  # the other three stay due for the next batch
    assert [t.rate_limit for t in targets.values()] == [2]
    with session_scope(db) as s:
        claimed, _ = claim_due(s, now=now, limit=100, lease=timedelta(minutes=1),
                               rate_window_s=1.0)  # fmt: skip
    assert len(claimed) == 2  # the leased two are not claimed again


def test_concurrent_fan_out_splits_events_instead_of_repeating_them(pg_db: str, configure) -> None:
    """Two sweepers at once: the second skips the events the first holds (no wait, no repeat)."""
    from worker.storage.webhooks import fan_out

    configure(TICKWORK_DATABASE_URL=pg_db)
    tenant_id, _, _ = _endpoint(pg_db, "https://hooks.example.com/a")
    _event(pg_db, tenant_id, 6)
    with session_scope(pg_db) as first:
        assert fan_out(first, limit=4) == 4  # holds four events, uncommitted
        with session_scope(pg_db) as second:
            assert fan_out(second) == 2  # only the two nobody holds
    with session_scope(pg_db) as s:
        assert s.scalar(select(func.count()).select_from(WebhookMessage)) == 6
        assert s.scalar(select(func.count()).select_from(Event).where(
            Event.fanned_out_at.is_(None))) == 0  # fmt: skip


def test_outcome_of_a_message_deleted_mid_flight_is_dropped(db: str) -> None:
    from worker.storage.webhooks import Outcome, claim_due, fan_out, record_outcomes

    tenant_id, endpoint_id, _ = _endpoint(db, "https://hooks.example.com/a")
    _event(db, tenant_id, 3)
    now = datetime.now(UTC)
    with session_scope(db) as s:
        fan_out(s, now=now)
        claimed, _ = claim_due(s, now=now, limit=10, lease=timedelta(minutes=1))
    with session_scope(db) as s:  # the endpoint is deleted while the batch is in flight
        s.delete(s.get(WebhookEndpoint, endpoint_id))
    ok = Outcome(status_code=200, latency_ms=3, excerpt="", error=None)
    with session_scope(db) as s:
        assert record_outcomes(s, results=[(m, ok) for m in claimed], now=now,
                               disable_after=timedelta(days=5)) == 0  # fmt: skip
    assert _attempts(db) == []
