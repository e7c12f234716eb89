"""Each API operation as a :class:`Call` (or, for lists, a path and query): built here once and
sent by the synchronous and the asynchronous resources alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from tickwork_client._base import (
    Call,
    DateInput,
    FileInput,
    Params,
    body,
    file_part,
    json_of,
    nothing,
    path,
    query,
)
from tickwork_client.models import (
    Accepted,
    Alert,
    AuditEntry,
    AuditVerification,
    DataPoint,
    Document,
    DocumentAccepted,
    Facility,
    FuelMapping,
    Job,
    Model,
    Recovery,
    Report,
    RotatedSecret,
    Tag,
    WebhookEndpoint,
    WebhookMessage,
    format_datetime,
)

ListSpec = tuple[str, Params]


def _model(cls: type[Any]) -> Any:
    return lambda response: cls.from_dict(response.json())


def _data_list(cls: type[Any]) -> Any:
    return lambda response: [cls.from_dict(item) for item in response.json()["data"]]


def _point(point: Mapping[str, Any] | DataPoint) -> dict[str, Any]:
    raw = point.to_dict() if isinstance(point, Model) else dict(point)
    if "timestamp" in raw:
        raw["timestamp"] = format_datetime(raw["timestamp"])
    raw.pop("id", None)
    return raw


def _mapping(m: Mapping[str, Any] | FuelMapping) -> dict[str, Any]:
    raw = m.to_dict() if isinstance(m, Model) else dict(m)
    return {k: v for k, v in raw.items() if v is not None}


# --- data points ---------------------------------------------------------------------------


def data_points_list(
    facility_id: str,
    start_date: DateInput,
    end_date: DateInput,
    tags: Sequence[str] | None,
    limit: int | None,
) -> ListSpec:
    tag_list = list(tags) if tags is not None else None
    params = query(
        facility_id=facility_id,
        start_date=start_date,
        end_date=end_date,
        tags=tag_list,
        limit=limit,
    )
    return "/v1/data-points", params


def data_points_create(
    points: Iterable[Mapping[str, Any] | DataPoint], facility_id: str | None
) -> Call[Accepted]:
    payload = body(data=[_point(p) for p in points], facility_id=facility_id)
    return Call("POST", "/v1/data-points", _model(Accepted), json=payload)


def data_points_import_csv(
    file: FileInput, facility_id: str | None, filename: str | None
) -> Call[Accepted]:
    part = file_part(file, filename, "text/csv")
    data = {"facility_id": facility_id} if facility_id is not None else None
    return Call(
        "POST",
        "/v1/data-points/import",
        _model(Accepted),
        files=lambda: {"file": part()},
        data=data,
    )


# --- jobs ------------------------------------------------------------------------------------


def jobs_get(job_id: str) -> Call[Job]:
    return Call("GET", path("/v1/jobs/{}", job_id), _model(Job))


def jobs_list(
    status: str | None,
    kind: str | None,
    created_from: DateInput | None,
    created_to: DateInput | None,
    limit: int | None,
) -> ListSpec:
    params = query(status=status, kind=kind, limit=limit)
    params.update(query(**{"from": created_from, "to": created_to}))
    return "/v1/jobs", params


def jobs_rejected_rows(job_id: str, limit: int | None) -> ListSpec:
    return path("/v1/jobs/{}/rejected-rows", job_id), query(limit=limit)


# --- facilities, tags, fuel mappings -----------------------------------------------------------


def facilities_create(fields: dict[str, Any]) -> Call[Facility]:
    return Call("POST", "/v1/facilities", _model(Facility), json=body(**fields))


def facilities_get(facility_id: str) -> Call[Facility]:
    return Call("GET", path("/v1/facilities/{}", facility_id), _model(Facility))


def facilities_update(facility_id: str, fields: dict[str, Any]) -> Call[Facility]:
    url = path("/v1/facilities/{}", facility_id)
    return Call("PATCH", url, _model(Facility), json=body(**fields))


def facilities_delete(facility_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/facilities/{}", facility_id), nothing)


def facilities_list(limit: int | None) -> ListSpec:
    return "/v1/facilities", query(limit=limit)


def fuel_mappings_get(facility_id: str) -> Call[list[FuelMapping]]:
    url = path("/v1/facilities/{}/fuel-mappings", facility_id)
    return Call("GET", url, _data_list(FuelMapping))


def fuel_mappings_set(
    facility_id: str, mappings: Iterable[Mapping[str, Any] | FuelMapping]
) -> Call[list[FuelMapping]]:
    url = path("/v1/facilities/{}/fuel-mappings", facility_id)
    payload = {"data": [_mapping(m) for m in mappings]}
    return Call("PUT", url, _data_list(FuelMapping), json=payload)


def tags_create(facility_id: str, fields: dict[str, Any]) -> Call[Tag]:
    url = path("/v1/facilities/{}/tags", facility_id)
    return Call("POST", url, _model(Tag), json=body(**fields))


def tags_get(facility_id: str, name: str) -> Call[Tag]:
    return Call("GET", path("/v1/facilities/{}/tags/{}", facility_id, name), _model(Tag))


def tags_update(facility_id: str, name: str, fields: dict[str, Any]) -> Call[Tag]:
    url = path("/v1/facilities/{}/tags/{}", facility_id, name)
    return Call("PATCH", url, _model(Tag), json=body(**fields))


def tags_delete(facility_id: str, name: str) -> Call[None]:
    return Call("DELETE", path("/v1/facilities/{}/tags/{}", facility_id, name), nothing)


def tags_list(facility_id: str) -> ListSpec:
    return path("/v1/facilities/{}/tags", facility_id), {}


# --- analyses --------------------------------------------------------------------------------


def gaps_list(
    facility_id: str | None,
    tag: str | None,
    status: str | None,
    start_date: DateInput | None,
    end_date: DateInput | None,
    limit: int | None,
) -> ListSpec:
    params = query(
        facility_id=facility_id,
        tag=tag,
        status=status,
        start_date=start_date,
        end_date=end_date,
        limit=limit,
    )
    return "/v1/gaps", params


def quality_list(
    facility_id: str | None,
    tag: str | None,
    start_date: DateInput | None,
    end_date: DateInput | None,
    limit: int | None,
) -> ListSpec:
    params = query(
        facility_id=facility_id, tag=tag, start_date=start_date, end_date=end_date, limit=limit
    )
    return "/v1/quality", params


def alerts_list(
    facility_id: str | None,
    tag: str | None,
    rule: str | None,
    start_date: DateInput | None,
    end_date: DateInput | None,
    limit: int | None,
) -> ListSpec:
    params = query(
        facility_id=facility_id,
        tag=tag,
        rule=rule,
        start_date=start_date,
        end_date=end_date,
        limit=limit,
    )
    return "/v1/alerts", params


def alerts_acknowledge(alert_id: str) -> Call[Alert]:
    return Call("POST", path("/v1/alerts/{}/acknowledge", alert_id), _model(Alert))


def events_list(type: str | None, limit: int | None) -> ListSpec:
    return "/v1/events", query(type=type, limit=limit)


# --- reports ---------------------------------------------------------------------------------


def reports_create(fields: dict[str, Any]) -> Call[Report]:
    return Call("POST", "/v1/reports", _model(Report), json=body(**fields))


def reports_get(report_id: str) -> Call[Report]:
    return Call("GET", path("/v1/reports/{}", report_id), _model(Report))


def reports_list(facility_id: str | None, limit: int | None) -> ListSpec:
    return "/v1/reports", query(facility_id=facility_id, limit=limit)


def reports_download(report_id: str) -> Call[bytes]:
    url = path("/v1/reports/{}/file", report_id)
    return Call("GET", url, lambda r: r.content, headers={"Accept": "*/*"})


# --- documents -------------------------------------------------------------------------------


def documents_upload(
    file: FileInput, document_type: str | None, facility_id: str | None, filename: str | None
) -> Call[DocumentAccepted]:
    part = file_part(file, filename, "application/pdf")
    data = {
        k: v
        for k, v in {"document_type": document_type, "facility_id": facility_id}.items()
        if v is not None
    }
    return Call(
        "POST",
        "/v1/documents",
        _model(DocumentAccepted),
        files=lambda: {"file": part()},
        data=data or None,
    )


def documents_get(document_id: str) -> Call[Document]:
    return Call("GET", path("/v1/documents/{}", document_id), _model(Document))


def documents_list(facility_id: str | None, status: str | None, limit: int | None) -> ListSpec:
    return "/v1/documents", query(facility_id=facility_id, status=status, limit=limit)


def documents_review(
    document_id: str, fields: Mapping[str, Any] | None, resolution_note: str | None
) -> Call[Document]:
    if (fields is None) == (resolution_note is None):
        raise ValueError("review takes reviewed field values or a resolution note (one call each)")
    if fields is not None:
        url = path("/v1/documents/{}/review", document_id)
        return Call("POST", url, _model(Document), json={"fields": dict(fields)})
    url = path("/v1/documents/{}", document_id)
    return Call("PATCH", url, _model(Document), json={"resolution_note": resolution_note})


# --- webhook endpoints -----------------------------------------------------------------------


def endpoints_create(fields: dict[str, Any]) -> Call[WebhookEndpoint]:
    return Call("POST", "/v1/webhook-endpoints", _model(WebhookEndpoint), json=body(**fields))


def endpoints_get(endpoint_id: str) -> Call[WebhookEndpoint]:
    url = path("/v1/webhook-endpoints/{}", endpoint_id)
    return Call("GET", url, _model(WebhookEndpoint))


def endpoints_update(endpoint_id: str, fields: dict[str, Any]) -> Call[WebhookEndpoint]:
    url = path("/v1/webhook-endpoints/{}", endpoint_id)
    return Call("PATCH", url, _model(WebhookEndpoint), json=body(**fields))


def endpoints_delete(endpoint_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/webhook-endpoints/{}", endpoint_id), nothing)


def endpoints_list(limit: int | None) -> ListSpec:
    return "/v1/webhook-endpoints", query(limit=limit)


def endpoints_rotate_secret(endpoint_id: str, grace_hours: float | None) -> Call[RotatedSecret]:
    url = path("/v1/webhook-endpoints/{}/rotate-secret", endpoint_id)
    return Call("POST", url, _model(RotatedSecret), json=body(grace_hours=grace_hours))


def endpoints_test(endpoint_id: str) -> Call[WebhookMessage]:
    url = path("/v1/webhook-endpoints/{}/test", endpoint_id)
    return Call("POST", url, _model(WebhookMessage))


def endpoints_attempts(
    endpoint_id: str,
    status: str | None,
    event_type: str | None,
    start_date: DateInput | None,
    end_date: DateInput | None,
    limit: int | None,
) -> ListSpec:
    params = query(
        status=status,
        event_type=event_type,
        start_date=start_date,
        end_date=end_date,
        limit=limit,
    )
    return path("/v1/webhook-endpoints/{}/attempts", endpoint_id), params


def messages_resend(message_id: str) -> Call[WebhookMessage]:
    url = path("/v1/webhook-messages/{}/resend", message_id)
    return Call("POST", url, _model(WebhookMessage))


def endpoints_recover(endpoint_id: str, since: DateInput) -> Call[Recovery]:
    url = path("/v1/webhook-endpoints/{}/recover", endpoint_id)
    return Call("POST", url, _model(Recovery), params=query(since=since))


# --- audit log -------------------------------------------------------------------------------


def audit_list(
    action: str | None,
    subject_id: str | None,
    facility_id: str | None,
    start_date: DateInput | None,
    end_date: DateInput | None,
    after_seq: int | None,
    order: str | None,
    limit: int | None,
) -> ListSpec:
    params = query(
        action=action,
        subject_id=subject_id,
        facility_id=facility_id,
        start_date=start_date,
        end_date=end_date,
        after_seq=after_seq,
        order=order,
        limit=limit,
    )
    return "/v1/audit-log", params


def audit_get(entry_id: str) -> Call[AuditEntry]:
    return Call("GET", path("/v1/audit-log/{}", entry_id), _model(AuditEntry))


def audit_verify() -> Call[AuditVerification]:
    return Call("GET", "/v1/audit-log/verify", _model(AuditVerification))


def raw(method: str, url: str, params: Params | None, json: Any) -> Call[Any]:
    def parse(response: httpx.Response) -> Any:
        return json_of(response) if response.content else None

    return Call(method.upper(), url, parse, params=params, json=json)
