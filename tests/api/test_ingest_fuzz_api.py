"""Fuzzing the ingest endpoints with random bodies, through the real app on PostgreSQL/Redis.

``POST /v1/data-points`` (JSON batches) and ``POST /v1/data-points/import`` (CSV files) get
mutated valid bodies, arbitrary JSON, binary, odd content types: every answer is a 2xx with a job,
or a 4xx in the seed's error format; never a 5xx. What is accepted is what the worker parses
(pipelines.ingest, fuzzed alone in tests/unit/test_ingest_fuzz.py), so each accepted body is also
parsed here: it raises only a PipelineError (a failed job with its reason) or yields its rows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.errors import PipelineError
from pipelines.ingest import parse_batch, parse_csv
from tests.asgi import AppClient
from tests.factories import (
    BYTE_EDITS,
    ENVELOPES,
    ODD_JSON_VALUES,
    Tenant,
    csv_bytes,
    examples,
    item,
    mutate_bytes,
    new_facility,
    valid_rows,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/csv",
        "text/plain",
        "",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
    ]
)


def assert_answer(response: Any) -> None:
    """A job for a 2xx; otherwise a 4xx in the seed's format."""
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code < 300:
        assert response.status_code == 202 and body["job_id"] and body["status"] == "queued"
        return
    assert 400 <= response.status_code < 500 and set(body) == {"error"}, body
    error = body["error"]
    assert all(isinstance(error[k], str) and error[k] for k in ("type", "code", "message"))
    assert isinstance(error.get("field", ""), str)


def worker_parses(body: bytes, parse: Any, facility_id: str | None) -> None:
    try:
        parsed = parse(body, facility_id=facility_id)
    except PipelineError:
        return
    assert len(parsed.points) + len(parsed.rejected) + parsed.duplicates == parsed.rows


@pytest.fixture
def ingest(client: AppClient, alice: Tenant) -> dict[str, Any]:
    return {"client": client, "headers": alice.headers, "facility": new_facility(client, alice)}


def json_bodies(facility: str) -> st.SearchStrategy[bytes]:
    """Valid batches, the same with items retyped or bytes damaged, and any JSON at all."""
    batch = valid_rows(max_size=6).map(lambda rows: {"data": [item(r) for r in rows]})

    def retarget(doc: dict) -> dict:
        for point in doc["data"]:
            point["facility_id"] = facility
        return doc

    valid = batch.map(retarget)
    retyped = st.tuples(
        valid, st.sampled_from(["value", "timestamp", "tag", "facility_id"]), ODD_JSON_VALUES
    ).map(lambda t: {"data": [{**t[0]["data"][0], t[1]: t[2]}, *t[0]["data"][1:]]})
    documents = st.one_of(valid, retyped, ENVELOPES).map(lambda d: json.dumps(d).encode())
    damaged = st.tuples(documents, BYTE_EDITS).map(lambda t: mutate_bytes(*t))
    return st.one_of(documents, damaged, st.binary(max_size=300))


@FUZZ
@given(data=st.data(), content_type=CONTENT_TYPES)
@example(data=None, content_type="application/json")
def test_json_batches(ingest: dict[str, Any], data: Any, content_type: str) -> None:
    if data is None:  # arrays nested deeper than the JSON parser's stack
        body = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    else:
        body = data.draw(json_bodies(ingest["facility"]), label="body")
    headers = {**ingest["headers"], "Content-Type": content_type}
    response = ingest["client"].post("/v1/data-points", headers=headers, content=body)
    assert_answer(response)
    if response.status_code == 202:
        worker_parses(body, parse_batch, None)


@FUZZ
@given(
    rows=valid_rows(max_size=6),
    edits=st.one_of(st.just([]), BYTE_EDITS),
    garbage=st.one_of(st.none(), st.binary(max_size=300)),
    form_facility=st.sampled_from([None, "", "own", "fac_unknown", "\x00"]),
)
def test_csv_files(ingest: dict[str, Any], rows, edits, garbage, form_facility) -> None:
    for row in rows:
        row["facility_id"] = ingest["facility"]
    content = garbage if garbage is not None else mutate_bytes(csv_bytes(rows), edits)
    facility = ingest["facility"] if form_facility == "own" else form_facility
    response = ingest["client"].post(
        "/v1/data-points/import",
        headers=ingest["headers"],
        data={} if facility is None else {"facility_id": facility},
        files={"file": ("points.csv", content, "text/csv")},
    )
    assert_answer(response)
    if response.status_code == 202:
        worker_parses(content, parse_csv, (facility or "").strip() or None)
