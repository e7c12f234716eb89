"""The reports API: validation before anything is queued, then status and file."""

from __future__ import annotations

import pytest

from tests.asgi import AppClient
from tests.factories import MAPPING, Tenant, assert_error, new_facility, queued_messages


def _report(client: AppClient, who: Tenant, **body):
    body = {"report_type": "lcfs_quarterly", "quarter": "Q4", "year": 2025, "format": "pdf", **body}
    return client.post("/v1/reports", headers=who.headers, json=body)


def _mapped(client: AppClient, who: Tenant) -> str:
    fac = new_facility(client, who)
    response = client.put(f"/v1/facilities/{fac}/fuel-mappings", headers=who.headers,
                          json={"data": [MAPPING]})  # fmt: skip
    assert response.status_code == 200, response.text
    return fac


def test_report_is_queued_and_readable(client: AppClient, alice: Tenant, env) -> None:
    fac = _mapped(client, alice)
    response = _report(client, alice, facility_id=fac)
    assert response.status_code == 202, response.text
    report = response.json()
    assert report["status"] == "queued" and report["quarter"] == "Q4"
    assert queued_messages(env["redis"], "reports") == 1
    got = client.get(f"/v1/reports/{report['id']}", headers=alice.headers)
    assert got.status_code == 200 and got.json()["id"] == report["id"]
    assert_error(client.get(f"/v1/reports/{report['id']}/file", headers=alice.headers), 409,
                 "report_not_ready")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"quarter": "Q5"}, 400, "invalid_parameter", "quarter"),
        ({"quarter": 0}, 400, "invalid_parameter", "quarter"),
        ({"format": "docx"}, 400, "invalid_parameter", "format"),
        ({"report_type": "rfs_annual"}, 400, "invalid_parameter", "report_type"),
        ({"year": 2031}, 400, "lcfs_no_benchmark", "year"),
    ],
)
def test_bad_report_requests_are_400(client: AppClient, alice: Tenant, body, status, code,
                                     field) -> None:  # fmt: skip
    fac = _mapped(client, alice)
    assert_error(_report(client, alice, facility_id=fac, **body), status, code, field)


def test_unknown_or_foreign_facility_is_404(client: AppClient, alice: Tenant, bob: Tenant) -> None:
    assert_error(_report(client, alice, facility_id="fac_nope"), 404, "not_found")
    assert_error(_report(client, bob, facility_id=_mapped(client, alice)), 404, "not_found")


def test_facility_without_fuel_mapping_is_400(client: AppClient, alice: Tenant) -> None:
    error = assert_error(_report(client, alice, facility_id=new_facility(client, alice)), 400,
                         "no_fuel_mapping", "facility_id")  # fmt: skip
    assert "fuel-mappings" in error["message"]


def test_bad_mappings_and_transactions_are_400(client: AppClient, alice: Tenant) -> None:
    fac = new_facility(client, alice)
    bad_unit = {**MAPPING, "unit": "furlongs"}
    response = client.put(f"/v1/facilities/{fac}/fuel-mappings", headers=alice.headers,
                          json={"data": [bad_unit]})  # fmt: skip
    assert response.status_code == 400, response.text
    csv = b"fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date\n" \
          b"X,rng,ten,scf,40,Sold with Obligation,2025-11-01\n"  # fmt: skip
    response = client.post(f"/v1/facilities/{fac}/fuel-transactions", content=csv,
                           headers={**alice.headers, "Content-Type": "text/csv"})  # fmt: skip
    assert response.status_code == 400 and "line 2" in response.json()["error"]["message"]
    good = csv.replace(b"ten", b"10")
    response = client.post(f"/v1/facilities/{fac}/fuel-transactions", content=good,
                           headers={**alice.headers, "Content-Type": "text/csv"})  # fmt: skip
    assert response.status_code == 201, response.text
    listed = client.get(f"/v1/facilities/{fac}/fuel-transactions", headers=alice.headers).json()
    assert [t["quantity"] for t in listed["data"]] == [10.0]


def test_organization_identity_is_settable_and_audit_logged(
    client: AppClient, alice: Tenant, bob: Tenant
) -> None:
    assert client.get("/v1/organization", headers=alice.headers).json()["organization_fein"] == ""
    response = client.patch("/v1/organization", headers=alice.headers,
                            json={"organization_name": "Valley RNG LLC",
                                  "organization_fein": "123456789"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["organization_fein"] == "12-3456789"
    assert client.get("/v1/organization", headers=bob.headers).json()["organization_fein"] == ""
    assert_error(client.patch("/v1/organization", headers=alice.headers,
                              json={"organization_fein": "12-34"}), 400, "invalid_parameter",
                 "organization_fein")  # fmt: skip
    log = client.get("/v1/audit-log", headers=alice.headers).json()["data"]
    assert any(e["action"] == "organization.updated" for e in log)


def test_facility_carb_id_mapping_role_and_sign_off_names(client: AppClient, alice: Tenant) -> None:
    created = client.post("/v1/facilities", headers=alice.headers,
                          json={"name": "Station 9", "carb_facility_id": "F-0042"})  # fmt: skip
    assert created.status_code == 201 and created.json()["carb_facility_id"] == "F-0042"
    fac = created.json()["id"]
    injection = {**MAPPING, "tag": "rng_injection", "role": "injection",
                 "unit": "MMBtu", "hhv_btu_per_scf": 1010.0}  # fmt: skip
    response = client.put(f"/v1/facilities/{fac}/fuel-mappings", headers=alice.headers,
                          json={"data": [MAPPING, injection]})  # fmt: skip
    assert response.status_code == 200, response.text
    roles = {m["tag"]: m["role"] for m in response.json()["data"]}
    assert roles == {MAPPING["tag"]: "fuel", "rng_injection": "injection"}
    # An HHV quantity without its heating value cannot be brought to the LHV basis: 400.
    bare = {**injection, "hhv_btu_per_scf": None}
    assert_error(client.put(f"/v1/facilities/{fac}/fuel-mappings", headers=alice.headers,
                            json={"data": [bare]}), 400, "lcfs_invalid_transactions",
                 "data")  # fmt: skip
    report = _report(client, alice, facility_id=fac, preparer="A. Engineer", reviewer="B. Lead",
                     format="calculation_csv")  # fmt: skip
    assert report.status_code == 202, report.text
    assert (report.json()["preparer"], report.json()["reviewer"]) == ("A. Engineer", "B. Lead")


def test_unconfirmed_transaction_types_are_refused(client: AppClient, alice: Tenant) -> None:
    fac = new_facility(client, alice)
    csv = b"fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date\n" \
          b"X,rng,10,scf,40,Gain of Inventory,2025-11-01\n"  # fmt: skip
    response = client.post(f"/v1/facilities/{fac}/fuel-transactions", content=csv,
                           headers={**alice.headers, "Content-Type": "text/csv"})  # fmt: skip
    error = assert_error(response, 400, "lcfs_invalid_transactions")
    assert "not confirmed" in error["message"]
