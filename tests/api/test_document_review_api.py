"""POST /v1/documents/{id}/review against real PostgreSQL and Redis: a real invoice uploaded
through the API and processed by the task in this process (no worker), then reviewed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.asgi import AppClient
from tests.factories import Tenant, assert_error, invoice, new_facility
from worker.storage.db import session_scope
from worker.storage.documents import transaction_of
from worker.storage.models import Document
from worker.storage.tenants import create_api_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def upload(client: AppClient, who: Tenant, content: bytes, **form) -> dict:
    response = client.post(
        "/v1/documents",
        headers=who.headers,
        data=form,
        files={"file": ("inv.pdf", content, "application/pdf")},
    )
    assert response.status_code == 202, response.text
    return response.json()


def processed(client: AppClient, who: Tenant, quantity: float = 1000.0) -> str:
    """A real invoice of ``who``'s facility, extracted by the task itself in this process."""
    from worker.tasks.documents import process

    accepted = upload(client, who, invoice(quantity), facility_id=new_facility(client, who))
    process(accepted["job_id"])
    view = client.get(f"/v1/documents/{accepted['document_id']}", headers=who.headers).json()
    assert view["status"] == "processed", view
    return str(view["id"])


def review(client: AppClient, who: Tenant, doc_id: str, body: object):
    return client.post(f"/v1/documents/{doc_id}/review", headers=who.headers, json=body)


def snapshot(db: str, doc_id: str) -> tuple:
    with session_scope(db) as s:
        doc = s.get(Document, doc_id)
        tx = transaction_of(s, document_id=doc_id)
        return doc.reviewed_fields, doc.reconciliation, tx.quantity if tx else None


def test_review_answers_the_document_as_get_does(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    doc_id = processed(client, alice, 1000.0)
    before = client.get(f"/v1/documents/{doc_id}", headers=alice.headers).json()
    assert before["reviewed_fields"] == {}
    assert before["effective_fields"]["quantity"] == {
        "value": 1000.0,
        "confidence": before["fields"]["quantity"]["confidence"],
        "reviewed": False,
    }

    response = review(client, alice, doc_id, {"fields": {"quantity": 970, "currency": "usd"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == client.get(f"/v1/documents/{doc_id}", headers=alice.headers).json()
    assert body["fields"] == before["fields"]  # the extracted values, as they were
    mine = body["reviewed_fields"]["quantity"]
    assert (mine["value"], mine["extracted"]) == (970.0, 1000.0)
    assert mine["reviewed_by"].startswith("api_key:key_") and mine["reviewed_at"].endswith("Z")
    assert body["reviewed_fields"]["currency"]["value"] == "USD"
    assert body["effective_fields"]["quantity"] == {
        "value": 970.0,
        "confidence": 1.0,
        "reviewed": True,
    }
    assert body["effective_fields"]["document_number"] == {
        "value": "VB-00042",
        "confidence": before["fields"]["document_number"]["confidence"],
        "reviewed": False,
    }
    # The facility has no mapped meter: reconciled as such, with the reviewed quantity.
    assert body["reconciliation"]["status"] == "no_meter_data"
    assert body["reconciliation"]["quantity"] == 970.0
    assert snapshot(env["db"], doc_id)[2] == 970.0  # the fuel transaction
    (entry,) = client.get(
        "/v1/audit-log", headers=alice.headers, params={"action": "document.reviewed"}
    ).json()["data"]
    assert entry["actor"] == mine["reviewed_by"]
    assert entry["subject"] == {"type": "document", "id": doc_id}
    assert entry["details"]["changes"] == {
        "quantity": {"old": 1000.0, "new": 970.0},
        "currency": {"old": "USD", "new": "USD"},
    }
    assert client.get("/v1/audit-log/verify", headers=alice.headers).json()["valid"] is True


def test_read_only_key_cannot_review(client: AppClient, alice: Tenant, env) -> None:
    doc_id = processed(client, alice)
    with session_scope(env["db"]) as s:
        _, key = create_api_key(s, tenant_id=alice.id, scope="read")
    reader = Tenant(alice.id, key, {"Authorization": f"Bearer {key}"})
    before = snapshot(env["db"], doc_id)
    assert_error(
        review(client, reader, doc_id, {"fields": {"quantity": 970.0}}), 403, "insufficient_scope"
    )
    assert client.get(f"/v1/documents/{doc_id}", headers=reader.headers).status_code == 200
    assert snapshot(env["db"], doc_id) == before


def test_another_tenants_document_is_404(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    doc_id = processed(client, alice)
    before = snapshot(env["db"], doc_id)
    error = assert_error(
        review(client, bob, doc_id, {"fields": {"quantity": 970.0}}), 404, "not_found"
    )
    assert doc_id in error["message"] and "VB-00042" not in error["message"]
    assert_error(review(client, alice, "doc_nope", {"fields": {"quantity": 1.0}}), 404, "not_found")
    assert snapshot(env["db"], doc_id) == before


@pytest.mark.parametrize(
    ("body", "code", "field", "words"),
    [
        ({"fields": {"colour": "red"}}, "unknown_field", "fields.colour", "unknown field"),
        ({"fields": {"quantity": "lots"}}, "invalid_field_value", "fields.quantity", "number"),
        ({"fields": {"quantity": -5}}, "invalid_field_value", "fields.quantity", "plausible"),
        ({"fields": {"quantity": None}}, "invalid_field_value", "fields.quantity", "null"),
        (
            {"fields": {"document_date": "10/03/2025"}},
            "invalid_field_value",
            "fields.document_date",
            "YYYY-MM-DD",
        ),
        ({"fields": {"unit": "parsecs"}}, "invalid_field_value", "fields.unit", "gal"),
        (
            {"fields": {"quantity": 970.0, "colour": "red"}},
            "unknown_field",
            "fields.colour",
            "colour",
        ),
        ({"fields": {}}, "invalid_parameter", "fields", "fields"),
        ({"fields": [1]}, "invalid_json", "fields", "object"),  # the handler's word for it
        ({"fields": {"quantity": 970.0}, "note": "x"}, "invalid_parameter", "note", "note"),
        ({}, "missing_parameter", "fields", "fields"),
    ],
)
def test_refused_reviews_are_400_naming_the_field(
    client: AppClient, alice: Tenant, env: dict[str, str], body, code, field, words
) -> None:
    doc_id = processed(client, alice)
    before = snapshot(env["db"], doc_id)
    error = assert_error(review(client, alice, doc_id, body), 400, code, field)
    assert words in error["message"]
    assert snapshot(env["db"], doc_id) == before


def test_a_document_not_processed_is_409(
    client: AppClient, alice: Tenant, env: dict[str, str]
) -> None:
    queued = upload(client, alice, invoice(number="Q-1"))["document_id"]
    error = assert_error(
        review(client, alice, queued, {"fields": {"quantity": 970.0}}),
        409,
        "document_not_processed",
    )
    assert error["type"] == "conflict" and "queued" in error["message"]
    with session_scope(env["db"]) as s:
        doc = s.scalar(select(Document).where(Document.id == queued))
        doc.status, doc.error_code, doc.error_message = "failed", "encrypted", "earlier run"
    error = assert_error(
        review(client, alice, queued, {"fields": {"quantity": 970.0}}),
        409,
        "document_not_processed",
    )
    assert "failed" in error["message"]
    with session_scope(env["db"]) as s:
        assert s.get(Document, queued).reviewed_fields is None
