"""Tenants and API keys. A key is shown once; only its public prefix and SHA-256 are stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.storage import audit
from worker.storage.db import new_id
from worker.storage.events import iso
from worker.storage.models import ApiKey, Tenant

KEY_PREFIX = "tw"
SCOPES = ("write", "read")


def create_tenant(session: Session, *, name: str) -> Tenant:
    tenant = Tenant(id=new_id("ten"), name=name, created_at=datetime.now(UTC))
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, *, tenant_id: str) -> Tenant | None:
    return session.get(Tenant, tenant_id)


FEIN = re.compile(r"^(\d{2})-?(\d{7})$")


def normalise_fein(value: str) -> str:
    """A US Federal Employer Identification Number as ``NN-NNNNNNN``; "" stays "" (unset).
    Raises ``ValueError`` for anything else."""
    text = value.strip()
    if not text:
        return ""
    match = FEIN.match(text)
    if match is None:
        raise ValueError(f"{value!r} is not a FEIN: nine digits, written NN-NNNNNNN")
    return f"{match[1]}-{match[2]}"


def update_organization(
    session: Session,
    *,
    tenant: Tenant,
    organization_name: str | None = None,
    organization_fein: str | None = None,
    actor: str = audit.OPERATOR,
) -> Tenant:
    """Set the reporting organization's registered name and FEIN (printed on LCFS reports)."""
    before = {"organization_name": tenant.organization_name,
              "organization_fein": tenant.organization_fein}  # fmt: skip
    if organization_name is not None:
        tenant.organization_name = organization_name.strip()
    if organization_fein is not None:
        tenant.organization_fein = normalise_fein(organization_fein)
    after = {"organization_name": tenant.organization_name,
             "organization_fein": tenant.organization_fein}  # fmt: skip
    if after != before:
        audit.record(session, tenant_id=tenant.id, action="organization.updated", actor=actor,
                     subject_type="tenant", subject_id=tenant.id,
                     details={"before": before, "after": after})  # fmt: skip
    session.flush()
    return tenant


def organization_view(tenant: Tenant) -> dict[str, str]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "organization_name": tenant.organization_name,
        "organization_fein": tenant.organization_fein,
    }


def create_api_key(
    session: Session,
    *,
    tenant_id: str,
    name: str = "",
    scope: str = "write",
    actor: str = audit.OPERATOR,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never stored."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    public = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}_{public}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        prefix=public,
        key_hash=_digest(plaintext),
        name=name,
        scope=scope,
        created_at=datetime.now(UTC),
    )
    session.add(key)
    session.flush()
    audit.record(session, tenant_id=tenant_id, action="api_key.created", actor=actor,
                 subject_type="api_key", subject_id=key.id,
                 details={"prefix": public, "name": name, "scope": scope})  # fmt: skip
    return key, plaintext


def authenticate(session: Session, *, plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, compared in constant time; None otherwise."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None:
        hmac.compare_digest(_digest(plaintext), "0" * 64)  # same work whether or not it exists
        return None
    if not hmac.compare_digest(_digest(plaintext), key.key_hash) or key.revoked_at is not None:
        return None
    return key


def revoke_api_key(session: Session, *, key_id: str, actor: str = audit.OPERATOR) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None:
        return False
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        audit.record(session, tenant_id=key.tenant_id, action="api_key.revoked", actor=actor,
                     subject_type="api_key", subject_id=key.id,
                     details={"prefix": key.prefix, "name": key.name})  # fmt: skip
    return True


def list_api_keys(session: Session, *, tenant_id: str) -> list[ApiKey]:
    """The tenant's keys, newest first, revoked ones included."""
    query = (
        select(ApiKey)
        .where(ApiKey.tenant_id == tenant_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(session.scalars(query))


def get_api_key(session: Session, *, tenant_id: str, key_id: str) -> ApiKey | None:
    """The tenant's key ``key_id``, revoked or not; None when unknown or another tenant's."""
    return session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id))


def revoke_tenant_api_key(
    session: Session, *, tenant_id: str, key_id: str, actor: str
) -> ApiKey | None:
    """Revoke the tenant's key ``key_id`` (audit-logged once: revoking it again changes nothing);
    None when the key is unknown or another tenant's."""
    key = get_api_key(session, tenant_id=tenant_id, key_id=key_id)
    if key is None:
        return None
    revoke_api_key(session, key_id=key.id, actor=actor)
    session.flush()
    return key


def api_key_view(key: ApiKey) -> dict[str, Any]:
    """The public shape of a key (the API's, the dashboard's): never its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scope": key.scope,
        "created_at": iso(key.created_at),
        "revoked_at": iso(key.revoked_at) if key.revoked_at is not None else None,
        "active": key.revoked_at is None,
    }


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()
