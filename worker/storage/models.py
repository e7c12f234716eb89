"""SQLAlchemy 2.0 models. The schema itself is owned by the Alembic migrations beside this
package; a test checks the two agree.

Every tenant-owned row carries ``tenant_id`` except ``data_point``: its tenant is its tag's, and
leaving the column out keeps the largest table (billions of rows) at four narrow columns with one
index. Every query reaches data points through ``tag`` and filters ``tag.tenant_id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcTimestamp(TypeDecorator[datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, integer microseconds on SQLite.

    SQLite has no timestamp type; integers keep range scans and bulk loads fast and exact.
    """

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        if dialect.name == "postgresql":
            return value
        return to_epoch_us(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return from_epoch_us(int(value))


def to_epoch_us(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(us: int) -> datetime:
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenant"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The reporting organization as registered in LRT-CBTS (printed on its LCFS reports).
    organization_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    organization_fein: Mapped[str] = mapped_column(String(20), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class ApiKey(Base):
    """An API key. The key itself is shown once; only its public prefix and SHA-256 are kept."""

    __tablename__ = "api_key"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(40), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str] = mapped_column(String(10), default="write")  # write | read
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class Facility(Base):
    __tablename__ = "facility"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    strict_tags: Mapped[bool] = mapped_column(Boolean, default=False)
    # The facility / fuel supply equipment id registered in LRT-CBTS.
    carb_facility_id: Mapped[str] = mapped_column(String(60), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class Tag(Base):
    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("facility_id", "name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40), default="")
    expected_interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    interval_inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    min_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    role: Mapped[str] = mapped_column(String(20), default="rate")  # rate|totalizer|analyzer|other
    description: Mapped[str] = mapped_column(String(500), default="")
    # Quality rules (pipelines.timeseries); NULL means the default there.
    flatline_tolerance: Mapped[float | None] = mapped_column(Float, nullable=True)
    flatline_min_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    spike_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Alert thresholds; NULL means the TICKWORK_ALERT_* setting.
    alert_gap_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)
    alert_completeness: Mapped[float | None] = mapped_column(Float, nullable=True)
    alert_flatline_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class DataPoint(Base):
    """One reading. ``quality`` codes: 0 good, 1 uncertain, 2 bad (see pipelines.ingest).

    ``tag_id`` has no foreign key on purpose: PostgreSQL checks a foreign key row by row, which
    tripled the time of a bulk insert (bench/RESULTS.md). Tags are only created by the ingest
    path before their points, and ``storage.points.delete_points`` removes a tag's points
    before the tag itself is deleted.
    """

    __tablename__ = "data_point"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's own attribute
    tag_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcTimestamp(), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    quality: Mapped[int] = mapped_column(SmallInteger, default=0)


class PointArchive(Base):
    """One whole UTC month of ``data_point`` moved to a Parquet file (retention by archival, on
    PostgreSQL; ``storage.archives``). ``[range_start, range_end)`` is the month; the file is
    ``path`` under the data directory, named by its ``sha256``. ``points_checksum`` is
    ``pipelines.archive.PointsChecksum`` of its points, independent of the file's layout.
    ``status`` is ``archived`` (the month's points are only in the file) or ``restored`` (copied
    back into the table; the automatic archival leaves the month alone from then on).
    """

    __tablename__ = "point_archive"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    range_start: Mapped[datetime] = mapped_column(UtcTimestamp(), unique=True)
    range_end: Mapped[datetime] = mapped_column(UtcTimestamp())
    status: Mapped[str] = mapped_column(String(10), default="archived")
    path: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    points_checksum: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    restored_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class PointArchiveTag(Base):
    """How many points of one tag an archived month holds: what lets a read or a report tell
    whether the archive concerns its tags."""

    __tablename__ = "point_archive_tag"
    archive_id: Mapped[str] = mapped_column(
        ForeignKey("point_archive.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(BigId, primary_key=True, index=True)
    rows: Mapped[int] = mapped_column(BigInteger)


class Upload(Base):
    """Raw bytes as received, content-addressed: the same bytes from one tenant are one row."""

    __tablename__ = "upload"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class Job(Base):
    """One unit of enqueued work; the Celery task id is the job id."""

    __tablename__ = "job"
    __table_args__ = (Index(None, "tenant_id", "created_at"), Index(None, "status", "created_at"))
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))  # the Celery task name
    status: Mapped[str] = mapped_column(String(20), default="queued")
    upload_id: Mapped[str | None] = mapped_column(ForeignKey("upload.id"), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    logs: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Last sign of life of the worker running the job (or when a retry waiting in the broker
    # is due): a running job silent for TICKWORK_JOB_SILENT_SECONDS is sent again.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class RejectedRow(Base):
    __tablename__ = "rejected_row"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)
    upload_id: Mapped[str | None] = mapped_column(ForeignKey("upload.id"), nullable=True)
    row_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))
    raw: Mapped[str] = mapped_column(Text, default="")


class Gap(Base):
    """A stretch with no usable point, as defined in pipelines.gaps.

    Identified by (tag, gap_start) while active. ``status``: open (data has not resumed),
    closed (data resumed after it), resolved (late data filled it; kept for history).
    """

    __tablename__ = "gap"
    __table_args__ = (
        Index(
            "uq_gap_active_tag_start",
            "tag_id",
            "gap_start",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        Index(None, "tenant_id", "facility_id", "gap_start"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id", ondelete="CASCADE"))
    gap_start: Mapped[datetime] = mapped_column(UtcTimestamp())
    gap_end: Mapped[datetime] = mapped_column(UtcTimestamp())
    duration_minutes: Mapped[float] = mapped_column(Float)
    missing_points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    detected_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class QualityScore(Base):
    """One tag's quality metrics for one local day of its facility (pipelines.quality)."""

    __tablename__ = "quality_score"
    __table_args__ = (
        UniqueConstraint("tag_id", "period_start"),
        Index(None, "tenant_id", "facility_id", "period_start"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))  # local date, YYYY-MM-DD
    period_start: Mapped[datetime] = mapped_column(UtcTimestamp())
    period_end: Mapped[datetime] = mapped_column(UtcTimestamp())
    metrics: Mapped[dict[str, Any]] = mapped_column(Json)
    score: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class Alert(Base):
    """A rule that fired, once per (tag, rule, key)."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("tag_id", "rule", "key"),
        Index(None, "tenant_id", "triggered_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(40))  # gap_too_long | low_completeness | flatline
    key: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    triggered_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    # Someone looked at it (the dashboard's Acknowledge); the actor as the audit log names it.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(String(80), default="", server_default="")


class Event(Base):
    """The outbox: events written in the same transaction as the change they announce.

    ``dedupe_key`` makes writing an event idempotent (a task run twice writes it once).
    """

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index(None, "tenant_id", "created_at"),
        # The fan-out's work list stays small however long the event history grows.
        Index(
            "ix_event_not_fanned_out",
            "created_at",
            postgresql_where=text("fanned_out_at IS NULL"),
            sqlite_where=text("fanned_out_at IS NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    # Set once the event has been turned into a message for each subscribed endpoint.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class WebhookEndpoint(Base):
    """Where a tenant wants events sent.

    ``secrets``: list of ``{"secret": "whsec_...", "expires_at": ISO 8601 | null}``; every
    unexpired secret signs (rotation grace period). Secrets are needed in clear to sign, so the
    database holding them must be protected like any credential store.
    """

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(Json, default=list)  # empty: every event
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    legacy_signature: Mapped[bool] = mapped_column(Boolean, default=False)
    # Most requests per second this endpoint gets, across every worker (None: no limit).
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    failing_since: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class WebhookMessage(Base):
    """One event for one endpoint. ``id`` is the ``webhook-id``, the same on every attempt."""

    __tablename__ = "webhook_message"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "tenant_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the exact bytes signed and sent
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|succeeded|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class DeliveryAttempt(Base):
    """One HTTP attempt of a message: what the receiver answered, how fast, or what failed."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (
        Index(None, "endpoint_id", "attempted_at"),
        Index(None, "message_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_message.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(60))
    attempted_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(10))  # success | failure
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class FuelMapping(Base):
    """How one meter tag of a facility becomes a quantity of one LCFS fuel pathway
    (pipelines.lcfs.TagMapping, field for field)."""

    __tablename__ = "fuel_mapping"
    __table_args__ = (UniqueConstraint("facility_id", "tag"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(200))
    fuel_pathway_code: Mapped[str] = mapped_column(String(60))
    fuel_type: Mapped[str] = mapped_column(String(60))
    ci: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(12), default="rate")  # rate | totalizer
    rate_per: Mapped[str] = mapped_column(String(4), default="h")
    application: Mapped[str | None] = mapped_column(String(60), nullable=True)
    eer: Mapped[float | None] = mapped_column(Float, nullable=True)
    transaction_type: Mapped[str] = mapped_column(String(60))
    rollover_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    role: Mapped[str] = mapped_column(String(12), default="fuel", server_default="fuel")
    business_partner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    hhv_btu_per_scf: Mapped[float | None] = mapped_column(Float, nullable=True)
    lhv_hhv_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)


class FuelTransaction(Base):
    """A fuel transaction entered by a user or taken from a processed document."""

    __tablename__ = "fuel_transaction"
    __table_args__ = (
        Index(None, "facility_id", "date"),
        UniqueConstraint("document_id"),  # a document yields at most one transaction
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    fuel_pathway_code: Mapped[str] = mapped_column(String(60))
    fuel_type: Mapped[str] = mapped_column(String(60))
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    ci: Mapped[float] = mapped_column(Float)
    transaction_type: Mapped[str] = mapped_column(String(60))
    date: Mapped[str] = mapped_column(String(10))  # ISO date
    business_partner: Mapped[str] = mapped_column(String(200), default="")
    reference: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(12), default="api")  # api | csv | document
    application: Mapped[str | None] = mapped_column(String(60), nullable=True)
    hhv_btu_per_scf: Mapped[float | None] = mapped_column(Float, nullable=True)
    lhv_hhv_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    document_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)


class Document(Base):
    """An uploaded compliance document: the same bytes from one tenant are one document."""

    __tablename__ = "document"
    __table_args__ = (
        UniqueConstraint("tenant_id", "upload_id"),
        Index(None, "tenant_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    upload_id: Mapped[str] = mapped_column(ForeignKey("upload.id"))
    facility_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    filename: Mapped[str] = mapped_column(String(300), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    declared_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued|processed|failed
    document_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fields: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    warnings: Mapped[list[str]] = mapped_column(Json, default=list)
    reconciliation: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How a failed or warned reconciliation was resolved, in the reviewer's words (LCFS report).
    resolution_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Values a person entered in review, beside the extracted ones (which stay as they were):
    # {name: {"value", "reviewed_by", "reviewed_at", "extracted"}} (pipelines/documents/review.py).
    reviewed_fields: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class Report(Base):
    """A built (or building) report: its file, totals and the hash of its exact inputs."""

    __tablename__ = "report"
    __table_args__ = (Index(None, "tenant_id", "created_at"), Index(None, "facility_id", "year"))
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    facility_id: Mapped[str] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    report_type: Mapped[str] = mapped_column(String(40), default="lcfs_quarterly")
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))  # pdf | csv | calculation_csv | json
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fixed when the report is requested, so every build of it gives the same bytes.
    preparer: Mapped[str] = mapped_column(String(200), default="", server_default="")
    reviewer: Mapped[str] = mapped_column(String(200), default="", server_default="")
    audit_head: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Scheduled builds are idempotent per period: "<facility>:<year>Q<q>:<format>[:draft:<week>]"
    schedule_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued|generated|failed
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    has_data: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    totals: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    input_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(60), nullable=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    generated_at: Mapped[datetime | None] = mapped_column(UtcTimestamp(), nullable=True)


class AuditEntry(Base):
    """One entry of a tenant's append-only, hash-chained audit log (see pipelines/audit.py).

    Database triggers refuse UPDATE and DELETE (migration 0006); ``seq`` orders a tenant's chain.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index(None, "tenant_id", "row_hash"),
        Index(None, "tenant_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp())
    action: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(80))
    facility_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(Json)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last entry of each tenant's chain. Appends lock this row, so concurrent writers
    serialise on it, and verification can tell entries deleted from the end."""

    __tablename__ = "audit_head"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    row_hash: Mapped[str] = mapped_column(String(64))


class IdempotencyKey(Base):
    """The first answer to a POST sent with an ``Idempotency-Key``, per tenant, kept until
    ``expires_at`` (24 h): a retry with the same key and body gets it back instead of a second
    effect. ``response_status`` is null while the first request is still running."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("tenant_id", "key"), Index(None, "tenant_id", "expires_at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_type: Mapped[str] = mapped_column(String(200), default="")
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcTimestamp())
