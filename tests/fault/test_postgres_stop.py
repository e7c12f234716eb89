"""Stop PostgreSQL (a throwaway cluster, never the machine's) during an ingest: the task retries
and completes once the database is back, and meanwhile the API answers 503 in the error format
of the error format, never 500."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.factories import TimedOut, make_tenant
from tests.fault import harness as h
from tests.fault.harness import environment
from tests.services import unavailable
from worker.broker import free_port
from worker.processes import wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROWS = 200_000
OUTAGE = 5.0  # at least this long down (the worker's retries back off meanwhile)
PROBE_ROUNDS = 10  # ... and every API route probed at least this many times


@pytest.fixture(scope="module")
def cluster() -> Iterator[h.PgCluster]:
    if not (h.PG_BIN / "initdb").exists():
        unavailable("PostgreSQL's server programs", FileNotFoundError(h.PG_BIN / "initdb"))
    # Not under pytest's tmp dir: that one is private to root, and the cluster runs as postgres.
    cl = h.PgCluster(Path(tempfile.mkdtemp(prefix="tickwork-fault-pg-")))
    try:
        cl.init()
        cl.start()
        yield cl
    finally:
        with contextlib.suppress(Exception):
            if cl.running():
                cl.stop("immediate")
        shutil.rmtree(cl.dir, ignore_errors=True)


@pytest.fixture
def throwaway_db(cluster: h.PgCluster) -> Iterator[str]:
    """A migrated database of its own in the throwaway cluster."""
    from worker.storage.db import get_engine, upgrade

    if not cluster.running():
        cluster.start()
    name = f"fault_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = cluster.url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    get_engine.cache_clear()


@pytest.fixture
def outage_stack(
    throwaway_db: str, broker: h.RedisServer, tmp_path: Path
) -> Iterator[tuple[h.Processes, str]]:
    procs = h.Processes(env=environment(throwaway_db, broker.url, tmp_path), logs=tmp_path)
    try:
        yield procs, throwaway_db
    finally:
        procs.stop_all()


def _start_api(procs: h.Processes) -> str:
    port = free_port()
    proc = procs.api(port)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", proc=proc, timeout=30)
    return base


def _upload(api: httpx.Client, content: bytes, facility_id: str) -> httpx.Response:
    return api.post(
        "/v1/data-points/import",
        data={"facility_id": facility_id},
        files={"file": ("points.csv", content, "text/csv")},
    )


def _probe(api: httpx.Client, job_id: str, facility_id: str) -> list[httpx.Response]:
    """One round of API calls that all need the database."""
    params = {"facility_id": facility_id, "start_date": "2024-01-01", "end_date": "2024-12-31"}
    return [
        api.get(f"/v1/jobs/{job_id}"),
        api.get("/v1/data-points", params=params),
        api.get("/v1/facilities"),
        api.get("/v1/events"),
        _upload(api, b"tag,timestamp,value\nflow_0,2025-06-01T00:00:00Z,1.0\n", facility_id),
    ]


def _job(db: str, job_id: str) -> dict:
    return h.jobs(db, [job_id])[job_id]


def _running(db: str, job_id: str, cluster: h.PgCluster) -> bool:
    return _job(db, job_id)["status"] == "running"


def test_postgres_stopped_during_ingest(
    cluster: h.PgCluster, outage_stack: tuple[h.Processes, str]
) -> None:
    procs, db = outage_stack
    who = make_tenant(db, "T")
    procs.worker("w1", queues="ingest,analysis")
    base = _start_api(procs)
    with httpx.Client(base_url=base, headers=who.headers, timeout=30) as api:
        fac = api.post("/v1/facilities", json={"name": "P"}).json()["id"]
        accepted = _upload(api, h.meter_csv(ROWS), fac)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        procs.wait(lambda: _running(db, job_id, cluster), timeout=60, what="the ingest to run")

        cluster.stop("fast")
        down_at = time.monotonic()
        answers: list[httpx.Response] = []

        def probed_enough() -> bool:
            answers.extend(_probe(api, job_id, fac))
            return len(answers) >= PROBE_ROUNDS * 5 and time.monotonic() - down_at >= OUTAGE

        procs.wait(probed_enough, timeout=60, what="the API probed during the outage", every=0.25)
        cluster.start()
        up_at = time.monotonic()

        statuses = sorted({r.status_code for r in answers})
        assert statuses == [503], [
            (r.status_code, r.text[:200]) for r in answers if r.status_code != 503
        ]
        for r in answers:
            assert r.json() == {
                "error": {
                    "type": "service_unavailable",
                    "code": "database_unavailable",
                    "message": "the database is unavailable; retry in a few seconds",
                }
            }
            assert r.headers["retry-after"] == "5"

        def finished() -> dict | None:
            view = api.get(f"/v1/jobs/{job_id}")
            return (
                view.json()
                if view.status_code == 200 and view.json()["status"] in ("succeeded", "failed")
                else None
            )

        view = procs.wait(finished, timeout=90, what="the ingest to finish after the outage")
        done = time.monotonic() - up_at
        assert view["status"] == "succeeded", view
        assert view["attempts"] >= 2
        assert (view["result"]["inserted"], view["result"]["duplicates"]) == (ROWS, 0)
        assert h.points_per_facility(db, fac) == (ROWS, ROWS)
        assert api.get("/v1/facilities").status_code == 200
    h.observe(
        "PostgreSQL stopped (pg_ctl -m fast) mid-ingest",
        f"{ROWS}-row ingest running; database down {OUTAGE:.0f} s; API probed meanwhile "
        "(5 routes incl. an upload); job, points afterwards",
        f"{len(answers)} API answers during the outage, all 503 database_unavailable with "
        f"Retry-After (0 x 500); job succeeded {done:.1f} s after the database returned, "
        f"attempts={view['attempts']}; points {ROWS} exact",
    )


def test_outage_longer_than_retry_budget_still_finishes_the_job(
    cluster: h.PgCluster, outage_stack: tuple[h.Processes, str]
) -> None:
    procs, db = outage_stack
    procs.env["TICKWORK_TASK_MAX_RETRIES"] = "1"  # a budget of 0-2 s instead of 0-62 s
    procs.env["TICKWORK_STALE_JOB_SECONDS"] = "1"
    who = make_tenant(db, "T")
    fac = h.facility(db, tenant_id=who.id)
    job_id = h.ingest_job(db, tenant_id=who.id, facility_id=fac, content=h.meter_csv(ROWS))
    procs.worker("w1", queues="ingest,analysis")
    procs.beat("beat")  # jobs.requeue_stale every second: it would re-send a stuck job
    h.publish(procs.env["TICKWORK_BROKER_URL"], "ingest.process_upload", job_id)
    h.mark_enqueued(db, job_id)
    procs.wait(lambda: _running(db, job_id, cluster), timeout=60, what="the ingest to run")
    cluster.stop("fast")
    down_at = time.monotonic()
    # Down until the task has spent its retry budget: its one retry ran and ended (gave up
    # inside the job, or raised when the database was not even there to start the attempt).
    procs.wait(
        lambda: h.outcomes(procs, "w1", "ingest.process_upload", job_id),
        timeout=60,
        what="the ingest to spend its retries while the database is down",
    )
    down_for = time.monotonic() - down_at
    cluster.start()
    try:
        procs.wait(
            lambda: _job(db, job_id)["status"] == "succeeded",
            timeout=45,
            what="the ingest to finish after the outage",
        )
        view = _job(db, job_id)
        # Finished is not enough: every row stored once, none lost to the outage or the re-send.
        assert h.points_per_facility(db, fac) == (ROWS, ROWS)
        h.observe(
            "PostgreSQL down longer than the retry budget",
            "TICKWORK_TASK_MAX_RETRIES=1, database down mid-ingest until the retry gave up "
            f"({down_for:.1f} s), beat running",
            f"job succeeded (attempts={view['attempts']}): re-sent by jobs.requeue_stale once "
            f"its worker's heartbeat had stopped for TICKWORK_JOB_SILENT_SECONDS; points {ROWS} "
            "exact",
        )
    except TimedOut as exc:
        view = _job(db, job_id)
        h.observe(
            "PostgreSQL down longer than the retry budget (FAILED)",
            "TICKWORK_TASK_MAX_RETRIES=1, database down mid-ingest until the retry gave up "
            f"({down_for:.1f} s), beat running",
            f"job still '{view['status']}' (attempts={view['attempts']}) 45 s after the "
            "database returned: its message was acked when the retries ran out",
        )
        raise h.Violation(f"{exc}; the job is {view['status']}") from exc
