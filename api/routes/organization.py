"""The calling tenant's reporting organization: the registered name and FEIN its LCFS reports
carry."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from api.deps import Caller, CallerDep, ReadSession, WriterDep, WriteSession
from api.errors import ApiError, error_body, found, responses
from api.schemas.organization import OrganizationOut, OrganizationPatch
from worker.storage import audit, tenants
from worker.storage.models import Tenant

router = APIRouter(tags=["organization"])


def _tenant(session: Session, who: Caller) -> Tenant:
    return found(
        tenants.get_tenant(session, tenant_id=who.tenant_id), "organization", who.tenant_id
    )


@router.get("/organization")
def get_organization(who: CallerDep, session: ReadSession) -> OrganizationOut:
    """The reporting organization printed on the tenant's LCFS reports."""
    return OrganizationOut.of(_tenant(session, who))


NOT_A_FEIN = error_body(
    400,
    "invalid_parameter",
    "'12-345' is not a FEIN: nine digits, written NN-NNNNNNN",
    "organization_fein",
)


@router.patch("/organization", responses=responses(400, examples={400: NOT_A_FEIN}))
def patch_organization(
    body: OrganizationPatch,
    who: WriterDep,
    session: WriteSession,
) -> OrganizationOut:
    """Set the registered organization name and FEIN (audit-logged)."""
    fein = body.organization_fein
    if fein is not None:
        try:
            fein = tenants.normalise_fein(fein)
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", str(exc), field="organization_fein") from exc
    tenant = tenants.update_organization(
        session,
        tenant=_tenant(session, who),
        organization_name=body.organization_name,
        organization_fein=fein,
        actor=audit.actor_of_key(who.key_id),
    )
    return OrganizationOut.of(tenant)
