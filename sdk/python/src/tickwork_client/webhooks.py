"""Verify webhook deliveries (Standard Webhooks v1) in a receiver, with the standard library.

Each delivery carries ``webhook-id`` (the message id, the same on every attempt),
``webhook-timestamp`` (Unix seconds, fresh per attempt) and ``webhook-signature``: one or more
space-separated ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (several while a secret is
being rotated). The HMAC key is the base64 part of the endpoint's ``whsec_...`` secret::

    from tickwork_client import webhooks

    event = webhooks.verify(request_body, request_headers, secret)   # raises if not genuine
    print(event.event, event.data)

Pass the body exactly as received (bytes), before any JSON parsing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from tickwork_client.errors import WebhookVerificationError
from tickwork_client.models import Event

TOLERANCE_SECONDS = 5 * 60
PREFIX = "whsec_"

__all__ = ["TOLERANCE_SECONDS", "WebhookVerificationError", "sign", "verify"]


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    text = secret.strip()
    if text.startswith(PREFIX):
        text = text[len(PREFIX) :]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("the secret is not whsec_<base64>") from exc


def _header(headers: Mapping[str, str] | Iterable[tuple[str, str]], name: str) -> str:
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing {name} header")


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def verify(
    body: bytes | str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secret: str | bytes | Iterable[str | bytes],
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Event:
    """Check a delivery and return its event (``id`` = the ``webhook-id``, which stays the same
    across retries: use it to drop duplicates).

    ``secret`` is the endpoint's ``whsec_...`` secret (or several, e.g. old and new during a
    rotation: any one matching is enough). Raises :class:`WebhookVerificationError` when a
    header is missing, the timestamp is more than ``tolerance`` seconds (5 minutes) away from
    ``now``, or no ``v1`` signature matches.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        sent_at = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if sent_at < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if sent_at > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    if not secrets:
        raise WebhookVerificationError("no secret given")
    expected = [_signature(_key(s), msg_id, stamp, raw) for s in secrets]
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(given, e) for e in expected):
            return _event(raw, msg_id)
    raise WebhookVerificationError("no matching signature")


def _event(raw: bytes, msg_id: str) -> Event:
    try:
        payload: Any = json.loads(raw)
    except ValueError as exc:
        raise WebhookVerificationError("the body is not JSON") from exc
    if not isinstance(payload, dict) or "event" not in payload or "timestamp" not in payload:
        raise WebhookVerificationError('the body is not {"event", "timestamp", "data"}')
    return Event.from_dict({**payload, "id": msg_id})


def sign(
    body: bytes | str,
    secret: str | bytes,
    *,
    msg_id: str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers a sender would put on ``body`` (for testing a receiver)."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = _signature(_key(secret), msg_id, stamp, raw)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
