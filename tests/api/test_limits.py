"""Request size limits (api/limits.py): 413 in the seed's format before a route reads the body,
by Content-Length and by counting a chunked body, in-process (httpx ASGI transport) and through
a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from tests.factories import Tenant, assert_error, new_facility, queued_messages, wait_for
from worker.storage.db import session_scope
from worker.storage.models import Upload

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LIMIT = 4096


@pytest.fixture
def small(env: dict[str, str], configure) -> dict[str, str]:
    configure(TICKWORK_MAX_REQUEST_BYTES=str(LIMIT), TICKWORK_MAX_UPLOAD_BYTES=str(4 * LIMIT))
    return env


def batch(facility_id: str, points: int) -> bytes:
    point = {"tag": "flow", "timestamp": "2025-01-01T00:00:00Z", "value": 1.5}
    return json.dumps({"facility_id": facility_id, "data": [point] * points}).encode()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def asgi_post(path: str, headers: dict[str, str], content: object) -> httpx.Response:
    from api.app import create_app

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post(path, headers=headers, content=content)

    return asyncio.run(go())


def uploads(db_url: str) -> int:
    with session_scope(db_url) as s:
        return int(s.scalar(select(func.count()).select_from(Upload)) or 0)


def test_declared_length_over_limit_is_413_unread(client, alice: Tenant, small) -> None:
    fac = new_facility(client, alice)
    body = batch(fac, 200)
    assert len(body) > LIMIT
    response = client.post(
        "/v1/data-points",
        headers={**alice.headers, "Content-Type": "application/json"},
        content=body,
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["type"] == "invalid_request" and str(LIMIT) in error["message"]
    assert uploads(small["db"]) == 0 and queued_messages(small["redis"]) == 0


def test_chunked_body_over_limit_is_413(client, alice: Tenant, small) -> None:
    fac = new_facility(client, alice)
    body = batch(fac, 200)
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = asgi_post("/v1/data-points", headers, chunks(body))
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert uploads(small["db"]) == 0 and queued_messages(small["redis"]) == 0


def test_chunked_body_under_limit_is_accepted(client, alice: Tenant, small) -> None:
    fac = new_facility(client, alice)
    body = batch(fac, 5)
    assert len(body) < LIMIT
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = asgi_post("/v1/data-points", headers, chunks(body, size=50))
    assert response.status_code == 202, response.text
    assert queued_messages(small["redis"]) == 1


def test_uploads_have_their_own_larger_limit(client, alice: Tenant, small) -> None:
    fac = new_facility(client, alice)
    csv = b"facility_id,tag,timestamp,value\n" + b"%s,flow,2025-01-01T00:00:00Z,1\n" % (
        fac.encode()
    ) * (2 * LIMIT // 40)
    assert LIMIT < len(csv) < 4 * LIMIT
    response = client.post(
        "/v1/data-points/import",
        headers=alice.headers,
        files={"file": ("p.csv", csv, "text/csv")},
    )
    assert response.status_code == 202, response.text
    too_big = csv * 3
    response = client.post(
        "/v1/data-points/import",
        headers=alice.headers,
        files={"file": ("p.csv", too_big, "text/csv")},
    )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " "])
def test_malformed_content_length_is_400(alice: Tenant, small, length: str) -> None:
    headers = {**alice.headers, "Content-Type": "application/json", "Content-Length": length}
    from api.app import create_app

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            request = client.build_request("POST", "/v1/data-points", headers=headers)
            return await client.send(request)

    assert_error(asyncio.run(go()), 400, "invalid_content_length")


# --- a real server: uvicorn, a TCP socket, chunked transfer encoding ----------------------------


@pytest.fixture
def server(small) -> Iterator[str]:
    from api.app import create_app

    # Port 0: the server binds a port the system picks, and we read back which.
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    wait_for(lambda: instance.started, timeout=10, what="uvicorn to start")
    port = instance.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)


def test_real_server_refuses_an_endless_chunked_body(server: str, alice: Tenant) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while sent < 64 * 1024 * 1024:  # would be 64 MiB; the server stops it at 4 KiB
            sent += 1024
            yield b" " * 1024

    headers = {**alice.headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=server, timeout=30) as client:
        response = client.post("/v1/data-points", headers=headers, content=endless())
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert sent < 16 * 1024 * 1024  # refused long before the end, not after reading it all


def test_real_server_refuses_a_declared_length(server: str, alice: Tenant) -> None:
    headers = {**alice.headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=server, timeout=30) as client:
        response = client.post("/v1/data-points", headers=headers, content=b" " * (LIMIT + 1))
        assert_error(response, 413, "payload_too_large")
        # Under the limit the same server reaches the route (a 400 for a blank body, not 413).
        response = client.post("/v1/data-points", headers=headers, content=b" " * 10)
        assert_error(response, 400, "invalid_json")
