"""The resources of :class:`tickwork_client.Client` (synchronous)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tickwork_client import _calls as c
from tickwork_client._base import DateInput, FileInput
from tickwork_client._pagination import Pager
from tickwork_client.errors import WaitTimeout
from tickwork_client.models import (
    Accepted,
    Alert,
    AuditEntry,
    AuditVerification,
    DataPoint,
    Document,
    DocumentAccepted,
    Event,
    Facility,
    FuelMapping,
    Gap,
    Job,
    QualityScore,
    Recovery,
    RejectedRow,
    Report,
    RotatedSecret,
    Tag,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

if TYPE_CHECKING:
    from tickwork_client._client import Client

W = TypeVar("W", Job, Report, Document)


def poll(
    fetch: Callable[[], W], what: str, *, timeout: float, interval: float, max_interval: float
) -> W:
    """``fetch`` until its result is ``done``; the wait between polls grows to ``max_interval``."""
    deadline = time.monotonic() + timeout
    while True:
        current = fetch()
        if current.done:
            return current
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"{what} still {current.status} after {timeout:g} s", last=current)
        time.sleep(min(interval, left))
        interval = min(max_interval, interval * 1.5)


class _Resource:
    def __init__(self, client: Client) -> None:
        self._c = client

    def _pager(self, spec: c.ListSpec, parse: Callable[[Mapping[str, Any]], Any]) -> Pager[Any]:
        return Pager(self._c, spec[0], spec[1], parse)


class DataPoints(_Resource):
    def list(
        self,
        *,
        facility_id: str,
        start_date: DateInput,
        end_date: DateInput,
        tags: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Pager[DataPoint]:
        """Readings, oldest first, every page on demand. A date-only ``end_date`` covers that
        day. ``limit`` is the page size (server default 100, at most 1000)."""
        spec = c.data_points_list(facility_id, start_date, end_date, tags, limit)
        return self._pager(spec, DataPoint.from_dict)

    def create(
        self, points: Iterable[Mapping[str, Any] | DataPoint], *, facility_id: str | None = None
    ) -> Accepted:
        """Queue a JSON batch of ``{facility_id?, tag, timestamp, value, unit?, quality?}``."""
        return self._c._request(c.data_points_create(points, facility_id))

    def import_csv(
        self, file: FileInput, *, facility_id: str | None = None, filename: str | None = None
    ) -> Accepted:
        """Upload a CSV (``facility_id,tag,timestamp,value[,unit][,quality]``; the
        ``facility_id`` column may be left out when given here): a path, bytes or a binary
        file. Returns the job to wait for."""
        return self._c._request(c.data_points_import_csv(file, facility_id, filename))


class Jobs(_Resource):
    def get(self, job_id: str) -> Job:
        return self._c._request(c.jobs_get(job_id))

    def list(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        created_from: DateInput | None = None,
        created_to: DateInput | None = None,
        limit: int | None = None,
    ) -> Pager[Job]:
        """Jobs, newest first (``created_from``/``created_to`` are the API's ``from``/``to``)."""
        spec = c.jobs_list(status, kind, created_from, created_to, limit)
        return self._pager(spec, Job.from_dict)

    def rejected_rows(self, job_id: str, *, limit: int | None = None) -> Pager[RejectedRow]:
        return self._pager(c.jobs_rejected_rows(job_id, limit), RejectedRow.from_dict)

    def wait(
        self,
        job_id: str | Accepted,
        *,
        timeout: float = 600.0,
        interval: float = 0.5,
        max_interval: float = 5.0,
    ) -> Job:
        """Poll until the job has succeeded or failed (it does not raise on ``failed``: look at
        ``status`` and ``error``); :class:`WaitTimeout` after ``timeout`` seconds."""
        ident = job_id.job_id if isinstance(job_id, Accepted) else job_id
        return poll(
            lambda: self.get(ident),
            f"job {ident}",
            timeout=timeout,
            interval=interval,
            max_interval=max_interval,
        )


class Facilities(_Resource):
    def create(
        self,
        *,
        name: str,
        timezone: str | None = None,
        strict_tags: bool | None = None,
        carb_facility_id: str | None = None,
        **fields: Any,
    ) -> Facility:
        return self._c._request(
            c.facilities_create(
                dict(
                    name=name,
                    timezone=timezone,
                    strict_tags=strict_tags,
                    carb_facility_id=carb_facility_id,
                    **fields,
                )
            )
        )

    def get(self, facility_id: str) -> Facility:
        return self._c._request(c.facilities_get(facility_id))

    def list(self, *, limit: int | None = None) -> Pager[Facility]:
        return self._pager(c.facilities_list(limit), Facility.from_dict)

    def update(self, facility_id: str, **fields: Any) -> Facility:
        """Change ``name``, ``timezone``, ``strict_tags`` or ``carb_facility_id``."""
        return self._c._request(c.facilities_update(facility_id, fields))

    def delete(self, facility_id: str) -> None:
        self._c._request(c.facilities_delete(facility_id))

    def fuel_mappings(self, facility_id: str) -> builtins.list[FuelMapping]:
        return self._c._request(c.fuel_mappings_get(facility_id))

    def set_fuel_mappings(
        self, facility_id: str, mappings: Iterable[Mapping[str, Any] | FuelMapping]
    ) -> builtins.list[FuelMapping]:
        """Replace the facility's fuel mappings (how meter tags become LCFS fuel)."""
        return self._c._request(c.fuel_mappings_set(facility_id, mappings))


class Tags(_Resource):
    def create(self, facility_id: str, *, name: str, **fields: Any) -> Tag:
        """A tag with ``unit``, ``expected_interval_seconds``, ``min_value``/``max_value``,
        ``role``, quality rules and alert thresholds."""
        return self._c._request(c.tags_create(facility_id, {"name": name, **fields}))

    def get(self, facility_id: str, name: str) -> Tag:
        return self._c._request(c.tags_get(facility_id, name))

    def list(self, facility_id: str) -> Pager[Tag]:
        return self._pager(c.tags_list(facility_id), Tag.from_dict)

    def update(self, facility_id: str, name: str, **fields: Any) -> Tag:
        return self._c._request(c.tags_update(facility_id, name, fields))

    def delete(self, facility_id: str, name: str) -> None:
        self._c._request(c.tags_delete(facility_id, name))


class Gaps(_Resource):
    def list(
        self,
        *,
        facility_id: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        start_date: DateInput | None = None,
        end_date: DateInput | None = None,
        limit: int | None = None,
    ) -> Pager[Gap]:
        """Gaps, newest first; ``status`` open, closed or resolved."""
        spec = c.gaps_list(facility_id, tag, status, start_date, end_date, limit)
        return self._pager(spec, Gap.from_dict)


class Quality(_Resource):
    def list(
        self,
        *,
        facility_id: str | None = None,
        tag: str | None = None,
        start_date: DateInput | None = None,
        end_date: DateInput | None = None,
        limit: int | None = None,
    ) -> Pager[QualityScore]:
        """Daily quality per tag (facility-local days)."""
        spec = c.quality_list(facility_id, tag, start_date, end_date, limit)
        return self._pager(spec, QualityScore.from_dict)


class Alerts(_Resource):
    def list(
        self,
        *,
        facility_id: str | None = None,
        tag: str | None = None,
        rule: str | None = None,
        start_date: DateInput | None = None,
        end_date: DateInput | None = None,
        limit: int | None = None,
    ) -> Pager[Alert]:
        """Alerts, newest first; ``rule`` gap_too_long, low_completeness or flatline."""
        spec = c.alerts_list(facility_id, tag, rule, start_date, end_date, limit)
        return self._pager(spec, Alert.from_dict)

    def acknowledge(self, alert_id: str) -> Alert:
        """Mark an alert as seen (``POST /v1/alerts/{id}/acknowledge``; again changes nothing)."""
        return self._c._request(c.alerts_acknowledge(alert_id))


class Events(_Resource):
    def list(self, *, type: str | None = None, limit: int | None = None) -> Pager[Event]:
        """The event outbox, oldest first, as webhooks carry it."""
        return self._pager(c.events_list(type, limit), Event.from_dict)


class Reports(_Resource):
    def create(
        self,
        *,
        facility_id: str,
        quarter: str | int,
        year: int,
        format: str = "pdf",
        report_type: str = "lcfs_quarterly",
        preparer: str | None = None,
        reviewer: str | None = None,
    ) -> Report:
        """Queue an LCFS quarterly report (``quarter`` "Q1".."Q4" or 1..4; ``format`` pdf, csv,
        calculation_csv or json)."""
        q = f"Q{quarter}" if isinstance(quarter, int) else quarter
        return self._c._request(
            c.reports_create(
                dict(
                    report_type=report_type,
                    facility_id=facility_id,
                    quarter=q,
                    year=year,
                    format=format,
                    preparer=preparer,
                    reviewer=reviewer,
                )
            )
        )

    def get(self, report_id: str) -> Report:
        return self._c._request(c.reports_get(report_id))

    def list(self, *, facility_id: str | None = None, limit: int | None = None) -> Pager[Report]:
        return self._pager(c.reports_list(facility_id, limit), Report.from_dict)

    def wait(
        self,
        report_id: str | Report,
        *,
        timeout: float = 900.0,
        interval: float = 1.0,
        max_interval: float = 5.0,
    ) -> Report:
        """Poll until the report is generated or failed."""
        ident = report_id.id if isinstance(report_id, Report) else report_id
        return poll(
            lambda: self.get(ident),
            f"report {ident}",
            timeout=timeout,
            interval=interval,
            max_interval=max_interval,
        )

    def download(self, report_id: str | Report, to: str | Path | None = None) -> bytes:
        """The report's file as built (PDF, CSV or JSON); also written to ``to`` if given.
        :class:`ConflictError` while it is not generated yet."""
        ident = report_id.id if isinstance(report_id, Report) else report_id
        content = self._c._request(c.reports_download(ident))
        if to is not None:
            Path(to).write_bytes(content)
        return content


class Documents(_Resource):
    def upload(
        self,
        file: FileInput,
        *,
        document_type: str | None = None,
        facility_id: str | None = None,
        filename: str | None = None,
    ) -> DocumentAccepted:
        """Upload a PDF (invoice, product transfer document, ...) for extraction."""
        return self._c._request(c.documents_upload(file, document_type, facility_id, filename))

    def get(self, document_id: str) -> Document:
        return self._c._request(c.documents_get(document_id))

    def list(
        self,
        *,
        facility_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> Pager[Document]:
        return self._pager(c.documents_list(facility_id, status, limit), Document.from_dict)

    def wait(
        self,
        document_id: str | DocumentAccepted,
        *,
        timeout: float = 300.0,
        interval: float = 0.5,
        max_interval: float = 5.0,
    ) -> Document:
        """Poll until the document is processed or failed."""
        ident = (
            document_id.document_id if isinstance(document_id, DocumentAccepted) else document_id
        )
        return poll(
            lambda: self.get(ident),
            f"document {ident}",
            timeout=timeout,
            interval=interval,
            max_interval=max_interval,
        )

    def review(
        self,
        document_id: str,
        fields: Mapping[str, Any] | None = None,
        *,
        resolution_note: str | None = None,
    ) -> Document:
        """Record a person's review of a processed document: ``fields``, the values they read
        (``{"quantity": 1200.0}``; ``POST /v1/documents/{id}/review``: kept beside the
        extracted ones, and the reconciliation and fuel transaction follow them), or
        ``resolution_note``, how a failed or warned reconciliation was resolved (``PATCH
        /v1/documents/{id}``; printed in the LCFS report). One of the two per call."""
        return self._c._request(c.documents_review(document_id, fields, resolution_note))


class WebhookEndpoints(_Resource):
    def create(
        self,
        *,
        url: str,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        legacy_signature: bool | None = None,
        rate_limit: int | None = None,
    ) -> WebhookEndpoint:
        """Subscribe ``url`` (``event_types`` empty or None: every event). The answer's
        ``secret`` (``whsec_...``) is shown only here: keep it for ``webhooks.verify``."""
        types = list(event_types) if event_types is not None else None
        return self._c._request(
            c.endpoints_create(
                dict(
                    url=url,
                    event_types=types,
                    description=description,
                    legacy_signature=legacy_signature,
                    rate_limit=rate_limit,
                )
            )
        )

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        return self._c._request(c.endpoints_get(endpoint_id))

    def list(self, *, limit: int | None = None) -> Pager[WebhookEndpoint]:
        return self._pager(c.endpoints_list(limit), WebhookEndpoint.from_dict)

    def update(self, endpoint_id: str, **fields: Any) -> WebhookEndpoint:
        """Change ``url``, ``event_types``, ``description``, ``enabled``, ``legacy_signature``
        or ``rate_limit``."""
        return self._c._request(c.endpoints_update(endpoint_id, fields))

    def delete(self, endpoint_id: str) -> None:
        self._c._request(c.endpoints_delete(endpoint_id))

    def rotate_secret(self, endpoint_id: str, *, grace_hours: float | None = None) -> RotatedSecret:
        """A new secret; the old ones keep signing for ``grace_hours`` (server default 24)."""
        return self._c._request(c.endpoints_rotate_secret(endpoint_id, grace_hours))

    def test(self, endpoint_id: str) -> WebhookMessage:
        """Queue an ``endpoint.test`` delivery."""
        return self._c._request(c.endpoints_test(endpoint_id))

    def attempts(
        self,
        endpoint_id: str,
        *,
        status: str | None = None,
        event_type: str | None = None,
        start_date: DateInput | None = None,
        end_date: DateInput | None = None,
        limit: int | None = None,
    ) -> Pager[WebhookAttempt]:
        spec = c.endpoints_attempts(endpoint_id, status, event_type, start_date, end_date, limit)
        return self._pager(spec, WebhookAttempt.from_dict)

    def resend(self, message_id: str) -> WebhookMessage:
        """Send a message again, under the same ``webhook-id``."""
        return self._c._request(c.messages_resend(message_id))

    def recover(self, endpoint_id: str, *, since: DateInput) -> Recovery:
        """Send again every failed message since ``since`` (at most 14 days back)."""
        return self._c._request(c.endpoints_recover(endpoint_id, since))


class AuditLog(_Resource):
    def list(
        self,
        *,
        action: str | None = None,
        subject_id: str | None = None,
        facility_id: str | None = None,
        start_date: DateInput | None = None,
        end_date: DateInput | None = None,
        after_seq: int | None = None,
        order: str | None = None,
        limit: int | None = None,
    ) -> Pager[AuditEntry]:
        """Entries in chain order (``order="desc"``: newest first)."""
        spec = c.audit_list(
            action, subject_id, facility_id, start_date, end_date, after_seq, order, limit
        )
        return self._pager(spec, AuditEntry.from_dict)

    def get(self, entry_id: str) -> AuditEntry:
        return self._c._request(c.audit_get(entry_id))

    def verify(self) -> AuditVerification:
        """Recompute the tenant's hash chain on the server; ``valid`` and the ``head``."""
        return self._c._request(c.audit_verify())
