"""Cursor paging (``starting_after``, ``has_more``, ``next``) on the long listings: the pages
join up to exactly the page-numbered listing; a bad, foreign or garbage cursor is 400 on
``starting_after``, never a 500 and never another tenant's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.asgi import AppClient
from tests.factories import Tenant, assert_error, new_facility, store_points
from worker.storage import audit
from worker.storage.db import session_scope
from worker.storage.events import publish
from worker.storage.jobs import create_job
from worker.storage.models import DeliveryAttempt, WebhookMessage

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def walk(client: AppClient, who: Tenant, path: str, params: dict) -> list[dict]:
    """Every item, following ``next`` links from the first page."""
    body = client.get(path, headers=who.headers, params=params).json()
    items = list(body["data"])
    seen = 1
    while body["has_more"]:
        assert body["next"].startswith(path + "?") and "starting_after=" in body["next"]
        body = client.get(body["next"], headers=who.headers).json()
        assert body["pagination"]["total"] is None and body["pagination"]["page"] is None
        items += body["data"]
        seen += 1
        assert seen < 1000
    assert body["next"] is None
    return items


def numbered(client: AppClient, who: Tenant, path: str, params: dict) -> list[dict]:
    body = client.get(path, headers=who.headers, params={**params, "limit": 1000}).json()
    assert body["has_more"] is False and body["next"] is None
    return body["data"]


def test_data_point_cursor_pages_join_up(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    store_points(env["db"], alice.id, fac)  # 2 tags x 48 hourly points
    params = {"facility_id": fac, "start_date": "2025-01-01", "end_date": "2025-01-02"}
    every = numbered(client, alice, "/v1/data-points", params)
    assert len(every) == 96
    assert [(p["timestamp"], p["tag"]) for p in every] == sorted(
        (p["timestamp"], p["tag"]) for p in every
    )
    for limit in (1, 7, 48, 95):
        assert walk(client, alice, "/v1/data-points", {**params, "limit": limit}) == every
    first = client.get("/v1/data-points", headers=alice.headers, params={**params, "limit": 10})
    body = first.json()
    assert body["has_more"] is True and body["pagination"]["total"] == 96
    # one tag, from a cursor in the middle of the two-tag listing
    flow = walk(client, alice, "/v1/data-points", {**params, "tags": "flow", "limit": 5})
    assert flow == [p for p in every if p["tag"] == "flow"]


def test_bad_and_foreign_data_point_cursors_are_400(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    fac_a, fac_b = new_facility(client, alice), new_facility(client, bob)
    store_points(env["db"], alice.id, fac_a)
    store_points(env["db"], bob.id, fac_b)
    bob_first = client.get(
        "/v1/data-points",
        headers=bob.headers,
        params={"facility_id": fac_b, "start_date": "2025-01-01", "end_date": "2025-01-02"},
    ).json()["data"][0]["id"]
    params = {"facility_id": fac_a, "start_date": "2025-01-01", "end_date": "2025-01-02"}
    for cursor in (
        bob_first,
        "dp_1",
        "garbage",
        "dp_1_99999999999999999999",
        "dp_-1_0",
        "é" * 50,
        "dp_999999999999999999_9999999999999999999",
    ):
        answer = client.get(
            "/v1/data-points", headers=alice.headers, params={**params, "starting_after": cursor}
        )
        assert_error(answer, 400, "invalid_parameter", "starting_after")
    both = client.get(
        "/v1/data-points",
        headers=alice.headers,
        params={**params, "page": 2, "starting_after": "x"},
    )
    assert both.status_code == 400


def _events(db: str, tenant_id: str, n: int) -> None:
    with session_scope(db) as s:
        for i in range(n):
            publish(s, tenant_id=tenant_id, type="alert.triggered", data={"i": i}, key=f"k{i}")


def test_event_job_and_audit_cursors(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    _events(env["db"], alice.id, 23)
    _events(env["db"], bob.id, 3)
    with session_scope(env["db"]) as s:
        for _ in range(17):
            create_job(s, tenant_id=alice.id, kind="ingest.process_upload")
        bob_job = create_job(s, tenant_id=bob.id, kind="ingest.process_upload").id
        for i in range(11):
            audit.record(
                s,
                tenant_id=alice.id,
                action="ingest.completed",
                subject_type="job",
                subject_id=f"job_{i}",
            )
    for path, extra in (
        ("/v1/events", {}),
        ("/v1/jobs", {}),
        ("/v1/audit-log", {}),
        ("/v1/audit-log", {"order": "desc"}),
    ):
        every = numbered(client, alice, path, extra)
        assert len(every) >= 4
        assert walk(client, alice, path, {**extra, "limit": 3}) == every, path
    bob_event = client.get("/v1/events", headers=bob.headers).json()["data"][0]["id"]
    for path, cursor in (
        ("/v1/events", bob_event),
        ("/v1/jobs", bob_job),
        ("/v1/audit-log", "aud_nope"),
        ("/v1/events", ""),
    ):
        answer = client.get(path, headers=alice.headers, params={"starting_after": cursor})
        assert_error(answer, 400, "invalid_parameter", "starting_after")


def test_webhook_attempt_cursors(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    def endpoint(who: Tenant) -> str:
        made = client.post(
            "/v1/webhook-endpoints",
            headers=who.headers,
            json={"url": "https://hooks.example.com/x"},
        )
        assert made.status_code == 201, made.text
        return made.json()["id"]

    mine, theirs = endpoint(alice), endpoint(bob)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    with session_scope(env["db"]) as s:
        for tenant, ep, n in ((alice.id, mine, 12), (bob.id, theirs, 2)):
            s.add(
                WebhookMessage(
                    id=f"msg_{ep}",
                    tenant_id=tenant,
                    endpoint_id=ep,
                    event_type="alert.triggered",
                    body=b"{}",
                )
            )
            s.flush()
            for i in range(n):  # pairs share a timestamp: the id breaks the tie
                s.add(
                    DeliveryAttempt(
                        tenant_id=tenant,
                        endpoint_id=ep,
                        message_id=f"msg_{ep}",
                        event_type="alert.triggered",
                        outcome="failure",
                        attempted_at=at + timedelta(seconds=i // 2),
                    )
                )
    path = f"/v1/webhook-endpoints/{mine}/attempts"
    every = numbered(client, alice, path, {})
    assert len(every) == 12
    assert walk(client, alice, path, {"limit": 5}) == every
    bob_attempt = client.get(
        f"/v1/webhook-endpoints/{theirs}/attempts", headers=bob.headers
    ).json()["data"][0]["id"]
    for cursor in (bob_attempt, "att_x", "att_99999999999999999999", "17"):
        answer = client.get(path, headers=alice.headers, params={"starting_after": cursor})
        assert_error(answer, 400, "invalid_parameter", "starting_after")
