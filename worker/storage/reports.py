"""LCFS reports: fuel mappings, fuel transactions, loading a quarter's inputs, saving results."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import fields as dc_fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import metadata
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session, undefer

from pipelines import audit as chain
from pipelines import lcfs
from pipelines.documents import effective_fields
from pipelines.lcfs.tables import quarter_dates
from worker import kinds
from worker.settings import get_settings
from worker.storage import audit
from worker.storage.analysis import load_points
from worker.storage.archives import require_live
from worker.storage.db import new_id
from worker.storage.events import publish
from worker.storage.jobs import create_job
from worker.storage.models import (
    Document,
    Facility,
    FuelMapping,
    FuelTransaction,
    Job,
    QualityScore,
    Report,
    Tag,
    Tenant,
)

FORMATS = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "calculation_csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
MAPPING_FIELDS = tuple(f.name for f in dc_fields(lcfs.TagMapping))
# Readings this far either side of the quarter let the integration bridge its edges.
EDGE_MARGIN = timedelta(days=1)


_INSTANT = timedelta(microseconds=1)  # [start, end) as an inclusive range


def quarter_bounds(year: int, quarter: int, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar quarter (``pipelines.lcfs.tables.quarter_dates``) in the
    facility's time zone, as UTC datetimes."""
    zone = ZoneInfo(tz)
    first, last = quarter_dates(year, quarter)
    start = datetime.combine(first, dt.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), dt.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def replace_mappings(
    session: Session, *, facility: Facility, mappings: list[lcfs.TagMapping]
) -> list[FuelMapping]:
    """The facility's tag → fuel pathway mapping, replaced as a whole."""
    session.execute(delete(FuelMapping).where(FuelMapping.facility_id == facility.id))
    rows = [
        FuelMapping(
            tenant_id=facility.tenant_id,
            facility_id=facility.id,
            **{name: getattr(m, name) for name in MAPPING_FIELDS},
        )
        for m in mappings
    ]
    session.add_all(rows)
    session.flush()
    return rows


def mappings_of(session: Session, *, facility_id: str) -> list[lcfs.TagMapping]:
    rows = session.scalars(
        select(FuelMapping).where(FuelMapping.facility_id == facility_id).order_by(FuelMapping.tag)
    )
    return [mapping_of(r) for r in rows]


def mapping_of(row: FuelMapping) -> lcfs.TagMapping:
    return lcfs.TagMapping(**{name: getattr(row, name) for name in MAPPING_FIELDS})


def mapping_view(m: lcfs.TagMapping) -> dict[str, Any]:
    return {name: getattr(m, name) for name in MAPPING_FIELDS}


def add_transactions(
    session: Session,
    *,
    facility: Facility,
    transactions: list[lcfs.Transaction],
    source: str,
    document_id: str | None = None,
) -> list[FuelTransaction]:
    rows = [
        FuelTransaction(
            id=new_id("ftx"),
            tenant_id=facility.tenant_id,
            facility_id=facility.id,
            fuel_pathway_code=t.fuel_pathway_code,
            fuel_type=t.fuel_type,
            quantity=t.quantity,
            unit=t.unit,
            ci=t.ci,
            transaction_type=t.transaction_type,
            date=t.date.isoformat(),
            business_partner=t.business_partner,
            reference=t.reference,
            source=source,
            document_id=document_id,
            application=t.application,
            hhv_btu_per_scf=t.hhv_btu_per_scf,
            lhv_hhv_ratio=t.lhv_hhv_ratio,
            created_at=datetime.now(UTC),
        )
        for t in transactions
    ]
    session.add_all(rows)
    session.flush()
    return rows


def load_lcfs_inputs(
    session: Session,
    *,
    facility: Facility,
    year: int,
    quarter: int,
    tables: lcfs.LcfsTables | None = None,
    substitution_method: str = "before_after_mean",
    report: Report | None = None,
) -> lcfs.LcfsInputs:
    """Everything stored that a quarter's report is built from (points streamed in bulk).
    ``report``: the requested report, whose request time, sign-off names and audit-chain head
    are printed (fixed at request, so every build of it gives the same bytes)."""
    mappings = mappings_of(session, facility_id=facility.id)
    start, end = quarter_bounds(year, quarter, facility.timezone)
    names = {m.tag for m in mappings}
    tags = list(
        session.scalars(select(Tag).where(Tag.facility_id == facility.id, Tag.name.in_(names)))
    )
    # Points of the quarter moved to archive files: refuse rather than report missing data.
    require_live(session, tag_ids=[t.id for t in tags], start=start, end=end - _INSTANT,
                 what=f"the {year} Q{quarter} report of {facility.id}")  # fmt: skip
    raw = load_points(session, tag_ids=[t.id for t in tags], start=start - EDGE_MARGIN,
                      end=end + EDGE_MARGIN)  # fmt: skip
    points = pd.DataFrame({
        "tag": tag_names(raw["tag"], tags),
        "ts": raw["ts"], "value": raw["value"], "quality": raw["quality"],
    })  # fmt: skip
    first, last = start.astimezone(ZoneInfo(facility.timezone)).date(), (
        end.astimezone(ZoneInfo(facility.timezone)) - timedelta(days=1)).date()  # fmt: skip
    txs = session.scalars(
        select(FuelTransaction)
        .where(FuelTransaction.facility_id == facility.id,
               FuelTransaction.date >= first.isoformat(), FuelTransaction.date <= last.isoformat())
        .order_by(FuelTransaction.date, FuelTransaction.id)
    )  # fmt: skip
    # A document's fuel of a metered pathway is already in the meter quantities: it is checked
    # against them (the reconciliation table), not counted a second time.
    metered = {m.fuel_pathway_code for m in mappings}
    transactions = tuple(
        lcfs.Transaction(
            fuel_pathway_code=t.fuel_pathway_code,
            fuel_type=t.fuel_type,
            quantity=t.quantity,
            unit=t.unit,
            ci=t.ci,
            transaction_type=t.transaction_type,
            date=dt.date.fromisoformat(t.date),
            business_partner=t.business_partner,
            reference=t.reference,
            application=t.application,
            hhv_btu_per_scf=t.hhv_btu_per_scf,
            lhv_hhv_ratio=t.lhv_hhv_ratio,
        )
        for t in txs
        if not (t.source == "document" and t.fuel_pathway_code in metered)
    )
    tenant = session.get(Tenant, facility.tenant_id)
    return lcfs.LcfsInputs(
        facility_id=facility.id,
        facility_name=facility.name,
        timezone=facility.timezone,
        year=year,
        quarter=quarter,
        mappings=tuple(mappings),
        points=points,
        transactions=transactions,
        documents=tuple(_document_checks(session, facility_id=facility.id, first=first, last=last)),
        tables=tables,
        substitution_method=substitution_method,
        organization_name=tenant.organization_name if tenant else "",
        organization_fein=tenant.organization_fein if tenant else "",
        carb_facility_id=facility.carb_facility_id,
        preparer=report.preparer if report else "",
        reviewer=report.reviewer if report else "",
        audit_head=report.audit_head if report else "",
        generated_at=report.created_at if report else None,
        software_version=software_version(),
        daily_quality=tuple(_daily_quality(session, tags=tags, first=first, last=last)),
    )


def software_version() -> str:
    try:
        return f"Tickwork {metadata.version('tickwork')}"
    except metadata.PackageNotFoundError:
        return "Tickwork (source tree)"


def _daily_quality(
    session: Session, *, tags: list[Tag], first: dt.date, last: dt.date
) -> list[lcfs.DailyQuality]:
    """The stored daily quality of the mapped tags over the quarter's local days."""
    names = {t.id: t.name for t in tags}
    if not names:
        return []
    rows = session.execute(
        select(QualityScore.tag_id, QualityScore.day, QualityScore.score, QualityScore.metrics)
        .where(
            QualityScore.tag_id.in_(names),
            QualityScore.day >= first.isoformat(),
            QualityScore.day <= last.isoformat(),
        )
        .order_by(QualityScore.tag_id, QualityScore.day)
    )
    out = []
    for tag_id, day, score, metrics in rows:
        m = metrics or {}
        out.append(
            lcfs.DailyQuality(
                tag=names[tag_id],
                day=day,
                score=float(score),
                completeness_pct=100.0 * float(m.get("completeness", 0.0)),
                flatline_minutes=float(m.get("flatline_minutes", 0.0)),
                spikes=int(m.get("spikes", 0)),
                out_of_range=int(m.get("received_points", 0)) - int(m.get("usable_points", 0)),
            )
        )
    return out


def tag_names(ids: pd.Series, tags: list[Tag]) -> pd.Categorical:
    """Tag ids as a categorical of names: no Python string per point (2.6 M for a quarter)."""
    ordered = sorted(tags, key=lambda t: t.id)
    known = np.array([t.id for t in ordered], dtype=np.int64)
    codes = np.searchsorted(known, ids.to_numpy(dtype=np.int64)) if len(known) else ids.to_numpy()
    return pd.Categorical.from_codes(codes.astype(np.int64),
                                     categories=[t.name for t in ordered])  # fmt: skip


def _document_checks(
    session: Session, *, facility_id: str, first: dt.date, last: dt.date
) -> list[lcfs.DocumentCheck]:
    """Processed documents of the quarter whose quantity was checked against the meters."""
    checks = []
    rows = session.scalars(
        select(Document)
        .where(Document.facility_id == facility_id, Document.status == "processed")
        .order_by(Document.created_at, Document.id)
    )
    for doc in rows:
        rec = doc.reconciliation or {}
        if rec.get("status") not in ("pass", "warn", "fail"):
            continue
        date = _field(doc, "document_date") or _field(doc, "transaction_date")
        try:
            when = dt.date.fromisoformat(str(date))
        except ValueError:
            continue
        if not first <= when <= last:
            continue
        checks.append(lcfs.DocumentCheck(
            document_number=str(_field(doc, "document_number") or doc.id), date=when,
            quantity=float(rec["quantity"]), metered_quantity=float(rec["metered_quantity"]),
            difference=float(rec["difference"]), status=rec["status"],
            unit=str(rec.get("unit") or ""),
            fuel_pathway_code=str(_field(doc, "fuel_pathway_code") or ""),
            note=str(rec.get("note") or ""), resolution_note=doc.resolution_note,
        ))  # fmt: skip
    return checks


def _field(doc: Document, name: str) -> Any:
    """The value that counts: a reviewed one, else the extracted one."""
    found = effective_fields(doc.fields or {}, doc.reviewed_fields).get(name)
    return None if found is None else found.value


@lru_cache(maxsize=1)
def lcfs_tables() -> lcfs.LcfsTables:
    """The parameter tables: packaged, with TICKWORK_LCFS_TABLES_DIR's files replacing them."""
    settings = get_settings()
    return lcfs.load_tables(
        settings.lcfs_tables_dir, require_confirmed=settings.lcfs_require_confirmed
    )


def create_report(
    session: Session,
    *,
    facility: Facility,
    year: int,
    quarter: int,
    fmt: str,
    draft: bool = False,
    schedule_key: str | None = None,
    preparer: str = "",
    reviewer: str = "",
) -> tuple[Report, Job]:
    """A queued report and the job that builds it (dispatch the job after the commit). The
    tenant's audit-chain head at this moment is printed in the report."""
    _, head = audit.head_of(session, tenant_id=facility.tenant_id)
    report = Report(id=new_id("rpt"), tenant_id=facility.tenant_id, facility_id=facility.id,
                    report_type="lcfs_quarterly", year=year, quarter=quarter, format=fmt,
                    draft=draft, schedule_key=schedule_key, status="queued",
                    preparer=preparer, reviewer=reviewer, audit_head=head,
                    created_at=datetime.now(UTC).replace(microsecond=0))  # fmt: skip
    session.add(report)
    session.flush()
    job = create_job(session, tenant_id=facility.tenant_id, kind=kinds.BUILD_REPORT,
                     params={"report_id": report.id})  # fmt: skip
    report.job_id = job.id
    return report, job


# --- what the API asks: checked inputs, requests, listings ----------------------------------


def replace_fuel_mappings(
    session: Session, *, facility: Facility, mappings: list[lcfs.TagMapping], actor: str
) -> list[lcfs.TagMapping]:
    """Replace the facility's mappings (audit-logged with their SHA-256) once each is computable:
    known units, fuel and heating-value basis, checked against the latest benchmark."""
    on = _benchmarked(datetime.now(UTC).date())
    lcfs.check_lines([_probe(m, on) for m in mappings], lcfs_tables())
    replace_mappings(session, facility=facility, mappings=mappings)
    views = [mapping_view(m) for m in mappings]
    audit.record(session, tenant_id=facility.tenant_id, action="fuel_mappings.replaced",
                 actor=actor, subject_type="facility", subject_id=facility.id,
                 facility_id=facility.id,
                 details={"mappings": len(views), "sha256": chain.digest(views)})  # fmt: skip
    return mappings


def add_fuel_transactions(
    session: Session, *, facility: Facility, transactions: list[lcfs.Transaction], source: str
) -> list[FuelTransaction]:
    """Add transactions sent by a user once each is computable now (known units and types, a
    benchmark for its date)."""
    lcfs.check_lines(transactions, lcfs_tables())
    return add_transactions(session, facility=facility, transactions=transactions, source=source)


def transaction_listing(*, facility_id: str) -> Select[FuelTransaction]:
    """The facility's fuel transactions by date."""
    return (
        select(FuelTransaction)
        .where(FuelTransaction.facility_id == facility_id)
        .order_by(FuelTransaction.date, FuelTransaction.id)
    )


def has_fuel_inputs(session: Session, *, facility_id: str) -> bool:
    """Whether the facility has a fuel mapping or a fuel transaction: a report has something to
    count."""
    mapped = select(FuelMapping.id).where(FuelMapping.facility_id == facility_id).limit(1)
    bought = select(FuelTransaction.id).where(FuelTransaction.facility_id == facility_id).limit(1)
    return session.scalar(mapped) is not None or session.scalar(bought) is not None


def request_report(
    session: Session,
    *,
    facility: Facility,
    year: int,
    quarter: int,
    fmt: str,
    preparer: str = "",
    reviewer: str = "",
) -> tuple[Report, Job]:
    """A queued report of the quarter and its job (dispatch after the commit), once the quarter
    can be computed: each mapping's fuel on the quarter's first day, and the gasoline and diesel
    benchmarks of the quarter. A ``PipelineError`` says what is missing."""
    first, _ = quarter_dates(year, quarter)
    mappings = mappings_of(session, facility_id=facility.id)
    lcfs.check_lines([_probe(m, first) for m in mappings], lcfs_tables())
    for displaced in ("gasoline", "diesel"):
        lcfs_tables().quarter_benchmark(displaced, year, quarter)
    return create_report(session, facility=facility, year=year, quarter=quarter, fmt=fmt,
                         preparer=preparer, reviewer=reviewer)  # fmt: skip


def report_listing(*, tenant_id: str, facility_id: str | None = None) -> Select[Report]:
    """The tenant's reports (of one facility), newest first."""
    where = [Report.tenant_id == tenant_id]
    if facility_id is not None:
        where.append(Report.facility_id == facility_id)
    return select(Report).where(*where).order_by(Report.created_at.desc(), Report.id)


def get_report(
    session: Session, *, tenant_id: str, report_id: str, content: bool = False
) -> Report | None:
    """The tenant's report; ``content``: with its file loaded (deferred otherwise)."""
    query = select(Report).where(Report.id == report_id, Report.tenant_id == tenant_id)
    if content:
        query = query.options(undefer(Report.content))
    return session.scalar(query)


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


def save_report(
    session: Session, *, report_row: Report, report: lcfs.LcfsReport, content: bytes
) -> None:
    """Store the file and totals and announce ``report.generated``, in the caller's commit."""
    now = datetime.now(UTC)
    report_row.status = "generated"
    report_row.has_data = report.has_data
    report_row.totals = lcfs.report_totals(report)
    report_row.input_sha256 = report.input_sha256
    report_row.file_sha256 = hashlib.sha256(content).hexdigest()
    report_row.file_size = len(content)
    report_row.content_type = FORMATS[report_row.format]
    report_row.content = content
    report_row.generated_at = now
    report_row.error = None
    publish(session, tenant_id=report_row.tenant_id, type="report.generated",
            key=f"{report_row.id}:generated", data={
                "report_id": report_row.id, "facility_id": report_row.facility_id,
                "report_type": report_row.report_type,
                "quarter": f"Q{report_row.quarter}", "year": report_row.year,
                "format": report_row.format, "draft": report_row.draft,
                "has_data": report.has_data, "input_sha256": report.input_sha256,
                "file_sha256": report_row.file_sha256,
                "totals": lcfs.display_totals(report) or None,
            })  # fmt: skip
    audit.record(
        session, tenant_id=report_row.tenant_id, action="report.generated", subject_type="report",
        subject_id=report_row.id, facility_id=report_row.facility_id, details={
            "report_type": report_row.report_type, "year": report_row.year,
            "quarter": report_row.quarter, "format": report_row.format, "draft": report_row.draft,
            "job_id": report_row.job_id, "has_data": report.has_data,
            "input_sha256": report.input_sha256, "file_sha256": report_row.file_sha256,
            "file_size": report_row.file_size,
        },
    )  # fmt: skip


def fail_report(session: Session, *, report_row: Report, code: str, message: str) -> None:
    report_row.status = "failed"
    report_row.error = f"{code}: {message}"
    publish(session, tenant_id=report_row.tenant_id, type="report.failed",
            key=f"{report_row.id}:failed", data={
                "report_id": report_row.id, "facility_id": report_row.facility_id,
                "quarter": f"Q{report_row.quarter}", "year": report_row.year,
                "error": {"code": code, "message": message},
            })  # fmt: skip
    audit.record(
        session, tenant_id=report_row.tenant_id, action="report.failed", subject_type="report",
        subject_id=report_row.id, facility_id=report_row.facility_id, details={
            "year": report_row.year, "quarter": report_row.quarter, "format": report_row.format,
            "job_id": report_row.job_id, "error": {"code": code, "message": message},
        },
    )  # fmt: skip


def mapped_facilities(session: Session) -> list[Facility]:
    """Facilities with a fuel mapping: the ones whose quarterly reports are scheduled."""
    query = select(Facility).where(Facility.id.in_(select(FuelMapping.facility_id)))
    return list(session.scalars(query))


def report_scheduled(session: Session, *, schedule_key: str) -> bool:
    """Has a report been scheduled under ``schedule_key`` already?"""
    return session.scalar(select(Report.id).where(Report.schedule_key == schedule_key)) is not None
