"""``Idempotency-Key`` against a real server (``tickwork api`` on PostgreSQL and Redis): a retry
after a dropped answer has one effect and gets the first answer; the same key with another body
is 409; keys are per tenant; two requests at once with one key make one effect; a multipart
upload retried with a fresh boundary is the same request."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import Tenant, make_tenant, stop_process, wait_for
from worker.broker import free_port
from worker.processes import wait_http
from worker.storage.db import session_scope
from worker.storage.models import Facility, Job

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
IN_PROGRESS = "idempotency_request_in_progress"


@pytest.fixture
def server(pg_db: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.update(
        TICKWORK_DATABASE_URL=pg_db,
        TICKWORK_BROKER_URL=redis_url,
        TICKWORK_REDIS_URL=redis_url,
        TICKWORK_DATA_DIR=str(tmp_path / "data"),
        TICKWORK_API_PORT=str(port),
        TICKWORK_LOG_FORMAT="text",
    )
    log = (tmp_path / "api.log").open("wb")
    cmd = [sys.executable, "-m", "worker.cli.main", "api"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


def facility(db: str, who: Tenant) -> str:
    fac = f"fac_{uuid.uuid4().hex[:12]}"
    with session_scope(db) as s:
        s.add(Facility(id=fac, tenant_id=who.id, name="Plant", timezone="UTC"))
    return fac


def jobs_of(db: str, who: Tenant) -> int:
    with session_scope(db) as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == who.id)))


def batch(fac: str, value: float = 3.5) -> dict:
    return {
        "data": [
            {"facility_id": fac, "tag": "flow", "timestamp": "2025-01-01T00:00:00Z", "value": value}
        ]
    }


def post_and_hang_up(base: str, request: httpx.Request, *, committed) -> None:
    """Send ``request`` whole on a fresh connection, wait until ``committed()`` says the server
    carried it out, then close the connection without reading a byte of the answer."""
    host, port = base.removeprefix("http://").split(":")
    body = request.read()
    head = [f"POST {request.url.raw_path.decode()} HTTP/1.1", f"Host: {host}:{port}"]
    head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "host"]
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        wait_for(committed, timeout=30, what="the server to carry out the request", every=0.1)
    # closed unread: the answer went nowhere


def post_until_answered(client: httpx.Client, *args, **kwargs) -> httpx.Response:
    """POST, waiting out ``idempotency_request_in_progress`` as a client honouring
    ``Retry-After`` would (bounded, so a stuck key fails the test)."""

    def answered() -> httpx.Response | None:
        answer = client.post(*args, **kwargs)
        busy = answer.status_code == 409 and answer.json()["error"]["code"] == IN_PROGRESS
        return None if busy else answer

    return wait_for(answered, timeout=30, what="the first request to finish", every=0.1)


def test_retry_after_a_dropped_answer_has_one_effect(server: str, pg_db: str) -> None:
    alice = make_tenant(pg_db, "Alice Fuels")
    fac = facility(pg_db, alice)
    headers = {**alice.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = httpx.Request("POST", f"{server}/v1/data-points", headers=headers, json=batch(fac))
    post_and_hang_up(server, first, committed=lambda: jobs_of(pg_db, alice) == 1)
    with httpx.Client(timeout=30) as client:
        retry = post_until_answered(
            client, f"{server}/v1/data-points", headers=headers, json=batch(fac)
        )
        assert retry.status_code == 202, retry.text
        assert retry.headers.get("idempotent-replayed") == "true"  # the first request's answer
        again = client.post(f"{server}/v1/data-points", headers=headers, json=batch(fac))
        assert (again.status_code, again.json()) == (202, retry.json())
    assert jobs_of(pg_db, alice) == 1
    with session_scope(pg_db) as s:
        assert s.get(Job, retry.json()["job_id"]) is not None


def test_same_key_other_body_is_409_and_keys_are_per_tenant(server: str, pg_db: str) -> None:
    alice, bob = make_tenant(pg_db, "Alice Fuels"), make_tenant(pg_db, "Bob Biogas")
    fac_a, fac_b = facility(pg_db, alice), facility(pg_db, bob)
    key = str(uuid.uuid4())
    with httpx.Client(base_url=server, timeout=30) as client:
        made = client.post(
            "/v1/data-points", headers={**alice.headers, "Idempotency-Key": key}, json=batch(fac_a)
        )
        assert made.status_code == 202 and "idempotent-replayed" not in made.headers
        other = client.post(
            "/v1/data-points",
            headers={**alice.headers, "Idempotency-Key": key},
            json=batch(fac_a, value=4.0),
        )
        assert other.status_code == 409
        error = other.json()["error"]
        assert (error["code"], error["type"], error["field"]) == (
            "idempotency_key_reused",
            "conflict",
            "Idempotency-Key",
        )
        # Bob's key of the same name is his own: it runs, and never replays Alice's answer.
        bobs = client.post(
            "/v1/data-points", headers={**bob.headers, "Idempotency-Key": key}, json=batch(fac_b)
        )
        assert bobs.status_code == 202 and "idempotent-replayed" not in bobs.headers
        assert bobs.json()["job_id"] != made.json()["job_id"]
        # Without a key nothing is remembered: two requests, two jobs.
        for _ in range(2):
            assert (
                client.post("/v1/data-points", headers=alice.headers, json=batch(fac_a)).status_code
                == 202
            )
        bad = client.post(
            "/v1/data-points",
            headers={**alice.headers, "Idempotency-Key": "a b"},
            json=batch(fac_a),
        )
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "Idempotency-Key"
    assert (jobs_of(pg_db, alice), jobs_of(pg_db, bob)) == (3, 1)


def together(n: int, url: str, **kwargs) -> list[httpx.Response]:
    """``n`` POSTs released at the same moment from ``n`` threads."""
    answers: list[httpx.Response] = []
    gate = threading.Barrier(n)

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            gate.wait()
            answers.append(client.post(url, **kwargs))

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_two_requests_at_once_make_one_effect(server: str, pg_db: str) -> None:
    alice = make_tenant(pg_db, "Alice Fuels")
    fac = facility(pg_db, alice)
    for _ in range(3):
        headers = {**alice.headers, "Idempotency-Key": str(uuid.uuid4())}
        answers = together(4, f"{server}/v1/data-points", headers=headers, json=batch(fac))
        ok = [a for a in answers if a.status_code == 202]
        busy = [a for a in answers if a.status_code == 409]
        assert len(ok) + len(busy) == 4 and ok, [a.text for a in answers]
        assert {a.json()["error"]["code"] for a in busy} <= {IN_PROGRESS}
        assert len({a.json()["job_id"] for a in ok}) == 1
    assert jobs_of(pg_db, alice) == 3


def test_multipart_retry_with_a_new_boundary_replays(server: str, pg_db: str) -> None:
    alice = make_tenant(pg_db, "Alice Fuels")
    fac = facility(pg_db, alice)
    content = f"facility_id,tag,timestamp,value,unit\n{fac},flow,2025-01-01T00:00:00Z,1.5,m3/h\n"
    headers = {**alice.headers, "Idempotency-Key": str(uuid.uuid4())}
    with httpx.Client(base_url=server, timeout=30) as client:
        answers = [
            client.post(
                "/v1/data-points/import",
                headers=headers,
                files={"file": ("p.csv", content.encode(), "text/csv")},
            )
            for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [202, 202], answers[0].text
        assert answers[0].json() == answers[1].json()
        assert answers[1].headers.get("idempotent-replayed") == "true"
        other = {"file": ("p.csv", content.encode() + b"\n", "text/csv")}
        changed = client.post("/v1/data-points/import", headers=headers, files=other)
        assert changed.status_code == 409
    assert jobs_of(pg_db, alice) == 1
    assert json.loads(answers[0].text)["job_id"]
