"""Idempotency keys in storage, on PostgreSQL and SQLite: one claim wins, answers are kept and
told apart by request, released keys and expired ones can be claimed again, tenants apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_tenant
from worker.storage import idempotency
from worker.storage.db import session_scope, upgrade


@pytest.fixture(params=["postgres", "sqlite"])
def db(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_db")
    url = request.getfixturevalue("sqlite_db")
    upgrade(url)
    return url


def claim(db: str, tenant: str, key: str, digest: str, now: datetime) -> idempotency.Claim:
    with session_scope(db) as s:
        return idempotency.claim(s, tenant_id=tenant, key=key, request_hash=digest, now=now)


def test_claim_answer_release_and_expiry(db: str) -> None:
    alice, bob = make_tenant(db, "Alice").id, make_tenant(db, "Bob").id
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert claim(db, alice, "k", "h1", now).outcome == "new"
    assert claim(db, alice, "k", "h1", now).outcome == "in_progress"
    assert claim(db, alice, "k", "h2", now).outcome == "mismatch"
    assert claim(db, bob, "k", "h2", now).outcome == "new"  # another tenant's key
    with session_scope(db) as s:
        answer = b'{"job_id": "job_1"}'
        idempotency.complete(
            s, tenant_id=alice, key="k", status=202, content_type="application/json", body=answer
        )
        idempotency.release(s, tenant_id=alice, key="k")  # an answered key is not released
        idempotency.release(s, tenant_id=bob, key="k")
    again = claim(db, alice, "k", "h1", now + timedelta(hours=23))
    assert (again.outcome, again.status, again.body) == ("answered", 202, b'{"job_id": "job_1"}')
    assert claim(db, bob, "k", "h3", now).outcome == "new"  # released: free again
    assert claim(db, alice, "k", "h2", now + idempotency.TTL).outcome == "new"  # expired
    with session_scope(db) as s:
        assert idempotency.delete_expired(s, now=now + 3 * idempotency.TTL) == 2
