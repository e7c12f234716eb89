"""Scale-out: two worker processes on separate queues, as on two machines, with one beat.

Worker A consumes ``ingest,analysis`` and worker B ``reports,documents,webhooks``. A full flow
(ingest -> analysis -> report and document -> webhooks) completes with each task run by the worker
that owns its queue, on Redis and on RabbitMQ; and a task for a queue nobody consumes stays queued
until a worker for that queue starts.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pytest

from tests.asgi import AppClient
from tests.documents_corpus import render_pdf, specs
from tests.factories import Tenant, TimedOut, make_tenant, wait_for, wait_worker_ready
from tests.fault.harness import receiving
from worker import processes
from worker.kinds import QUEUES, route_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

WORKER_A = ("ingest", "analysis")
WORKER_B = ("reports", "documents", "webhooks")
# Celery's worker log: "Task ingest.process_upload[job_...] received" when a worker takes a message.
RECEIVED = re.compile(r"Task ([\w.]+)\[([^\]]+)\] received")
T = TypeVar("T")


@dataclass
class Deployment:
    client: AppClient
    db: str
    broker: str
    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def workers(self, queues: dict[str, tuple[str, ...]]) -> None:
        """Start one worker per name, consuming only its queues (``tickwork worker -Q ...``)
        and logging to ``<name>.log``; wait until all are ready to consume."""
        for name, owned in queues.items():
            self.procs[name] = processes.start(
                processes.worker_command(queues=owned, concurrency=2, name=name),
                env=self.env,
                log_file=self.logs / f"{name}.log",
            )
        for name in queues:
            wait_worker_ready(self.logs / f"{name}.log", self.procs[name], self.broker)

    def beat(self) -> None:
        self.procs["beat"] = processes.start(
            processes.beat_command(schedule_file=self.logs / "celerybeat-schedule"),
            env=self.env,
            log_file=self.logs / "beat.log",
        )

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def received(self, name: str) -> list[tuple[str, str]]:
        """(task name, task id) of every message worker ``name`` took, in order."""
        return RECEIVED.findall(self.log(name))

    def ran_on(self, task_id: str) -> list[str]:
        """The workers whose log shows they took ``task_id`` (a job's task id is the job id)."""
        return [
            name
            for name in self.procs
            if name != "beat" and any(i == task_id for _, i in self.received(name))
        ]

    def wait(self, check: Callable[[], T], *, what: str, timeout: float = 120) -> T:

        def alive() -> None:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{self.log(name)[-3000:]}")

        try:
            return wait_for(check, timeout=timeout, what=what, every=0.2, guard=alive)
        except TimedOut as exc:
            raise AssertionError(f"{exc}:\n{self.tails()}") from None

    def tails(self) -> str:
        return "\n".join(f"--- {n}.log\n{self.log(n)[-2000:]}" for n in self.procs)


@pytest.fixture
def deployment(
    pg_db: str, redis_url: str, broker: str, configure, tmp_path: Path
) -> Iterator[Deployment]:
    env_vars = {
        "TICKWORK_DATABASE_URL": pg_db,
        "TICKWORK_BROKER_URL": broker,
        "TICKWORK_REDIS_URL": redis_url,  # locks and rate limits: Redis, whatever the broker
        "TICKWORK_DATA_DIR": str(tmp_path),
        "TICKWORK_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "TICKWORK_WEBHOOK_ALLOW_HTTP": "true",
    }
    configure(**env_vars)
    from api.app import create_app

    with AppClient(create_app()) as client:
        found = Deployment(client, pg_db, broker, {**os.environ, **env_vars}, tmp_path)
        try:
            yield found
        finally:
            processes.stop(*found.procs.values())


def job(d: Deployment, who: Tenant, job_id: str, *, status: str = "succeeded") -> dict:
    view = d.wait(
        lambda: (
            (v := d.client.get(f"/v1/jobs/{job_id}", headers=who.headers).json())["status"]
            in ("succeeded", "failed")
            and v
        ),
        what=f"job {job_id}",
    )
    assert view["status"] == status, view
    return view


def facility(d: Deployment, who: Tenant) -> str:
    fac = d.client.post("/v1/facilities", headers=who.headers, json={"name": "Valley RNG"})
    fac_id = fac.json()["id"]
    tag = {"name": "rng_flow", "unit": "m3/h", "expected_interval_seconds": 600}
    assert d.client.post(f"/v1/facilities/{fac_id}/tags", headers=who.headers, json=tag).is_success
    mapping = {"tag": "rng_flow", "fuel_pathway_code": "CNG-RNG-001", "fuel_type": "rng",
               "ci": 40.0, "unit": "m3", "kind": "rate", "rate_per": "h"}  # fmt: skip
    mapped = d.client.put(
        f"/v1/facilities/{fac_id}/fuel-mappings", headers=who.headers, json={"data": [mapping]}
    )
    assert mapped.status_code == 200, mapped.text
    return fac_id


def upload_day(d: Deployment, who: Tenant, fac: str) -> str:
    """One day of 10-minute readings with a 3-hour hole (a gap for the analysis to find)."""
    stamps = [
        *pd.date_range("2025-11-03T00:00Z", "2025-11-03T09:00Z", freq="10min"),
        *pd.date_range("2025-11-03T12:00Z", "2025-11-03T23:50Z", freq="10min"),
    ]
    body = "tag,timestamp,value\n" + "".join(
        f"rng_flow,{t.strftime('%Y-%m-%dT%H:%M:%SZ')},10.0\n" for t in stamps
    )
    response = d.client.post(
        "/v1/data-points/import",
        headers=who.headers,
        data={"facility_id": fac},
        files={"file": ("day.csv", body.encode(), "text/csv")},
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def request_report(d: Deployment, who: Tenant, fac: str) -> dict:
    body = {"facility_id": fac, "quarter": "Q4", "year": 2025, "format": "json"}
    response = d.client.post("/v1/reports", headers=who.headers, json=body)
    assert response.status_code == 202, response.text
    return response.json()


def assert_routed(d: Deployment, name: str, queues: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every message worker ``name`` took belongs to one of its own queues."""
    taken = d.received(name)
    strays = [(task, i) for task, i in taken if route_for(task) not in queues]
    assert strays == [], f"{name} ({','.join(queues)}) ran tasks of other queues: {strays}"
    return taken


def test_full_flow_across_two_workers_on_separate_queues(deployment: Deployment) -> None:
    d = deployment
    d.beat()  # exactly one beat: it fires webhooks.deliver (and the housekeeping) on schedule
    d.workers({"worker-a": WORKER_A, "worker-b": WORKER_B})
    who = make_tenant(d.db, "A")
    with receiving() as receiver:
        hook = d.client.post(
            "/v1/webhook-endpoints", headers=who.headers, json={"url": receiver.url}
        )
        assert hook.status_code == 201, hook.text
        fac = facility(d, who)

        ingest = job(d, who, upload_day(d, who, fac))
        analysis = job(d, who, ingest["result"]["analysis_job_id"])
        report = request_report(d, who, fac)
        pdf = render_pdf(specs(7, 1)[0])
        doc = d.client.post(
            "/v1/documents",
            headers=who.headers,
            files={"file": ("invoice.pdf", pdf, "application/pdf")},
        )
        assert doc.status_code == 202, doc.text
        job(d, who, report["job_id"])
        job(d, who, doc.json()["job_id"])
        expected = {"ingest.completed", "data_gap.detected", "report.generated",
                    "document.processed"}  # fmt: skip

        d.wait(
            lambda: expected <= delivered_types(d.db),
            what=f"webhooks for {sorted(expected)}",
            timeout=90,
        )
        assert len(receiver.requests) >= len(expected)  # really sent over HTTP

    ran = {
        "ingest": d.ran_on(ingest["id"]),
        "analysis": d.ran_on(analysis["id"]),
        "report": d.ran_on(report["job_id"]),
        "document": d.ran_on(doc.json()["job_id"]),
    }
    assert ran == {
        "ingest": ["worker-a"],
        "analysis": ["worker-a"],
        "report": ["worker-b"],
        "document": ["worker-b"],
    }, f"each job's worker: {ran}\n{d.tails()}"
    taken_a = assert_routed(d, "worker-a", WORKER_A)
    taken_b = assert_routed(d, "worker-b", WORKER_B)
    assert {t for t, _ in taken_b} >= {
        "reports.build_lcfs",
        "documents.process",
        "webhooks.deliver",
    }
    assert {t for t, _ in taken_a} >= {"ingest.process_upload", "analysis.analyse_ingest"}


def delivered_types(db: str) -> set[str]:
    """Event types of the webhook messages delivered so far."""
    from sqlalchemy import text

    from worker.storage.db import get_engine

    with get_engine(db).connect() as conn:
        sql = "SELECT DISTINCT event_type FROM webhook_message WHERE status = 'succeeded'"
        return set(conn.execute(text(sql)).scalars())


def test_a_queue_nobody_consumes_keeps_its_job_until_a_worker_for_it_starts(
    deployment: Deployment,
) -> None:
    from worker.observability.metrics import queue_depths

    d = deployment
    d.workers({"worker-b": WORKER_B})  # nobody consumes ingest or analysis yet
    who = make_tenant(d.db, "A")
    fac = facility(d, who)
    ingest_id = upload_day(d, who, fac)
    report = request_report(d, who, fac)  # the reports queue has a worker: this one runs
    job(d, who, report["job_id"])
    # The ingest was sent before the report, which B has already run to the end: had B consumed
    # the ingest queue it would have received the ingest by now, so still queued means ignored.
    view = d.client.get(f"/v1/jobs/{ingest_id}", headers=who.headers).json()
    assert (view["status"], view["attempts"]) == ("queued", 0), view
    assert queue_depths()["ingest"] == 1  # waiting in the broker (Redis list / RabbitMQ queue)
    assert d.ran_on(ingest_id) == []

    d.workers({"worker-a": WORKER_A})
    ingest = job(d, who, ingest_id)
    job(d, who, ingest["result"]["analysis_job_id"])
    assert d.ran_on(ingest_id) == ["worker-a"]
    assert queue_depths() == dict.fromkeys(QUEUES, 0)
    assert_routed(d, "worker-a", WORKER_A)
    assert_routed(d, "worker-b", WORKER_B)


def test_broker_settings_per_transport() -> None:
    """Redis gets its visibility timeout; RabbitMQ publisher confirms instead (it has no
    visibility timeout); on both, durable queues, late acks, requeue on worker loss, prefetch 1."""
    from worker.celery_app import make_app
    from worker.settings import Settings

    redis_conf = make_app(Settings(broker_url="redis://127.0.0.1:6379/0")).conf
    amqp_conf = make_app(Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//")).conf
    redis_options = redis_conf.broker_transport_options
    assert redis_options["visibility_timeout"] == Settings().visibility_timeout
    assert amqp_conf.broker_transport_options == {"confirm_publish": True}
    for conf in (redis_conf, amqp_conf):
        assert [(q.name, q.durable, q.exchange.durable) for q in conf.task_queues] == [
            (q, True, True) for q in QUEUES
        ]
        assert conf.task_acks_late and conf.task_reject_on_worker_lost
        assert conf.worker_prefetch_multiplier == 1
        assert conf.task_default_delivery_mode in (2, "persistent")  # survives a restart
