"""The API-key routes (``/v1/api-keys``): a tenant lists, creates, reads and revokes its own keys.
The key itself is in the creation answer only and authenticates at once; a revoked key is 401 at
once, the calling key included; a read-only key may only read; another tenant's key is 404; every
change is audit-logged with the calling key as actor; no answer carries a key's hash."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from tests.asgi import AppClient
from tests.factories import Tenant, assert_error, make_tenant
from worker.storage import tenants
from worker.storage.db import session_scope

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FIELDS = {"id", "name", "prefix", "scope", "created_at", "revoked_at", "active"}


def _clean(response, *keys: str) -> None:
    """No key's hash (nor the word) in the answer, nor the plaintext of ``keys``."""
    assert "key_hash" not in response.text
    for key in keys:
        assert hashlib.sha256(key.encode()).hexdigest() not in response.text
        assert key.split("_", 2)[2] not in response.text


def _create(client: AppClient, who: Tenant, **body) -> dict:
    response = client.post("/v1/api-keys", headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _own_key_id(client: AppClient, who: Tenant) -> str:
    """The id of the key ``who`` calls with, found by its public prefix."""
    keys = client.get("/v1/api-keys", headers=who.headers).json()["data"]
    return next(k["id"] for k in keys if k["prefix"] == who.key.split("_")[1])


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _audit(client: AppClient, who: Tenant, action: str) -> list[dict]:
    response = client.get("/v1/audit-log", headers=who.headers, params={"action": action})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_create_list_read_revoke(client: AppClient, alice: Tenant) -> None:
    own = _own_key_id(client, alice)
    created = _create(client, alice, name="SCADA export", scope="read")
    assert set(created) == FIELDS | {"key"}
    assert created["name"] == "SCADA export" and created["scope"] == "read"
    assert created["active"] is True and created["revoked_at"] is None
    assert created["id"].startswith("key_") and created["created_at"].endswith("Z")
    assert created["key"].startswith(f"tw_{created['prefix']}_")
    _clean(client.get("/v1/api-keys", headers=alice.headers), alice.key, created["key"])

    listed = client.get("/v1/api-keys", headers=alice.headers).json()["data"]
    assert [k["id"] for k in listed] == [created["id"], own]  # newest first
    assert all(set(k) == FIELDS for k in listed)
    one = client.get(f"/v1/api-keys/{created['id']}", headers=alice.headers)
    assert one.status_code == 200, one.text
    assert one.json() == {k: v for k, v in created.items() if k != "key"}
    _clean(one, alice.key, created["key"])

    revoked = client.delete(f"/v1/api-keys/{created['id']}", headers=alice.headers)
    assert revoked.status_code == 204, revoked.text
    assert revoked.content == b""
    after = client.get(f"/v1/api-keys/{created['id']}", headers=alice.headers).json()
    assert after["active"] is False and after["revoked_at"].endswith("Z")
    listed = client.get("/v1/api-keys", headers=alice.headers).json()["data"]
    assert [(k["id"], k["active"]) for k in listed] == [(created["id"], False), (own, True)]

    # Revoking again answers the same and changes nothing.
    assert client.delete(f"/v1/api-keys/{created['id']}", headers=alice.headers).status_code == 204
    again = client.get(f"/v1/api-keys/{created['id']}", headers=alice.headers).json()
    assert again["revoked_at"] == after["revoked_at"]
    assert len(_audit(client, alice, "api_key.revoked")) == 1


def test_the_key_is_shown_once_and_authenticates(client: AppClient, alice: Tenant) -> None:
    created = _create(client, alice, name="Historian", scope="write")
    new = _bearer(created["key"])
    facilities = client.get("/v1/facilities", headers=new)
    assert facilities.status_code == 200, facilities.text
    made = client.post("/v1/facilities", headers=new, json={"name": "Plant 2"})
    assert made.status_code == 201, made.text  # a write key writes
    listed = client.get("/v1/api-keys", headers=new)
    read = client.get(f"/v1/api-keys/{created['id']}", headers=alice.headers)
    for response in (listed, read):
        assert response.status_code == 200, response.text
        _clean(response, created["key"])

    assert client.delete(f"/v1/api-keys/{created['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get("/v1/facilities", headers=new), 401, "unauthorized")
    assert client.get("/v1/facilities", headers=alice.headers).status_code == 200


def test_a_key_may_revoke_itself(client: AppClient, alice: Tenant) -> None:
    own = _own_key_id(client, alice)
    revoked = client.delete(f"/v1/api-keys/{own}", headers=alice.headers)
    assert revoked.status_code == 204, revoked.text
    error = assert_error(client.get("/v1/api-keys", headers=alice.headers), 401, "unauthorized")
    assert "revoked" in error["message"]


def test_a_read_only_key_may_only_read(client: AppClient, alice: Tenant, env) -> None:
    reader = _create(client, alice, name="Dashboard", scope="read")
    as_reader = _bearer(reader["key"])
    assert client.get("/v1/api-keys", headers=as_reader).status_code == 200
    assert client.get(f"/v1/api-keys/{reader['id']}", headers=as_reader).status_code == 200
    refused = client.post("/v1/api-keys", headers=as_reader, json={"name": "escalate"})
    assert_error(refused, 403, "insufficient_scope")
    own = _own_key_id(client, alice)
    for key_id in (own, reader["id"]):  # another key of its tenant, or itself
        assert_error(
            client.delete(f"/v1/api-keys/{key_id}", headers=as_reader), 403, "insufficient_scope"
        )
    listed = client.get("/v1/api-keys", headers=alice.headers).json()["data"]
    assert len(listed) == 2 and all(k["active"] for k in listed)

    other = make_tenant(env["db"], "Reader Co", scope="read")
    assert_error(
        client.post("/v1/api-keys", headers=other.headers, json={"name": "x"}),
        403,
        "insufficient_scope",
    )


def test_another_tenants_key_is_404(client: AppClient, alice: Tenant, bob: Tenant) -> None:
    hers = _create(client, alice, name="Alice's export", scope="write")
    for who, key_id in ((bob, hers["id"]), (alice, "key_nothing")):
        for method in ("GET", "DELETE"):
            response = client.request(method, f"/v1/api-keys/{key_id}", headers=who.headers)
            assert f"API key '{key_id}'" in assert_error(response, 404, "not_found")["message"]
    bobs = client.get("/v1/api-keys", headers=bob.headers).json()["data"]
    assert [k["prefix"] for k in bobs] == [bob.key.split("_")[1]]
    assert hers["id"] not in str(bobs)
    # Alice's key still works, and nothing was recorded against it.
    assert client.get("/v1/facilities", headers=_bearer(hers["key"])).status_code == 200
    assert _audit(client, alice, "api_key.revoked") == []
    assert _audit(client, bob, "api_key.revoked") == []


def test_changes_are_audit_logged_with_the_calling_key(client: AppClient, alice: Tenant) -> None:
    own = _own_key_id(client, alice)
    created = _create(client, alice, name="Lab import", scope="read")
    assert client.delete(f"/v1/api-keys/{created['id']}", headers=alice.headers).status_code == 204
    made = [
        e for e in _audit(client, alice, "api_key.created") if e["subject"]["id"] == created["id"]
    ]
    assert len(made) == 1
    assert made[0]["actor"] == f"api_key:{own}"
    assert made[0]["subject"] == {"type": "api_key", "id": created["id"]}
    assert made[0]["details"] == {
        "prefix": created["prefix"],
        "name": "Lab import",
        "scope": "read",
    }
    (revoked,) = _audit(client, alice, "api_key.revoked")
    assert revoked["actor"] == f"api_key:{own}"
    assert revoked["subject"] == {"type": "api_key", "id": created["id"]}
    log = client.get("/v1/audit-log", headers=alice.headers)
    _clean(log, alice.key, created["key"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "read"}, "name"),
        ({"name": "", "scope": "read"}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "scope": "admin"}, "scope"),
        ({"name": "ok", "scope": "write", "key_hash": "0" * 64}, "key_hash"),
    ],
)
def test_a_bad_body_is_400(client: AppClient, alice: Tenant, body: dict, field: str) -> None:
    response = client.post("/v1/api-keys", headers=alice.headers, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert len(client.get("/v1/api-keys", headers=alice.headers).json()["data"]) == 1


def test_the_default_scope_is_write(client: AppClient, alice: Tenant) -> None:
    assert _create(client, alice, name="Default")["scope"] == "write"


def test_an_idempotent_retry_creates_one_key(client: AppClient, alice: Tenant, env) -> None:
    headers = {**alice.headers, "Idempotency-Key": "create-key-1"}
    first = client.post("/v1/api-keys", headers=headers, json={"name": "Retry", "scope": "read"})
    again = client.post("/v1/api-keys", headers=headers, json={"name": "Retry", "scope": "read"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/v1/api-keys", headers=alice.headers).json()["data"]) == 2
    # The plaintext is shown once: neither the replay nor any stored row holds it.
    plaintext = first.json()["key"]
    assert plaintext.startswith("tw_") and again.json()["key"] is None
    with session_scope(env["db"]) as s:
        kept = s.execute(text("SELECT response_body FROM idempotency_key")).scalars().all()
        assert kept and all(plaintext.encode() not in body for body in kept)


def test_storage_keeps_to_the_tenant(alice: Tenant, bob: Tenant, env) -> None:
    with session_scope(env["db"]) as s:
        (hers,) = tenants.list_api_keys(s, tenant_id=alice.id)
        assert tenants.get_api_key(s, tenant_id=bob.id, key_id=hers.id) is None
        assert (
            tenants.revoke_tenant_api_key(
                s, tenant_id=bob.id, key_id=hers.id, actor="api_key:key_x"
            )
            is None
        )
        assert hers.revoked_at is None
        view = tenants.api_key_view(hers)
        assert set(view) == FIELDS and hers.key_hash not in str(view)
