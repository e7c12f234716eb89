"""The audit log through the API: real work leaves hashed entries; tenants see only their own;
`/v1/audit-log/verify` finds tampering."""

from __future__ import annotations

import hashlib
import itertools

from sqlalchemy import text

from tests.asgi import AppClient
from tests.factories import CSV, MAPPING, Tenant, invoice, new_facility
from worker.storage.db import get_engine, session_scope
from worker.storage.tenants import create_api_key, revoke_api_key


def _entries(client: AppClient, who: Tenant, **params) -> list[dict]:
    response = client.get("/v1/audit-log", headers=who.headers, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _work(client: AppClient, who: Tenant, env: dict[str, str]) -> dict[str, object]:
    """Ingest, analyse, map, report, a document, endpoint changes and a key: the tasks run here,
    in this process, exactly as a worker runs them."""
    from worker.tasks.analysis import analyse_ingest
    from worker.tasks.documents import process
    from worker.tasks.ingest import process_upload
    from worker.tasks.reports import build_lcfs

    fac = new_facility(client, who)
    content = CSV.replace(b"{fac}", fac.encode())
    job = client.post("/v1/data-points/import", headers=who.headers,
                      files={"file": ("p.csv", content, "text/csv")}).json()["job_id"]  # fmt: skip
    process_upload(job)
    analysis = client.get(f"/v1/jobs/{job}", headers=who.headers).json()["result"]
    analyse_ingest(analysis["analysis_job_id"])

    assert client.put(f"/v1/facilities/{fac}/fuel-mappings", headers=who.headers,
                      json={"data": [MAPPING]}).status_code == 200  # fmt: skip
    report = client.post("/v1/reports", headers=who.headers, json={
        "report_type": "lcfs_quarterly", "quarter": "Q1", "year": 2025, "format": "csv",
        "facility_id": fac}).json()  # fmt: skip
    build_lcfs(report["job_id"])
    pdf = invoice()
    document = client.post("/v1/documents", headers=who.headers, data={"facility_id": fac},
                           files={"file": ("i.pdf", pdf, "application/pdf")}).json()  # fmt: skip
    process(document["job_id"])

    created = client.post("/v1/webhook-endpoints", headers=who.headers,
                          json={"url": "https://hooks.example.com/tw"}).json()  # fmt: skip
    endpoint = created["id"]
    client.patch(f"/v1/webhook-endpoints/{endpoint}", headers=who.headers,
                 json={"description": "ops"})  # fmt: skip
    rotated = client.post(f"/v1/webhook-endpoints/{endpoint}/rotate-secret", headers=who.headers)
    client.delete(f"/v1/webhook-endpoints/{endpoint}", headers=who.headers)
    with session_scope(env["db"]) as s:
        key, _ = create_api_key(s, tenant_id=who.id, name="ci", scope="read")
        key_id = key.id
    with session_scope(env["db"]) as s:
        revoke_api_key(s, key_id=key_id)
    return {"facility": fac, "csv": content, "job": job, "report": report["id"], "pdf": pdf,
            "document": document["document_id"], "endpoint": endpoint, "key": key_id,
            "secrets": [created["secret"], rotated.json()["secret"]]}  # fmt: skip


def test_work_leaves_a_hashed_trail(client: AppClient, alice: Tenant, bob: Tenant, env) -> None:
    work = _work(client, alice, env)
    entries = _entries(client, alice)
    actions = [e["action"] for e in entries]
    assert actions == [
        "api_key.created",  # the fixture's key
        "ingest.completed", "analysis.completed", "fuel_mappings.replaced", "report.generated",
        "document.processed", "webhook_endpoint.created", "webhook_endpoint.updated",
        "webhook_endpoint.secret_rotated", "webhook_endpoint.deleted", "api_key.created",
        "api_key.revoked",
    ]  # fmt: skip
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert all(b["chain"]["prev_hash"] == a["chain"]["row_hash"]
               for a, b in itertools.pairwise(entries))  # fmt: skip
    by = {e["action"]: e for e in entries}

    ingest = by["ingest.completed"]
    assert ingest["subject"] == {"type": "job", "id": work["job"]}
    assert ingest["details"]["upload_sha256"] == hashlib.sha256(work["csv"]).hexdigest()
    assert ingest["details"]["inserted"] == 2

    report = by["report.generated"]
    view = client.get(f"/v1/reports/{work['report']}", headers=alice.headers).json()
    file = client.get(f"/v1/reports/{work['report']}/file", headers=alice.headers).content
    assert report["subject"]["id"] == work["report"]
    assert report["details"]["file_sha256"] == hashlib.sha256(file).hexdigest()
    assert report["details"]["input_sha256"] == view["input_sha256"] is not None

    document = by["document.processed"]
    assert document["details"]["sha256"] == hashlib.sha256(work["pdf"]).hexdigest()
    assert document["facility_id"] == work["facility"]
    assert by["webhook_endpoint.updated"]["details"] == {"changes": {"description": "ops"}}
    assert by["api_key.revoked"]["subject"]["id"] == work["key"]
    assert by["webhook_endpoint.created"]["actor"].startswith("api_key:key_")

    body = client.get("/v1/audit-log", headers=alice.headers, params={"limit": 1000}).text
    for secret in work["secrets"]:
        assert secret.removeprefix("whsec_") not in body  # secrets never reach the log

    only = _entries(client, alice, action="report.generated")
    assert [e["id"] for e in only] == [report["id"]]
    assert [e["seq"] for e in _entries(client, alice, after_seq=10)] == [11, 12]
    assert [e["action"] for e in _entries(client, bob)] == ["api_key.created"]

    verdict = client.get("/v1/audit-log/verify", headers=alice.headers).json()
    head = {"seq": 12, "row_hash": entries[-1]["chain"]["row_hash"]}
    assert verdict == {"valid": True, "entries": 12, "first_problem": None, "head": head}


def test_verify_reports_a_changed_report_hash(client: AppClient, alice: Tenant, bob: Tenant,
                                              env) -> None:  # fmt: skip
    work = _work(client, alice, env)
    with get_engine(env["db"]).begin() as conn:
        conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
        conn.execute(text(
            "UPDATE audit_entry SET details = jsonb_set(details, '{file_sha256}', '\"0\"') "
            "WHERE subject_id = :id"), {"id": work["report"]})  # fmt: skip
        conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only"))
    verdict = client.get("/v1/audit-log/verify", headers=alice.headers).json()
    assert verdict["valid"] is False
    assert verdict["first_problem"]["kind"] == "altered"
    assert verdict["first_problem"]["seq"] == 5
    assert client.get("/v1/audit-log/verify", headers=bob.headers).json()["valid"] is True
