"""LCFS reports, and what they are built from: fuel mappings and fuel transactions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from api.deps import Caller, caller, get_session, read_session, writer
from api.errors import ApiError, not_found, responses
from api.schemas import MAX_PAGE, inline_schema, request_body
from pipelines import audit as chain
from pipelines import lcfs
from pipelines.errors import PipelineError
from pipelines.lcfs.tables import quarter_dates
from worker.dispatch import dispatch
from worker.storage import audit
from worker.storage.models import Facility, FuelTransaction, Report
from worker.storage.reports import (
    add_transactions,
    create_report,
    lcfs_tables,
    mapping_view,
    mappings_of,
    replace_mappings,
    report_view,
    transaction_view,
)

router = APIRouter(tags=["reports"])
MAX_TRANSACTIONS = 10_000


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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
    model_config = ConfigDict(extra="forbid", strict=True)
    data: list[MappingIn] = Field(max_length=1000)


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
    model_config = ConfigDict(extra="forbid", strict=True)
    data: list[TransactionIn] = Field(min_length=1, max_length=MAX_TRANSACTIONS)


def _facility(session: Session, who: Caller, facility_id: str) -> Facility:
    found = session.scalar(
        select(Facility).where(Facility.id == facility_id, Facility.tenant_id == who.tenant_id)
    )
    if found is None:
        raise not_found("facility", facility_id)
    return found


def _check(transactions: list[lcfs.Transaction], field: str) -> None:
    """Every row must be computable now (known units, types, benchmark for its date)."""
    try:
        lcfs.check_lines(transactions, lcfs_tables())
    except PipelineError as exc:
        raise ApiError(400, exc.code, str(exc), field=field) from exc


@router.put("/facilities/{facility_id}/fuel-mappings")
def put_fuel_mappings(facility_id: str, body: MappingsIn, who: Caller = Depends(writer),
                 session: Session = Depends(get_session)) -> dict[str, Any]:  # fmt: skip
    """Replace how the facility's meter tags become LCFS fuel quantities (one row per tag)."""
    facility = _facility(session, who, facility_id)
    tags = [m.tag for m in body.data]
    if len(set(tags)) != len(tags):
        raise ApiError(400, "invalid_parameter", "each tag may be mapped once", field="data")
    try:
        mappings = [
            lcfs.TagMapping(
                **{
                    **m.model_dump(),
                    "transaction_type": lcfs.canonical_transaction_type(m.transaction_type),
                }
            )
            for m in body.data
        ]
    except PipelineError as exc:
        raise ApiError(400, exc.code, str(exc), field="data") from exc
    today = dt.datetime.now(dt.UTC).date()
    _check([_probe(m, _benchmarked(today)) for m in mappings], "data")
    replace_mappings(session, facility=facility, mappings=mappings)
    views = [mapping_view(m) for m in mappings]
    audit.record(session, tenant_id=who.tenant_id, action="fuel_mappings.replaced",
                 actor=audit.actor_of_key(who.key_id), subject_type="facility",
                 subject_id=facility.id, facility_id=facility.id,
                 details={"mappings": len(views), "sha256": chain.digest(views)})  # fmt: skip
    return {"data": views}


def _probe(m: lcfs.TagMapping, on: dt.date) -> lcfs.Transaction:
    """One unit of a mapping's fuel on ``on``: computable exactly when the mapping's units,
    fuel, application, heating-value basis and benchmark are all known."""
    return lcfs.Transaction(
        fuel_pathway_code=m.fuel_pathway_code,
        fuel_type=m.fuel_type,
        quantity=1.0,
        unit=m.unit,
        ci=m.ci,
        transaction_type=m.transaction_type,
        date=on,
        application=m.application,
        eer=m.eer,
        hhv_btu_per_scf=m.hhv_btu_per_scf,
        lhv_hhv_ratio=m.lhv_hhv_ratio,
    )


def _benchmarked(day: dt.date) -> dt.date:
    """A date with a benchmark to check a mapping's units and fuel against: the latest one on
    or before ``day`` (a mapping is about fuels and units, not about one quarter)."""
    known = [b.effective_from for b in lcfs_tables().benchmarks if b.effective_from is not None]
    past = [d for d in known if d <= day]
    return max(past) if past else (min(known) if known else day)


@router.get("/facilities/{facility_id}/fuel-mappings")
def get_fuel_mappings(facility_id: str, who: Caller = Depends(caller),
                 session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    facility = _facility(session, who, facility_id)
    return {"data": [mapping_view(m) for m in mappings_of(session, facility_id=facility.id)]}


@router.post("/facilities/{facility_id}/fuel-transactions", status_code=201,
             responses=responses(413, 415), openapi_extra=request_body({
                 "application/json": inline_schema(TransactionsIn),
                 "text/csv": {"type": "string", "description": "A header and one row per "
                              "transaction"}}))  # fmt: skip
async def create_fuel_transactions(
    facility_id: str,
    request: Request,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Add fuel transactions: JSON ``{"data": [...]}`` or a CSV body (``text/csv``) with
    ``fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > 16 * 1024 * 1024:
        raise ApiError(413, "payload_too_large", "send at most 16 MiB of transactions at once")
    if content_type == "text/csv":
        try:
            rows = list(lcfs.parse_transactions_csv(body))
        except PipelineError as exc:
            raise ApiError(400, exc.code, str(exc), field="body") from exc
        source = "csv"
    elif content_type == "application/json":
        try:
            parsed = TransactionsIn.model_validate_json(body)
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", f"invalid transactions: {exc}",
                           field="data") from exc  # fmt: skip
        try:
            rows = [lcfs.Transaction(**{**t.model_dump(), "transaction_type":
                                        lcfs.canonical_transaction_type(t.transaction_type)})
                    for t in parsed.data]  # fmt: skip
        except PipelineError as exc:
            raise ApiError(400, exc.code, str(exc), field="data") from exc
        source = "api"
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json ({\"data\": [...]}) or text/csv")  # fmt: skip
    if not rows:
        raise ApiError(400, "invalid_parameter", "no transactions in the body", field="data")

    def store() -> dict[str, Any]:
        facility = _facility(session, who, facility_id)
        _check(rows, "data")
        saved = add_transactions(session, facility=facility, transactions=rows, source=source)
        return {"data": [transaction_view(r) for r in saved]}

    return await run_in_threadpool(store)


@router.get("/facilities/{facility_id}/fuel-transactions")
def list_fuel_transactions(facility_id: str, limit: int = Query(100, ge=1, le=1000),
                      page: int = Query(1, ge=1, le=MAX_PAGE), who: Caller = Depends(caller),
                      session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    facility = _facility(session, who, facility_id)
    where = FuelTransaction.facility_id == facility.id
    total = session.scalar(select(func.count()).select_from(FuelTransaction).where(where))
    rows = session.scalars(select(FuelTransaction).where(where)
                           .order_by(FuelTransaction.date, FuelTransaction.id)
                           .limit(limit).offset((page - 1) * limit))  # fmt: skip
    return {"data": [transaction_view(r) for r in rows],
            "pagination": {"total": int(total or 0), "page": page, "per_page": limit}}  # fmt: skip


@router.post("/reports", status_code=202)
def request_report(body: ReportIn, who: Caller = Depends(writer),
                   session: Session = Depends(get_session)) -> dict[str, Any]:  # fmt: skip
    """Queue an LCFS quarterly report; ``GET /v1/reports/{id}`` tells when it is ready."""
    facility = _facility(session, who, body.facility_id)
    quarter = int(body.quarter[1])
    mappings = mappings_of(session, facility_id=facility.id)
    has_transactions = session.scalar(
        select(func.count()).select_from(FuelTransaction)
        .where(FuelTransaction.facility_id == facility.id)
    )  # fmt: skip
    if not mappings and not has_transactions:
        raise ApiError(400, "no_fuel_mapping",
                       f"facility '{facility.id}' has no fuel mapping and no fuel transactions: "
                       f"PUT /v1/facilities/{facility.id}/fuel-mappings first",
                       field="facility_id")  # fmt: skip
    first, _ = quarter_dates(body.year, quarter)
    _check([_probe(m, first) for m in mappings], "year")
    for displaced in ("gasoline", "diesel"):
        try:
            lcfs_tables().quarter_benchmark(displaced, body.year, quarter)
        except PipelineError as exc:
            raise ApiError(400, exc.code, str(exc), field="year") from exc
    report, job = create_report(session, facility=facility, year=body.year, quarter=quarter,
                                fmt=body.format, preparer=body.preparer,
                                reviewer=body.reviewer)  # fmt: skip
    view = report_view(report)
    session.commit()  # the worker must find the report: publish only after this commit
    dispatch(job.id, job.kind)
    return view


@router.get("/reports")
def list_reports(facility_id: str | None = None, limit: int = Query(100, ge=1, le=1000),
                 page: int = Query(1, ge=1, le=MAX_PAGE), who: Caller = Depends(caller),
                 session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    where = [Report.tenant_id == who.tenant_id]
    if facility_id is not None:
        where.append(Report.facility_id == _facility(session, who, facility_id).id)
    total = session.scalar(select(func.count()).select_from(Report).where(*where))
    rows = session.scalars(select(Report).where(*where)
                           .order_by(Report.created_at.desc(), Report.id)
                           .limit(limit).offset((page - 1) * limit))  # fmt: skip
    return {"data": [report_view(r) for r in rows],
            "pagination": {"total": int(total or 0), "page": page, "per_page": limit}}  # fmt: skip


def _report(session: Session, who: Caller, report_id: str, *, content: bool = False) -> Report:
    query = select(Report).where(Report.id == report_id, Report.tenant_id == who.tenant_id)
    if content:
        query = query.options(undefer(Report.content))
    found = session.scalar(query)
    if found is None:
        raise not_found("report", report_id)
    return found


@router.get("/reports/{report_id}")
def get_report(report_id: str, who: Caller = Depends(caller),
               session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    return report_view(_report(session, who, report_id))


@router.get("/reports/{report_id}/file", response_class=Response, responses={
    200: {"description": "The file (format of the report)",
          "content": {t: {"schema": {"type": "string", "format": "binary"}}
                      for t in ("application/pdf", "text/csv", "application/json")}},
    **responses(409)})  # fmt: skip
def get_report_file(report_id: str, who: Caller = Depends(caller),
                    session: Session = Depends(read_session)) -> Response:  # fmt: skip
    """The report's file, byte for byte as built (``X-Input-SHA256`` names its inputs)."""
    row = _report(session, who, report_id, content=True)
    if row.status != "generated" or row.content is None:
        raise ApiError(409, "report_not_ready",
                       f"report '{report_id}' is {row.status}; the file exists once it is "
                       "generated", extra={"report_status": row.status})  # fmt: skip
    name = f"lcfs_{row.facility_id}_{row.year}Q{row.quarter}{'_draft' if row.draft else ''}"
    return Response(content=row.content, media_type=row.content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{row.format}"',
        "X-Input-SHA256": row.input_sha256 or "", "ETag": f'"{row.file_sha256}"',
    })  # fmt: skip
