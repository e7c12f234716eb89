"""API keys beyond test_api.py's (hash-only row, revocation, one read-only refusal, tampering):
the comparison is constant-time, no table holds a plaintext key, and a read-only key is refused
by every operation that writes."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import inspect, select, text

from tests.asgi import AppClient
from tests.factories import Tenant, assert_error, make_tenant, tenant_world
from worker.storage import tenants
from worker.storage.db import get_engine, session_scope
from worker.storage.models import ApiKey

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_keys_are_compared_in_constant_time(alice: Tenant, env, monkeypatch) -> None:
    calls: list[tuple[str, str]] = []
    compare = hmac.compare_digest

    def spy(a, b):  # the real comparison, recorded
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(tenants.hmac, "compare_digest", spy)
    with session_scope(env["db"]) as s:
        stored = s.scalar(select(ApiKey.key_hash).where(ApiKey.tenant_id == alice.id))
        digest = hashlib.sha256(alice.key.encode()).hexdigest()
        assert tenants.authenticate(s, plaintext=alice.key) is not None
        assert calls == [(digest, stored)]

        tampered = alice.key[:-1] + ("A" if alice.key[-1] != "A" else "B")
        assert tenants.authenticate(s, plaintext=tampered) is None
        assert calls[-1] == (hashlib.sha256(tampered.encode()).hexdigest(), stored)

        # An unknown prefix costs a comparison too, so timing does not tell whether one exists.
        unknown = "tw_000000000000_" + alice.key.split("_", 2)[2]
        assert tenants.authenticate(s, plaintext=unknown) is None
        assert len(calls) == 3 and calls[-1][0] == hashlib.sha256(unknown.encode()).hexdigest()


def test_no_table_holds_a_plaintext_key(client: AppClient, alice: Tenant, env) -> None:
    tenant_world(client, alice)  # jobs, webhooks, reports, documents, audit entries...
    reader = make_tenant(env["db"], "Reader", scope="read")
    with session_scope(env["db"]) as s:
        assert tenants.revoke_api_key(
            s, key_id=s.scalar(select(ApiKey.id).where(ApiKey.tenant_id == reader.id))
        )
    engine = get_engine(env["db"])
    with engine.connect() as conn:
        dump = "\n".join(
            repr(row)
            for table in inspect(engine).get_table_names()
            for row in conn.execute(text(f'SELECT * FROM "{table}"'))
        )
    assert alice.key.split("_")[1] in dump  # the public prefix is stored: the dump is real
    for key in (alice.key, reader.key):
        tail = key.split("_", 2)[2]
        assert tail[:16] not in dump
        assert hashlib.sha256(key.encode()).hexdigest() in dump


def test_read_only_key_is_refused_by_every_write(client: AppClient, alice: Tenant, env) -> None:
    ids = tenant_world(client, alice)
    reader = make_tenant(env["db"], "Reader", scope="read")
    writes = reads = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method in operations:
            response = client.request(method, path.format(**ids), headers=reader.headers)
            if method == "get":
                assert response.status_code != 403, f"GET {path}: {response.text}"
                reads += 1
            else:
                assert_error(response, 403, "insufficient_scope")
                writes += 1
    assert writes >= 19 and reads >= 20
