"""The client's pure parts, without a server: webhook verification (checked against the
standardwebhooks reference package both ways), the model parse layer, the paging rule and the
retry waits."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from tickwork_client import RetryPolicy, WebhookVerificationError, models, webhooks
from tickwork_client._base import next_params, query
from tickwork_client._retry import parse_retry_after
from tickwork_client.errors import (
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    error_for,
)

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 24).decode()
BODY = json.dumps(
    {"event": "alert.triggered", "timestamp": "2025-01-15T14:30:00Z", "data": {"tag": "flow"}}
).encode()


# --- webhooks --------------------------------------------------------------------------------


def test_verify_accepts_what_the_reference_library_signs() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(SECRET).sign("msg_1", now, BODY.decode())
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": signature,
    }
    event = webhooks.verify(BODY, headers, SECRET)
    assert (event.id, event.event, event.data) == ("msg_1", "alert.triggered", {"tag": "flow"})
    assert event.timestamp == datetime(2025, 1, 15, 14, 30, tzinfo=UTC)


def test_the_reference_library_accepts_what_sign_makes() -> None:
    headers = webhooks.sign(BODY, SECRET, msg_id="msg_2")
    assert Webhook(SECRET).verify(BODY, headers)["event"] == "alert.triggered"
    assert webhooks.verify(BODY.decode(), headers, SECRET).id == "msg_2"  # str body too


def test_verify_refuses_tampering_wrong_secret_and_stale_or_future_timestamps() -> None:
    headers = webhooks.sign(BODY, SECRET, msg_id="msg_3", timestamp=1_700_000_000)
    at = 1_700_000_000
    assert webhooks.verify(BODY, headers, SECRET, now=at + 300)
    assert webhooks.verify(BODY, headers, SECRET, now=at - 300)
    cases = [
        (BODY.replace(b"flow", b"flaw"), headers, SECRET, at, "no matching signature"),
        (BODY, headers, OTHER, at, "no matching signature"),
        (BODY, {**headers, "webhook-id": "msg_4"}, SECRET, at, "no matching signature"),
        (BODY, {**headers, "webhook-timestamp": str(at + 1)}, SECRET, at, "no matching"),
        (BODY, headers, SECRET, at + 301, "too old"),
        (BODY, headers, SECRET, at - 301, "in the future"),
        (BODY, {k: v for k, v in headers.items() if k != "webhook-id"}, SECRET, at, "missing"),
        (BODY, {**headers, "webhook-timestamp": "soon"}, SECRET, at, "not an integer"),
        (
            BODY,
            {**headers, "webhook-signature": "v2," + headers["webhook-signature"][3:]},
            SECRET,
            at,
            "no matching",
        ),
        (BODY, headers, "whsec_%%%", at, "not whsec_"),
    ]
    for body, hdrs, secret, now, message in cases:
        with pytest.raises(WebhookVerificationError, match=message):
            webhooks.verify(body, hdrs, secret, now=now)


def test_several_signatures_during_a_rotation() -> None:
    old = webhooks.sign(BODY, SECRET, msg_id="msg_5", timestamp=1_700_000_000)
    new = webhooks.sign(BODY, OTHER, msg_id="msg_5", timestamp=1_700_000_000)
    headers = {**old, "webhook-signature": f"{new['webhook-signature']} {old['webhook-signature']}"}
    for secret in (SECRET, OTHER, [OTHER, SECRET], [SECRET]):
        assert webhooks.verify(BODY, headers, secret, now=1_700_000_000).id == "msg_5"
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(BODY, old, OTHER, now=1_700_000_000)


# --- models ----------------------------------------------------------------------------------


def test_models_parse_timestamps_and_keep_unknown_fields() -> None:
    job = models.Job.from_dict(
        {
            "id": "job_1",
            "kind": "ingest.process_upload",
            "status": "succeeded",
            "created_at": "2025-01-15T14:30:00.123456Z",
            "started_at": "2025-01-15T14:30:01+02:00",
            "finished_at": None,
            "logs": [{"timestamp": "2025-01-15T14:30:00Z", "level": "INFO", "message": "queued"}],
            "result": {"rows": 1},
            "shard": "eu-1",
        }
    )
    assert job.created_at == datetime(2025, 1, 15, 14, 30, 0, 123456, tzinfo=UTC)
    assert job.started_at == datetime(2025, 1, 15, 12, 30, 1, tzinfo=UTC)
    assert job.finished_at is None and job.done
    assert job.logs[0].timestamp.tzinfo is not None and job.logs[0].message == "queued"
    assert job.extra == {"shard": "eu-1"}
    assert job.to_dict()["created_at"] == "2025-01-15T14:30:00.123456Z"
    assert job.to_dict()["shard"] == "eu-1"

    quality = models.QualityScore.from_dict(
        {
            "facility_id": "fac_1",
            "tag": "flow",
            "day": "2025-01-15",
            "period_start": "2025-01-15T08:00:00Z",
            "period_end": "2025-01-16T08:00:00Z",
            "score": 91.5,
            "completeness": 0.97,
        }
    )
    assert quality.day == date(2025, 1, 15) and quality["completeness"] == 0.97

    document = models.Document.from_dict(
        {
            "id": "doc_1",
            "status": "failed",
            "fields": {"total": {"value": 10.5, "confidence": 0.9}},
            "error": {"code": "needs_ocr", "message": "no text"},
        }
    )
    assert document.fields["total"].value == 10.5 and document.error is not None
    assert document.error.code == "needs_ocr" and document.done

    assert models.parse_datetime("2025-01-15T14:30:00") == datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
    naive = datetime(2025, 1, 1, 5)
    assert models.format_datetime(naive) == "2025-01-01T05:00:00Z"
    assert models.format_datetime(datetime(2025, 1, 1, 5, tzinfo=UTC) + timedelta()) == (
        "2025-01-01T05:00:00Z"
    )
    assert query(start_date=date(2025, 1, 1), tags=["a", "b"], strict=True, x=None) == {
        "start_date": "2025-01-01",
        "tags": ["a", "b"],
        "strict": "true",
    }


# --- paging ----------------------------------------------------------------------------------


def _items(*ids: str) -> list[dict[str, str]]:
    return [{"id": i} for i in ids]


def test_paging_by_page_number_today() -> None:
    params = {"facility_id": "fac_1", "limit": 2}
    body = {"data": _items("a", "b"), "pagination": {"total": 5, "page": 1, "per_page": 2}}
    assert next_params(params, body) == {**params, "page": 2}
    body = {"data": _items("e"), "pagination": {"total": 5, "page": 3, "per_page": 2}}
    assert next_params({**params, "page": 3}, body) is None
    body = {"data": _items("c", "d"), "pagination": {"total": 4, "page": 2, "per_page": 2}}
    assert next_params({**params, "page": 2}, body) is None  # exactly full: no empty request
    assert (
        next_params(params, {"data": [], "pagination": {"total": 0, "page": 1, "per_page": 2}})
        is None
    )
    assert next_params({}, {"data": _items("a")}) is None  # a list without paging: one page


def test_paging_by_cursor_when_the_server_has_it() -> None:
    params = {"facility_id": "fac_1", "limit": 2, "page": 4}
    body = {
        "data": _items("a", "b"),
        "has_more": True,
        "pagination": {"total": 9, "page": 1, "per_page": 2},
    }
    assert next_params(params, body) == {"facility_id": "fac_1", "limit": 2, "starting_after": "b"}
    assert next_params(params, {"data": _items("c"), "has_more": False}) is None
    nxt = next_params(
        {"limit": 2, "starting_after": "b"}, {"data": _items("c", "d"), "has_more": True}
    )
    assert nxt == {"limit": 2, "starting_after": "d"}
    # items without ids (quality scores) fall back to page numbers
    assert next_params({"limit": 1}, {"data": [{"day": "x"}], "has_more": True}) == {
        "limit": 1,
        "page": 2,
    }


def test_a_data_point_page_names_the_archived_months() -> None:
    from tickwork_client._pagination import _page

    body = {
        "data": _items("dp_1_0"),
        "has_more": False,
        "next": None,
        "pagination": {"total": 1, "page": 1, "per_page": 100},
        "archived": [
            {
                "start": "2024-09-01T00:00:00Z",
                "end": "2024-10-01T00:00:00Z",
                "points": 86400,
                "restore": "tickwork points restore 2024-09",
            }
        ],
    }
    [archived] = _page(body, dict).archived
    assert (archived.start, archived.end, archived.points) == (
        datetime(2024, 9, 1, tzinfo=UTC),
        datetime(2024, 10, 1, tzinfo=UTC),
        86400,
    )
    assert archived.restore == "tickwork points restore 2024-09"
    assert _page({"data": []}, dict).archived == []  # other lists, older servers


# --- retries and errors ----------------------------------------------------------------------


def test_retry_waits() -> None:
    policy = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=8, max_retry_after=60)
    assert policy.wait(0, "17") == 17.0 and policy.wait(2, "0") == 0.0
    assert policy.wait(0, "61") is None  # longer than we wait: raise instead
    rng = random.Random(1)
    for retry in range(8):
        assert 0 <= policy.wait(retry, None, rng=rng) <= min(8, 0.5 * 2**retry)  # type: ignore[operator]
    assert policy.should_retry_status(429, 0) and policy.should_retry_status(503, 2)
    assert policy.should_retry_status(500, 0) and policy.should_retry_status(408, 0)
    assert not policy.should_retry_status(429, 3) and not policy.should_retry_status(404, 0)
    assert not policy.should_retry_status(409, 0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0


def test_errors_from_the_error_format() -> None:
    detail = {"type": "invalid_request", "code": "invalid_parameter", "message": "bad date"}
    body = {"error": {**detail, "field": "start_date", "upload_id": "upl_1"}}
    err = error_for(400, body, {})
    assert isinstance(err, InvalidRequestError) and err.field == "start_date"
    assert (err.code, err.message, err.extra) == (
        "invalid_parameter",
        "bad date",
        {"upload_id": "upl_1"},
    )
    headers = {
        "Retry-After": "12",
        "X-RateLimit-Limit": "1000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1700000060",
    }
    limited = error_for(429, {"error": {"code": "rate_limited", "message": "slow"}}, headers)
    assert isinstance(limited, RateLimitError)
    assert (limited.retry_after, limited.limit, limited.remaining, limited.reset) == (
        12.0,
        1000,
        0,
        1700000060,
    )
    assert isinstance(error_for(404, {"error": {"message": "x"}}, {}), NotFoundError)
    down = error_for(503, {"error": {"message": "db"}}, {"retry-after": "5"})
    assert isinstance(down, ServiceUnavailableError) and down.retry_after == 5.0
    assert isinstance(error_for(502, "<html>bad gateway</html>", {}), ServerError)
