"""A real prefork worker (two pool processes) with JSON logs and metrics on its own port, on
Redis and on RabbitMQ: its log lines are JSON carrying the job and tenant ids, and its main
process serves the task metrics of every pool process and the queue gauges."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.asgi import AppClient
from tests.factories import make_tenant, stack_env, upload, wait_for, wait_job
from worker import processes
from worker.broker import free_port
from worker.kinds import QUEUES

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

INGEST = "ingest.process_upload"


@pytest.fixture
def observed(pg_db: str, redis_url: str, broker: str, configure, tmp_path: Path) -> Iterator[dict]:
    env_vars = stack_env(pg_db, broker, redis_url, tmp_path)
    configure(**env_vars)
    port = free_port()
    env = {
        **os.environ,
        **env_vars,
        "TICKWORK_LOG_FORMAT": "json",
        "TICKWORK_METRICS_PORT": str(port),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the worker sets up its own
    log = tmp_path / "worker.log"
    worker = processes.start(
        processes.worker_command(concurrency=2, loglevel="INFO"), env=env, log_file=log
    )
    url = f"http://127.0.0.1:{port}/metrics"
    from api.app import create_app

    with processes.running(worker), AppClient(create_app()) as client:
        processes.wait_http(url, proc=worker, timeout=60)
        yield {"client": client, "db": pg_db, "log": log, "metrics": url}


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_worker_logs_json_with_job_and_tenant_and_serves_metrics(observed: dict) -> None:
    client = observed["client"]
    who = make_tenant(observed["db"], "A")
    fac = client.post("/v1/facilities", headers=who.headers, json={"name": "P"}).json()["id"]
    good = [  # two tags: their follow-up analyses touch different rows
        "".join(f"{tag},2025-01-01T00:{m:02d}:00Z,{m}\n" for m in range(30)).encode()
        for tag in ("flow", "kwh")
    ]
    jobs = [upload(client, who, b"tag,timestamp,value\n" + rows, facility_id=fac) for rows in good]
    # Passes the API's header check, fails in the worker: a column named twice.
    bad = upload(
        client, who, b"tag,timestamp,value,value\nflow,2025-01-03T00:00:00Z,1,2\n", facility_id=fac
    )
    assert [wait_job(client, who, j)["status"] for j in jobs] == ["succeeded"] * 2
    assert wait_job(client, who, bad)["status"] == "failed"

    # The last observations land just after each job's row is final: wait for them.
    def observed_runs() -> tuple[int, dict] | None:
        samples = scrape(observed["metrics"])
        done = metric(samples, "tickwork_task_duration_seconds_count", task=INGEST)
        return (done, samples) if done >= 3 else None

    done, samples = wait_for(observed_runs, timeout=60, what="three observed runs", every=0.2)
    # Three runs over two pool processes, summed by the main process.
    assert done == 3
    assert metric(samples, "tickwork_task_duration_seconds_bucket", task=INGEST, le="+Inf") == 3
    assert metric(samples, "tickwork_task_duration_seconds_sum", task=INGEST) > 0
    assert metric(samples, "tickwork_task_failures_total", task=INGEST, reason="job_failed") == 1
    assert metric(samples, "tickwork_task_failures_total", task=INGEST, reason="exception") == 0
    assert {
        q
        for (name, labels) in samples
        if name == "tickwork_queue_depth"
        for k, q in labels
        if k == "queue"
    } == set(QUEUES)
    assert metric(samples, "tickwork_metrics_source_up", source="broker") == 1
    assert metric(samples, "tickwork_metrics_source_up", source="database") == 1

    lines = [line for line in observed["log"].read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) for r in records)
    assert all({"timestamp", "level", "logger", "message"} <= r.keys() for r in records)
    for job in (*jobs, bad):
        mine = [r for r in records if r.get("job_id") == job]
        assert any(r["message"].startswith(f"Task {INGEST}[{job}] received") for r in mine)
        in_task = [r for r in mine if r.get("task_name") == INGEST and "tenant_id" in r]
        assert any(f"[{job}] succeeded" in r["message"] for r in in_task), mine
        assert {r["tenant_id"] for r in in_task} == {who.id}
    assert {r["tenant_id"] for r in records if "tenant_id" in r} == {who.id}
    assert who.key not in observed["log"].read_text()
