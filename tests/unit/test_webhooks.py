"""Unit tests for pipelines/webhooks.py: official Standard Webhooks vectors, verification with the
``standardwebhooks`` package, rotation, the legacy header, the body bytes, the retry schedule and
the SSRF rules; and the delivery's resolver that applies them. Vectors are the Standard Webhooks
specification's published test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest.mock import patch

import pytest
import standardwebhooks.webhooks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipelines.errors import MalformedInputError, PipelineError
from pipelines.webhooks import (
    MAX_ATTEMPTS,
    RETRY_SCHEDULE_S,
    ForbiddenAddressError,
    InvalidSecretError,
    InvalidUrlError,
    check_url,
    disables_now,
    encode_event,
    forbidden_reason,
    headers,
    is_success,
    is_throttling,
    legacy_signature,
    new_secret,
    next_delay,
    parse_allow,
    parse_retry_after,
    resolve_and_check,
    secret_bytes,
    sign,
)
from tests.factories import examples

PROPERTY_SETTINGS = settings(
    max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # SW-1's key
SECRET_B = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # SW-2's key
NOW = datetime(2025, 1, 15, 14, 30, tzinfo=UTC)


def now_s() -> int:
    """Current Unix seconds: ``Webhook.verify`` only accepts +-5 min around the real clock."""
    return int(time.time())


def verifies(secret: str, body: bytes, hdrs: dict[str, str]) -> bool:
    """Whether the reference library accepts the request. Only its verification error counts as
    a rejection: anything else it raises (it raises others on malformed headers) is a bug in what
    we sent."""
    try:
        Webhook(secret).verify(body, hdrs, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


# ------------------------------------------------------------------------------------ secrets


def test_new_secret_is_whsec_base64_of_32_random_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"), validate=True)) == 32
    assert secret_bytes(a) == base64.b64decode(a.removeprefix("whsec_"))
    assert a != b


@pytest.mark.parametrize("nbytes", [24, 48, 64])
def test_new_secret_sizes_within_spec(nbytes: int) -> None:
    assert len(secret_bytes(new_secret(nbytes))) == nbytes


@pytest.mark.parametrize("nbytes", [0, 23, 65])
def test_new_secret_refuses_sizes_outside_24_to_64(nbytes: int) -> None:
    with pytest.raises(ValueError, match="24-64"):
        new_secret(nbytes)


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # 24 bytes, no padding needed
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",  # 25 bytes, "==" missing
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBrA",  # 26 bytes, "=" missing
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBrA=",  # 26 bytes, padded
    ],
)
def test_secret_bytes_tolerates_missing_padding_like_the_reference_library(secret: str) -> None:
    # The library signs with the same key iff both decode the secret the same way.
    ours = sign(msg_id="msg_1", timestamp=1614265330, body=b"{}", secrets=[secret])
    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1614265330, UTC), "{}")
    assert ours == theirs


@pytest.mark.parametrize(
    ("secret", "match"),
    [
        ("", "whsec_"),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),  # the libraries accept it; we store whsec_
        ("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_", "base64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_", "base64"),  # url-safe alphabet
        ("whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw", "base64"),
        ("whsec_=MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "base64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwB", "length"),  # 4n+1 characters
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "23 bytes"),  # SW's unpadded 23-byte key
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "65 bytes"),
    ],
)
def test_secret_bytes_refuses_malformed_secrets(secret: str, match: str) -> None:
    with pytest.raises(InvalidSecretError, match=match) as info:
        secret_bytes(secret)
    assert isinstance(info.value, PipelineError)
    assert info.value.code == "invalid_secret"
    if len(secret) > len("whsec_"):
        assert secret.removeprefix("whsec_") not in str(info.value)  # never log the secret


# ----------------------------------------------------------------------- conformance vectors

# (key, msg_id, timestamp, payload, expected): the Standard Webhooks reference libraries' test
# vectors (github.com/standard-webhooks/standard-webhooks)
VECTORS = [
    (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ),
    (
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        b'{"email":"test@example.com","username":"test_user"}',
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    ),
]
MUST_FAIL = [  # signatures the vectors' verifiers must reject for the same inputs
    (0, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
    (1, "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU="),
]


@pytest.mark.parametrize(("key", "msg_id", "timestamp", "payload", "expected"), VECTORS)
def test_official_vectors(
    key: str, msg_id: str, timestamp: int, payload: bytes, expected: str
) -> None:
    assert sign(msg_id=msg_id, timestamp=timestamp, body=payload, secrets=[key]) == expected
    library = Webhook(key).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), payload.decode())
    assert library == expected


@pytest.mark.parametrize(("index", "bad"), MUST_FAIL)
def test_official_negative_vectors_differ(index: int, bad: str) -> None:
    key, msg_id, timestamp, payload, _ = VECTORS[index]
    assert sign(msg_id=msg_id, timestamp=timestamp, body=payload, secrets=[key]) != bad


@contextmanager
def library_clock(timestamp: int) -> Iterator[None]:
    """Freeze ``standardwebhooks``' clock at ``timestamp``: its +-5 min window is hard-coded
    in the package, so old vectors and arbitrary timestamps need it."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls.fromtimestamp(timestamp, tz)

    with patch.object(standardwebhooks.webhooks, "datetime", Frozen):
        yield


@pytest.mark.parametrize(("key", "msg_id", "timestamp", "payload", "expected"), VECTORS)
def test_official_vectors_verify_with_a_frozen_clock(
    key: str, msg_id: str, timestamp: int, payload: bytes, expected: str
) -> None:
    hdrs = headers(msg_id=msg_id, timestamp=timestamp, body=payload, secrets=[key])
    assert hdrs["webhook-signature"] == expected
    with library_clock(timestamp):
        assert verifies(key, payload, hdrs)
        assert not verifies(key, payload, {**hdrs, "webhook-signature": MUST_FAIL[0][1]})
        assert not verifies(key, payload, {**hdrs, "webhook-signature": MUST_FAIL[1][1]})
    assert not verifies(key, payload, hdrs)  # the real clock: "Message timestamp too old"


# ------------------------------------------------------------------ verification by the library

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
msg_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="."),
    min_size=1,
    max_size=40,
)
events = st.from_regex(r"[a-z_]{1,12}(\.[a-z_]{1,12}){0,2}", fullmatch=True)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@PROPERTY_SETTINGS
@given(
    msg_id=msg_ids,
    skew=st.integers(-120, 120),
    event=events,
    at=instants,
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_every_signature_verifies_with_standardwebhooks(
    msg_id: str, skew: int, event: str, at: datetime, data: dict[str, Any]
) -> None:
    body = encode_event(event, at, data)
    timestamp = now_s() + skew
    secret = new_secret()
    hdrs = headers(msg_id=msg_id, timestamp=timestamp, body=body, secrets=[secret])
    parsed = Webhook(secret).verify(body, hdrs)
    assert parsed == json.loads(body)
    assert parsed["data"] == data
    assert not verifies(new_secret(), body, hdrs)  # another key does not


@PROPERTY_SETTINGS
@given(
    msg_id=msg_ids,
    timestamp=st.integers(0, 4_102_444_800),
    body=st.dictionaries(st.text(max_size=10), json_values, max_size=5).map(
        lambda data: encode_event("ingest.completed", NOW, data)
    ),
    rotated=st.booleans(),
)
def test_signatures_verify_at_any_timestamp(
    msg_id: str, timestamp: int, body: bytes, rotated: bool
) -> None:
    secrets = [SECRET_B, SECRET_A] if rotated else [SECRET_A]
    hdrs = headers(msg_id=msg_id, timestamp=timestamp, body=body, secrets=secrets)
    with library_clock(timestamp):
        assert verifies(SECRET_A, body, hdrs)
        assert verifies(SECRET_B, body, hdrs) is rotated
        assert not verifies(SECRET_A, body, {**hdrs, "webhook-timestamp": str(timestamp + 1)})


def test_tampering_fails_verification() -> None:
    body = encode_event("report.generated", NOW, {"report_id": "rep_1", "credits": 12.5})
    ts = now_s()
    hdrs = headers(msg_id="msg_1", timestamp=ts, body=body, secrets=[SECRET_A])
    assert verifies(SECRET_A, body, hdrs)
    assert not verifies(SECRET_A, body.replace(b"12.5", b"13.5"), hdrs)
    assert not verifies(SECRET_A, body + b" ", hdrs)
    assert not verifies(SECRET_A, body, {**hdrs, "webhook-timestamp": str(ts + 1)})
    assert not verifies(SECRET_A, body, {**hdrs, "webhook-id": "msg_2"})
    assert not verifies(SECRET_B, body, hdrs)


def test_rotation_sends_both_signatures_and_each_secret_verifies_alone() -> None:
    body = encode_event("data_gap.detected", NOW, {"tag": "flow_rate"})
    hdrs = headers(msg_id="msg_rot", timestamp=now_s(), body=body, secrets=[SECRET_B, SECRET_A])
    entries = hdrs["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1,") for e in entries)
    assert entries[0] != entries[1]
    assert verifies(SECRET_A, body, hdrs)
    assert verifies(SECRET_B, body, hdrs)
    assert not verifies(new_secret(), body, hdrs)
    # Each entry belongs to its own secret: the new one first, as given.
    assert verifies(SECRET_B, body, {**hdrs, "webhook-signature": entries[0]})
    assert not verifies(SECRET_A, body, {**hdrs, "webhook-signature": entries[0]})
    assert verifies(SECRET_A, body, {**hdrs, "webhook-signature": entries[1]})


def test_after_the_grace_period_only_the_new_secret_verifies() -> None:
    body = b'{"event":"ping"}'
    hdrs = headers(msg_id="msg_new", timestamp=now_s(), body=body, secrets=[SECRET_B])
    assert " " not in hdrs["webhook-signature"]
    assert verifies(SECRET_B, body, hdrs)
    assert not verifies(SECRET_A, body, hdrs)


def test_duplicate_secrets_sign_once() -> None:
    value = sign(msg_id="m", timestamp=1, body=b"{}", secrets=[SECRET_A, SECRET_A])
    assert value == sign(msg_id="m", timestamp=1, body=b"{}", secrets=[SECRET_A])


def test_headers_per_attempt_keep_the_id_and_refresh_timestamp_and_signature() -> None:
    body = b'{"a":1}'
    first = headers(msg_id="msg_stable", timestamp=1700000000, body=body, secrets=[SECRET_A])
    retry = headers(msg_id="msg_stable", timestamp=1700000005, body=body, secrets=[SECRET_A])
    assert first == {
        "webhook-id": "msg_stable",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(
            msg_id="msg_stable", timestamp=1700000000, body=body, secrets=[SECRET_A]
        ),
        "content-type": "application/json",
    }
    assert retry["webhook-id"] == first["webhook-id"]
    assert retry["webhook-timestamp"] == "1700000005"
    assert retry["webhook-signature"] != first["webhook-signature"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"msg_id": ""}, MalformedInputError, "message id"),
        ({"msg_id": "msg.1"}, MalformedInputError, "message id"),  # "." splits the signed string
        ({"msg_id": "msg 1"}, MalformedInputError, "message id"),
        ({"msg_id": "msg_é"}, MalformedInputError, "message id"),
        ({"msg_id": "m" * 256}, MalformedInputError, "message id"),
        ({"timestamp": -1}, MalformedInputError, "timestamp"),
        ({"timestamp": True}, MalformedInputError, "timestamp"),
        ({"timestamp": 1.5}, MalformedInputError, "timestamp"),
        ({"secrets": []}, ValueError, "at least one"),
        ({"secrets": SECRET_A}, TypeError, "sequence"),
        ({"secrets": ["whsec_c2hvcnQ="]}, InvalidSecretError, "5 bytes"),
    ],
)
def test_sign_refuses_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"msg_id": "msg_1", "timestamp": 1, "body": b"{}", "secrets": [SECRET_A]}
    with pytest.raises(error, match=match):
        sign(**{**args, **kwargs})


# ------------------------------------------------------------------------------ legacy header

# GitHub's example in "Validating webhook deliveries" and Convoy's, under our X-Signature name
LEGACY_VECTORS = [
    (
        "It's a Secret to Everybody",
        b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ),
    (
        "convoy-webhook-secret",
        b'{"event":"charge.success","amount":1000,"currency":"NGN"}',
        "sha256=244449b7f48cbc2709060c9dcdc2b3aa47a78f540430579015c579fb12defbb4",
    ),
]


@pytest.mark.parametrize(("secret", "body", "expected"), LEGACY_VECTORS)
def test_legacy_x_signature_vectors(secret: str, body: bytes, expected: str) -> None:
    assert legacy_signature(body=body, secret=secret) == expected
    hdrs = headers(msg_id="m", timestamp=1, body=body, secrets=[SECRET_A], legacy_secret=secret)
    assert hdrs["X-Signature"] == expected
    assert "X-Signature" not in headers(msg_id="m", timestamp=1, body=body, secrets=[SECRET_A])


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=200), secret=st.text(min_size=1, max_size=40))
def test_legacy_signature_is_hex_hmac_of_the_body(body: bytes, secret: str) -> None:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert legacy_signature(body=body, secret=secret) == f"sha256={expected}"


def test_legacy_signature_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="empty"):
        legacy_signature(body=b"{}", secret="")


# --------------------------------------------------------------------------------------- body

SEED_DATA = {  # the documented example payload of a data_gap.detected event
    "facility_id": "fac_123",
    "tag": "flow_rate",
    "gap_start": "2025-01-15T12:00:00Z",
    "gap_end": "2025-01-15T14:30:00Z",
    "duration_minutes": 150,
}


def test_encode_event_golden_bytes_of_the_seed_example() -> None:
    assert encode_event("data_gap.detected", NOW, SEED_DATA) == (
        b'{"event":"data_gap.detected","timestamp":"2025-01-15T14:30:00Z","data":'
        b'{"facility_id":"fac_123","tag":"flow_rate","gap_start":"2025-01-15T12:00:00Z",'
        b'"gap_end":"2025-01-15T14:30:00Z","duration_minutes":150}}'
    )


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (NOW, "2025-01-15T14:30:00Z"),
        (
            datetime(2025, 1, 15, 16, 30, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-15T14:30:00Z",
        ),
        (NOW.replace(microsecond=123456), "2025-01-15T14:30:00.123456Z"),
    ],
)
def test_encode_event_timestamp_is_utc_iso8601_z(timestamp: datetime, expected: str) -> None:
    assert json.loads(encode_event("a.b", timestamp, {}))["timestamp"] == expected


def test_encode_event_keeps_key_order_and_utf8() -> None:
    body = encode_event(
        "document.processed", NOW, {"z": 1, "a": {"y": 2, "b": 3}, "site": "Zürich ⛽"}
    )
    assert body.endswith('"data":{"z":1,"a":{"y":2,"b":3},"site":"Zürich ⛽"}}'.encode())
    assert b"\\u" not in body


@PROPERTY_SETTINGS
@given(
    event=events, at=instants, data=st.dictionaries(st.text(max_size=10), json_values, max_size=5)
)
def test_encode_event_is_stable_and_round_trips(
    event: str, at: datetime, data: dict[str, Any]
) -> None:
    body = encode_event(event, at, data)
    assert body == encode_event(event, at, data)
    decoded = json.loads(body.decode("utf-8"))
    assert list(decoded) == ["event", "timestamp", "data"]
    assert decoded["event"] == event
    assert decoded["data"] == data
    assert (
        encode_event(event, at, data)
        == json.dumps(
            {"event": event, "timestamp": decoded["timestamp"], "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )


@pytest.mark.parametrize(
    ("event", "timestamp", "data", "match"),
    [
        ("a.b", datetime(2025, 1, 15, 14, 30), {}, "naive"),
        ("a.b", NOW, {"x": float("nan")}, "JSON"),
        ("a.b", NOW, {"x": float("inf")}, "JSON"),
        ("a.b", NOW, {"x": {1, 2}}, "JSON"),
        ("a.b", NOW, {"x": b"raw"}, "JSON"),
        ("a.b", NOW, {"x": NOW}, "JSON"),
        ("a.b", NOW, {"x": "\ud800"}, "surrogate"),
        ("", NOW, {}, "event type"),
        ("data gap", NOW, {}, "event type"),
        ("a..b", NOW, {}, "event type"),
        (".a", NOW, {}, "event type"),
        ("a.", NOW, {}, "event type"),
    ],
)
def test_encode_event_refuses_bad_input(
    event: str, timestamp: datetime, data: dict[str, Any], match: str
) -> None:
    with pytest.raises(MalformedInputError, match=match):
        encode_event(event, timestamp, data)


# ------------------------------------------------------------------------------------ retries


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (0, 0.0),
        (1, 5.0),
        (2, 300.0),
        (3, 1800.0),
        (4, 7200.0),
        (5, 18000.0),
        (6, 36000.0),
        (7, 36000.0),
        (8, None),
        (9, None),
        (100, None),
    ],
)
def test_schedule_without_jitter(attempt: int, expected: float | None) -> None:
    assert next_delay(attempt, jitter=0.0) == expected


def test_schedule_is_svix_and_lasts_about_27_6_hours() -> None:
    assert RETRY_SCHEDULE_S == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert MAX_ATTEMPTS == 8
    assert sum(RETRY_SCHEDULE_S) / 3600 == pytest.approx(27.6, abs=0.05)


@PROPERTY_SETTINGS
@given(attempt=st.integers(0, MAX_ATTEMPTS - 1), seed=st.integers(0, 2**32))
def test_jitter_stays_within_20_percent(attempt: int, seed: int) -> None:
    base = RETRY_SCHEDULE_S[attempt]
    delay = next_delay(attempt, rng=random.Random(seed))
    assert delay is not None
    assert 0.8 * base <= delay <= 1.2 * base
    assert delay >= 0


def test_jitter_spreads_delays_both_ways() -> None:
    rng = random.Random(7)
    delays = [next_delay(3, rng=rng) for _ in range(200)]
    assert min(d for d in delays if d is not None) < 1800 < max(d for d in delays if d is not None)
    assert len(set(delays)) > 100


def test_seeded_rng_is_reproducible() -> None:
    assert next_delay(4, rng=random.Random(1)) == next_delay(4, rng=random.Random(1))


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, "0", 5.0),  # never sooner than the schedule
        (1, "3", 5.0),
        (1, "120", 120.0),  # later than the schedule: honoured
        (1, "  42 ", 42.0),
        (2, "120", 300.0),
        (3, "7200", 7200.0),
        (1, "86400", 86400.0),
        (1, "999999999999999999999999", 86400.0),  # capped at 24 h
        (6, "100000", 86400.0),
        (1, "Wed, 15 Jan 2025 14:40:00 GMT", 600.0),  # IMF-fixdate, 10 min after NOW
        (1, "Wednesday, 15-Jan-25 14:40:00 GMT", 600.0),  # obsolete RFC 850
        (1, "Wed Jan 15 14:40:00 2025", 600.0),  # obsolete asctime
        (3, "Wed, 15 Jan 2025 14:40:00 GMT", 1800.0),  # schedule is later
        (1, "Wed, 15 Jan 2025 14:00:00 GMT", 5.0),  # in the past
        (1, "Sat, 15 Feb 2025 14:30:00 GMT", 86400.0),
        (1, "-5", 5.0),  # not delay-seconds: ignored
        (1, "1.5", 5.0),
        (1, "soon", 5.0),
        (1, "", 5.0),
        (1, "Wed, 31 Feb 2025 14:40:00 GMT", 5.0),
    ],
)
def test_retry_after_within_schedule_and_cap(
    attempt: int, retry_after: str, expected: float
) -> None:
    assert next_delay(attempt, retry_after=retry_after, now=NOW, jitter=0.0) == expected


@PROPERTY_SETTINGS
@given(
    attempt=st.integers(0, MAX_ATTEMPTS - 1),
    retry_after=st.integers(0, 200_000),
    seed=st.integers(0, 2**32),
)
def test_retry_after_jitter_only_delays_further(attempt: int, retry_after: int, seed: int) -> None:
    floor = min(max(RETRY_SCHEDULE_S[attempt], retry_after), 86400)
    delay = next_delay(attempt, retry_after=str(retry_after), rng=random.Random(seed))
    assert delay is not None
    assert floor <= delay <= min(1.2 * floor, 86400)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, None, 60.0),
        (0, None, 60.0),
        (3, None, 1800.0),
        (1, "30", 60.0),
        (1, "120", 120.0),
        (1, "junk", 60.0),
    ],
)
def test_throttled_waits_at_least_a_minute(
    attempt: int, retry_after: str | None, expected: float
) -> None:
    assert next_delay(attempt, retry_after=retry_after, throttled=True, jitter=0.0) == expected


@pytest.mark.parametrize("kwargs", [{}, {"retry_after": "10"}, {"throttled": True}])
def test_exhausted_schedule_returns_none(kwargs: dict[str, Any]) -> None:
    assert next_delay(MAX_ATTEMPTS - 1, jitter=0.0, **kwargs) is not None
    assert next_delay(MAX_ATTEMPTS, **kwargs) is None


@pytest.mark.parametrize(
    ("attempt", "kwargs", "match"),
    [
        (-1, {}, "attempt"),
        (1, {"jitter": 1.0}, "jitter"),
        (1, {"jitter": -0.1}, "jitter"),
        (
            1,
            {"retry_after": "Wed, 15 Jan 2025 14:40:00 GMT", "now": NOW.replace(tzinfo=None)},
            "tz",
        ),
    ],
)
def test_next_delay_refuses_bad_arguments(attempt: int, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        next_delay(attempt, **kwargs)


@pytest.mark.parametrize(
    ("status", "success"),
    [
        (200, True),
        (201, True),
        (204, True),
        (299, True),
        (100, False),
        (199, False),
        (301, False),
        (302, False),
        (304, False),
        (307, False),
        (400, False),
        (410, False),
        (429, False),
        (500, False),
        (503, False),
    ],
)
def test_is_success_is_2xx_only(status: int, success: bool) -> None:
    assert is_success(status) is success


@pytest.mark.parametrize(
    ("status", "disable"), [(410, True), (404, False), (400, False), (500, False), (200, False)]
)
def test_disables_now_on_410_only(status: int, disable: bool) -> None:
    assert disables_now(status) is disable


@pytest.mark.parametrize(
    ("status", "throttling"),
    [(429, True), (502, True), (503, True), (504, True), (500, False), (501, False), (410, False)],
)
def test_is_throttling(status: int, throttling: bool) -> None:
    assert is_throttling(status) is throttling


# --------------------------------------------------------------------------------------- SSRF

BLOCKED = [  # (address, words the reason must contain)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "IETF"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("192.88.99.1", "6to4 relay"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "unique local"),
    ("fd12::1", "unique local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "discard"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("2001:2::1", "IETF"),
    ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped 10.0.0.1: private"),
    ("::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254: link-local"),
    ("::ffff:0.0.0.1", "IPv4-mapped 0.0.0.1: unspecified"),
    ("::127.0.0.1", "IPv4-compatible 127.0.0.1: loopback"),
    ("::8.8.8.8", "IPv4-compatible"),
    ("64:ff9b::7f00:1", "NAT64 127.0.0.1: loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 169.254.169.254: link-local"),
    ("2002:7f00:1::", "6to4 127.0.0.1: loopback"),
    ("2002:c0a8:101::1", "6to4 192.168.1.1: private"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo client 127.0.0.1: loopback"),
    ("2001:0:a00:1::1", "Teredo server 10.0.0.1: private"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo tunnel"),  # client 8.8.8.8: still refused
]
PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "100.128.0.1",  # just past CGNAT
    "172.32.0.1",  # just past 172.16/12
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # the same host as 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize(("address", "words"), BLOCKED)
def test_blocked_ranges_are_refused_with_a_reason(address: str, words: str) -> None:
    reason = forbidden_reason(address)
    assert reason is not None
    assert words in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(address) is None
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "allow", "allowed"),
    [
        ("127.0.0.1", ["127.0.0.0/8"], True),
        ("127.0.0.1", [" 127.0.0.1 "], True),
        ("::ffff:127.0.0.1", ["127.0.0.0/8"], True),  # the same socket destination
        ("10.1.2.3", ["10.1.2.3"], True),
        ("172.20.0.5", ["10.0.0.0/8", "172.16.0.0/12"], True),
        ("fd12::1", ["fd00::/8"], True),
        ("::1", ["::1"], True),
        ("10.0.0.1", ["127.0.0.0/8"], False),
        ("::1", ["127.0.0.0/8"], False),
        ("127.0.0.1", ["::1/128"], False),
        ("64:ff9b::7f00:1", ["127.0.0.0/8"], False),  # NAT64 goes through a gateway: not the same
        ("2002:7f00:1::", ["127.0.0.0/8"], False),
        ("169.254.169.254", ["127.0.0.0/8"], False),
    ],
)
def test_allow_list_overrides_only_what_it_names(
    address: str, allow: list[str], allowed: bool
) -> None:
    assert (forbidden_reason(address, allow=allow) is None) is allowed
    assert forbidden_reason(address) is not None


@pytest.mark.parametrize(
    ("allow", "error"),
    [
        (["10.0.0.1/8"], ValueError),
        (["nope"], ValueError),
        (["10.0.0.0/33"], ValueError),
        ("127.0.0.0/8", TypeError),
    ],
)
def test_bad_allow_lists_are_refused(allow: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_allow(allow)
    with pytest.raises(error):
        forbidden_reason("8.8.8.8", allow=allow)


BLOCKED_V4_NETS = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]


def embeddings(v4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    n = int(v4)
    return {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
    }


@PROPERTY_SETTINGS
@given(data=st.data())
def test_every_embedding_of_a_blocked_ipv4_is_refused(data: st.DataObject) -> None:
    net = data.draw(st.sampled_from(BLOCKED_V4_NETS))
    v4 = net[data.draw(st.integers(0, net.num_addresses - 1))]
    assert forbidden_reason(v4) is not None
    for kind, v6 in embeddings(v4).items():
        reason = forbidden_reason(v6)
        assert reason is not None, (kind, str(v6))
        assert str(v4) in reason


@PROPERTY_SETTINGS
@given(n=st.integers(0, 2**32 - 1))
def test_embeddings_of_a_public_ipv4_share_its_verdict(n: int) -> None:
    v4 = ipaddress.IPv4Address(n)
    verdict = forbidden_reason(v4) is None
    for kind, v6 in embeddings(v4).items():
        assert (forbidden_reason(v6) is None) is verdict, (kind, str(v6))


# ---------------------------------------------------------------------------- resolve_and_check


def fake_resolver(
    answers: dict[str, Sequence[str]], calls: list[tuple[Any, ...]] | None = None
) -> Callable[..., list[tuple[Any, ...]]]:
    """A getaddrinfo stand-in: ``answers[host]`` as (family, type, proto, canonname, sockaddr)."""

    def resolve(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        if calls is not None:
            calls.append((host, port, kwargs))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out: list[tuple[Any, ...]] = []
        for a in answers[host]:
            if ":" in a:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)))
        return out

    return resolve


def no_resolver(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    raise AssertionError("an IP literal must not be resolved")


def test_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(ForbiddenAddressError) as info:
        resolve_and_check(
            "evil.example", 443, allow=[], resolver=fake_resolver({"evil.example": ["127.0.0.1"]})
        )
    err = info.value
    assert (err.host, err.address, err.reason) == ("evil.example", "127.0.0.1", "loopback")
    assert err.code == "forbidden_address"
    assert isinstance(err, PipelineError)
    assert "evil.example" in str(err)
    assert "127.0.0.1" in str(err)


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["93.184.215.14", "10.0.0.5"], "10.0.0.5"),  # public first does not hide the private one
        (["10.0.0.5", "93.184.215.14"], "10.0.0.5"),
        (["2606:4700:4700::1111", "::ffff:169.254.169.254"], "::ffff:a9fe:a9fe"),
        (["93.184.215.14", "fe80::1%eth0"], "fe80::1%eth0"),
        (["2606:4700:4700::1111", "fd00::1"], "fd00::1"),
    ],
)
def test_mixed_public_and_internal_answers_are_refused(addresses: list[str], refused: str) -> None:
    resolver = fake_resolver({"mixed.example": addresses})
    with pytest.raises(ForbiddenAddressError) as info:
        resolve_and_check("mixed.example", 443, allow=[], resolver=resolver)
    assert ipaddress.ip_address(info.value.address) == ipaddress.ip_address(refused)


def test_public_answers_are_returned_once_each_in_order() -> None:
    calls: list[tuple[Any, ...]] = []
    resolver = fake_resolver(
        {"hooks.example": ["93.184.215.14", "2606:4700:4700::1111", "93.184.215.14"]}, calls
    )
    got = resolve_and_check("hooks.example", 8443, allow=[], resolver=resolver)
    assert got == ["93.184.215.14", "2606:4700:4700::1111"]
    assert calls == [("hooks.example", 8443, {"type": socket.SOCK_STREAM})]


def test_rebinding_is_caught_on_the_next_check() -> None:
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    def rebinding(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        return fake_resolver({host: next(answers)})(host, port, **kwargs)

    assert resolve_and_check("rebind.example", 443, allow=[], resolver=rebinding) == [
        "93.184.215.14"
    ]
    with pytest.raises(ForbiddenAddressError, match="loopback"):
        resolve_and_check("rebind.example", 443, allow=[], resolver=rebinding)


def test_allow_list_admits_the_local_receiver() -> None:
    resolver = fake_resolver({"localhost": ["127.0.0.1", "::1"]})
    got = resolve_and_check("localhost", 8000, allow=["127.0.0.0/8", "::1"], resolver=resolver)
    assert got == ["127.0.0.1", "::1"]
    with pytest.raises(ForbiddenAddressError) as info:
        resolve_and_check("localhost", 8000, allow=["127.0.0.0/8"], resolver=resolver)
    assert info.value.address == "::1"


@pytest.mark.parametrize(
    ("host", "allow", "expected"),
    [
        ("8.8.8.8", [], ["8.8.8.8"]),
        ("2606:4700:4700::1111", [], ["2606:4700:4700::1111"]),
        ("127.0.0.1", ["127.0.0.0/8"], ["127.0.0.1"]),
    ],
)
def test_ip_literals_are_checked_without_resolving(
    host: str, allow: list[str], expected: list[str]
) -> None:
    assert resolve_and_check(host, 443, allow=allow, resolver=no_resolver) == expected


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "::ffff:10.0.0.1", "169.254.169.254"])
def test_internal_ip_literals_are_refused(host: str) -> None:
    with pytest.raises(ForbiddenAddressError):
        resolve_and_check(host, 443, allow=[], resolver=no_resolver)


def test_resolver_errors_and_empty_answers_raise_gaierror() -> None:
    with pytest.raises(socket.gaierror):
        resolve_and_check("missing.example", 443, allow=[], resolver=fake_resolver({}))
    with pytest.raises(socket.gaierror, match="no address"):
        resolve_and_check(
            "empty.example", 443, allow=[], resolver=fake_resolver({"empty.example": []})
        )


def test_bad_allow_list_fails_before_resolving() -> None:
    with pytest.raises(ValueError, match="allow-list"):
        resolve_and_check("x.example", 443, allow=["10.0.0.1/8"], resolver=no_resolver)


def test_non_ip_answer_is_refused() -> None:
    def weird(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", ("/run/x.sock",))]

    with pytest.raises(ForbiddenAddressError, match="not an IP address"):
        resolve_and_check("x.example", 443, allow=[], resolver=weird)


# ------------------------------------------------------------------------------------ check_url


@pytest.mark.parametrize(
    ("url", "allow_http", "expected"),
    [
        ("https://hooks.example.com/tickwork", False, ("hooks.example.com", 443)),
        ("https://Hooks.Example.COM:8443/p?q=1#frag", False, ("hooks.example.com", 8443)),
        ("HTTPS://hooks.example.com", False, ("hooks.example.com", 443)),
        ("https://hooks.example.com./x", False, ("hooks.example.com", 443)),
        ("https://under_score.example.com/", False, ("under_score.example.com", 443)),
        ("https://xn--bcher-kva.example/", False, ("xn--bcher-kva.example", 443)),
        ("https://1.1.1.1:444/", False, ("1.1.1.1", 444)),
        ("https://[2606:4700:4700::1111]/", False, ("2606:4700:4700::1111", 443)),
        ("https://[2606:4700:4700:0:0:0:0:1111]:9/", False, ("2606:4700:4700::1111", 9)),
        ("http://localhost:8000/hook", True, ("localhost", 8000)),
        ("http://receiver", True, ("receiver", 80)),
        ("https://receiver", True, ("receiver", 443)),
    ],
)
def test_check_url_accepts(url: str, allow_http: bool, expected: tuple[str, int]) -> None:
    assert check_url(url, allow_http=allow_http) == expected


@pytest.mark.parametrize(
    ("url", "allow_http", "match"),
    [
        ("http://hooks.example.com/", False, "scheme"),
        ("ftp://hooks.example.com/", True, "scheme"),
        ("file:///etc/passwd", True, "scheme"),
        ("gopher://hooks.example.com/", True, "scheme"),
        ("javascript:alert(1)", True, "scheme"),
        ("hooks.example.com/x", False, "scheme"),
        ("//hooks.example.com/x", False, "scheme"),
        ("https://user:pw@hooks.example.com/", False, "credentials"),
        ("https://user@hooks.example.com/", False, "credentials"),
        ("https://:pw@hooks.example.com/", False, "credentials"),
        ("https://hooks.example.com@127.0.0.1/", False, "credentials"),
        ("https:///path", False, "no host"),
        ("https://:443/", False, "no host"),
        ("https:hooks.example.com", False, "no host"),
        ("https://hooks.example.com:0/", False, "port"),
        ("https://hooks.example.com:65536/", False, "parse"),
        ("https://hooks.example.com:abc/", False, "parse"),
        ("https://[::1/", False, "parse"),
        ("https://[not-v6]/", False, "IPv6|parse"),
        ("https://[fe80::1%25eth0]/", False, "zone"),
        ("https://127.1/", False, "dotted-quad"),
        ("https://0x7f000001/", False, "dotted-quad"),
        ("https://2130706433/", False, "dotted-quad"),
        ("https://example.123/", False, "dotted-quad"),
        ("https://bücher.example/", False, "ASCII"),
        ("https://-bad-.example/", False, "DNS name"),
        ("https://a..b/", False, "DNS name"),
        ("https://" + "a" * 64 + ".example/", False, "DNS name"),
        ("https://ex ample.com/", False, "whitespace"),
        ("https://example.com\n.evil/", False, "whitespace"),
        ("https://exam\tple.com/", False, "whitespace"),
        ("https://example.com\\@evil.example/", False, "backslash"),
        ("", False, "scheme"),
    ],
)
def test_check_url_refuses(url: str, allow_http: bool, match: str) -> None:
    with pytest.raises(InvalidUrlError, match=match) as info:
        check_url(url, allow_http=allow_http)
    assert info.value.code == "invalid_url"
    assert "pw" not in str(info.value)


# ------------------------------------------------------------------- delivery: the guard's parts


def test_guarded_resolver_returns_only_checked_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector connects to what the resolver returns: the checked addresses, the hostname
    kept for Host, SNI and the certificate; an IPv4-mapped address as its IPv4 form."""
    import asyncio

    from worker.delivery.webhooks import GuardedResolver

    answers = {"hooks.example": ["93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(answers))
    got = asyncio.run(GuardedResolver(allow=[]).resolve("hooks.example", 443))
    assert [(r["hostname"], r["host"], r["port"], r["family"]) for r in got] == [
        ("hooks.example", "93.184.215.14", 443, socket.AF_INET),
        ("hooks.example", "2606:4700:4700::1111", 443, socket.AF_INET6),
        ("hooks.example", "8.8.8.8", 443, socket.AF_INET),
    ]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["127.0.0.1"], "loopback"),
        (["93.184.215.14", "10.0.0.5"], "private"),
        (["::ffff:127.0.0.1"], "IPv4-mapped 127.0.0.1: loopback"),
    ],
)
def test_guarded_resolver_refuses_any_internal_answer(
    monkeypatch: pytest.MonkeyPatch, answer: list[str], reason: str
) -> None:
    import asyncio

    from worker.delivery.webhooks import GuardedResolver

    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({"evil.example": answer}))
    with pytest.raises(ForbiddenAddressError, match=reason):
        asyncio.run(GuardedResolver(allow=[]).resolve("evil.example", 443))


def test_message_ids_look_like_new_id() -> None:
    from worker.storage.db import new_id
    from worker.storage.webhooks import _message_ids

    ids = _message_ids(2000)
    assert len(set(ids)) == 2000
    shape = new_id("msg")
    alphabet = set("0123456789abcdefghijkmnpqrstvwxyz")
    for i in ids:
        assert len(i) == len(shape) and i.startswith("msg_") and set(i[4:]) <= alphabet
    assert len({c for i in ids for c in i[4:]}) == len(alphabet)  # every character turns up


# --- exact answers at the edges (found by mutation testing: docs/testing.md) ------------------

LONGEST_HOST = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters, the most DNS allows


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example.com:1/", ("hooks.example.com", 1)),
        ("https://hooks.example.com:65535/", ("hooks.example.com", 65535)),
        (f"https://{LONGEST_HOST}/", (LONGEST_HOST, 443)),
        ("https://hooks.example.com/a!b", ("hooks.example.com", 443)),
    ],  # "!" is 0x21
)
def test_check_url_accepts_the_edges(url: str, expected: tuple[str, int]) -> None:
    assert len(LONGEST_HOST) == 253
    assert check_url(url) == expected


@pytest.mark.parametrize(
    ("url", "allow_http", "message"),
    [
        (
            "https://exa\x7fmple.com/",
            False,
            "the URL holds whitespace, a control character or a backslash",
        ),
        ("http://hooks.example.com/", False, "scheme must be https, got 'http'"),
        ("ftp://hooks.example.com/", True, "scheme must be https or http, got 'ftp'"),
        ("hooks.example.com/x", False, "scheme must be https, got 'none'"),
        ("https://user@hooks.example.com/", False, "credentials in the URL are not allowed"),
        ("https:///path", False, "the URL has no host"),
        ("https://hooks.example.com:0/", False, "port 0 is out of range"),
        ("https://[v1.x]/", False, "the bracketed host is not an IPv6 address"),  # IPvFuture
        ("https://[fe80::1%25eth0]/", False, "IPv6 zone ids are not allowed"),
        ("https://127.1/", False, "a numeric host must be a dotted-quad IPv4 address"),
        (
            f"https://a{LONGEST_HOST}/",
            False,
            "the host is not a valid ASCII DNS name (use xn-- for IDNs)",
        ),
    ],
)
def test_check_url_refusals_say_exactly_why(url: str, allow_http: bool, message: str) -> None:
    with pytest.raises(InvalidUrlError) as info:
        check_url(url, allow_http=allow_http)
    assert info.value.reason == message


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::", "unspecified (::)"),
        ("::1", "loopback (::1)"),
        ("::2", "IPv4-compatible 0.0.0.2: unspecified / 'this network' (0.0.0.0/8)"),
        ("::8.8.8.8", "IPv4-compatible (deprecated, ::/96)"),
        (
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            "Teredo tunnel (2001::/32): a client address, never a server",
        ),
        ("fe80::1%eth0", "link-local (fe80::/10)"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
    ],
)
def test_forbidden_reasons_in_full(address: str, reason: str | None) -> None:
    assert forbidden_reason(address) == reason


def test_parse_retry_after_edges() -> None:
    assert parse_retry_after("99999999999999999999") == 1e12  # capped, not an overflow
    assert parse_retry_after("Wed, 15 Jan 2025 14:29:00 GMT", now=NOW) == 0.0  # in the past
    future = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")  # now: the clock
    assert future is not None and future > 0
    with pytest.raises(ValueError, match=r"^now must be tz-aware$"):
        parse_retry_after("Wed, 15 Jan 2025 14:29:00 GMT", now=NOW.replace(tzinfo=None))


def test_is_success_stops_at_299() -> None:
    assert is_success(299) and not is_success(300)


def test_refusal_messages_of_secrets_and_allow_lists() -> None:
    with pytest.raises(ValueError, match=r"^the legacy secret is empty$"):
        legacy_signature(body=b"{}", secret="")
    with pytest.raises(TypeError) as info:
        parse_allow("10.0.0.0/8")
    assert str(info.value) == "allow must be a sequence of CIDRs/addresses, not one string"


def test_an_empty_answer_is_no_such_name_and_a_bad_one_is_refused() -> None:
    with pytest.raises(socket.gaierror) as info:
        resolve_and_check("empty.example", 443, allow=[], resolver=lambda *a, **k: [])
    assert info.value.errno == socket.EAI_NONAME
    assert "empty.example resolved to no address" in str(info.value)
    bad = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("not-an-ip", 443))]
    with pytest.raises(ForbiddenAddressError, match="not an IP address"):
        resolve_and_check("odd.example", 443, allow=[], resolver=lambda *a, **k: bad)
