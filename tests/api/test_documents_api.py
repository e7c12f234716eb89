"""POST/GET /v1/documents against real PostgreSQL and Redis (no worker: validate, store, enqueue,
read back)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.asgi import AppClient
from tests.factories import Tenant, assert_error, make_tenant, new_facility, queued_messages
from worker.storage.db import session_scope
from worker.storage.models import Document, Job, Upload

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


PDF = b"%PDF-1.4\n% not parsed by the API: extraction is the worker's job\n%%EOF\n"


def post(client: AppClient, who: Tenant, content: bytes = PDF, name: str = "inv.pdf", **form):
    return client.post(
        "/v1/documents",
        headers=who.headers,
        data=form,
        files={"file": (name, content, "application/pdf")},
    )


def documents_queued(env: dict[str, str]) -> int:
    return queued_messages(env["redis"], "documents")


def test_upload_is_stored_and_queued(client: AppClient, alice: Tenant, env: dict[str, str]):
    fac = new_facility(client, alice)
    response = post(client, alice, facility_id=fac, document_type="invoice")
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"document_id", "job_id", "status", "duplicate"}
    assert (body["status"], body["duplicate"]) == ("queued", False)
    assert body["document_id"].startswith("doc_") and body["job_id"].startswith("job_")
    assert documents_queued(env) == 1
    with session_scope(env["db"]) as s:
        doc = s.get(Document, body["document_id"])
        job = s.get(Job, body["job_id"])
        assert (doc.tenant_id, doc.facility_id, doc.declared_type) == (alice.id, fac, "invoice")
        assert (job.kind, job.params, job.upload_id) == (
            "documents.process",
            {"document_id": doc.id},
            doc.upload_id,
        )
        assert job.enqueued_at is not None  # dispatched after the commit
        assert s.get(Upload, doc.upload_id).content == PDF
    view = client.get(f"/v1/documents/{body['document_id']}", headers=alice.headers)
    assert view.status_code == 200
    assert view.json() | {"created_at": None, "sha256": None} == {
        "id": body["document_id"],
        "status": "queued",
        "document_type": None,
        "declared_type": "invoice",
        "facility_id": fac,
        "filename": "inv.pdf",
        "sha256": None,
        "pages": None,
        "fields": {},
        "warnings": [],
        "reconciliation": None,
        "error": None,
        "job_id": body["job_id"],
        "resolution_note": "",
        "created_at": None,
        "processed_at": None,
        "reviewed_fields": {},
        "effective_fields": {},
    }
    assert re.fullmatch(r"[0-9a-f]{64}", view.json()["sha256"])


def test_upload_without_facility_or_type(client: AppClient, alice: Tenant, env) -> None:
    response = post(client, alice)
    assert response.status_code == 202, response.text
    with session_scope(env["db"]) as s:
        doc = s.get(Document, response.json()["document_id"])
        assert (doc.facility_id, doc.declared_type) == (None, None)


def test_oversized_documents_are_413(
    client: AppClient, alice: Tenant, env: dict[str, str], configure
) -> None:
    configure(TICKWORK_DOCUMENT_MAX_BYTES="1000")
    # Over the limit but within the form allowance: refused on its real size.
    error = assert_error(post(client, alice, b"%PDF" + b"x" * 2000), 413, "payload_too_large")
    assert error["type"] == "invalid_request" and "1000" in error["message"]
    # Far over: refused on Content-Length before the body is read.
    assert_error(post(client, alice, b"%PDF" + b"x" * 200_000), 413, "payload_too_large")
    assert post(client, alice, b"%PDF" + b"x" * 900).status_code == 202
    assert documents_queued(env) == 1
    with session_scope(env["db"]) as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "field"),
    [
        ({"data": {"document_type": "receipt"}}, 400, "invalid_parameter", "document_type"),
        ({"files": {"file": ("e.pdf", b"", "application/pdf")}}, 400, "empty_file", "file"),
        ({"files": {"other": ("e.pdf", PDF, "application/pdf")}}, 400, "missing_parameter", "file"),
        ({"json": {"file": "x"}}, 415, "unsupported_media_type", None),
    ],
)
def test_malformed_uploads(
    client: AppClient, alice: Tenant, env: dict[str, str], kwargs, status, code, field
) -> None:
    kwargs = dict(kwargs)
    kwargs.setdefault("files", {"file": ("inv.pdf", PDF, "application/pdf")})
    if "json" in kwargs:
        kwargs.pop("files")
    response = client.post("/v1/documents", headers=alice.headers, **kwargs)
    assert_error(response, status, code, field)
    assert documents_queued(env) == 0


def test_read_only_key_cannot_upload(client: AppClient, env: dict[str, str]) -> None:
    reader = make_tenant(env["db"], "Reader", scope="read")
    assert_error(post(client, reader), 403, "insufficient_scope")
    assert client.get("/v1/documents", headers=reader.headers).status_code == 200


def test_foreign_facility_is_404(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    error = assert_error(post(client, bob, facility_id=fac), 404, "not_found")
    assert "Plant" not in error["message"]
    assert_error(post(client, alice, facility_id="fac_nope"), 404, "not_found")
    assert documents_queued(env) == 0
    with session_scope(env["db"]) as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def _set_failed(db: str, document_id: str, code: str) -> None:
    with session_scope(db) as s:
        doc = s.get(Document, document_id)
        doc.status, doc.error_code, doc.error_message = "failed", code, "earlier run"


def test_duplicate_upload_is_one_document(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    first = post(client, alice).json()
    again = post(client, alice, name="renamed.pdf")
    assert again.status_code == 202
    assert again.json() == {
        "document_id": first["document_id"],
        "job_id": first["job_id"],
        "status": "queued",
        "duplicate": True,
    }
    assert documents_queued(env) == 1
    # Another tenant's identical bytes are its own document.
    other = post(client, bob).json()
    assert other["document_id"] != first["document_id"] and other["duplicate"] is False

    # A verdict on the file stands: the same bytes are not queued again.
    _set_failed(env["db"], first["document_id"], "encrypted")
    third = post(client, alice).json()
    assert (third["status"], third["duplicate"], third["job_id"]) == (
        "failed",
        True,
        first["job_id"],
    )
    assert documents_queued(env) == 2
    # A passing failure (internal error, timeout) is retried by uploading again.
    for code in ("internal", "timeout"):
        _set_failed(env["db"], first["document_id"], code)
        retried = post(client, alice).json()
        assert (retried["document_id"], retried["status"], retried["duplicate"]) == (
            first["document_id"],
            "queued",
            True,
        )
        assert retried["job_id"] != first["job_id"]
        view = client.get(f"/v1/documents/{first['document_id']}", headers=alice.headers).json()
        assert (view["status"], view["error"], view["job_id"]) == (
            "queued",
            None,
            retried["job_id"],
        )
    assert documents_queued(env) == 4
    with session_scope(env["db"]) as s:
        count = select(func.count()).select_from(Document).where(Document.tenant_id == alice.id)
        assert s.scalar(count) == 1


def test_failed_document_shows_its_error(client: AppClient, alice: Tenant, env) -> None:
    doc = post(client, alice).json()["document_id"]
    _set_failed(env["db"], doc, "encrypted")
    view = client.get(f"/v1/documents/{doc}", headers=alice.headers).json()
    assert view["error"] == {"code": "encrypted", "message": "earlier run"}


def test_list_filters_and_pages(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    fac = new_facility(client, alice)
    ids = [
        post(client, alice, PDF + bytes([i]), facility_id=fac if i < 3 else "").json()[
            "document_id"
        ]
        for i in range(5)
    ]
    _set_failed(env["db"], ids[0], "corrupt_pdf")
    page = client.get("/v1/documents", headers=alice.headers, params={"limit": 2}).json()
    assert page["pagination"] == {"total": 5, "page": 1, "per_page": 2}
    assert [d["id"] for d in page["data"]] == ids[::-1][:2]  # newest first
    page3 = client.get("/v1/documents", headers=alice.headers, params={"limit": 2, "page": 3})
    assert [d["id"] for d in page3.json()["data"]] == [ids[0]]
    by_fac = client.get("/v1/documents", headers=alice.headers, params={"facility_id": fac})
    assert sorted(d["id"] for d in by_fac.json()["data"]) == sorted(ids[:3])
    failed = client.get("/v1/documents", headers=alice.headers, params={"status": "failed"})
    assert [d["id"] for d in failed.json()["data"]] == [ids[0]]
    assert_error(
        client.get("/v1/documents", headers=alice.headers, params={"status": "lost"}),
        400,
        "invalid_parameter",
    )
    assert_error(
        client.get("/v1/documents", headers=alice.headers, params={"limit": 0}),
        400,
        "invalid_parameter",
    )
    # Bob sees none of them; Alice's facility is as unknown to him as on every other route.
    assert client.get("/v1/documents", headers=bob.headers).json()["data"] == []
    theirs = client.get("/v1/documents", headers=bob.headers, params={"facility_id": fac})
    assert_error(theirs, 404, "not_found")


def test_document_routes_hide_other_tenants(
    client: AppClient, alice: Tenant, bob: Tenant, env: dict[str, str]
) -> None:
    """The OpenAPI-driven matrix of tests/api/test_api.py, over the document routes."""
    fac = new_facility(client, alice)
    ids = {"document_id": post(client, alice, facility_id=fac).json()["document_id"]}
    checked = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if not path.startswith("/v1/documents") or not re.search(r"{\w+}", path):
            continue
        for method in operations:
            body = {
                "patch": {"resolution_note": "stolen"},
                "post": {"fields": {"quantity": 1.0}},
            }.get(method)
            response = client.request(method, path.format(**ids), headers=bob.headers, json=body)
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
            assert response.json()["error"]["code"] == "not_found"
            assert ids["document_id"] in response.text  # echoes the id asked for, nothing else
            assert "inv.pdf" not in response.text and fac not in response.text
            checked += 1
    assert checked >= 1
    mine = client.get(f"/v1/documents/{ids['document_id']}", headers=alice.headers)
    assert mine.status_code == 200
    assert_error(client.get("/v1/documents/doc_nope", headers=alice.headers), 404, "not_found")
