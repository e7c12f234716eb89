"""LCFS reports, and what they are built from: fuel mappings and fuel transactions."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request, Response

from api import enqueue
from api.deps import CallerDep, ReadSession, WriterDep, WriteSession, owned_facility
from api.errors import ApiError, about, error_body, found, responses
from api.pages import Page, numbered
from api.schemas import inline_schema, request_body
from api.schemas.reports import (
    REPORT_FILE,
    TRANSACTIONS_CSV,
    MappingList,
    MappingsIn,
    ReportIn,
    ReportOut,
    ReportPage,
    TransactionList,
    TransactionOut,
    TransactionPage,
    TransactionsIn,
)
from api.uploads import media_type, read_body
from pipelines import lcfs
from worker.storage import audit, reports

router = APIRouter(tags=["reports"])
MAX_TRANSACTION_BYTES = 16 * 1024 * 1024


@router.put("/facilities/{facility_id}/fuel-mappings")
def put_fuel_mappings(
    facility_id: str, body: MappingsIn, who: WriterDep, session: WriteSession
) -> MappingList:
    """Replace how the facility's meter tags become LCFS fuel quantities (one row per tag)."""
    facility = owned_facility(session, who, facility_id)
    with about("data"):
        mappings = reports.replace_fuel_mappings(
            session,
            facility=facility,
            mappings=body.mappings(),
            actor=audit.actor_of_key(who.key_id),
        )
    return MappingList.of(mappings)


@router.get("/facilities/{facility_id}/fuel-mappings")
def get_fuel_mappings(facility_id: str, who: CallerDep, session: ReadSession) -> MappingList:
    facility = owned_facility(session, who, facility_id)
    return MappingList.of(reports.mappings_of(session, facility_id=facility.id))


def _too_large(size: int) -> ApiError:
    return ApiError(413, "payload_too_large", "send at most 16 MiB of transactions at once")


@dataclass(frozen=True)
class Transactions:
    rows: list[lcfs.Transaction]
    source: str  # csv or api


async def transactions_body(request: Request) -> Transactions:
    """The body of ``POST .../fuel-transactions``: a CSV (``text/csv``) or JSON
    ``{"data": [...]}``, parsed (an error names ``body`` in a CSV, ``data`` in JSON)."""
    kind = media_type(request)
    body = await read_body(request, limit=MAX_TRANSACTION_BYTES, too_large=_too_large)
    if kind == "text/csv":
        with about("body"):
            rows, source = list(lcfs.parse_transactions_csv(body)), "csv"
    elif kind == "application/json":
        try:
            parsed = TransactionsIn.model_validate_json(body)
        except ValueError as exc:
            raise ApiError(
                400, "invalid_parameter", f"invalid transactions: {exc}", field="data"
            ) from exc
        with about("data"):
            rows, source = parsed.transactions(), "api"
    else:
        raise ApiError(
            415, "unsupported_media_type", 'send application/json ({"data": [...]}) or text/csv'
        )
    if not rows:
        raise ApiError(400, "invalid_parameter", "no transactions in the body", field="data")
    return Transactions(rows=rows, source=source)


@router.post(
    "/facilities/{facility_id}/fuel-transactions",
    status_code=201,
    responses=responses(413, 415),
    openapi_extra=request_body(
        {"application/json": inline_schema(TransactionsIn), "text/csv": TRANSACTIONS_CSV}
    ),
)
def create_fuel_transactions(
    facility_id: str,
    who: WriterDep,
    body: Transactions = Depends(transactions_body),
    *,
    session: WriteSession,
) -> TransactionList:
    """Add fuel transactions: JSON ``{"data": [...]}`` or a CSV body (``text/csv``) with
    ``fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date``."""
    facility = owned_facility(session, who, facility_id)
    with about("data"):  # a row the LCFS tables cannot compute now
        saved = reports.add_fuel_transactions(
            session, facility=facility, transactions=body.rows, source=body.source
        )
    return TransactionList(data=[TransactionOut.of(r) for r in saved])


@router.get("/facilities/{facility_id}/fuel-transactions")
def list_fuel_transactions(
    facility_id: str,
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> TransactionPage:
    facility = owned_facility(session, who, facility_id)
    query = reports.transaction_listing(facility_id=facility.id)
    rows, pagination = numbered(session, query, paging)
    return TransactionPage(data=[TransactionOut.of(t) for (t,) in rows], pagination=pagination)


@router.post("/reports", status_code=202)
def request_report(body: ReportIn, who: WriterDep, session: WriteSession) -> ReportOut:
    """Queue an LCFS quarterly report; ``GET /v1/reports/{id}`` tells when it is ready."""
    facility = owned_facility(session, who, body.facility_id)
    return enqueue.report(session, facility=facility, body=body)


@router.get("/reports")
def list_reports(
    facility_id: str | None = None,
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> ReportPage:
    if facility_id is not None:
        facility_id = owned_facility(session, who, facility_id).id
    query = reports.report_listing(tenant_id=who.tenant_id, facility_id=facility_id)
    rows, pagination = numbered(session, query, paging)
    return ReportPage(data=[ReportOut.of(r) for (r,) in rows], pagination=pagination)


@router.get("/reports/{report_id}")
def get_report(report_id: str, who: CallerDep, session: ReadSession) -> ReportOut:
    report = reports.get_report(session, tenant_id=who.tenant_id, report_id=report_id)
    return ReportOut.of(found(report, "report", report_id))


NOT_READY = error_body(
    409,
    "report_not_ready",
    "report 'rpt_4x9q7c3v1b6n8m2k' is queued; the file exists once it is generated",
    report_status="queued",
)


@router.get(
    "/reports/{report_id}/file",
    response_class=Response,
    responses={200: REPORT_FILE, **responses(409, examples={409: NOT_READY})},
)
def get_report_file(report_id: str, who: CallerDep, session: ReadSession) -> Response:
    """The report's file, byte for byte as built (``X-Input-SHA256`` names its inputs)."""
    row = found(
        reports.get_report(session, tenant_id=who.tenant_id, report_id=report_id, content=True),
        "report",
        report_id,
    )
    if row.status != "generated" or row.content is None:
        raise ApiError(
            409,
            "report_not_ready",
            f"report '{report_id}' is {row.status}; the file exists once it is generated",
            extra={"report_status": row.status},
        )
    name = f"lcfs_{row.facility_id}_{row.year}Q{row.quarter}{'_draft' if row.draft else ''}"
    return Response(
        content=row.content,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{row.format}"',
            "X-Input-SHA256": row.input_sha256 or "",
            "ETag": f'"{row.file_sha256}"',
        },
    )
