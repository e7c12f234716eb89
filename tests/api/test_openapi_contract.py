"""/openapi.json is a complete contract: a valid OpenAPI 3.1 document in which every operation
answers a schema, every JSON body it takes or answers (and every error) has an example, every
webhook event is under ``webhooks`` with its schema and example, and every example anywhere in
the document is valid against its schema (``$ref`` resolved against ``components``).

Then the other direction: the events the code really sends (the analysis, the ingest, report,
document and delivery code, run in-process on SQLite) are delivered to a real local receiver,
and each body and its headers are checked against the event's documented schema, with no field
left undocumented.

The OpenAPI 3.1 meta-schema is the one schemathesis validates documents with (it is data in
``schemathesis.specs.openapi.definitions``); examples are checked with ``jsonschema_rs``, which
schemathesis depends on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from api.app import create_app
from api.schemas.events import EVENTS
from tests.factories import (
    Receiver,
    build_report,
    ingest_rows,
    invoice,
    local_delivery,
    minute_rows,
    rng_mapping,
    setup_facility,
    wait_for,
)
from worker.delivery.webhooks import deliver_due
from worker.storage import documents, endpoints, reports, uploads, webhooks
from worker.storage.db import session_scope
from worker.storage.events import EVENT_TYPES
from worker.storage.models import Facility, Job, WebhookEndpoint

SPEC = create_app().openapi()
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Answers that are files whose bytes an example cannot usefully show: a PDF, and the whole
# report as canonical JSON (tens of KB). The CSV file has an example.
FILES = {
    ("GET /v1/reports/{report_id}/file", "200", "application/pdf"),
    ("GET /v1/reports/{report_id}/file", "200", "application/json"),
}


# --- reading the document --------------------------------------------------------------------


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("POST /v1/facilities", operation)`` for every path operation, and
    ``("webhook data_gap.detected", operation)`` for every webhook."""
    for section, prefix in (("paths", ""), ("webhooks", "webhook ")):
        for path, item in spec.get(section, {}).items():
            for method in METHODS:
                if method in item:
                    name = f"{prefix}{path}" if prefix else f"{method.upper()} {path}"
                    yield name, item[method]


def _deref(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = spec["components"]["schemas"][name]
    return schema


def _schema_examples(schema: dict[str, Any], spec: dict[str, Any]) -> list[Any]:
    """The examples a schema gives, through ``$ref``s and the branches of ``anyOf``/``oneOf``
    (an optional body is ``anyOf: [the model, null]``)."""
    schema = _deref(schema, spec)
    found = list(schema.get("examples", []))
    if "example" in schema:
        found.append(schema["example"])
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            found += _schema_examples(branch, spec)
    return found


def _examples_of(media: dict[str, Any], spec: dict[str, Any]) -> list[Any]:
    """Every example of a media type object: its own, then its schema's."""
    found = [media["example"]] if "example" in media else []
    found += [e["value"] for e in media.get("examples", {}).values() if "value" in e]
    return found + _schema_examples(media.get("schema", {}), spec)


def _validator(schema: dict[str, Any], spec: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in ``spec``."""
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": spec.get("components", {})}, validate_formats=True
    )


SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs")


def _schemas(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A schema and every schema inside it."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for key in SUBSCHEMA:
        yield from _schemas(schema.get(key), f"{where}/{key}")
    for key in SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from _schemas(sub, f"{where}/{key}/{i}")
    for key in SUBSCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            yield from _schemas(sub, f"{where}/{key}/{name}")


def _holders(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object with a ``schema``: media types, parameters, headers."""
    if isinstance(node, dict):
        if isinstance(node.get("schema"), dict):
            yield where, node
        for key, value in node.items():
            if key != "schema":
                yield from _holders(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _holders(value, f"{where}/{i}")


def _example_sites(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """``(where, schema, example)`` for every example in the document."""
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        for where, sub in _schemas(schema, f"#/components/schemas/{name}"):
            for example in [
                *sub.get("examples", []),
                *([sub["example"]] if "example" in sub else []),
            ]:
                yield where, sub, example
    for section in ("paths", "webhooks"):
        for where, holder in _holders(spec.get(section, {}), f"#/{section}"):
            schema = holder["schema"]
            if "example" in holder:
                yield f"{where}/example", schema, holder["example"]
            for key, named in holder.get("examples", {}).items():
                yield f"{where}/examples/{key}", schema, named.get("value")
            for inner, sub in _schemas(schema, f"{where}/schema"):
                for example in sub.get("examples", []):
                    yield inner, sub, example


# --- the checks, as functions of a document (so a test can show they catch a bad one) --------


def wrong_examples(spec: dict[str, Any]) -> list[str]:
    """Every example its schema refuses, with the reason."""
    wrong = []
    for where, schema, example in _example_sites(spec):
        for error in _validator(schema, spec).iter_errors(example):
            wrong.append(f"{where}: {error.message} at {list(error.instance_path)}")
    return wrong


def _needs_example(media_type: str) -> bool:
    return media_type in ("application/json", "multipart/form-data") or media_type.startswith(
        "text/"
    )


def missing_examples(spec: dict[str, Any]) -> list[str]:
    """Request bodies and answers (2xx and errors) without an example; 2xx answers without a
    schema; operations without a 2xx answer."""
    missing = []
    for name, operation in _operations(spec):
        body = operation.get("requestBody", {}).get("content", {})
        for media_type, media in body.items():
            if not media.get("schema"):
                missing.append(f"{name}: request {media_type} has no schema")
            elif _needs_example(media_type) and not _examples_of(media, spec):
                missing.append(f"{name}: request {media_type} has no example")
        if name.startswith("webhook "):
            continue  # the receiver's answer is not ours to describe beyond its status
        answers = operation.get("responses", {})
        if not any(status.startswith("2") for status in answers):
            missing.append(f"{name}: no 2xx answer")
        for status, answer in answers.items():
            content = answer.get("content", {})
            if status.startswith("2") and status != "204" and not content:
                missing.append(f"{name}: {status} has no content")
            for media_type, media in content.items():
                if status.startswith("2") and not media.get("schema"):
                    missing.append(f"{name}: {status} {media_type} has no schema")
                if (name, status, media_type) in FILES or not _needs_example(media_type):
                    continue
                if not _examples_of(media, spec):
                    missing.append(f"{name}: {status} {media_type} has no example")
    return missing


def unresolved_refs(spec: dict[str, Any]) -> list[str]:
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                *_, name = ref.split("/")
                if not ref.startswith("#/components/schemas/") or name not in spec.get(
                    "components", {}
                ).get("schemas", {}):
                    found.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


# --- the document ----------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validator = jsonschema_rs.Draft202012Validator(OPENAPI_31)
    assert [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(SPEC)] == []
    schemas = SPEC["components"]["schemas"]
    assert [
        name for name, schema in schemas.items() if not jsonschema_rs.meta.is_valid(schema)
    ] == []
    assert unresolved_refs(SPEC) == []


def test_every_operation_has_schemas_and_examples() -> None:
    operations = dict(_operations(SPEC))
    assert len([n for n in operations if not n.startswith("webhook ")]) >= 50
    assert missing_examples(SPEC) == []


def test_every_example_is_valid_against_its_schema() -> None:
    sites = list(_example_sites(SPEC))
    assert len(sites) > 150  # the walk reached components, bodies, answers and parameters
    assert wrong_examples(SPEC) == []


def test_the_checks_catch_a_missing_and_a_wrong_example() -> None:
    spec = copy.deepcopy(SPEC)
    del spec["components"]["schemas"]["FacilityOut"]["examples"]
    assert "POST /v1/facilities: 201 application/json has no example" in missing_examples(spec)

    spec = copy.deepcopy(SPEC)
    (example,) = spec["components"]["schemas"]["DataGapDetected"]["examples"]
    example["data"]["gap_start"] = "15/01/2025 12:00"
    example["event"] = "data_gap.resolved"
    wrong = [w for w in wrong_examples(spec) if w.startswith("#/components/schemas/DataGap")]
    assert len(wrong) == 2, wrong
    assert all(w.startswith("#/components/schemas/DataGapDetected:") for w in wrong)

    spec = copy.deepcopy(SPEC)
    media = spec["paths"]["/v1/data-points"]["get"]["responses"]["401"]["content"]
    media["application/json"]["example"] = {"error": "unauthorized"}
    assert len(wrong_examples(spec)) == 1


# --- webhooks --------------------------------------------------------------------------------


def _event_schema(name: str) -> dict[str, Any]:
    body = SPEC["webhooks"][name]["post"]["requestBody"]
    assert body["required"] is True
    return body["content"]["application/json"]["schema"]


def _event_headers(name: str) -> dict[str, dict[str, Any]]:
    parameters = SPEC["webhooks"][name]["post"]["parameters"]
    return {p["name"].lower(): p for p in parameters if p["in"] == "header"}


@pytest.mark.parametrize("name", sorted({*EVENT_TYPES, "endpoint.test"}))
def test_every_event_is_a_webhook_with_a_schema_and_an_example(name: str) -> None:
    schema = _deref(_event_schema(name), SPEC)
    assert schema["properties"]["event"]["const"] == name
    assert set(schema["required"]) == {"event", "timestamp", "data"}
    examples = _schema_examples(schema, SPEC)
    assert examples and all(example["event"] == name for example in examples)
    for example in examples:
        assert _validator(_event_schema(name), SPEC).is_valid(example)
    headers = _event_headers(name)
    assert {h for h, p in headers.items() if p["required"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert set(headers) - {"webhook-id", "webhook-timestamp", "webhook-signature"} == {
        "x-signature"
    }
    assert set(SPEC["webhooks"][name]["post"]["responses"]) == {"200", "410", "default"}


def test_the_webhooks_are_exactly_the_event_types() -> None:
    assert list(SPEC["webhooks"]) == [*EVENT_TYPES, "endpoint.test"] == list(EVENTS)


# --- what the code really sends --------------------------------------------------------------


def _undocumented(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys of ``value`` its (valid) schema does not name, at any depth."""
    schema = _deref(schema, SPEC)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branch = next(b for b in schema[key] if _validator(b, SPEC).is_valid(value))
            return _undocumented(value, branch, where)
    if isinstance(value, dict) and "properties" in schema:
        found = [f"{where}.{k}" for k in value if k not in schema["properties"]]
        for key, item in value.items():
            if key in schema["properties"]:
                found += _undocumented(item, schema["properties"][key], f"{where}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [u for item in value for u in _undocumented(item, schema["items"], f"{where}[]")]
    return []


T0 = datetime(2025, 1, 15, tzinfo=UTC)


def _send_every_event(db: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the code publish one or more events of every type, then deliver them to an endpoint
    with the legacy signature too; its secret."""
    from worker.tasks import ingest
    from worker.tasks.documents import process

    tenant_id, fac = setup_facility(db)
    with session_scope(db) as s:
        endpoint, secret = webhooks.create_endpoint(
            s,
            tenant_id=tenant_id,
            url=f"{receiver.url}/in",
            event_types=[],
            legacy_signature=True,
        )
        doomed, _ = webhooks.create_endpoint(
            s, tenant_id=tenant_id, url=f"{receiver.url}/gone", event_types=[]
        )
        endpoints.send_test(s, endpoint=endpoint)
        reports.replace_mappings(s, facility=s.get(Facility, fac), mappings=[rng_mapping()])
    with session_scope(db) as s:  # endpoint.disabled: it goes to the endpoint still enabled
        webhooks.disable_endpoint(
            s,
            endpoint=s.get(WebhookEndpoint, doomed.id),
            reason="the receiver answered 410 Gone",
            now=datetime.now(UTC),
        )

    # A flat day with the seed's gap (data_gap.detected; gap_too_long, low_completeness and
    # flatline alerts), then the late readings that fill it (data_gap.resolved).
    noon = T0 + timedelta(hours=12)
    day = minute_rows(T0, 12 * 60 + 1) + minute_rows(noon + timedelta(minutes=150), 570)
    ingest_rows(db, tenant_id, fac, day, now=T0 + timedelta(days=2))
    ingest_rows(db, tenant_id, fac, minute_rows(noon, 151), now=T0 + timedelta(days=2))

    # ingest.completed: the ingest task itself, its follow-up analysis not published.
    monkeypatch.setattr(ingest, "dispatch", lambda job_id, kind: True)
    start = datetime(2025, 11, 3, tzinfo=UTC)
    csv = "tag,timestamp,value\n" + "".join(
        f"rng_flow,{(start + timedelta(minutes=10 * i)).isoformat()},10.0\n" for i in range(19)
    )
    with session_scope(db) as s:
        upload = uploads.save_upload(
            s,
            tenant_id=tenant_id,
            content=csv.encode(),
            content_type="text/csv",
            filename="points.csv",
        )
        job = uploads.queue_ingest(s, upload=upload, facility_id=fac)
    ingest.process_upload(job.id)

    # report.generated (the build task), report.failed (as the build task records a failure).
    build_report(db, fac, fmt="csv")
    with session_scope(db) as s:
        failing, _ = reports.create_report(
            s, facility=s.get(Facility, fac), year=2025, quarter=4, fmt="pdf"
        )
        reports.fail_report(
            s,
            report_row=failing,
            code="lcfs_no_benchmark",
            message="no diesel CI benchmark for 2025 Q4",
        )

    # document.processed and document.failed: the document task on an invoice and on junk.
    for content in (invoice(), b"%PDF-1.4 not really"):
        with session_scope(db) as s:
            received = documents.receive_document(
                s,
                tenant_id=tenant_id,
                content=content,
                media_type="application/pdf",
                filename="inv.pdf",
                facility_id=fac,
                declared_type=None,
            )
            assert received.job is not None
            job_id = received.job.id
        process(job_id)
        with session_scope(db) as s:
            assert s.get(Job, job_id).status in ("succeeded", "failed")

    # A sweep sends what is due at its start; keep sweeping until every event type has arrived
    # (a loaded machine may leave some for the next sweep), for at most a minute.
    wanted = {*EVENT_TYPES, "endpoint.test"}

    def all_arrived() -> bool:
        deliver_due(settings=local_delivery(), batch_size=100)
        with receiver.lock:
            arrived = {json.loads(r.body)["event"] for r in receiver.got}
        return wanted <= arrived

    wait_for(all_arrived, timeout=60, what="one delivery of every event type", every=0.2)
    deliver_due(settings=local_delivery(), batch_size=100)  # anything still due, e.g. retries
    return secret


def test_the_events_sent_match_their_schemas(
    sqlite_db: str, configure, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(TICKWORK_DATABASE_URL=sqlite_db)
    secret = _send_every_event(sqlite_db, receiver, monkeypatch)
    got = receiver.got
    assert {r.path for r in got} == {"/in"}
    receiver.verified(secret)  # every signature is what webhook-signature says it is
    assert all("x-signature" in r.headers for r in got)  # checked below like the others
    sent: dict[str, list[dict[str, Any]]] = {}
    problems = []
    for request in got:
        body = json.loads(request.body)
        name = body["event"]
        sent.setdefault(name, []).append(body)
        schema = _event_schema(name)
        problems += [
            f"{name}: {e.message} at {list(e.instance_path)}"
            for e in _validator(schema, SPEC).iter_errors(body)
        ]
        problems += [f"{name}: {key} is not documented" for key in _undocumented(body, schema)]
        documented = _event_headers(name)
        for header, parameter in documented.items():
            if header in request.headers:
                value = request.headers[header]
                if not _validator(parameter["schema"], SPEC).is_valid(value):
                    problems.append(f"{name}: header {header}: {value!r}")
            elif parameter["required"]:
                problems.append(f"{name}: header {header} is missing")
        signed = {h for h in request.headers if h.startswith("webhook-") or h == "x-signature"}
        problems += [f"{name}: header {h} is not documented" for h in signed - set(documented)]
    assert problems == []
    assert sorted(sent) == sorted({*EVENT_TYPES, "endpoint.test"})
    rules = {e["data"]["rule"] for e in sent["alert.triggered"]}
    assert rules == {"gap_too_long", "low_completeness", "flatline"}
    assert any(e["data"]["totals"] for e in sent["report.generated"])
    assert any("analysis_job_id" in e["data"] for e in sent["ingest.completed"])


def test_every_post_declares_the_idempotency_key_header() -> None:
    from api.app import app

    posts = {path: ops["post"] for path, ops in app.openapi()["paths"].items() if "post" in ops}
    assert posts
    for path, op in posts.items():
        [header] = [p for p in op.get("parameters", []) if p["name"] == "Idempotency-Key"]
        assert (header["in"], header["required"]) == ("header", False), path
