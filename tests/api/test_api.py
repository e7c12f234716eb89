"""The HTTP API against real PostgreSQL and Redis: auth, errors, limits, isolation, reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.asgi import AppClient
from tests.factories import (
    CSV,
    MAPPING,
    Tenant,
    assert_error,
    ingest_rows,
    make_tenant,
    minute_rows,
    new_facility,
    queued_messages,
    store_points,
    tenant_world,
)
from worker.storage.db import session_scope
from worker.storage.models import Job, Upload
from worker.storage.tenants import revoke_api_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


# --- authentication -----------------------------------------------------------------------


def test_no_key_is_401(client: AppClient) -> None:
    error = assert_error(client.get("/v1/facilities"), 401, "unauthorized")
    assert error["type"] == "authentication_error"


@pytest.mark.parametrize(
    "header",
    ["Token abc", "Bearer", "Bearer tw_000000000000_nope", "Bearer not-a-key", "Basic dXNlcjpw"],
)
def test_bad_keys_are_401(client: AppClient, alice: Tenant, header: str) -> None:
    response = client.get("/v1/facilities", headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_tampered_key_is_401(client: AppClient, alice: Tenant) -> None:
    tampered = alice.key[:-1] + ("A" if alice.key[-1] != "A" else "B")
    response = client.get("/v1/facilities", headers={"Authorization": f"Bearer {tampered}"})
    assert_error(response, 401, "unauthorized")


def test_revoked_key_is_401(client: AppClient, alice: Tenant, env: dict[str, str]) -> None:
    assert client.get("/v1/facilities", headers=alice.headers).status_code == 200
    with session_scope(env["db"]) as s:
        from worker.storage.models import ApiKey

        key = s.scalar(select(ApiKey).where(ApiKey.tenant_id == alice.id))
        assert revoke_api_key(s, key_id=key.id)
    assert_error(client.get("/v1/facilities", headers=alice.headers), 401, "unauthorized")


def test_key_is_stored_only_as_hash(alice: Tenant, env: dict[str, str]) -> None:
    import hashlib

    from worker.storage.models import ApiKey

    with session_scope(env["db"]) as s:
        key = s.scalar(select(ApiKey).where(ApiKey.tenant_id == alice.id))
        stored = {c: getattr(key, c) for c in ("prefix", "key_hash", "name", "scope")}
    assert alice.key not in str(stored)
    assert stored["key_hash"] == hashlib.sha256(alice.key.encode()).hexdigest()


def test_read_only_key_cannot_write(client: AppClient, env: dict[str, str]) -> None:
    reader = make_tenant(env["db"], "Reader", scope="read")
    assert client.get("/v1/facilities", headers=reader.headers).status_code == 200
    response = client.post("/v1/facilities", headers=reader.headers, json={"name": "x"})
    assert_error(response, 403, "insufficient_scope")


# --- error format and parameters -------------------------------------------------------------


def test_data_points_requires_facility_id(client: AppClient, alice: Tenant) -> None:
    response = client.get(
        "/v1/data-points",
        headers=alice.headers,
        params={"start_date": "2025-01-01", "end_date": "2025-01-31"},
    )
    error = assert_error(response, 400, "missing_parameter", "facility_id")
    assert error == {
        "type": "invalid_request",
        "code": "missing_parameter",
        "message": "facility_id is required",
        "field": "facility_id",
    }


@pytest.mark.parametrize("limit", [1001, 0, -5])
def test_limit_out_of_range_is_400(client: AppClient, alice: Tenant, limit: int) -> None:
    fac = new_facility(client, alice)
    response = client.get(
        "/v1/data-points",
        headers=alice.headers,
        params={
            "facility_id": fac,
            "start_date": "2025-01-01",
            "end_date": "2025-01-31",
            "limit": limit,
        },
    )
    assert_error(response, 400, "invalid_parameter", "limit")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "2025-01-01T00:00:00"}, "start_date"),  # no offset
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2024-12-01"}, "end_date"),  # before start
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_query_parameters_are_400(client: AppClient, alice: Tenant, params, field) -> None:
    fac = new_facility(client, alice)
    query = {"facility_id": fac, "start_date": "2025-01-01", "end_date": "2025-01-31", **params}
    assert_error(
        client.get("/v1/data-points", headers=alice.headers, params=query),
        400,
        "invalid_parameter",
        field,
    )


def test_unknown_route_is_404_in_format(client: AppClient, alice: Tenant) -> None:
    assert_error(client.get("/v1/nothing-here", headers=alice.headers), 404, "not_found")


def test_openapi_is_served(client: AppClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/data-points" in spec["paths"]
    assert "/v1/data-points/import" in spec["paths"]


# --- rate limits ---------------------------------------------------------------------------


def test_rate_limit_headers_and_429(client: AppClient, alice: Tenant, configure) -> None:
    configure(TICKWORK_RATE_LIMIT_PER_MINUTE="3")
    remaining = []
    for _ in range(3):
        response = client.get("/v1/facilities", headers=alice.headers)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "3"
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    response = client.get("/v1/facilities", headers=alice.headers)
    error = assert_error(response, 429, "rate_limited")
    assert error["type"] == "rate_limit_error"
    assert response.headers["x-ratelimit-remaining"] == "0"
    reset = int(response.headers["x-ratelimit-reset"])
    assert 0 < reset - datetime.now(UTC).timestamp() <= 61
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_rate_limit_is_per_key(client: AppClient, alice: Tenant, bob: Tenant, configure) -> None:
    configure(TICKWORK_RATE_LIMIT_PER_MINUTE="2")
    for _ in range(2):
        assert client.get("/v1/facilities", headers=alice.headers).status_code == 200
    assert client.get("/v1/facilities", headers=alice.headers).status_code == 429
    assert client.get("/v1/facilities", headers=bob.headers).status_code == 200


# --- ingest endpoints (no worker here: they must only validate, store and enqueue) -------------


def test_csv_import_is_stored_and_enqueued(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    content = CSV.replace(b"{fac}", fac.encode())
    response = client.post(
        "/v1/data-points/import",
        headers=alice.headers,
        files={"file": ("p.csv", content, "text/csv")},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert queued_messages(env["redis"]) == 1
    with session_scope(env["db"]) as s:
        job = s.get(Job, job_id)
        upload = s.get(Upload, job.upload_id)
        assert (job.status, job.tenant_id, job.kind) == (
            "queued",
            alice.id,
            "ingest.process_upload",
        )
        assert job.enqueued_at is not None
        assert upload.content == content
    view = client.get(f"/v1/jobs/{job_id}", headers=alice.headers).json()
    assert view["status"] == "queued" and view["logs"][0]["message"] == "queued"


def test_same_file_twice_is_one_upload(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    content = CSV.replace(b"{fac}", fac.encode())
    ids = {
        client.post(
            "/v1/data-points/import",
            headers=alice.headers,
            files={"file": ("p.csv", content, "text/csv")},
        ).json()["upload_id"]
        for _ in range(2)
    }
    assert len(ids) == 1


def test_json_batch_is_enqueued(client: AppClient, alice: Tenant, env: dict[str, str]) -> None:
    fac = new_facility(client, alice)
    body = {
        "data": [
            {"facility_id": fac, "tag": "flow", "timestamp": "2025-01-01T00:00:00Z", "value": 3.5}
        ]
    }
    response = client.post("/v1/data-points", headers=alice.headers, json=body)
    assert response.status_code == 202, response.text
    assert queued_messages(env["redis"]) == 1


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "code"),
    [
        ("/v1/data-points/import", {"json": {"data": []}}, 415, "unsupported_media_type"),
        (
            "/v1/data-points",
            {"content": b"a,b\n1,2", "headers": {"Content-Type": "text/csv"}},
            415,
            "unsupported_media_type",
        ),
        (
            "/v1/data-points",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_json",
        ),
        ("/v1/data-points", {"json": {"points": []}}, 400, "invalid_parameter"),
        ("/v1/data-points", {"json": [1, 2]}, 400, "invalid_parameter"),
        ("/v1/data-points", {"json": {"data": []}}, 400, "invalid_parameter"),
        (
            "/v1/data-points/import",
            {"files": {"file": ("e.csv", b"", "text/csv")}},
            400,
            "empty_file",
        ),
        (
            "/v1/data-points/import",
            {"files": {"other": ("e.csv", b"x", "text/csv")}},
            400,
            "missing_parameter",
        ),
        (
            "/v1/data-points/import",
            {"files": {"file": ("x.csv", b"tag,value\nflow,1\n", "text/csv")}},
            400,
            "missing_columns",
        ),
        (
            "/v1/data-points/import",
            {
                "files": {
                    "file": (
                        "x.csv",
                        "facility_id,tag,timestamp,"
                        "value\nf,caf\u00e9,2025-01-01T00:00:00Z,1\n".encode("latin-1"),
                        "text/csv",
                    )
                }
            },
            400,
            "invalid_encoding",
        ),
    ],
)
def test_malformed_ingest_requests(
    client: AppClient, alice: Tenant, env: dict[str, str], path, kwargs, status, code
) -> None:
    headers = {**alice.headers, **kwargs.pop("headers", {})}
    response = client.post(path, headers=headers, **kwargs)
    assert_error(response, status, code)
    assert queued_messages(env["redis"]) == 0


def test_refused_file_is_kept(client: AppClient, alice: Tenant, env: dict[str, str]) -> None:
    content = "facility_id,tag,timestamp,value\nf,caf\u00e9,2025-01-01T00:00:00Z,1\n".encode(
        "latin-1"
    )
    response = client.post(
        "/v1/data-points/import",
        headers=alice.headers,
        files={"file": ("x.csv", content, "text/csv")},
    )
    error = assert_error(response, 400, "invalid_encoding")
    assert "line 2" in error["message"]
    with session_scope(env["db"]) as s:
        assert s.get(Upload, error["upload_id"]).content == content


def test_oversized_uploads_are_413(client: AppClient, alice: Tenant, configure) -> None:
    configure(TICKWORK_MAX_UPLOAD_BYTES="1000", TICKWORK_MAX_BATCH_POINTS="3")
    fac = new_facility(client, alice)
    big = b"facility_id,tag,timestamp,value\n" + b"f,t,2025-01-01T00:00:00Z,1\n" * 100
    response = client.post(
        "/v1/data-points/import",
        headers=alice.headers,
        files={"file": ("big.csv", big, "text/csv")},
    )
    assert_error(response, 413, "payload_too_large")
    point = {"facility_id": fac, "tag": "t", "timestamp": "2025-01-01T00:00:00Z", "value": 1}
    response = client.post("/v1/data-points", headers=alice.headers, json={"data": [point] * 4})
    assert_error(response, 413, "too_many_points", "data")


# --- tenant isolation -------------------------------------------------------------------------


TRANSACTION = {"fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng", "quantity": 10.0,
               "unit": "scf", "ci": 40.0, "transaction_type": "Sold with Obligation",
               "date": "2025-11-01"}  # fmt: skip
BODIES = {
    ("PUT", "/v1/facilities/{facility_id}/fuel-mappings"): {"data": [MAPPING]},
    ("POST", "/v1/facilities/{facility_id}/fuel-transactions"): {"data": [TRANSACTION]},
    ("POST", "/v1/facilities/{facility_id}/tags"): {"name": "x"},
    ("PATCH", "/v1/facilities/{facility_id}"): {"name": "stolen"},
    ("PATCH", "/v1/facilities/{facility_id}/tags/{name}"): {"unit": "kg"},
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"url": "https://evil.example.com/"},
    ("PATCH", "/v1/documents/{document_id}"): {"resolution_note": "stolen"},
    ("POST", "/v1/documents/{document_id}/review"): {"fields": {"quantity": 1.0}},
}
QUERIES = {"/v1/webhook-endpoints/{endpoint_id}/recover": {"since": "2099-01-01T00:00:00Z"}}


def test_every_route_hides_other_tenants(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    ids = tenant_world(client, alice)
    checked = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if not re.search(r"{\w+}", path):
            continue
        for method in operations:
            body = BODIES.get((method.upper(), path))
            response = client.request(
                method, path.format(**ids), headers=bob.headers, json=body, params=QUERIES.get(path)
            )
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
            assert response.json()["error"]["code"] == "not_found"
            assert "Plant" not in response.text and "m3/h" not in response.text
            assert "whsec_" not in response.text and "hooks.example.com" not in response.text
            checked += 1
    assert checked >= 17
    # Query-parameter and body references to Alice's facility are 404 too.
    response = client.get(
        "/v1/data-points",
        headers=bob.headers,
        params={
            "facility_id": ids["facility_id"],
            "start_date": "2025-01-01",
            "end_date": "2025-01-02",
        },
    )
    assert_error(response, 404, "not_found")
    response = client.post(
        "/v1/data-points/import",
        headers=bob.headers,
        data={"facility_id": ids["facility_id"]},
        files={"file": ("p.csv", b"tag,timestamp,value\nt,2025-01-01T00:00:00Z,1\n", "text/csv")},
    )
    assert_error(response, 404, "not_found")
    point = {"tag": "t", "timestamp": "2025-01-01T00:00:00Z", "value": 1}
    response = client.post(
        "/v1/data-points",
        headers=bob.headers,
        json={"facility_id": ids["facility_id"], "data": [point]},
    )
    assert_error(response, 404, "not_found")
    # Lists never show Alice's rows; her data is intact.
    assert client.get("/v1/facilities", headers=bob.headers).json()["data"] == []
    assert client.get("/v1/jobs", headers=bob.headers).json()["data"] == []
    facility = client.get(f"/v1/facilities/{ids['facility_id']}", headers=alice.headers).json()
    assert facility["name"] == "Plant"


# --- reading data points ----------------------------------------------------------------------


def test_data_points_query_and_pagination(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    store_points(env["db"], alice.id, fac)
    base = {"facility_id": fac, "start_date": "2025-01-01", "end_date": "2025-01-01"}
    first = client.get("/v1/data-points", headers=alice.headers, params=base).json()
    assert first["pagination"] == {"total": 48, "page": 1, "per_page": 100}  # a whole day
    point = first["data"][0]
    assert point == {
        "id": point["id"],
        "facility_id": fac,
        "tag": "ch4",
        "timestamp": "2025-01-01T00:00:00Z",
        "value": 0.0,
        "unit": "%",
        "quality": "good",
    }
    only_flow = client.get(
        "/v1/data-points",
        headers=alice.headers,
        params={**base, "tags": "flow", "limit": 10, "page": 3},
    ).json()
    assert only_flow["pagination"] == {"total": 24, "page": 3, "per_page": 10}
    assert [p["value"] for p in only_flow["data"]] == [20.0, 21.0, 22.0, 23.0]
    assert {p["tag"] for p in only_flow["data"]} == {"flow"}
    window = client.get(
        "/v1/data-points",
        headers=alice.headers,
        params={
            **base,
            "start_date": "2025-01-01T10:00:00Z",
            "end_date": "2025-01-01T11:00:00+00:00",
            "tags": ["flow", "ch4"],
        },
    ).json()
    assert window["pagination"]["total"] == 4  # both ends inclusive, two tags
    ids = {p["id"] for p in first["data"]}
    assert len(ids) == 48


# --- facilities and tags ----------------------------------------------------------------------


def test_facility_and_tag_crud(client: AppClient, alice: Tenant) -> None:
    fac = new_facility(client, alice, strict_tags=True)
    h = alice.headers
    assert client.get(f"/v1/facilities/{fac}", headers=h).json()["strict_tags"] is True
    patched = client.patch(f"/v1/facilities/{fac}", headers=h, json={"name": "Renamed"}).json()
    assert patched["name"] == "Renamed" and patched["timezone"] == "America/Los_Angeles"
    tag = {
        "name": "flow",
        "unit": "scfm",
        "expected_interval_seconds": 60,
        "min_value": 0,
        "max_value": 2500,
        "role": "rate",
    }
    assert client.post(f"/v1/facilities/{fac}/tags", headers=h, json=tag).status_code == 201
    assert_error(
        client.post(f"/v1/facilities/{fac}/tags", headers=h, json=tag), 409, "already_exists"
    )
    updated = client.patch(
        f"/v1/facilities/{fac}/tags/flow", headers=h, json={"max_value": 3000}
    ).json()
    assert (updated["max_value"], updated["min_value"], updated["unit"]) == (3000, 0, "scfm")
    assert [
        t["name"] for t in client.get(f"/v1/facilities/{fac}/tags", headers=h).json()["data"]
    ] == ["flow"]
    assert client.delete(f"/v1/facilities/{fac}/tags/flow", headers=h).status_code == 204
    assert_error(client.get(f"/v1/facilities/{fac}/tags/flow", headers=h), 404, "not_found")
    assert client.delete(f"/v1/facilities/{fac}", headers=h).status_code == 204
    assert_error(client.get(f"/v1/facilities/{fac}", headers=h), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": ""}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({}, "name"),
    ],
)
def test_facility_validation(client: AppClient, alice: Tenant, body, field) -> None:
    response = client.post("/v1/facilities", headers=alice.headers, json=body)
    error = assert_error(response, 400, response.json()["error"]["code"], field)
    assert error["code"] in ("invalid_parameter", "missing_parameter")


def test_tag_limits_validated(client: AppClient, alice: Tenant) -> None:
    fac = new_facility(client, alice)
    response = client.post(
        f"/v1/facilities/{fac}/tags",
        headers=alice.headers,
        json={"name": "t", "min_value": 5, "max_value": 1},
    )
    assert_error(response, 400, "invalid_parameter", "min_value")


# --- analysis reads ---------------------------------------------------------------------------


def test_gaps_quality_alerts_events_are_tenant_scoped(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    from datetime import UTC, datetime

    fac = new_facility(client, alice, timezone="UTC")
    t0 = datetime(2025, 1, 15, tzinfo=UTC)
    rows = [*minute_rows(t0, 600), *minute_rows(t0 + timedelta(hours=12), 720)]
    ingest_rows(env["db"], alice.id, fac, rows, now=datetime(2025, 2, 1, tzinfo=UTC))
    h = alice.headers
    gaps = client.get("/v1/gaps", headers=h, params={"facility_id": fac, "status": "closed"})
    assert [(g["tag"], g["gap_start"], g["duration_minutes"]) for g in gaps.json()["data"]] == [
        ("flow_rate", "2025-01-15T09:59:00Z", 121.0)
    ]
    assert (
        client.get("/v1/gaps", headers=h, params={"status": "resolved"}).json()["pagination"][
            "total"
        ]
        == 0
    )
    quality = client.get("/v1/quality", headers=h, params={"facility_id": fac}).json()
    [day] = quality["data"]
    assert (day["day"], day["expected_points"], day["usable_points"]) == ("2025-01-15", 1440, 1320)
    assert 0 < day["score"] < 100
    alerts = client.get("/v1/alerts", headers=h, params={"rule": "low_completeness"}).json()
    assert [a["details"]["day"] for a in alerts["data"]] == ["2025-01-15"]
    [alert] = alerts["data"]
    assert (alert["acknowledged_at"], alert["acknowledged_by"]) == (None, "")
    url = f"/v1/alerts/{alert['id']}/acknowledge"
    assert_error(client.post(url, headers=bob.headers), 404, "not_found")
    seen = client.post(url, headers=h)
    assert seen.status_code == 200 and seen.json()["tag"] == "flow_rate"
    assert seen.json()["acknowledged_by"].startswith("api_key:key_")
    again = client.post(url, headers=h).json()  # changes nothing
    assert again["acknowledged_at"] == seen.json()["acknowledged_at"]
    listed = client.get("/v1/alerts", headers=h, params={"rule": "low_completeness"}).json()
    assert listed["data"][0]["acknowledged_at"] == seen.json()["acknowledged_at"]
    audited = client.get("/v1/audit-log", headers=h, params={"action": "alert.acknowledged"})
    assert [e["subject"]["id"] for e in audited.json()["data"]] == [alert["id"]]
    page = client.get("/v1/events", headers=h, params={"limit": 1, "page": 2}).json()
    assert page["pagination"]["per_page"] == 1 and page["pagination"]["total"] >= 3
    assert len(page["data"]) == 1
    for path in ("/v1/gaps", "/v1/quality", "/v1/alerts"):
        assert_error(
            client.get(path, headers=bob.headers, params={"facility_id": fac}), 404, "not_found"
        )
        assert client.get(path, headers=bob.headers).json()["data"] == []
    assert client.get("/v1/events", headers=bob.headers).json()["data"] == []
    assert_error(
        client.get("/v1/gaps", headers=h, params={"limit": 5000}), 400, "invalid_parameter", "limit"
    )


def test_tag_quality_rules_and_alert_thresholds(client: AppClient, alice: Tenant) -> None:
    fac = new_facility(client, alice)
    body = {
        "name": "ch4",
        "unit": "%",
        "flatline_tolerance": 0.05,
        "flatline_min_s": 7200,
        "spike_threshold": 3,
        "max_rate": 0.1,
        "alert_gap_minutes": 30,
        "alert_completeness": 0.9,
        "alert_flatline_hours": 2,
    }
    created = client.post(f"/v1/facilities/{fac}/tags", headers=alice.headers, json=body).json()
    assert {k: created[k] for k in body} == body
    cleared = client.patch(
        f"/v1/facilities/{fac}/tags/ch4",
        headers=alice.headers,
        json={"spike_threshold": None, "max_rate": 0.2},
    ).json()
    assert (cleared["spike_threshold"], cleared["max_rate"], cleared["flatline_min_s"]) == (
        None,
        0.2,
        7200,
    )
    bad = client.post(
        f"/v1/facilities/{fac}/tags",
        headers=alice.headers,
        json={"name": "x", "alert_completeness": 1.5},
    )
    assert_error(bad, 400, "invalid_parameter", "alert_completeness")


# --- webhook endpoints ------------------------------------------------------------------------


def test_webhook_endpoint_lifecycle(client: AppClient, alice: Tenant, env: dict[str, str]) -> None:
    h = alice.headers
    created = client.post(
        "/v1/webhook-endpoints",
        headers=h,
        json={"url": "https://hooks.example.com/tickwork", "event_types": ["data_gap.detected"]},
    )
    assert created.status_code == 201
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    listed = client.get("/v1/webhook-endpoints", headers=h).json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0] and "whsec_" not in str(listed)  # shown once only
    rotated = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=h, json={"grace_hours": 1}
    ).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    with session_scope(env["db"]) as s:
        from worker.storage.models import WebhookEndpoint

        secrets = s.get(WebhookEndpoint, endpoint["id"]).secrets
        assert [x["secret"] for x in secrets] == [rotated["secret"], endpoint["secret"]]
        assert secrets[0]["expires_at"] is None and secrets[1]["expires_at"] is not None
    patched = client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}",
        headers=h,
        json={"enabled": False, "event_types": []},
    ).json()
    assert (patched["enabled"], patched["event_types"]) == (False, [])
    ping = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=h)
    assert ping.status_code == 202 and ping.json()["message_id"].startswith("msg_")
    resend = client.post(f"/v1/webhook-messages/{ping.json()['message_id']}/resend", headers=h)
    assert resend.json() == {"message_id": ping.json()["message_id"], "status": "pending"}
    recover = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/recover",
        headers=h,
        params={"since": "2000-01-01T00:00:00Z"},
    )
    assert_error(recover, 400, "invalid_parameter", "since")
    attempts = client.get(f"/v1/webhook-endpoints/{endpoint['id']}/attempts", headers=h).json()
    assert attempts == {"data": [], "pagination": {"total": 0, "page": 1, "per_page": 100},
                        "has_more": False, "next": None}  # fmt: skip
    assert client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=h).status_code == 204
    assert_error(client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=h), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/x"}, "url"),  # https only by default
        ({"url": "https://user:pw@hooks.example.com/x"}, "url"),
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "https://hooks.example.com/x", "event_types": ["nope"]}, "event_types"),
    ],
)
def test_webhook_endpoint_validation(client: AppClient, alice: Tenant, body, field) -> None:
    response = client.post("/v1/webhook-endpoints", headers=alice.headers, json=body)
    assert_error(response, 400, "invalid_parameter", field)


def test_retry_after_is_rounded_up_to_the_next_window(env: dict[str, str]) -> None:
    """Waiting exactly Retry-After seconds lands in the next window, never one second short."""
    import redis as redis_lib

    from api import ratelimit

    client = redis_lib.Redis.from_url(env["redis"])
    now = 1_700_000_040.3  # 59.7 s before the minute window resets at ...100
    ratelimit.check(client, "key_ceil", {60: 1}, now=now)
    verdict = ratelimit.check(client, "key_ceil", {60: 1}, now=now)
    assert verdict is not None and not verdict.allowed
    assert verdict.retry_after == 60
    assert now + verdict.retry_after >= verdict.reset
