"""LCFS reports, and what they are built from: fuel mappings and fuel transactions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.errors import ApiError
from api.schemas.common import Pagination, example_of, page_example
from pipelines import lcfs
from worker.storage.events import iso
from worker.storage.models import FuelTransaction, Report
from worker.storage.reports import mapping_view

MAX_TRANSACTIONS = 10_000
# The CSV body of POST .../fuel-transactions (pipelines.lcfs.parse_transactions_csv).
TRANSACTIONS_CSV = {
    "type": "string",
    "description": "A header and one row per transaction",
    "examples": [
        "fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date,business_partner\r\n"
        "CNG-RNG-001,rng,1250,scf,40.0,Sold with Obligation,2025-11-01,Central Valley Transit\r\n"
    ],
}
_FILE = {"type": "string", "format": "binary"}
# The 200 of GET /v1/reports/{report_id}/file: the bytes of the report's format.
REPORT_FILE = {
    "description": "The file (format of the report)",
    "content": {
        "application/pdf": {"schema": _FILE},
        "text/csv": {"schema": _FILE, "example": (
            "Organization FEIN,Reporting Period,Facility ID,Fuel Pathway Code,Transaction Type,"
            "Transaction Date,Business Partner,Fuel Application,Fuel Amount,Unit\r\n"
            "12-3456789,2025Q4,F-0042,CNG-RNG-001,Production in California,2025-10-31,,"
            "Heavy-Duty/Off-Road: CNG or LNG (Spark-Ignition Engines),7440,m3\r\n"
            "12-3456789,2025Q4,F-0042,CNG-RNG-001,Production in California,2025-11-30,,"
            "Heavy-Duty/Off-Road: CNG or LNG (Spark-Ignition Engines),7210,m3\r\n"
        )},
        "application/json": {"schema": _FILE},
    },
}  # fmt: skip


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "report_type": "lcfs_quarterly", "facility_id": "fac_3kz9q7m2x8c4v6b1",
        "quarter": "Q4", "year": 2025, "format": "pdf", "preparer": "A. Engineer",
        "reviewer": "B. Lead",
    }]})  # fmt: skip
    report_type: Literal["lcfs_quarterly"] = "lcfs_quarterly"
    facility_id: str = Field(min_length=1, max_length=40)
    quarter: str = Field(description="Q1-Q4 (or 1-4)")
    year: int = Field(ge=2011, le=2100)
    format: Literal["pdf", "csv", "calculation_csv", "json"] = Field(
        default="pdf",
        description="pdf (for people), csv (the LRT-CBTS upload: upload columns only), "
        "calculation_csv (the calculation behind each upload row), json (everything)",
    )
    preparer: str = Field(default="", max_length=200, description="Printed in the sign-off block")
    reviewer: str = Field(default="", max_length=200, description="Printed in the sign-off block")

    @field_validator("quarter", mode="before")
    @classmethod
    def _quarter(cls, value: object) -> str:
        text = str(value).strip().upper().removeprefix("Q")
        if text not in {"1", "2", "3", "4"}:
            raise ValueError(f"quarter must be Q1, Q2, Q3 or Q4, got {value!r}")
        return f"Q{text}"

    @property
    def quarter_number(self) -> int:
        return int(self.quarter[1])


class ReportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "rpt_4x9q7c3v1b6n8m2k", "report_type": "lcfs_quarterly",
        "facility_id": "fac_3kz9q7m2x8c4v6b1", "quarter": "Q4", "year": 2025, "format": "pdf",
        "draft": False, "preparer": "A. Engineer", "reviewer": "B. Lead", "status": "generated",
        "job_id": "job_8m2k4x9q7c3v1b6n", "has_data": True, "totals": {"credits": 1204.5},
        "input_sha256": "e3b0...", "file_sha256": "9f86...", "file_size": 48211,
        "download_url": "/v1/reports/rpt_4x9q7c3v1b6n8m2k/file", "error": None,
        "created_at": "2026-01-05T09:00:00Z", "generated_at": "2026-01-05T09:00:12Z",
    }]})  # fmt: skip

    id: str
    report_type: str
    facility_id: str
    quarter: str
    year: int
    format: str
    draft: bool
    preparer: str
    reviewer: str
    status: str = Field(description="queued, generated or failed")
    job_id: str | None
    has_data: bool | None
    totals: dict[str, Any] | None
    input_sha256: str | None
    file_sha256: str | None
    file_size: int | None
    download_url: str | None = Field(description="Where the file is, once generated")
    error: str | None
    created_at: str
    generated_at: str | None

    @classmethod
    def of(cls, row: Report) -> ReportOut:
        return cls(
            id=row.id, report_type=row.report_type, facility_id=row.facility_id,
            quarter=f"Q{row.quarter}", year=row.year, format=row.format, draft=row.draft,
            preparer=row.preparer, reviewer=row.reviewer, status=row.status, job_id=row.job_id,
            has_data=row.has_data, totals=row.totals, input_sha256=row.input_sha256,
            file_sha256=row.file_sha256, file_size=row.file_size,
            download_url=f"/v1/reports/{row.id}/file" if row.status == "generated" else None,
            error=row.error, created_at=iso(row.created_at),
            generated_at=iso(row.generated_at) if row.generated_at else None,
        )  # fmt: skip


class ReportPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(ReportOut)]})

    data: list[ReportOut]
    pagination: Pagination


# --- fuel mappings: how meter tags become LCFS fuel quantities -----------------------------


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tag: str = Field(min_length=1, max_length=200)
    fuel_pathway_code: str = Field(min_length=1, max_length=60)
    fuel_type: str = Field(min_length=1, max_length=60)
    ci: float = Field(description="Certified carbon intensity, gCO2e/MJ")
    unit: str = Field(min_length=1, max_length=20, description="gal, L, m3, scf, therm, kg, kWh")
    kind: Literal["rate", "totalizer"] = "rate"
    rate_per: Literal["s", "min", "h", "d"] = "h"
    application: str | None = Field(default=None, max_length=60)
    eer: float | None = Field(default=None, gt=0)
    transaction_type: str = Field(default=lcfs.DEFAULT_METER_TRANSACTION_TYPE, max_length=60)
    rollover_at: float | None = Field(default=None, gt=0)
    interval_s: float | None = Field(default=None, gt=0)
    role: Literal["fuel", "injection"] = Field(
        default="fuel",
        description="fuel: reported under transaction_type; injection: biomethane injected "
        "into a pipeline, a book-and-claim supply record (no credits of its own)",
    )
    business_partner: str = Field(default="", max_length=200)
    hhv_btu_per_scf: float | None = Field(
        default=None, gt=0, description="Measured HHV of the gas, for therm/MMBtu quantities"
    )
    lhv_hhv_ratio: float | None = Field(default=None, gt=0, le=1)


class MappingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "data": [{
            "tag": "rng_flow", "fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng",
            "ci": 40.0, "unit": "m3", "kind": "rate", "rate_per": "h",
            "transaction_type": "Production in California",
        }],
    }]})  # fmt: skip
    data: list[MappingIn] = Field(max_length=1000)

    def mappings(self) -> list[lcfs.TagMapping]:
        """The mappings as the LCFS engine takes them; 400 when a tag is mapped twice, a
        ``PipelineError`` for an unknown transaction type."""
        tags = [m.tag for m in self.data]
        if len(set(tags)) != len(tags):
            raise ApiError(400, "invalid_parameter", "each tag may be mapped once", field="data")
        return [
            lcfs.TagMapping(**{**m.model_dump(), "transaction_type":
                               lcfs.canonical_transaction_type(m.transaction_type)})
            for m in self.data
        ]  # fmt: skip


class MappingOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tag": "rng_flow", "fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng", "ci": 40.0,
        "unit": "m3", "kind": "rate", "rate_per": "h", "application": None, "eer": None,
        "transaction_type": "Production in California", "rollover_at": None,
        "interval_s": None, "role": "fuel", "business_partner": "", "hhv_btu_per_scf": None,
        "lhv_hhv_ratio": None,
    }]})  # fmt: skip

    tag: str
    fuel_pathway_code: str
    fuel_type: str
    ci: float
    unit: str
    kind: str
    rate_per: str
    application: str | None
    eer: float | None
    transaction_type: str
    rollover_at: float | None
    interval_s: float | None
    role: str
    business_partner: str
    hhv_btu_per_scf: float | None
    lhv_hhv_ratio: float | None

    @classmethod
    def of(cls, m: lcfs.TagMapping) -> MappingOut:
        # mapping_view is also what the audit log's digest of a mapping change is taken over.
        return cls.model_validate(mapping_view(m))


class MappingList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [example_of(MappingOut)]}]})

    data: list[MappingOut]

    @classmethod
    def of(cls, mappings: list[lcfs.TagMapping]) -> MappingList:
        return cls(data=[MappingOut.of(m) for m in mappings])


# --- fuel transactions: fuel bought, sold, exported, ... outside the meters ----------------


class TransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    fuel_pathway_code: str = Field(min_length=1, max_length=60)
    fuel_type: str = Field(min_length=1, max_length=60)
    quantity: float = Field(ge=0)
    unit: str = Field(min_length=1, max_length=20)
    ci: float
    transaction_type: str = Field(min_length=1, max_length=60)
    date: dt.date = Field(strict=False)  # JSON has no date type: ISO 8601 text
    business_partner: str = Field(default="", max_length=200)
    reference: str = Field(default="", max_length=200)
    application: str | None = Field(default=None, max_length=60)
    hhv_btu_per_scf: float | None = Field(default=None, gt=0)
    lhv_hhv_ratio: float | None = Field(default=None, gt=0, le=1)


class TransactionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "data": [{
            "fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng", "quantity": 1250.0,
            "unit": "scf", "ci": 40.0, "transaction_type": "Sold with Obligation",
            "date": "2025-11-01", "business_partner": "Central Valley Transit",
            "reference": "BOL-20251101-07",
        }],
    }]})  # fmt: skip
    data: list[TransactionIn] = Field(min_length=1, max_length=MAX_TRANSACTIONS)

    def transactions(self) -> list[lcfs.Transaction]:
        """The transactions as the LCFS engine takes them; a ``PipelineError`` for an unknown
        transaction type."""
        return [
            lcfs.Transaction(**{**t.model_dump(), "transaction_type":
                                lcfs.canonical_transaction_type(t.transaction_type)})
            for t in self.data
        ]  # fmt: skip


class TransactionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "ftx_2k4x9q7c3v1b6n8m", "facility_id": "fac_3kz9q7m2x8c4v6b1",
        "fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng", "quantity": 10.0, "unit": "scf",
        "ci": 40.0, "transaction_type": "Sold with Obligation", "date": "2025-11-01",
        "business_partner": "", "reference": "", "application": None, "hhv_btu_per_scf": None,
        "lhv_hhv_ratio": None, "source": "api", "document_id": None,
    }]})  # fmt: skip

    id: str
    facility_id: str
    fuel_pathway_code: str
    fuel_type: str
    quantity: float
    unit: str
    ci: float
    transaction_type: str
    date: str
    business_partner: str
    reference: str
    application: str | None
    hhv_btu_per_scf: float | None
    lhv_hhv_ratio: float | None
    source: str = Field(description="api, csv or document")
    document_id: str | None

    @classmethod
    def of(cls, row: FuelTransaction) -> TransactionOut:
        return cls(
            id=row.id, facility_id=row.facility_id, fuel_pathway_code=row.fuel_pathway_code,
            fuel_type=row.fuel_type, quantity=row.quantity, unit=row.unit, ci=row.ci,
            transaction_type=row.transaction_type, date=row.date,
            business_partner=row.business_partner, reference=row.reference,
            application=row.application, hhv_btu_per_scf=row.hhv_btu_per_scf,
            lhv_hhv_ratio=row.lhv_hhv_ratio, source=row.source, document_id=row.document_id,
        )  # fmt: skip


class TransactionList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": [example_of(TransactionOut)]}]}
    )

    data: list[TransactionOut]


class TransactionPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(TransactionOut)]})

    data: list[TransactionOut]
    pagination: Pagination
