"""The calling tenant's reporting organization."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from worker.storage.models import Tenant
from worker.storage.tenants import organization_view


class OrganizationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "ten_1b6n8m2k4x9q7c3v", "name": "Valley RNG", "organization_name": "Valley RNG LLC",
        "organization_fein": "12-3456789",
    }]})  # fmt: skip

    id: str
    name: str
    organization_name: str = Field(description="As registered in LRT-CBTS")
    organization_fein: str = Field(description="Federal Employer Identification Number")

    @classmethod
    def of(cls, tenant: Tenant) -> OrganizationOut:
        # organization_view is the shape the CLI prints too (tickwork organization).
        return cls.model_validate(organization_view(tenant))


class OrganizationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "organization_name": "Valley RNG LLC", "organization_fein": "12-3456789",
    }]})  # fmt: skip
    organization_name: str | None = Field(default=None, max_length=200)
    organization_fein: str | None = Field(
        default=None, max_length=20, description="NN-NNNNNNN (nine digits); empty clears it"
    )
