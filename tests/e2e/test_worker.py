"""End to end through a real Celery worker process on real PostgreSQL, with Redis and with
RabbitMQ as the broker (every test runs on both; Redis holds locks and rate limits either way)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.synthetic import make_series, to_csv_bytes
from tests.asgi import AppClient
from tests.factories import (
    SEED_GAP,
    Tenant,
    make_tenant,
    stack_env,
    upload,
    wait_job,
    wait_worker_ready,
)
from worker import processes

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def stack(pg_db: str, redis_url: str, broker: str, configure, tmp_path: Path) -> Iterator[dict]:
    env_vars = stack_env(pg_db, broker, redis_url, tmp_path)
    configure(**env_vars)
    worker = processes.start(
        processes.worker_command(concurrency=2, loglevel="INFO"),
        env={**os.environ, **env_vars},
        log_file=tmp_path / "worker.log",
    )
    from api.app import create_app

    with processes.running(worker), AppClient(create_app()) as client:
        wait_worker_ready(tmp_path / "worker.log", worker, broker)
        yield {
            "client": client,
            "db": pg_db,
            "broker": broker,
            "log": tmp_path / "worker.log",
            "worker": worker,
        }


def count(client: AppClient, who: Tenant, facility_id: str) -> int:
    page = client.get(
        "/v1/data-points",
        headers=who.headers,
        params={
            "facility_id": facility_id,
            "start_date": "2000-01-01",
            "end_date": "2100-01-01",
            "limit": 1,
        },
    )
    return page.json()["pagination"]["total"]


def test_csv_ingest_then_reingest_changes_nothing(stack: dict) -> None:
    client, who = stack["client"], make_tenant(stack["db"], "A")
    fac = client.post("/v1/facilities", headers=who.headers, json={"name": "P"}).json()["id"]
    frame, _ = make_series("2025-01-01", "2025-01-03", faults_per_tag=2)
    content = to_csv_bytes(frame, facility_id=fac)

    first = wait_job(client, who, upload(client, who, content))
    assert first["status"] == "succeeded", first
    assert first["result"]["rows"] == len(frame) == first["result"]["inserted"]
    assert first["result"]["rejected"] == 0
    assert first["attempts"] == 1 and first["duration_ms"] >= 0
    messages = [line["message"] for line in first["logs"]]
    rows = len(frame)
    expected = [  # timings vary; everything else is known
        "queued",
        r"attempt 1 started on \S+",
        rf"parsed {rows} rows in \d+\.\d\d s: {rows} valid, 0 rejected, 0 repeated in the upload",
        rf"created {frame['tag'].nunique()} tag\(s\): .+",
        r"stored in \d+\.\d\d s total",
        r"analysis queued as job_\w+",
    ]
    assert len(messages) >= len(expected), messages
    for message, pattern in zip(messages, expected, strict=False):
        assert re.fullmatch(pattern, message), (pattern, messages)
    assert count(client, who, fac) == len(frame)

    again = wait_job(client, who, upload(client, who, content))
    first_result = dict(first["result"])
    assert first_result.pop("analysis_job_id").startswith("job_")  # it changed data: analyse
    assert again["result"] | {"tags_created": []} == {  # it changed nothing: no analysis
        **first_result,
        "inserted": 0,
        "duplicates": len(frame),
        "tags_created": [],
    }
    assert count(client, who, fac) == len(frame)


def test_bad_rows_are_recorded_with_reasons(stack: dict) -> None:
    client, who = stack["client"], make_tenant(stack["db"], "A")
    fac = client.post("/v1/facilities", headers=who.headers, json={"name": "P"}).json()["id"]
    content = (
        b"tag,timestamp,value,quality\n"
        b"flow,2025-01-01T00:00:00Z,1.0,good\n"
        b"flow,2025-01-01T00:01:00,1.0,good\n"
        b"flow,2025-01-01T00:02:00Z,one,good\n"
        b"flow,2025-01-01T00:03:00Z,inf,good\n"
        b"flow,2025-01-01T00:04:00Z,1.0,smelly\n"
        b"flow,2025-01-01T00:05:00Z,2.0,bad\n"
    )
    view = wait_job(client, who, upload(client, who, content, facility_id=fac))
    assert view["result"]["rows"] == 6
    assert (view["result"]["accepted"], view["result"]["rejected"]) == (2, 4)
    rows = client.get(f"/v1/jobs/{view['id']}/rejected-rows", headers=who.headers).json()
    assert [(r["row"], r["reason"]) for r in rows["data"]] == [
        (3, "timestamp '2025-01-01T00:01:00' has no UTC offset (add Z or +hh:mm)"),
        (4, "value 'one' is not a number"),
        (5, "value 'inf' is not a finite number"),
        (6, "quality 'smelly' is not good/uncertain/bad"),
    ]
    assert rows["data"][1]["raw"] == "flow,2025-01-01T00:02:00Z,one,good"
    points = client.get(
        "/v1/data-points",
        headers=who.headers,
        params={"facility_id": fac, "start_date": "2025-01-01", "end_date": "2025-01-01"},
    ).json()
    assert [(p["value"], p["quality"]) for p in points["data"]] == [(1.0, "good"), (2.0, "bad")]


def test_json_batch_with_bad_items(stack: dict) -> None:
    client, who = stack["client"], make_tenant(stack["db"], "A")
    fac = client.post("/v1/facilities", headers=who.headers, json={"name": "P"}).json()["id"]
    data = [
        {"facility_id": fac, "tag": "kwh", "timestamp": "2025-01-01T00:00:00Z", "value": 10},
        {"facility_id": fac, "tag": "kwh", "timestamp": "2025-01-01T01:00:00Z", "value": "11.5"},
        {"facility_id": fac, "tag": "kwh", "timestamp": "2025-01-01T02:00:00Z", "value": None},
        "not an object",
        {"facility_id": fac, "tag": "kwh", "timestamp": 1735693200, "value": 12},
    ]
    job = client.post("/v1/data-points", headers=who.headers, json={"data": data}).json()
    view = wait_job(client, who, job["job_id"])
    assert (view["result"]["accepted"], view["result"]["rejected"]) == (2, 3)
    reasons = [
        r["reason"]
        for r in client.get(f"/v1/jobs/{view['id']}/rejected-rows", headers=who.headers).json()[
            "data"
        ]
    ]
    assert reasons == [
        "value is empty",
        "item is not a JSON object",
        "timestamp '1735693200' is not an ISO 8601 date-time",
    ]


# The largest file once, on Redis: the other tests here already run on both brokers, and this
# one (~40 s) would add the same path again.
@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_million_row_file_with_bad_rows(stack: dict) -> None:
    client, who = stack["client"], make_tenant(stack["db"], "A")
    fac = client.post("/v1/facilities", headers=who.headers, json={"name": "P"}).json()["id"]
    n = 1_000_000
    stamps = pd.date_range("2024-01-01", periods=n // 4, freq="1min", tz="UTC")
    text = np.tile(stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(), 4)
    values = np.round(np.random.default_rng(1).normal(100, 5, n), 3).astype(str)
    bad = np.arange(7, n, 100_003)  # ten bad values spread through the file
    values[bad] = "n/a"
    frame = pd.DataFrame(
        {"tag": np.repeat(["a", "b", "c", "d"], n // 4), "timestamp": text, "value": values}
    )
    content = frame.to_csv(index=False).encode()
    view = wait_job(client, who, upload(client, who, content, facility_id=fac), timeout=300)
    assert view["status"] == "succeeded", view
    assert view["result"]["rows"] == n
    assert (view["result"]["inserted"], view["result"]["rejected"]) == (n - len(bad), len(bad))
    rows = client.get(
        f"/v1/jobs/{view['id']}/rejected-rows", headers=who.headers, params={"limit": 1000}
    ).json()
    assert [r["row"] for r in rows["data"]] == list(bad + 2)
    assert count(client, who, fac) == n - len(bad)


def test_unreadable_upload_fails_the_job_cleanly(stack: dict) -> None:
    """A JSON batch that became unreadable (e.g. stored by an older API) fails with a reason."""
    from worker.dispatch import dispatch
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job
    from worker.storage.uploads import save_upload

    client, who = stack["client"], make_tenant(stack["db"], "A")
    with session_scope(stack["db"]) as s:
        kept = save_upload(s, tenant_id=who.id, content=b"[1, 2", content_type="application/json")
        job = create_job(s, tenant_id=who.id, kind="ingest.process_upload", upload_id=kept.id)
    assert dispatch(job.id, job.kind)
    view = wait_job(client, who, job.id)
    assert view["status"] == "failed"
    assert view["error"].startswith("malformed_input: the batch is not valid JSON")
    assert view["logs"][-1]["level"] == "error"


def test_ingest_is_followed_by_gap_analysis(stack: dict) -> None:
    client, who = stack["client"], make_tenant(stack["db"], "A")
    fac = client.post("/v1/facilities", headers=who.headers, json={"name": "P"}).json()["id"]
    tag = {"name": "flow_rate", "unit": "m3/h", "expected_interval_seconds": 60}
    assert (
        client.post(f"/v1/facilities/{fac}/tags", headers=who.headers, json=tag).status_code == 201
    )
    stamps = [
        *pd.date_range("2025-01-15T11:00Z", "2025-01-15T12:00Z", freq="1min"),
        *pd.date_range("2025-01-15T14:30Z", "2025-01-15T15:00Z", freq="1min"),
    ]
    body = "tag,timestamp,value\n" + "".join(
        f"flow_rate,{t.strftime('%Y-%m-%dT%H:%M:%SZ')},125.4\n" for t in stamps
    )
    ingest = wait_job(client, who, upload(client, who, body.encode(), facility_id=fac))
    analysis = wait_job(client, who, ingest["result"]["analysis_job_id"])
    assert analysis["status"] == "succeeded", analysis
    gaps = client.get("/v1/gaps", headers=who.headers, params={"facility_id": fac}).json()
    closed = [g for g in gaps["data"] if g["status"] == "closed"]
    assert [(g["gap_start"], g["gap_end"], g["duration_minutes"]) for g in closed] == [
        ("2025-01-15T12:00:00Z", "2025-01-15T14:30:00Z", 150.0)
    ]
    events = client.get(
        "/v1/events", headers=who.headers, params={"type": "data_gap.detected"}
    ).json()["data"]
    seed = [e for e in events if e["data"]["gap_start"] == "2025-01-15T12:00:00Z"]
    assert len(seed) == 1
    assert seed[0]["data"] | {"gap_id": "-"} == {"gap_id": "-", "facility_id": fac, **SEED_GAP}
    assert (
        client.get("/v1/events", headers=who.headers, params={"type": "ingest.completed"}).json()[
            "pagination"
        ]["total"]
        == 1
    )
