"""Restart the broker while tasks are queued and running: workers reconnect by themselves and
every job finishes.

The jobs are JSON batches. On connection loss Celery cancels running late-ack tasks with SIGTERM,
which the pool process turns into SystemExit; landing inside pandas' C CSV tokenizer that comes
out as a TypeError, and job_attempt then marks the job failed for good (see the report of the
fault suite). JSON parsing has no such window, so this test checks the broker restart itself.
"""

from __future__ import annotations

import time

import pytest

from tests.fault import harness as h
from tests.fault.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

JOBS = 6
ROWS = 60_000
# Down for the visibility timeout: the running tasks' messages are visible again when the worker
# reconnects, so its first restore sweep returns them (after a shorter outage they wait for the
# next sweep, ~30 s later).
DOWN_SECONDS = float(h.VISIBILITY)


def _queue(stack: Stack) -> tuple[list[str], list[str]]:
    who = stack.tenant()
    facilities, job_ids = [], []
    for i in range(JOBS):
        fac = h.facility(stack.db, tenant_id=who.id, name=f"P{i}")
        job = h.ingest_job(
            stack.db,
            tenant_id=who.id,
            facility_id=fac,
            content=h.meter_json(ROWS, seed=i),
            content_type="application/json",
        )
        h.publish(stack.broker.url, "ingest.process_upload", job)
        h.mark_enqueued(stack.db, job)
        facilities.append(fac)
        job_ids.append(job)
    return facilities, job_ids


def _states(stack: Stack, job_ids: list[str]) -> dict[str, tuple[str, int]]:
    return {j: (v["status"], v["attempts"]) for j, v in h.jobs(stack.db, job_ids).items()}


def _busy_with_backlog(stack: Stack, job_ids: list[str]) -> bool:
    states = [status for status, _ in _states(stack, job_ids).values()]
    return states.count("running") >= 1 and states.count("queued") >= 2


def test_broker_restart_with_queued_and_running_tasks(stack: Stack) -> None:
    facilities, job_ids = _queue(stack)
    stack.procs.worker("w1")
    stack.procs.wait(
        lambda: _busy_with_backlog(stack, job_ids), timeout=60, what="a running job and a backlog"
    )
    stack.broker.kill()
    at_kill = _states(stack, job_ids)
    time.sleep(DOWN_SECONDS)
    stack.broker.start()  # same port, same append-only file
    up_at = time.monotonic()
    before = _states(stack, job_ids)

    def resumed() -> bool:
        now = _states(stack, job_ids)
        return any(
            now[j][1] > before[j][1] or (before[j][0] == "queued" and now[j][0] != "queued")
            for j in job_ids
        )

    stack.procs.wait(resumed, timeout=60, what="the worker to consume again after the restart")
    recovery = time.monotonic() - up_at
    stack.procs.wait(
        lambda: all(s == "succeeded" for s, _ in _states(stack, job_ids).values()),
        timeout=90,
        what="every job to succeed after the broker restart",
    )
    finished = time.monotonic() - up_at
    for fac in facilities:
        assert h.points_per_facility(stack.db, fac) == (ROWS, ROWS)
    after = h.jobs(stack.db, job_ids)
    assert all(v["result"]["inserted"] == ROWS for v in after.values())
    completed = h.scalar(stack.db, "SELECT count(*) FROM event WHERE type = 'ingest.completed'")
    assert completed == JOBS
    running = sum(s == "running" for s, _ in at_kill.values())
    queued = sum(s == "queued" for s, _ in at_kill.values())
    h.observe(
        "Broker (Redis, append-only) SIGKILLed and restarted",
        f"{JOBS} ingest jobs (JSON) x {ROWS} points, {running} running + {queued} queued at the "
        f"kill, broker down {DOWN_SECONDS:.0f} s; worker not restarted",
        f"worker consuming again {recovery:.1f} s after the broker was back; all {JOBS} jobs "
        f"succeeded {finished:.1f} s after it; points exact; attempts "
        f"{sorted(v['attempts'] for v in after.values())}",
    )


def test_restart_of_a_broker_without_persistence_loses_no_job(stack: Stack, tmp_path) -> None:
    broker = h.RedisServer(tmp_path / "embedded-like", persistent=False)  # as worker/embedded.py
    broker.start()
    try:
        procs = stack.procs
        for key in ("TICKWORK_BROKER_URL", "TICKWORK_REDIS_URL"):
            procs.env[key] = broker.url
        procs.env["TICKWORK_STALE_JOB_SECONDS"] = "1"
        who = stack.tenant()
        fac = h.facility(stack.db, tenant_id=who.id)
        job_ids = []
        for i in range(2):
            content = h.meter_csv(4_000, seed=i, start=f"202{i}-01-01")
            job = h.ingest_job(stack.db, tenant_id=who.id, facility_id=fac, content=content)
            h.publish(broker.url, "ingest.process_upload", job)
            h.mark_enqueued(stack.db, job)
            job_ids.append(job)
        assert broker.client().llen("ingest") == 2
        broker.kill()
        broker.start()
        assert broker.client().llen("ingest") == 0  # the restart lost both messages
        procs.worker("w1")
        procs.beat("beat")  # jobs.requeue_stale every second
        try:
            procs.wait(
                lambda: all(v["status"] == "succeeded" for v in h.jobs(stack.db, job_ids).values()),
                timeout=45,
                what="the queued jobs to run after the broker restart",
            )
            h.observe(
                "Broker without persistence restarted empty",
                "2 jobs queued, broker SIGKILLed and restarted empty; worker + beat started",
                "both jobs re-sent by jobs.requeue_stale once published longer ago than the "
                "visibility timeout, and succeeded",
            )
        except h.TimedOut as exc:
            states = sorted(v["status"] for v in h.jobs(stack.db, job_ids).values())
            h.observe(
                "Broker without persistence (embedded config) restarted (FAILED)",
                "2 jobs queued, broker SIGKILLed and restarted empty; worker + beat "
                "(requeue_stale every second) started",
                f"jobs still {states} after 12 s: nothing re-sends a job whose message was lost",
            )
            raise h.Violation(str(exc)) from exc
    finally:
        broker.stop()
