"""What the analyses found, as the API lists it: gaps, daily quality scores and alerts.

Each listing is a query of rows ``(finding, tag name)`` scoped to a tenant, optionally to one of
its facilities, a tag name and a time range (both bounds inclusive); the API pages it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from worker.storage import audit
from worker.storage.models import Alert, Gap, QualityScore, Tag
from worker.storage.pages import within


def gap_listing(
    *,
    tenant_id: str,
    facility_id: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Gap, str]:
    """Gaps starting in ``[start, end]``, newest first."""
    where = _scope(Gap, tenant_id, facility_id, tag) + within(Gap.gap_start, start, end)
    if status is not None:
        where.append(Gap.status == status)
    return (
        select(Gap, Tag.name)
        .join(Tag, Tag.id == Gap.tag_id)
        .where(*where)
        .order_by(Gap.gap_start.desc(), Gap.id)
    )


def quality_listing(
    *,
    tenant_id: str,
    facility_id: str | None = None,
    tag: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[QualityScore, str]:
    """Daily scores of days starting in ``[start, end]``, by day, then tag name."""
    where = _scope(QualityScore, tenant_id, facility_id, tag)
    where += within(QualityScore.period_start, start, end)
    return (
        select(QualityScore, Tag.name)
        .join(Tag, Tag.id == QualityScore.tag_id)
        .where(*where)
        .order_by(QualityScore.period_start, Tag.name)
    )


def alert_listing(
    *,
    tenant_id: str,
    facility_id: str | None = None,
    tag: str | None = None,
    rule: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Alert, str]:
    """Alerts triggered in ``[start, end]``, newest first."""
    where = _scope(Alert, tenant_id, facility_id, tag) + within(Alert.triggered_at, start, end)
    if rule is not None:
        where.append(Alert.rule == rule)
    return (
        select(Alert, Tag.name)
        .join(Tag, Tag.id == Alert.tag_id)
        .where(*where)
        .order_by(Alert.triggered_at.desc(), Alert.id)
    )


def _scope(
    model: Any, tenant_id: str, facility_id: str | None, tag: str | None
) -> list[ColumnElement[bool]]:
    where = [model.tenant_id == tenant_id]
    if facility_id is not None:
        where.append(model.facility_id == facility_id)
    if tag is not None:
        where.append(Tag.name == tag)
    return where


def acknowledge_alert(
    session: Session, *, tenant_id: str, alert_id: str, actor: str
) -> Alert | None:
    """Mark the tenant's alert as seen (audit-logged once); None when it is not the tenant's."""
    alert = session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.tenant_id == tenant_id).with_for_update()
    )
    if alert is None or alert.acknowledged_at is not None:
        return alert
    alert.acknowledged_at = datetime.now(UTC)
    alert.acknowledged_by = actor
    audit.record(
        session,
        tenant_id=tenant_id,
        action="alert.acknowledged",
        actor=actor,
        subject_type="alert",
        subject_id=alert.id,
        facility_id=alert.facility_id,
        details={"rule": alert.rule, "message": alert.message},
    )
    return alert


def tag_name(session: Session, *, tag_id: int) -> str:
    return session.scalar(select(Tag.name).where(Tag.id == tag_id)) or ""
