"""Documents: the row per uploaded file, its extraction, its check against the meters and the
fuel transaction it yields. Keyword-only; committing is the caller's ``session_scope()``."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipelines import documents as docs
from pipelines import lcfs
from pipelines.errors import PipelineError
from worker import kinds
from worker.storage import audit
from worker.storage.analysis import load_points
from worker.storage.archives import require_live
from worker.storage.db import new_id
from worker.storage.events import iso, publish
from worker.storage.jobs import create_job
from worker.storage.models import (
    Document,
    Facility,
    FuelMapping,
    FuelTransaction,
    Job,
    Tag,
    Upload,
)
from worker.storage.reports import mapping_of, tag_names
from worker.storage.uploads import save_upload

# Failures that say nothing about the file itself: uploading it again queues it again.
RETRYABLE_CODES = ("internal", "timeout")
# Readings either side of the day let the integration bridge the day's edges.
DAY_MARGIN = timedelta(hours=6)
# Invoices and bills of lading carry no LCFS transaction type. A tenant uploads the documents
# of fuel it receives (the common case for a dispensing site or a blender), and without a PTD
# statement the obligation is taken to travel with the fuel (docs/lcfs-accounting.md).
DEFAULT_TRANSACTION_TYPE = "Purchased with Obligation"
FROM_OBLIGATION = {
    "recipient": "Purchased with Obligation",
    "transferor": "Purchased without Obligation",
}
# How the notes about the fuel transaction begin, among a document's warnings: a review that
# recomputes the transaction replaces them.
NO_TRANSACTION = "no fuel transaction recorded"
TYPE_ASSUMED = "transaction type assumed"


def create_document(
    session: Session,
    *,
    tenant_id: str,
    upload: Upload,
    facility_id: str | None,
    declared_type: str | None,
    filename: str,
) -> tuple[Document, bool]:
    """The document of ``upload``; True when it was created now, False when it existed."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    created = session.execute(
        insert(Document)
        .values(
            id=new_id("doc"),
            tenant_id=tenant_id,
            upload_id=upload.id,
            facility_id=facility_id,
            filename=filename[:300],
            sha256=upload.sha256,
            declared_type=declared_type,
            status="queued",
            fields={},
            warnings=[],
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "upload_id"])
        .returning(Document.id)
    ).scalar_one_or_none()
    document = session.scalar(
        select(Document).where(Document.tenant_id == tenant_id, Document.upload_id == upload.id)
    )
    assert document is not None
    return document, created is not None


def get_document(session: Session, *, document_id: str, tenant_id: str) -> Document | None:
    return session.scalar(
        select(Document).where(Document.id == document_id, Document.tenant_id == tenant_id)
    )


def document_listing(
    *, tenant_id: str, facility_id: str | None = None, status: str | None = None
) -> Select[Document]:
    """The tenant's documents (of a facility, in a status), newest first."""
    where = [Document.tenant_id == tenant_id]
    if facility_id is not None:
        where.append(Document.facility_id == facility_id)
    if status is not None:
        where.append(Document.status == status)
    return select(Document).where(*where).order_by(Document.created_at.desc(), Document.id)


class Received(NamedTuple):
    document: Document
    job: Job | None  # to publish once committed; None: nothing to run
    created: bool  # False: the same file was uploaded before


def receive_document(
    session: Session,
    *,
    tenant_id: str,
    content: bytes,
    media_type: str,
    filename: str,
    facility_id: str | None,
    declared_type: str | None,
) -> Received:
    """Keep an uploaded file and its document row, and create the job that extracts it. The
    same file again is the same document, queued again only after a passing failure."""
    upload = save_upload(session, tenant_id=tenant_id, content=content, content_type=media_type,
                         filename=filename)  # fmt: skip
    document, created = create_document(session, tenant_id=tenant_id, upload=upload,
                                        facility_id=facility_id, declared_type=declared_type,
                                        filename=filename)  # fmt: skip
    if not created and not should_requeue(document):
        return Received(document, None, created)
    job = create_job(session, tenant_id=tenant_id, kind=kinds.PROCESS_DOCUMENT,
                     upload_id=upload.id, params={"document_id": document.id})  # fmt: skip
    reset_for_requeue(document, job_id=job.id)
    return Received(document, job, created)


def should_requeue(document: Document) -> bool:
    """A duplicate upload runs again only when the earlier run failed for a passing reason."""
    return document.status == "failed" and document.error_code in RETRYABLE_CODES


def reset_for_requeue(document: Document, *, job_id: str) -> None:
    document.status = "queued"
    document.job_id = job_id
    document.error_code = None
    document.error_message = None


def set_resolution_note(
    session: Session, *, document: Document, note: str, actor: str = audit.OPERATOR
) -> Document:
    """Record how the document's failed or warned reconciliation was resolved (printed in the
    LCFS report beside it); audit-logged with the note's SHA-256."""
    document.resolution_note = note.strip()
    details = {
        "sha256": hashlib.sha256(document.resolution_note.encode()).hexdigest(),
        "reconciliation": (document.reconciliation or {}).get("status"),
    }
    audit.record(
        session,
        tenant_id=document.tenant_id,
        action="document.resolution_noted",
        actor=actor,
        subject_type="document",
        subject_id=document.id,
        facility_id=document.facility_id,
        details=details,
    )
    session.flush()
    return document


# --- results -----------------------------------------------------------------------------


def save_extraction(
    session: Session,
    *,
    document: Document,
    extraction: docs.Extraction,
    warnings: list[str],
    reconciliation: dict[str, Any] | None,
) -> None:
    out = extraction.to_dict()
    document.status = "processed"
    document.document_type = extraction.document_type
    document.pages = extraction.pages
    document.fields = out["fields"]
    document.warnings = warnings
    document.reconciliation = reconciliation
    document.error_code = None
    document.error_message = None
    document.processed_at = datetime.now(UTC)
    summary = {
        name: document.fields[name]["value"]
        for name in (
            "document_number",
            "document_date",
            "transaction_date",
            "fuel_type",
            "fuel_pathway_code",
            "quantity",
            "unit",
            "carbon_intensity",
        )
        if name in document.fields
    }
    publish(
        session,
        tenant_id=document.tenant_id,
        type="document.processed",
        key=f"{document.id}:{document.job_id}",
        data={
            "document_id": document.id,
            "facility_id": document.facility_id,
            "document_type": document.document_type,
            "fields": summary,
            "reconciliation_status": (reconciliation or {}).get("status"),
        },
    )
    audit.record(
        session, tenant_id=document.tenant_id, action="document.processed",
        subject_type="document", subject_id=document.id, facility_id=document.facility_id,
        details={"sha256": document.sha256, "upload_id": document.upload_id,
                 "job_id": document.job_id, "document_type": document.document_type,
                 "pages": document.pages, "fields": summary,
                 "reconciliation_status": (reconciliation or {}).get("status")},
    )  # fmt: skip


def fail_document(session: Session, *, document: Document, code: str, message: str) -> None:
    document.status = "failed"
    document.error_code = code[:40]
    document.error_message = message
    document.processed_at = datetime.now(UTC)
    publish(
        session,
        tenant_id=document.tenant_id,
        type="document.failed",
        key=f"{document.id}:{document.job_id}",
        data={
            "document_id": document.id,
            "facility_id": document.facility_id,
            "error": {"code": code, "message": message},
        },
    )
    audit.record(
        session, tenant_id=document.tenant_id, action="document.failed", subject_type="document",
        subject_id=document.id, facility_id=document.facility_id,
        details={"sha256": document.sha256, "upload_id": document.upload_id,
                 "job_id": document.job_id, "error": {"code": code, "message": message}},
    )  # fmt: skip


# --- reconciliation against the meters ------------------------------------------------------


def document_date(extraction: docs.Extraction) -> dt.date | None:
    raw = extraction.value("document_date") or extraction.value("transaction_date")
    try:
        return dt.date.fromisoformat(str(raw)) if raw is not None else None
    except ValueError:
        return None


def _same(a: object, b: object) -> bool:
    return " ".join(str(a).split()).lower() == " ".join(str(b).split()).lower()


def _canonical(tables: lcfs.LcfsTables, unit: str) -> str | None:
    try:
        return lcfs.canonical_unit(tables, unit)
    except PipelineError:
        return None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def reconcile_document(
    session: Session,
    *,
    document: Document,
    extraction: docs.Extraction,
    tables: lcfs.LcfsTables,
) -> dict[str, Any] | None:
    """The document checked against its facility's meters; None without a facility of its own."""
    if not document.facility_id:
        return None
    facility = session.get(Facility, document.facility_id)
    if facility is None or facility.tenant_id != document.tenant_id:
        return None
    try:
        return reconcile_with_meters(
            session, facility=facility, extraction=extraction, tables=tables
        )
    except PipelineError as exc:  # e.g. a mapping the meter maths refuses
        return {"status": "unknown", "note": f"{exc.code}: {exc}"}


def reconcile_with_meters(
    session: Session,
    *,
    facility: Facility,
    extraction: docs.Extraction,
    tables: lcfs.LcfsTables,
) -> dict[str, Any] | None:
    """The document's quantity against the facility's metered total for its local day.

    None when the document lacks a quantity or a date. Mappings: those of the document's fuel
    pathway code, else of its fuel type; all of the facility's when it names neither.
    """
    quantity, unit = extraction.value("quantity"), extraction.value("unit")
    day = document_date(extraction)
    if not isinstance(quantity, float | int) or day is None:
        return None
    unit = str(unit or "")
    base: dict[str, Any] = {"quantity": float(quantity), "unit": unit, "date": day.isoformat()}
    # Documents are checked against the fuel the facility reports, not its pipeline injection.
    rows = list(session.scalars(select(FuelMapping).where(
        FuelMapping.facility_id == facility.id, FuelMapping.role == "fuel")))  # fmt: skip
    fpc, fuel = extraction.value("fuel_pathway_code"), extraction.value("fuel_type")
    chosen = [r for r in rows if fpc is not None and _same(r.fuel_pathway_code, fpc)]
    if not chosen and fuel is not None:
        chosen = [r for r in rows if _same(r.fuel_type, fuel)]
    if not chosen and fpc is None and fuel is None:
        chosen = rows
    if not chosen:
        what = f"fuel {fuel or fpc!r}" if rows else "any fuel"
        return {**base, "status": "no_meter_data", "note": f"no meter tag is mapped to {what}"}
    tags = [r.tag for r in chosen]
    units = {_canonical(tables, r.unit) for r in chosen}
    doc_unit = _canonical(tables, unit) if unit else None
    if doc_unit is None or None in units or units != {doc_unit}:
        mapped = ", ".join(sorted({r.unit for r in chosen}))
        return {
            **base,
            "status": "unknown",
            "tags": tags,
            "note": f"the document's unit {unit or '(none)'!r} is not the meters' unit "
            f"({mapped}); no conversion is assumed",
        }

    zone = ZoneInfo(facility.timezone)
    start = datetime.combine(day, dt.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), dt.time(), tzinfo=zone).astimezone(UTC)
    tag_rows = list(
        session.scalars(select(Tag).where(Tag.facility_id == facility.id, Tag.name.in_(tags)))
    )
    require_live(session, tag_ids=[t.id for t in tag_rows], start=start, end=end,
                 what="the reconciliation with the meters")  # fmt: skip
    raw = load_points(
        session,
        tag_ids=[t.id for t in tag_rows],
        start=start - DAY_MARGIN,
        end=end + DAY_MARGIN,
    )
    points = pd.DataFrame(
        {
            "tag": tag_names(raw["tag"], tag_rows),
            "ts": raw["ts"],
            "value": raw["value"],
            "quality": raw["quality"],
        }
    )
    mappings = [mapping_of(r) for r in chosen]
    window = {"start": iso(start), "end": iso(end)}
    metered = lcfs.meter_quantities(
        lcfs.prepare_points(points, mappings),
        mappings,
        [_epoch_us(start), _epoch_us(end)],
    )
    if not metered.has_data:
        return {
            **base,
            "status": "no_meter_data",
            "tags": tags,
            "window": window,
            "note": "no usable meter reading on that day",
        }
    measured = float(np.sum(metered.monthly["measured"]))
    substituted = float(np.sum(metered.monthly["substituted"]))
    result = docs.reconcile(float(quantity), unit, day, measured + substituted)
    return {
        **base,
        "status": result.status,
        "metered_quantity": result.metered_quantity,
        "measured": measured,
        "substituted": substituted,
        "difference": result.difference,
        "difference_pct": _finite(result.difference_pct),
        "tags": tags,
        "window": window,
    }


def _epoch_us(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


# --- the fuel transaction --------------------------------------------------------------------


def transaction_type(extraction: docs.Extraction) -> str:
    """The PTD's stated type; else from its obligation statement; else the default."""
    stated = extraction.value("transaction_type")
    if stated:
        return lcfs.canonical_transaction_type(str(stated))
    obligation = extraction.value("compliance_obligation")
    return FROM_OBLIGATION.get(str(obligation or ""), DEFAULT_TRANSACTION_TYPE)


def upsert_transaction(
    session: Session,
    *,
    document: Document,
    extraction: docs.Extraction,
    tables: lcfs.LcfsTables,
) -> tuple[FuelTransaction | None, list[str]]:
    """The document's fuel transaction (one per document), or None and why not."""
    needed = ("fuel_pathway_code", "quantity", "unit", "carbon_intensity")
    missing = [n for n in needed if extraction.value(n) is None]
    day = document_date(extraction)
    if day is None:
        missing.append("document_date")
    if document.facility_id is None:
        missing.append("facility_id (upload form)")
    if missing:
        return None, [f"{NO_TRANSACTION}: missing {', '.join(missing)}"]
    fpc = str(extraction.value("fuel_pathway_code"))
    fuel = extraction.value("fuel_type")
    if fuel is None:
        mapped = session.scalar(
            select(FuelMapping.fuel_type).where(
                FuelMapping.facility_id == document.facility_id,
                FuelMapping.fuel_pathway_code == fpc,
            )
        )
        if mapped is None:
            return None, [f"{NO_TRANSACTION}: the fuel type is unknown"]
        fuel = mapped
    try:
        kind = transaction_type(extraction)
    except PipelineError as exc:
        return None, [f"{NO_TRANSACTION}: {exc}"]
    unit = str(extraction.value("unit"))
    values = {
        "tenant_id": document.tenant_id,
        "facility_id": document.facility_id,
        "fuel_pathway_code": fpc[:60],
        "fuel_type": str(fuel)[:60],
        "quantity": float(extraction.value("quantity")),  # type: ignore[arg-type]
        "unit": (_canonical(tables, unit) or unit)[:20],
        "ci": float(extraction.value("carbon_intensity")),  # type: ignore[arg-type]
        "transaction_type": kind,
        "date": day.isoformat(),  # type: ignore[union-attr]
        "business_partner": _partner(extraction, kind)[:200],
        "reference": str(extraction.value("document_number") or document.id)[:200],
        "source": "document",
        "document_id": document.id,
    }
    row = session.scalar(select(FuelTransaction).where(FuelTransaction.document_id == document.id))
    if row is None:
        row = FuelTransaction(id=new_id("ftx"), created_at=datetime.now(UTC), **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()
    notes = []
    if not extraction.value("transaction_type") and not extraction.value("compliance_obligation"):
        notes.append(f"{TYPE_ASSUMED}: {kind} (the document states none)")
    return row, notes


def _partner(extraction: docs.Extraction, kind: str) -> str:
    """The other party: the seller of a purchase, the buyer of a sale."""
    other = "seller" if kind.lower().startswith("purchased") else "buyer"
    return str(extraction.value(other) or "")


def transaction_of(session: Session, *, document_id: str) -> FuelTransaction | None:
    return session.scalar(select(FuelTransaction).where(FuelTransaction.document_id == document_id))


# --- review by a person ------------------------------------------------------------------------


def effective_extraction(document: Document) -> docs.Extraction:
    """The document's fields as they count: the extracted ones, each reviewed value in place of
    its extracted one (confidence 1.0)."""
    return docs.Extraction(
        document_type=cast(docs.DocumentType, document.document_type or "unknown"),
        fields=docs.effective_fields(document.fields or {}, document.reviewed_fields),
        warnings=tuple(document.warnings or ()),
        pages=document.pages or 0,
        text_chars=0,
    )


def review_document(
    session: Session,
    *,
    document: Document,
    changes: Mapping[str, object],
    actor: str,
    tables: lcfs.LcfsTables,
) -> Document:
    """Record a person's values for some of a processed document's fields, then recompute what
    depends on them with the fields as they now count: the reconciliation with the meters and
    the fuel transaction (removed when the fields no longer make one). The extracted values stay
    as they were. Audit-logged (``document.reviewed``, old and new values); no event is
    published (docs/webhooks.md has none for a review).

    Raises ``NotReviewableError`` unless the document is processed, ``UnknownFieldError`` or
    ``InvalidFieldValueError`` for a field it cannot record (pipelines/documents/review.py).
    """
    session.refresh(document, with_for_update=True)  # two reviews at once: one after the other
    if document.status != "processed":
        raise docs.NotReviewableError(status=document.status)
    values = docs.check_review(changes, tables=tables)
    before = effective_extraction(document)
    now = iso(datetime.now(UTC))
    reviewed = dict(document.reviewed_fields or {})
    for name, value in values.items():
        extracted = (document.fields or {}).get(name)
        reviewed[name] = {
            "value": value,
            "reviewed_by": actor,
            "reviewed_at": now,
            "extracted": extracted.get("value") if isinstance(extracted, dict) else None,
        }
    document.reviewed_fields = reviewed  # a new dict: the JSON column sees the change
    extraction = effective_extraction(document)
    old_status = (document.reconciliation or {}).get("status")
    document.reconciliation = reconcile_document(
        session, document=document, extraction=extraction, tables=tables
    )
    transaction, notes = upsert_transaction(
        session, document=document, extraction=extraction, tables=tables
    )
    if transaction is None:  # what the extracted fields made, the reviewed ones do not
        stale = transaction_of(session, document_id=document.id)
        if stale is not None:
            session.delete(stale)
    kept = [w for w in document.warnings or [] if not w.startswith((NO_TRANSACTION, TYPE_ASSUMED))]
    document.warnings = [*kept, *notes]
    audit.record(
        session,
        tenant_id=document.tenant_id,
        action="document.reviewed",
        actor=actor,
        subject_type="document",
        subject_id=document.id,
        facility_id=document.facility_id,
        details={
            "changes": {n: {"old": before.value(n), "new": v} for n, v in values.items()},
            "reconciliation_status": {
                "old": old_status,
                "new": (document.reconciliation or {}).get("status"),
            },
            "fuel_transaction_id": transaction.id if transaction else None,
        },
    )
    session.flush()
    return document
