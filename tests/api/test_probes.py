"""What outside probes of the API found, pinned down: far-future dates, parameters that were
silently ignored, rate-limit headers missing on some answers, lists that accepted another
tenant's facility, and every list route checked with two tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from tests.asgi import AppClient
from tests.factories import (
    Tenant,
    assert_error,
    ingest_rows,
    make_tenant,
    minute_rows,
    new_facility,
    store_points,
    tenant_world,
)
from worker.storage.db import session_scope
from worker.storage.jobs import create_job
from worker.storage.models import Job, Report

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


# --- far dates --------------------------------------------------------------------------------

DATED = [
    "/v1/data-points",
    "/v1/gaps",
    "/v1/quality",
    "/v1/alerts",
    "/v1/audit-log",
    "/v1/webhook-endpoints/{endpoint_id}/attempts",
]


def _dated_query(path: str, ids: dict[str, str], **bounds: str) -> tuple[str, dict[str, str]]:
    points = path == "/v1/data-points"
    query = {"facility_id": ids["facility_id"], "start_date": "2025-01-01"} if points else {}
    return path.format(**ids), {**query, **bounds}


@pytest.mark.parametrize("path", DATED)
@pytest.mark.parametrize(
    "bounds",
    [
        {"end_date": "9999-12-31"},  # a common "no end"
        {"start_date": "0001-01-01", "end_date": "9999-12-31"},
        {"start_date": "0001-01-01T00:00:00+14:00", "end_date": "9999-12-31T23:59:59-14:00"},
        {"start_date": "9999-12-31", "end_date": "9999-12-31T23:59:59.999999Z"},
    ],
    ids=["no-end", "whole-calendar", "offsets-past-the-calendar", "last-day"],
)
def test_far_dates_are_answered(
    client: AppClient, alice: Tenant, env: dict[str, str], path: str, bounds: dict[str, str]
) -> None:
    ids = tenant_world(client, alice)
    url, query = _dated_query(path, ids, **bounds)
    response = client.get(url, headers=alice.headers, params=query)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["data"], list)


@pytest.mark.parametrize("path", DATED)
@pytest.mark.parametrize("bad", ["0000-01-01", "10000-01-01", "9999-12-32", "2025-01-01T00:00"])
def test_dates_beyond_the_calendar_are_400(
    client: AppClient, alice: Tenant, env: dict[str, str], path: str, bad: str
) -> None:
    ids = tenant_world(client, alice)
    url, query = _dated_query(path, ids, end_date=bad)
    assert_error(
        client.get(url, headers=alice.headers, params=query), 400, "invalid_parameter", "end_date"
    )


def test_openapi_shows_far_dates_as_examples(client: AppClient) -> None:
    """The examples are what make schemathesis (and any client generator) try the far ends."""
    spec = client.get("/openapi.json").json()
    dated = 0
    for path, operations in spec["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["name"] in ("start_date", "end_date", "from", "to"):
                examples = parameter["schema"].get("examples") or []
                assert "9999-12-31" in examples and "0001-01-01" in examples, (path, parameter)
                dated += 1
    assert dated >= 14


# --- every parameter honoured or refused --------------------------------------------------------


def test_array_spellings_and_per_page_are_honoured(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    store_points(env["db"], alice.id, fac)
    base = {"facility_id": fac, "start_date": "2025-01-01", "end_date": "2025-01-01"}

    def points(query: str) -> dict:
        response = client.get(f"/v1/data-points?{urlencode(base)}&{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        return response.json()

    for spelling in ("tags[]=flow", "tags%5B%5D=flow", "tags[0]=flow", "tags=flow"):
        body = points(spelling)
        assert body["pagination"]["total"] == 24, spelling
        assert {p["tag"] for p in body["data"]} == {"flow"}, spelling
    both = points("tags[]=flow&tags[]=ch4")
    assert both["pagination"]["total"] == 48
    paged = points("per_page=10&page=2")
    assert paged["pagination"] == {"total": 48, "page": 2, "per_page": 10}
    assert len(paged["data"]) == 10
    facilities = client.get("/v1/facilities?per_page=1", headers=alice.headers).json()
    assert facilities["pagination"]["per_page"] == 1


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("tag=flow", "tag", "unknown_parameter"),  # this route's name is tags
        ("facility=x", "facility", "unknown_parameter"),
        ("limit=5&per_page=10", "limit", "invalid_parameter"),
        ("page=1&page=2", "page", "invalid_parameter"),
        ("page[]=1&page[]=2", "page[]", "invalid_parameter"),
    ],
)
def test_unknown_or_repeated_parameters_are_400(
    client: AppClient, alice: Tenant, query: str, field: str, code: str
) -> None:
    fac = new_facility(client, alice)
    base = {"facility_id": fac, "start_date": "2025-01-01", "end_date": "2025-01-01"}
    response = client.get(f"/v1/data-points?{urlencode(base)}&{query}", headers=alice.headers)
    error = assert_error(response, 400, code, field)
    if code == "unknown_parameter":
        assert "tags" in error["message"]  # says what the route takes


def test_errors_name_the_parameter_as_sent(client: AppClient, alice: Tenant) -> None:
    for query in ("per_page=0", "per_page=5000", "per_page=ten"):
        response = client.get(f"/v1/facilities?{query}", headers=alice.headers)
        assert_error(response, 400, "invalid_parameter", "per_page")


def _multipart(filename: bytes, content: bytes) -> tuple[bytes, dict[str, str]]:
    """A form whose file name holds raw bytes (client libraries would escape them)."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + b"\r\n--XyZ--\r\n"
    )
    return body, {"Content-Type": "multipart/form-data; boundary=XyZ"}


def test_a_control_character_in_a_file_name_loses_no_file(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    csv = f"facility_id,tag,timestamp,value\n{fac},flow,2025-01-01T00:00:00Z,1\n".encode()
    body, headers = _multipart(b"a\x00b\x1b.csv", csv)
    response = client.post(
        "/v1/data-points/import", headers={**alice.headers, **headers}, content=body
    )
    assert response.status_code == 202, response.text
    body, headers = _multipart(b"in\x00voice.pdf", b"%PDF-1.4 x")
    document = client.post("/v1/documents", headers={**alice.headers, **headers}, content=body)
    assert document.status_code == 202, document.text
    view = client.get(f"/v1/documents/{document.json()['document_id']}", headers=alice.headers)
    assert view.json()["filename"] == "invoice.pdf"


@pytest.mark.parametrize("bad", ["a\x00b", "flow\r\nX-Evil: 1", "\x1b[31mred", "tab\there"])
def test_control_characters_in_names_are_400(client: AppClient, alice: Tenant, bad: str) -> None:
    error = assert_error(
        client.post("/v1/facilities", headers=alice.headers, json={"name": bad}),
        400,
        "invalid_parameter",
        "name",
    )
    assert "control characters" in error["message"]
    fac = new_facility(client, alice)
    for body, field in (({"name": bad}, "name"), ({"name": "ok", "unit": bad}, "unit")):
        response = client.post(f"/v1/facilities/{fac}/tags", headers=alice.headers, json=body)
        assert_error(response, 400, "invalid_parameter", field)
    assert client.get(f"/v1/facilities/{fac}/tags", headers=alice.headers).json()["data"] == []


def test_every_route_refuses_an_unknown_parameter(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    ids = tenant_world(client, alice)
    checked = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method in operations:
            url = path.format(**ids)
            response = client.request(method, url, headers=alice.headers, params={"colour": "x"})
            assert_error(response, 400, "unknown_parameter", "colour")
            checked += 1
    assert checked >= 40
    # per_page where a route has no pages is as unknown as any other name.
    assert_error(
        client.get("/v1/stats?per_page=5", headers=alice.headers),
        400,
        "unknown_parameter",
        "per_page",
    )


def test_routes_outside_the_api_keep_working(client: AppClient) -> None:
    for path in ("/healthz", "/openapi.json", "/docs", "/redoc", "/metrics"):
        assert client.get(path, params={"v": "1"}).status_code == 200, path


def test_unknown_parameter_is_checked_after_the_key(client: AppClient) -> None:
    assert_error(client.get("/v1/facilities?colour=x"), 401, "unauthorized")


def test_jobs_filter_by_from_and_to(client: AppClient, alice: Tenant, env: dict[str, str]) -> None:
    made = {}
    with session_scope(env["db"]) as s:
        for day in (1, 10, 20):
            made[day] = create_job(s, tenant_id=alice.id, kind="ingest.process_upload").id
            s.flush()
            s.execute(
                update(Job)
                .where(Job.id == made[day])
                .values(created_at=datetime(2025, 3, day, 12, tzinfo=UTC))
            )

    def listed(**query: str) -> list[str]:
        response = client.get("/v1/jobs", headers=alice.headers, params=query)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["data"]]

    assert listed() == [made[20], made[10], made[1]]
    assert listed(**{"from": "2025-03-05"}) == [made[20], made[10]]
    assert listed(to="2025-03-10") == [made[10], made[1]]  # a date ends at the end of its day
    assert listed(**{"from": "2025-03-05T00:00:00Z", "to": "2025-03-15T00:00:00+00:00"}) == [
        made[10]
    ]
    assert listed(to="9999-12-31") == [made[20], made[10], made[1]]
    assert_error(
        client.get("/v1/jobs", headers=alice.headers, params={"from": "soon"}),
        400,
        "invalid_parameter",
        "from",
    )


# --- rate-limit headers on every answer to a keyed request ---------------------------------------


def _after(previous, response) -> int:
    """What should remain once ``response`` is counted: one less than after ``previous``, or,
    when the minute turned between the two (the limits are fixed windows), a fresh minute's
    limit less this one request. The first response is taken as it comes."""
    if previous is None:
        return int(response.headers.get("x-ratelimit-remaining", -1))
    if response.headers.get("x-ratelimit-reset") == previous.headers["x-ratelimit-reset"]:
        return int(previous.headers["x-ratelimit-remaining"]) - 1
    return int(response.headers["x-ratelimit-limit"]) - 1


def _assert_counted(response, remaining: int) -> None:
    for name in RATE_HEADERS:
        assert name in response.headers, (response.status_code, dict(response.headers))
    assert int(response.headers["x-ratelimit-remaining"]) == remaining


def test_rate_limit_headers_on_errors_and_downloads(
    client: AppClient, alice: Tenant, env: dict[str, str], configure
) -> None:
    ids = tenant_world(client, alice)
    configure(TICKWORK_RATE_LIMIT_PER_MINUTE="100")
    reader = make_tenant(env["db"], "Reader", scope="read")
    with session_scope(env["db"]) as s:
        s.execute(
            update(Report)
            .where(Report.id == ids["report_id"])
            .values(
                status="generated",
                content=b"%PDF-1.4 report",
                content_type="application/pdf",
                file_sha256="0" * 64,
                input_sha256="1" * 64,
            )
        )
    answers = [
        (client.get("/v1/facilities/fac_nobody", headers=alice.headers), 404),
        (client.get("/v1/facilities", headers=alice.headers, params={"limit": 0}), 400),
        (client.get("/v1/facilities", headers=alice.headers, params={"colour": 1}), 400),
        (client.get(f"/v1/reports/{ids['report_id']}/file", headers=alice.headers), 200),
        (client.get("/v1/nothing-here", headers=alice.headers), 404),
        (client.delete("/v1/jobs", headers=alice.headers), 405),
        (
            client.post(
                "/v1/facilities",
                content=b"{nope",
                headers={**alice.headers, "Content-Type": "application/json"},
            ),
            400,
        ),
    ]
    previous = None
    for response, status in answers:
        assert response.status_code == status, response.text
        _assert_counted(response, _after(previous, response))  # each one counted, in order
        previous = response
    assert answers[3][0].content == b"%PDF-1.4 report"
    refused = client.post("/v1/facilities", headers=reader.headers, json={"name": "x"})
    assert_error(refused, 403, "insufficient_scope")
    _assert_counted(refused, 99)  # the reader's own count
    # No valid key: nothing counted, no headers.
    for response in (
        client.get("/v1/facilities"),
        client.get("/v1/nothing-here", headers={"Authorization": "Bearer tw_x_y"}),
    ):
        assert response.status_code in (401, 404)
        assert "x-ratelimit-limit" not in response.headers


# --- another tenant's facility is 404 on every list ----------------------------------------------


@pytest.mark.parametrize("path", ["/v1/reports", "/v1/documents", "/v1/audit-log", "/v1/gaps"])
def test_another_tenants_facility_is_404_on_lists(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str], path: str
) -> None:
    ids = tenant_world(client, alice)
    theirs = client.get(path, headers=bob.headers, params={"facility_id": ids["facility_id"]})
    assert_error(theirs, 404, "not_found")
    assert ids["facility_id"] in theirs.json()["error"]["message"]
    assert_error(
        client.get(path, headers=bob.headers, params={"facility_id": ""}), 404, "not_found"
    )
    mine = client.get(path, headers=alice.headers, params={"facility_id": ids["facility_id"]})
    assert mine.status_code == 200, mine.text


def test_audit_entry_by_id_and_newest_first(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    tenant_world(client, alice)
    oldest_first = client.get("/v1/audit-log", headers=alice.headers).json()["data"]
    newest_first = client.get(
        "/v1/audit-log", headers=alice.headers, params={"order": "desc"}
    ).json()["data"]
    assert len(oldest_first) >= 2
    assert newest_first == oldest_first[::-1]
    entry = oldest_first[-1]
    assert client.get(f"/v1/audit-log/{entry['id']}", headers=alice.headers).json() == entry
    assert_error(client.get(f"/v1/audit-log/{entry['id']}", headers=bob.headers), 404, "not_found")
    assert_error(client.get("/v1/audit-log/aud_nothing", headers=alice.headers), 404, "not_found")
    assert client.get("/v1/audit-log/verify", headers=alice.headers).json()["valid"] is True
    assert_error(
        client.get("/v1/audit-log", headers=alice.headers, params={"order": "up"}),
        400,
        "invalid_parameter",
        "order",
    )


# --- every list route with two tenants ----------------------------------------------------------

# Each list route, with the query filters that name Alice's objects (ids filled in from her
# world). Bob's answer must be 404 or a list without any of her objects.
LIST_ROUTES: dict[str, list[dict[str, str]]] = {
    "/v1/facilities": [{}],
    "/v1/jobs": [{}, {"status": "queued"}],
    "/v1/data-points": [
        {
            "facility_id": "{facility_id}",
            "start_date": "2025-01-01",
            "end_date": "2025-01-02",
            "tags": "flow",
        }
    ],
    "/v1/gaps": [{}, {"facility_id": "{facility_id}"}, {"tag": "flow_rate"}],
    "/v1/quality": [{}, {"facility_id": "{facility_id}"}, {"tag": "flow_rate"}],
    "/v1/alerts": [{}, {"facility_id": "{facility_id}"}, {"tag": "flow_rate"}],
    "/v1/events": [{}, {"type": "data_gap.detected"}],
    "/v1/reports": [{}, {"facility_id": "{facility_id}"}],
    "/v1/documents": [{}, {"facility_id": "{facility_id}"}, {"status": "queued"}],
    "/v1/webhook-endpoints": [{}],
    "/v1/audit-log": [
        {},
        {"facility_id": "{facility_id}"},
        {"subject_id": "{endpoint_id}"},
        {"subject_id": "{facility_id}"},
        {"action": "fuel_mappings.replaced"},
    ],
}


@pytest.fixture
def both_worlds(client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]) -> dict:
    ids = tenant_world(client, alice)
    store_points(env["db"], alice.id, ids["facility_id"])  # tags flow and ch4, 2025-01-01..02
    t0 = datetime(2025, 1, 15, tzinfo=UTC)
    rows = [*minute_rows(t0, 600), *minute_rows(t0 + timedelta(hours=12), 720)]
    ingest_rows(env["db"], alice.id, ids["facility_id"], rows, now=datetime(2025, 2, 1, tzinfo=UTC))
    tenant_world(client, bob)  # Bob has objects of his own: filters must not leak either way
    return ids


def _fill(query: dict[str, str], ids: dict[str, str]) -> dict[str, str]:
    return {k: v.format(**ids) for k, v in query.items()}


def _alice_marks(client: AppClient, alice: Tenant, ids: dict[str, str]) -> set[str]:
    """Every id Alice's lists show: none may appear in Bob's answers."""
    marks = set(ids.values()) - {"flow"}
    for path, queries in LIST_ROUTES.items():
        for query in queries:
            body = client.get(path, headers=alice.headers, params=_fill(query, ids)).json()
            marks |= {str(item["id"]) for item in body["data"] if "id" in item}
    return marks


def test_the_list_table_covers_every_list_route(client: AppClient, alice: Tenant) -> None:
    lists = set()
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if path.startswith("/v1/") and "{" not in path and "get" in operations:
            names = {p["name"] for p in operations["get"].get("parameters", [])}
            if "page" in names:  # a paginated list
                lists.add(path)
    assert lists == set(LIST_ROUTES)


@pytest.mark.parametrize("path", sorted(LIST_ROUTES))
def test_lists_never_show_another_tenants_objects(
    client: AppClient, alice: Tenant, bob: Tenant, both_worlds: dict[str, str], path: str
) -> None:
    ids = both_worlds
    marks = _alice_marks(client, alice, ids)
    for number, query in enumerate(LIST_ROUTES[path]):
        filled = _fill(query, ids)
        hers = client.get(path, headers=alice.headers, params=filled)
        assert hers.status_code == 200, hers.text
        if number == 0:  # else a dropped tenant filter would go unseen
            assert hers.json()["data"], f"Alice's world has nothing for {path}"
        response = client.get(path, headers=bob.headers, params=filled)
        if response.status_code == 404:
            assert_error(response, 404, "not_found")
            continue
        assert response.status_code == 200, response.text
        leaked = sorted(m for m in marks if m in response.text)
        assert not leaked, f"{path} {filled}: Bob sees {leaked}"
    stats = client.get("/v1/stats", headers=bob.headers).json()
    assert ids["facility_id"] not in str(stats)
