"""Webhook delivery to a real local receiver that verifies every request with `standardwebhooks`.

The clock is compressed by passing ``now`` to ``deliver_due``: retries that would wait minutes
become due at once, while every request really goes over HTTP.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.factories import (
    REDIRECTS,
    Receiver,
    local_delivery,
    publish_gap_events,
    serve,
    webhook_endpoint,
)
from worker.delivery.webhooks import Settings, deliver_due
from worker.storage.db import session_scope
from worker.storage.models import DeliveryAttempt, Event, WebhookEndpoint, WebhookMessage
from worker.storage.webhooks import rotate_secret

LOCAL = local_delivery()
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


def _attempts(db: str) -> list[tuple[str, int | None]]:
    with session_scope(db) as s:
        rows = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))
        return [(a.outcome, a.status_code) for a in rows]


def _message(db: str) -> WebhookMessage:
    with session_scope(db) as s:
        return s.scalars(select(WebhookMessage)).one()


def test_delivery_is_signed_and_verifiable(db: str, receiver: Receiver) -> None:
    tenant_id, _, secret = webhook_endpoint(db, f"{receiver.url}/ok")
    publish_gap_events(db, tenant_id, 3)
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
    tenant_id, _, secret = webhook_endpoint(db, f"{receiver.url}/flaky")
    publish_gap_events(db, tenant_id)
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
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}{path}")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    assert _attempts(db) == [("failure", status)]
    assert [r.path for r in receiver.got] == [path]  # a redirect is not followed
    assert _message(db).status == "pending"


def test_410_disables_at_once(db: str, receiver: Receiver) -> None:
    receiver.status["/gone"] = 410
    tenant_id, endpoint_id, _ = webhook_endpoint(db, f"{receiver.url}/gone")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        ep = s.get(WebhookEndpoint, endpoint_id)
        assert (ep.enabled, ep.disabled_reason) == (False, "the receiver answered 410 Gone")
        disabled = s.scalars(select(Event).where(Event.type == "endpoint.disabled")).one()
        assert disabled.payload["data"]["endpoint_id"] == endpoint_id
    publish_gap_events(db, tenant_id)  # events after that are not sent to it
    assert deliver_due(settings=LOCAL, batch_size=10) == 0


def test_failing_for_five_days_disables(db: str, receiver: Receiver) -> None:
    receiver.status["/down"] = 500
    tenant_id, endpoint_id, _ = webhook_endpoint(db, f"{receiver.url}/down")
    publish_gap_events(db, tenant_id)
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
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/slow")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert "Timeout" in attempt.error


def test_rotation_signs_with_both_secrets_during_grace(db: str, receiver: Receiver) -> None:
    tenant_id, endpoint_id, old = webhook_endpoint(db, f"{receiver.url}/ok")
    with session_scope(db) as s:
        new = rotate_secret(
            s, endpoint=s.get(WebhookEndpoint, endpoint_id), grace=timedelta(hours=24)
        )
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    [during] = receiver.got
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    receiver.got.clear()
    publish_gap_events(db, tenant_id, 2)  # keys k0 (exists) and k1: one new event
    later = datetime.now(UTC) + timedelta(hours=25)
    deliver_due(settings=LOCAL, batch_size=10, now=later)
    [after] = receiver.got
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_internal_address_is_refused_without_allow_list(db: str, receiver: Receiver) -> None:
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/ok")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=STRICT, batch_size=10)
    assert receiver.got == []
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert attempt.outcome == "failure" and "refused" in attempt.error
        assert "loopback" in attempt.error


def test_hostname_resolving_to_loopback_is_refused(db: str, receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    tenant_id, _, _ = webhook_endpoint(db, f"http://localhost:{port}/ok")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=STRICT, batch_size=10)
    assert receiver.got == []
    assert _attempts(db) == [("failure", None)]


def test_payload_is_the_seed_shape(db: str, receiver: Receiver) -> None:
    tenant_id, _, secret = webhook_endpoint(db, f"{receiver.url}/ok", legacy_signature=True)
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    [got] = receiver.got
    body = json.loads(got.body)
    assert list(body) == ["event", "timestamp", "data"]
    assert body["data"]["duration_minutes"] == 150
    import hashlib
    import hmac

    # legacy header: HMAC-SHA256 of the body keyed with the secret as given, in hex
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-signature"] == f"sha256={expected}"


def test_receiver_down_is_a_failed_attempt(db: str) -> None:
    from worker.broker import free_port

    tenant_id, _, _ = webhook_endpoint(db, f"http://127.0.0.1:{free_port()}/nobody-listens")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert "ConnectError" in attempt.error
    assert _message(db).status == "pending"


def test_connection_reset_is_a_failed_attempt(db: str) -> None:
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
    tenant_id, _, _ = webhook_endpoint(db, f"http://127.0.0.1:{port}/reset")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    listener.close()
    assert _attempts(db) == [("failure", None)]
    assert _message(db).attempts == 1


def test_recover_resends_failed_messages_under_their_ids(db: str, receiver: Receiver) -> None:
    receiver.status["/later"] = 500
    tenant_id, endpoint_id, secret = webhook_endpoint(db, f"{receiver.url}/later")
    publish_gap_events(db, tenant_id, 2)
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
    tenant_id, _, secret = webhook_endpoint(db, f"{receiver.url}/limited", rate_limit=5)
    publish_gap_events(db, tenant_id, 12)
    limited = Settings(**{**LOCAL.__dict__, "redis_url": redis_url})
    began = int(time.time())
    assert deliver_due(settings=limited, batch_size=100) == 12
    # Each request is signed (webhook-timestamp) just after its slot is granted, in that slot's
    # second or, on a loaded machine, a little later, never earlier. So with at most five slots a
    # second from `began`, the k-th request by timestamp cannot be older than began + k // 5.
    # (Counting timestamps per second instead would charge a request that slipped into the next
    # second to that second's five.)
    sent = sorted(int(r.headers["webhook-timestamp"]) for r in receiver.got)
    assert len(sent) == 12
    assert all(at - began >= k // 5 for k, at in enumerate(sent)), (began, sent)
    assert len(receiver.verified(secret)) == 12


def test_rate_limited_endpoint_gets_a_bounded_share_of_a_batch(db: str) -> None:
    from worker.storage.webhooks import claim_due, fan_out

    tenant_id, _, _ = webhook_endpoint(db, "https://hooks.example.com/a", rate_limit=2)
    publish_gap_events(db, tenant_id, 5)
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
    tenant_id, _, _ = webhook_endpoint(pg_db, "https://hooks.example.com/a")
    publish_gap_events(pg_db, tenant_id, 6)
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

    tenant_id, endpoint_id, _ = webhook_endpoint(db, "https://hooks.example.com/a")
    publish_gap_events(db, tenant_id, 3)
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


# --- the HTTP client's guarantees: TLS, pinned addresses, redirects, timeouts, excerpts --------


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Made-up DNS: ``names[host]`` is the list of answers, one per lookup, the last repeated.
    Every lookup of the process goes through it (the SSRF check's and any other)."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        queue = answers[host]
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)) if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in current
        ]  # fmt: skip

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@dataclass(frozen=True)
class Pki:
    ca: str  # PEM file of the test CA
    cert: str  # the receiver's certificate (for HOOKS_NAME), issued by the CA
    key: str


HOOKS_NAME = "hooks.tickwork.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for HOOKS_NAME only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tickwork test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOOKS_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOOKS_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = Pki(str(folder / "ca.pem"), str(folder / "cert.pem"), str(folder / "key.pem"))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return paths


@pytest.fixture
def tls_receiver(pki: Pki) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    state, server = serve(tls=context)
    yield state
    server.shutdown()


def _port(receiver: Receiver) -> str:
    return receiver.url.rsplit(":", 1)[1]


def test_tls_to_the_checked_address_with_the_hostname_s_certificate(
    db: str, tls_receiver: Receiver, pki: Pki, names: dict
) -> None:
    """https://hooks.tickwork.test: the connection goes to the checked 127.0.0.1, the TLS server
    name and the Host header are the hostname, the certificate is checked against it."""
    names[HOOKS_NAME] = [["127.0.0.1"]]
    port = _port(tls_receiver)
    tenant_id, _, secret = webhook_endpoint(db, f"https://{HOOKS_NAME}:{port}/ok")
    publish_gap_events(db, tenant_id)
    tls = Settings(**{**LOCAL.__dict__, "allow_http": False, "ca_file": pki.ca})
    assert deliver_due(settings=tls, batch_size=10) == 1
    assert _attempts(db) == [("success", 200)]
    [got] = tls_receiver.got
    assert got.headers["host"] == f"{HOOKS_NAME}:{port}"
    assert tls_receiver.server_names == [HOOKS_NAME]
    tls_receiver.verified(secret)


def test_tls_certificate_for_another_name_is_refused(
    db: str, tls_receiver: Receiver, pki: Pki, names: dict
) -> None:
    """The same receiver and address under another name: its certificate does not name it."""
    names["other.tickwork.test"] = [["127.0.0.1"]]
    tenant_id, _, _ = webhook_endpoint(db, f"https://other.tickwork.test:{_port(tls_receiver)}/ok")
    publish_gap_events(db, tenant_id)
    tls = Settings(**{**LOCAL.__dict__, "allow_http": False, "ca_file": pki.ca})
    deliver_due(settings=tls, batch_size=10)
    assert tls_receiver.got == []
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert attempt.error.startswith("TLSError") and "hostname" in attempt.error.lower()


def test_tls_certificate_from_an_unknown_ca_is_refused(
    db: str, tls_receiver: Receiver, names: dict
) -> None:
    names[HOOKS_NAME] = [["127.0.0.1"]]
    tenant_id, _, _ = webhook_endpoint(db, f"https://{HOOKS_NAME}:{_port(tls_receiver)}/ok")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=Settings(**{**LOCAL.__dict__, "allow_http": False}), batch_size=10)
    assert tls_receiver.got == []
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert attempt.error.startswith("TLSError") and "certificate" in attempt.error


def test_request_goes_to_the_checked_address_not_a_later_answer(
    db: str, receiver: Receiver, names: dict
) -> None:
    """DNS rebinding: the name answers an allowed address for the check and a forbidden one
    (127.0.0.2, where a trap listens on the same port) on every later lookup. The request must
    go to the address that was checked. (Here 127.0.0.1 plays the public address: it is the one
    the allow-list admits, and no test may connect outside this machine.)"""
    port = int(_port(receiver))
    trap, trap_server = serve("127.0.0.2", port)
    try:
        names["rebind.tickwork.test"] = [["127.0.0.1"], ["127.0.0.2"]]
        tenant_id, _, secret = webhook_endpoint(db, f"http://rebind.tickwork.test:{port}/ok")
        publish_gap_events(db, tenant_id)
        assert deliver_due(settings=LOCAL, batch_size=10) == 1
        assert trap.got == []
        [got] = receiver.got
        assert got.headers["host"] == f"rebind.tickwork.test:{port}"
        receiver.verified(secret)
        assert _attempts(db) == [("success", 200)]
    finally:
        trap_server.shutdown()


@pytest.mark.parametrize("status", REDIRECTS)
def test_redirect_to_a_receiver_that_would_accept_is_not_followed(
    db: str, receiver: Receiver, status: int
) -> None:
    receiver.status["/moved"] = status  # Location: the same receiver's /ok, which answers 200
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/moved")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    assert [r.path for r in receiver.got] == ["/moved"]
    assert _attempts(db) == [("failure", status)]
    assert _message(db).status == "pending"


def test_receiver_stalling_past_the_whole_attempt_timeout(db: str, receiver: Receiver) -> None:
    """Headers at once, then a byte every 0.1 s: no single read waits long, the attempt does."""
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/trickle")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)  # timeout 1 s; the answer would take 3 s
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert attempt.error.startswith("Timeout")
        message = s.scalars(select(WebhookMessage)).one()
        # a timeout counts as throttling: the next try waits at least a minute
        assert (message.next_attempt_at - message.last_attempt_at).total_seconds() >= 60


def test_response_excerpt_is_at_most_20_kb(db: str, receiver: Receiver) -> None:
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/big")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert attempt.outcome == "success"
        assert attempt.response_excerpt == "x" * 20 * 1024


def test_retry_after_is_honoured(db: str, receiver: Receiver) -> None:
    receiver.status["/busy"] = 503
    receiver.retry_after = "900"
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/busy")
    publish_gap_events(db, tenant_id)
    deliver_due(settings=LOCAL, batch_size=10)
    message = _message(db)
    delay = (message.next_attempt_at - message.last_attempt_at).total_seconds()
    assert 900 <= delay <= 900 * 1.2 + 1  # the schedule says 5 s; jitter only pushes it later


@pytest.mark.parametrize(
    ("url", "answers"),
    [("http://[::ffff:127.0.0.1]:{port}/ok", None),
     ("http://mapped.tickwork.test:{port}/ok", ["::ffff:127.0.0.1"])],
)  # fmt: skip
def test_ipv4_mapped_loopback_is_refused_and_allowed_as_its_ipv4(
    db: str, receiver: Receiver, names: dict, url: str, answers: list[str] | None
) -> None:
    if answers:
        names["mapped.tickwork.test"] = [answers]
    tenant_id, _, _ = webhook_endpoint(db, url.format(port=_port(receiver)))
    publish_gap_events(db, tenant_id)
    deliver_due(settings=STRICT, batch_size=10)
    assert receiver.got == []
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert "refused" in attempt.error and "IPv4-mapped 127.0.0.1: loopback" in attempt.error
    # the allow-list admits 127.0.0.1 in either spelling, and the request reaches it
    assert deliver_due(settings=LOCAL, batch_size=10, now=datetime.now(UTC) + timedelta(minutes=1))
    assert [r.path for r in receiver.got] == ["/ok"]
    assert _attempts(db)[-1] == ("success", 200)


@pytest.mark.parametrize("per_endpoint", [1, 3])
def test_per_endpoint_concurrency_bounds_requests_in_flight(
    db: str, receiver: Receiver, per_endpoint: int
) -> None:
    tenant_id, _, _ = webhook_endpoint(db, f"{receiver.url}/hold")
    publish_gap_events(db, tenant_id, 9)
    settings = Settings(**{**LOCAL.__dict__, "endpoint_concurrency": per_endpoint})
    assert deliver_due(settings=settings, batch_size=100) == 9
    assert 1 <= receiver.most_in_flight <= per_endpoint
    if per_endpoint == 1:  # one at a time: the receiver sees them in the events' order
        assert [json.loads(r.body)["data"]["n"] for r in receiver.got] == list(range(9))


def test_fanned_out_messages_are_leased_to_the_claiming_sweep(db: str) -> None:
    """New events become messages already leased to the sweep that fanned them out: another
    sweep's claim does not get them, and only the holder of the lease records an outcome."""
    from worker.storage.webhooks import Outcome, claim_due, record_outcomes

    tenant_id, _, _ = webhook_endpoint(db, "https://hooks.example.com/a")
    publish_gap_events(db, tenant_id, 3)
    now = datetime.now(UTC)
    with session_scope(db) as s:
        first, _ = claim_due(s, now=now, limit=10, lease=timedelta(minutes=1))
    assert len(first) == 3 and all(d.fresh and d.lease for d in first)
    with session_scope(db) as s:
        assert claim_due(s, now=now, limit=10, lease=timedelta(minutes=1)) == ([], {})
    later = now + timedelta(minutes=2)  # the first sweep's lease has run out: another takes them
    with session_scope(db) as s:
        second, _ = claim_due(s, now=later, limit=10, lease=timedelta(minutes=1))
    assert {d.id for d in second} == {d.id for d in first}
    ok = Outcome(status_code=200, latency_ms=3, excerpt="", error=None)
    with session_scope(db) as s:  # the first sweep answers late: its lease is gone
        assert record_outcomes(s, results=[(d, ok) for d in first], now=later,
                               disable_after=timedelta(days=5)) == 0  # fmt: skip
    with session_scope(db) as s:
        assert record_outcomes(s, results=[(d, ok) for d in second], now=later,
                               disable_after=timedelta(days=5)) == 3  # fmt: skip
    assert _attempts(db) == [("success", 200)] * 3


def test_receiver_that_never_accepts_times_out_connecting(db: str) -> None:
    """A listener whose accept queue is full: the kernel drops our SYN, so the connection never
    completes and the connect timeout (1 s here) ends the attempt."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # never accepted: they fill the queue
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())  # in progress: EINPROGRESS, not raised
        fillers.append(filler)
    try:
        tenant_id, _, _ = webhook_endpoint(db, f"http://127.0.0.1:{listener.getsockname()[1]}/full")
        publish_gap_events(db, tenant_id)
        deliver_due(settings=Settings(**{**LOCAL.__dict__, "timeout": 30.0}), batch_size=10)
    finally:
        for s in [*fillers, listener]:
            s.close()
    with session_scope(db) as s:
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert (attempt.outcome, attempt.status_code) == ("failure", None)
        assert attempt.error.startswith("ConnectTimeout"), attempt.error
