"""Uploads: raw bytes kept as received, content-addressed per tenant by SHA-256."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker import kinds
from worker.storage.db import new_id
from worker.storage.jobs import create_job
from worker.storage.models import Job, Upload


def save_upload(
    session: Session, *, tenant_id: str, content: bytes, content_type: str, filename: str = ""
) -> Upload:
    """Store ``content`` unless this tenant already sent the same bytes; return its row."""
    digest = hashlib.sha256(content).hexdigest()
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(Upload)
        .values(
            id=new_id("upl"),
            tenant_id=tenant_id,
            sha256=digest,
            content_type=content_type,
            filename=filename[:300],
            size=len(content),
            content=content,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "sha256"])
    )
    upload = session.scalar(
        select(Upload).where(Upload.tenant_id == tenant_id, Upload.sha256 == digest)
    )
    assert upload is not None
    return upload


def queue_ingest(session: Session, *, upload: Upload, facility_id: str | None) -> Job:
    """The ingest job of an upload (publish it once committed); ``facility_id``: the facility of
    rows that leave it out."""
    params = {"facility_id": facility_id} if facility_id else {}
    return create_job(
        session, tenant_id=upload.tenant_id, kind=kinds.INGEST, upload_id=upload.id, params=params
    )
