"""The calling tenant's reporting organization: the registered name and FEIN its LCFS reports
carry."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.deps import Caller, caller, get_session, read_session, writer
from api.errors import ApiError, not_found, responses
from worker.storage import audit
from worker.storage.models import Tenant
from worker.storage.tenants import normalise_fein, organization_view, update_organization

router = APIRouter(tags=["organization"])


class OrganizationOut(BaseModel):
    id: str
    name: str
    organization_name: str = Field(description="As registered in LRT-CBTS")
    organization_fein: str = Field(description="Federal Employer Identification Number")


class OrganizationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    organization_name: str | None = Field(default=None, max_length=200)
    organization_fein: str | None = Field(
        default=None, max_length=20, description="NN-NNNNNNN (nine digits); empty clears it"
    )


def _tenant(session: Session, who: Caller) -> Tenant:
    tenant = session.get(Tenant, who.tenant_id)
    if tenant is None:
        raise not_found("organization", who.tenant_id)
    return tenant


@router.get("/organization", response_model=OrganizationOut)
def get_organization(
    who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, str]:
    """The reporting organization printed on the tenant's LCFS reports."""
    return organization_view(_tenant(session, who))


@router.patch("/organization", response_model=OrganizationOut, responses=responses(400))
def patch_organization(
    body: OrganizationPatch,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, str]:
    """Set the registered organization name and FEIN (audit-logged)."""
    fein = body.organization_fein
    if fein is not None:
        try:
            fein = normalise_fein(fein)
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", str(exc), field="organization_fein") from exc
    tenant = update_organization(
        session,
        tenant=_tenant(session, who),
        organization_name=body.organization_name,
        organization_fein=fein,
        actor=audit.actor_of_key(who.key_id),
    )
    return organization_view(tenant)
