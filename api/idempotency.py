"""``Idempotency-Key`` on ``POST /v1/...``: a retried request runs once.

The first request with a key runs and its answer (status, content type, body) is kept for 24 h
under the caller's tenant; a retry with the same key and the same request gets that answer again
(with ``Idempotent-Replayed: true``) and changes nothing. The same key with a different request
is 409 ``idempotency_key_reused``; while the first is still running, a second is 409
``idempotency_request_in_progress`` (with ``Retry-After``). A request is its method, path,
query and body bytes; a multipart body is compared with its boundary left out, since a client
builds a fresh boundary for each try of the same upload.

Answers worth a retry are not kept: 429 and 5xx (and a request that raised) release the key.
A secret shown once (the plaintext of a new API key, which is otherwise stored only as a hash)
is not kept either: the replay carries it as null, and a client that lost the first answer
revokes that key and creates another.
Limit: the answer is stored just after the route's own commit, so a process that dies in between
leaves the key in progress (409) until it expires rather than risk a second effect.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re

from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from worker.storage import idempotency
from worker.storage.db import session_scope
from worker.storage.tenants import authenticate

HEADER = "idempotency-key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP header values carry safely
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
SHOWN_ONCE = {"/v1/api-keys": ("key",)}  # path -> answer fields kept as null


def kept_answer(path: str, content_type: str, answer: bytes) -> bytes:
    """The answer as it is kept for replays: ``SHOWN_ONCE`` fields of the path set to null."""
    fields = SHOWN_ONCE.get(path.rstrip("/"))
    if not fields or not content_type.startswith("application/json"):
        return answer
    try:
        data = json.loads(answer)
    except ValueError:
        return answer
    if isinstance(data, dict):
        data.update(dict.fromkeys(f for f in fields if f in data))
    return json.dumps(data, separators=(",", ":")).encode()


def request_hash(scope: Scope, body: bytes) -> str:
    headers = Headers(scope=scope)
    content_type = headers.get("content-type", "")
    found = _BOUNDARY.search(content_type)
    if content_type.lower().startswith("multipart/") and found:
        body = body.replace(found.group(1).encode("latin-1"), b"<boundary>")
    digest = hashlib.sha256()
    for part in (
        scope["method"],
        scope["path"],
        scope.get("query_string", b"").decode("latin-1"),
        content_type.split(";")[0].strip().lower(),
    ):
        digest.update(part.encode("utf-8") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def _tenant_of(scope: Scope) -> str | None:
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with session_scope(readonly=True) as session:
        key = authenticate(session, plaintext=token.strip())
        return key.tenant_id if key is not None else None


def _claim(tenant_id: str, key: str, digest: str) -> idempotency.Claim:
    with session_scope() as session:
        return idempotency.claim(session, tenant_id=tenant_id, key=key, request_hash=digest)


def _complete(tenant_id: str, key: str, status: int, content_type: str, body: bytes) -> None:
    with session_scope() as session:
        if status == 429 or status >= 500:
            idempotency.release(session, tenant_id=tenant_id, key=key)
        else:
            idempotency.complete(
                session,
                tenant_id=tenant_id,
                key=key,
                status=status,
                content_type=content_type,
                body=body,
            )


def _release(tenant_id: str, key: str) -> None:
    with session_scope() as session:
        idempotency.release(session, tenant_id=tenant_id, key=key)


class Idempotency:
    """ASGI middleware; inside the body size limit, so an oversized body is refused unread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = Headers(scope=scope).get(HEADER) if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):
            await _error(
                scope,
                send,
                400,
                "invalid_parameter",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                field="Idempotency-Key",
            )
            return
        tenant_id = await run_in_threadpool(_tenant_of, scope)
        if tenant_id is None:  # the route answers 401; nothing to remember
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        held = await run_in_threadpool(_claim, tenant_id, key, request_hash(scope, body))
        if held.outcome == "answered":
            replay = Response(
                held.body,
                status_code=held.status or 200,
                media_type=held.content_type or None,
                headers={"Idempotent-Replayed": "true"},
            )
            await replay(scope, receive, send)
            return
        if held.outcome == "mismatch":
            await _error(
                scope,
                send,
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key "
                "for a new request",
                field="Idempotency-Key",
            )
            return
        if held.outcome == "in_progress":
            await _error(
                scope,
                send,
                409,
                "idempotency_request_in_progress",
                "a request with this Idempotency-Key is still running; retry shortly",
                field="Idempotency-Key",
                headers={"Retry-After": "1"},
            )
            return
        await self._run(scope, receive, send, body, tenant_id, key)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, tenant_id: str, key: str
    ) -> None:
        given = False

        async def replayed() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        held: list[Message] = []
        stored = False

        async def captured(message: Message) -> None:
            # The answer is stored before the client gets its last byte: a client that sends
            # its next request the moment it has the answer must find the key answered.
            nonlocal stored
            held.append(message)
            if message["type"] != "http.response.body" or message.get("more_body", False):
                return
            start = held[0]
            content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
            answer = b"".join(m.get("body", b"") for m in held[1:])
            kept = kept_answer(scope["path"], content_type, answer)
            await run_in_threadpool(_complete, tenant_id, key, start["status"], content_type, kept)
            stored = True
            for each in held:
                with contextlib.suppress(OSError):  # a client that hung up: the answer is kept
                    await send(each)

        try:
            await self.app(scope, replayed, captured)
        finally:
            if not stored:  # raised, or ended without an answer: a retry may run it
                await run_in_threadpool(_release, tenant_id, key)


async def _error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    response = JSONResponse(
        error_body(status, code, message, field=field), status_code=status, headers=headers
    )

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)
