"""The calling tenant's API keys: list, create (the key is shown once), read, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CallerDep, ReadSession, WriterDep, WriteSession
from api.errors import found
from api.schemas.api_keys import ApiKeyCreated, ApiKeyIn, ApiKeyList, ApiKeyOut
from worker.storage import audit, tenants

router = APIRouter(tags=["api keys"])


@router.get("/api-keys")
def list_api_keys(who: CallerDep, session: ReadSession) -> ApiKeyList:
    """The tenant's keys, newest first, revoked ones included. Never the keys themselves."""
    keys = tenants.list_api_keys(session, tenant_id=who.tenant_id)
    return ApiKeyList(data=[ApiKeyOut.of(k) for k in keys])


@router.post("/api-keys", status_code=201)
def create_api_key(body: ApiKeyIn, who: WriterDep, session: WriteSession) -> ApiKeyCreated:
    """Create a key (audit-logged). The key itself is in this response only: store it now."""
    key, plaintext = tenants.create_api_key(
        session,
        tenant_id=who.tenant_id,
        name=body.name,
        scope=body.scope,
        actor=audit.actor_of_key(who.key_id),
    )
    return ApiKeyCreated.with_key(key, plaintext)


@router.get("/api-keys/{key_id}")
def read_api_key(key_id: str, who: CallerDep, session: ReadSession) -> ApiKeyOut:
    key = tenants.get_api_key(session, tenant_id=who.tenant_id, key_id=key_id)
    return ApiKeyOut.of(found(key, "API key", key_id))


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response)
def revoke_api_key(key_id: str, who: WriterDep, session: WriteSession) -> Response:
    """Revoke a key (audit-logged): it stops authenticating at once, the key making this request
    included. Revoking a revoked key changes nothing. The key stays listed, with ``revoked_at``."""
    key = tenants.revoke_tenant_api_key(
        session, tenant_id=who.tenant_id, key_id=key_id, actor=audit.actor_of_key(who.key_id)
    )
    found(key, "API key", key_id)
    return Response(status_code=204)
