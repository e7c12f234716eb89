"""The dashboard's pages and forms given out-of-range, malformed and unknown input, in process:
a clear 4xx page or a redirect, never a 500 or a traceback. (What the pages show is tested in a
real browser, tests/browser.)"""

from __future__ import annotations

import re

import pytest

from tests.asgi import AppClient
from tests.factories import Tenant, new_facility

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

HUGE = "9" * 25


@pytest.fixture(params=["postgresql", "sqlite"])
def env(request: pytest.FixtureRequest, redis_url: str, configure) -> dict[str, str]:
    """Both databases: an out-of-range number fails differently in each (SQLite refuses an
    integer over 64 bits before the query runs)."""
    db = request.getfixturevalue("pg_db" if request.param == "postgresql" else "sqlite_db")
    configure(TICKWORK_DATABASE_URL=db, TICKWORK_BROKER_URL=redis_url, TICKWORK_REDIS_URL=redis_url)
    return {"db": db, "redis": redis_url}


def _signed_in(client: AppClient, who: Tenant) -> str:
    """Sign ``client`` in with ``who``'s key; the session's form token."""
    form = client.get("/app/sign-in").text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    signed = client.post(
        "/app/sign-in", data={"login_token": token, "api_key": who.key}, follow_redirects=False
    )
    assert signed.status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/app/").text).group(1)  # type: ignore[union-attr]


def test_bad_input_gets_a_page_not_a_500(client: AppClient, alice: Tenant) -> None:
    fac = new_facility(client, alice)
    csrf = _signed_in(client, alice)
    pages = [
        f"/app/facilities/{fac}?days=abc",
        f"/app/facilities/{fac}?days=-5",
        f"/app/facilities/{fac}?days={HUGE}",
        f"/app/facilities/{fac}?tag=%00&day=x",
        f"/app/facilities/{fac}/tags/nope",
        f"/app/facilities/{fac}/tags/x?range=zz",
        "/app/jobs?page=0",
        "/app/jobs?page=abc",
        f"/app/jobs?page={HUGE}",
        "/app/jobs/%00",
        "/app/reports/x",
        "/app/reports/x/file",
        "/app/documents/x",
        "/app/webhooks/x",
        f"/app/audit?page={HUGE}",
        "/app/audit?page=-3",
        "/app/sign-in?next=//evil.example",
    ]
    forms = [
        ("/app/reports", {"facility_id": fac, "year": "abc", "quarter": "Q9"}),
        ("/app/reports", {"facility_id": fac, "year": HUGE, "quarter": "Q1"}),
        ("/app/reports", {"facility_id": fac, "year": "2025", "quarter": "Q4"}),  # no mapping
        ("/app/webhooks", {"url": "not a url"}),
        ("/app/webhooks", {"url": "http://10.0.0.1/x"}),
        ("/app/webhooks", {"url": "https://example.com/x", "event_types": "no.such"}),
        ("/app/settings/keys", {"name": "x" * 5000, "scope": "admin"}),
        ("/app/settings/keys/nope/revoke", {}),
        ("/app/alerts/nope/acknowledge", {}),
        ("/app/documents/nope/review", {"field.quantity": "x"}),
        ("/app/documents/nope/note", {"note": "\x00"}),
        ("/app/webhook-messages/nope/resend", {}),
        ("/app/upload", {}),
        ("/app/documents", {}),
    ]
    answers = [(path, client.get(path, follow_redirects=False)) for path in pages]
    answers += [
        (path, client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False))
        for path, fields in forms
    ]
    answers.append(
        (
            "/app/upload",
            client.post(
                "/app/upload",
                data={"csrf": csrf, "facility_id": fac},
                files={"file": ("a.csv", b"\xff\xfe not text", "text/csv")},
                follow_redirects=False,
            ),
        )
    )
    failed = [
        (path, a.status_code)
        for path, a in answers
        if a.status_code >= 500 or "Traceback" in a.text
    ]
    assert failed == []
    assert {a.status_code for _, a in answers} <= {200, 303, 400, 403, 404, 409, 413, 415}
    statuses = dict((path, a.status_code) for path, a in answers[: len(pages)])
    assert statuses[f"/app/jobs?page={HUGE}"] == statuses["/app/jobs?page=abc"] == 400
    assert statuses["/app/reports/x"] == statuses[f"/app/facilities/{fac}/tags/nope"] == 404
