"""Restart the broker while tasks are queued and running: workers reconnect by themselves and
every job finishes.

The jobs are JSON batches. On connection loss Celery cancels running late-ack tasks with SIGTERM,
which the pool process turns into SystemExit; landing inside pandas' C CSV tokenizer that comes
out as a TypeError, and job_attempt then marks the job failed for good (see the report of the
fault suite). JSON parsing has no such window, so this test checks the broker restart itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import TimedOut
from tests.fault import harness as h
from tests.fault.harness import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

JOBS = 6
ROWS = 60_000
# Down for the visibility timeout: the running tasks' messages are visible again when the worker
# reconnects, so its first restore sweep returns them (after a shorter outage they wait for the
# next sweep, ~30 s later).
DOWN_SECONDS = float(h.VISIBILITY)
# Big enough to be running when the broker restarts, small enough to finish (and be analysed)
# well within the suite's soft time limit (VISIBILITY - 4 s) on a busy machine.
BUSY_ROWS = 100_000


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
    time.sleep(DOWN_SECONDS)  # the fault itself: an outage of this length, not a wait
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
    # How long this takes is a figure (observed below), not the property: on a loaded machine a
    # message held at the kill may come back only with a later restore sweep, so the wait is
    # generous, and a timeout says where each job stood.
    try:
        stack.procs.wait(
            lambda: all(s == "succeeded" for s, _ in _states(stack, job_ids).values()),
            timeout=200,  # within the per-test limit of 300 s (pyproject.toml)
            what="every job to succeed after the broker restart",
        )
    except TimedOut as exc:
        raise TimedOut(f"{exc}; jobs (status, attempts): {_states(stack, job_ids)}") from None
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


@pytest.fixture
def volatile_broker(stack: Stack, tmp_path: Path) -> Iterator[h.RedisServer]:
    """A Redis without persistence, as the embedded broker runs one (worker/broker.py), as the
    stack's broker and lock store; beat's ``jobs.requeue_stale`` re-sends after one second."""
    broker = h.RedisServer(tmp_path / "volatile", persistent=False)
    broker.start()
    for key in ("TICKWORK_BROKER_URL", "TICKWORK_REDIS_URL"):
        stack.procs.env[key] = broker.url
    stack.procs.env["TICKWORK_STALE_JOB_SECONDS"] = "1"
    yield broker
    broker.stop()


def test_restart_of_a_broker_without_persistence_loses_no_job(
    stack: Stack, volatile_broker: h.RedisServer
) -> None:
    procs = stack.procs
    who = stack.tenant()
    fac = h.facility(stack.db, tenant_id=who.id)
    job_ids = []
    for i in range(2):
        content = h.meter_csv(4_000, seed=i, start=f"202{i}-01-01")
        job = h.ingest_job(stack.db, tenant_id=who.id, facility_id=fac, content=content)
        h.publish(volatile_broker.url, "ingest.process_upload", job)
        h.mark_enqueued(stack.db, job)
        job_ids.append(job)
    assert volatile_broker.client().llen("ingest") == 2
    volatile_broker.kill()
    volatile_broker.start()
    assert volatile_broker.client().llen("ingest") == 0  # the restart lost both messages
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
    except TimedOut as exc:
        states = sorted(v["status"] for v in h.jobs(stack.db, job_ids).values())
        h.observe(
            "Broker without persistence (embedded config) restarted (FAILED)",
            "2 jobs queued, broker SIGKILLed and restarted empty; worker + beat "
            "(requeue_stale every second) started",
            f"jobs still {states} after 12 s: nothing re-sends a job whose message was lost",
        )
        raise h.Violation(str(exc)) from exc


def _ingest(stack: Stack, broker: h.RedisServer, *, tenant_id: str, rows: int, seed: int) -> tuple:
    fac = h.facility(stack.db, tenant_id=tenant_id, name=f"R{seed}")
    job = h.ingest_job(
        stack.db, tenant_id=tenant_id, facility_id=fac, content=h.meter_csv(rows, seed=seed)
    )
    h.publish(broker.url, "ingest.process_upload", job)
    h.mark_enqueued(stack.db, job)
    return fac, job


def _done(stack: Stack, job_id: str) -> bool:
    view = h.jobs(stack.db, [job_id])[job_id]
    follow_up = (view["result"] or {}).get("analysis_job_id")
    if view["status"] != "succeeded" or follow_up is None:
        return False
    return h.jobs(stack.db, [follow_up])[follow_up]["status"] == "succeeded"


def test_worker_survives_restarts_of_a_broker_without_persistence(
    stack: Stack, volatile_broker: h.RedisServer
) -> None:
    """A broker without persistence restarted under a connected worker, first idle, then in the
    middle of an ingest: the same worker process reconnects each time, the ingest and its
    analysis complete, and work sent after each restart completes."""
    procs = stack.procs
    who = stack.tenant()
    worker = procs.worker("w1")
    procs.beat("beat")  # jobs.requeue_stale every second: re-sends what the restart lost
    h.wait_consuming(procs, "w1")

    # 1. Idle.
    volatile_broker.kill()
    volatile_broker.start()
    idle_fac, idle_job = _ingest(stack, volatile_broker, tenant_id=who.id, rows=4_000, seed=1)
    procs.wait(
        lambda: _done(stack, idle_job), timeout=60, what="an ingest sent after the idle restart"
    )

    # 2. Busy: restarted while a bigger ingest runs.
    busy_fac, busy_job = _ingest(stack, volatile_broker, tenant_id=who.id, rows=BUSY_ROWS, seed=2)
    procs.wait(
        lambda: h.jobs(stack.db, [busy_job])[busy_job]["status"] == "running",
        timeout=60,
        what="the big ingest to run",
    )
    volatile_broker.kill()
    volatile_broker.start()
    restarted = time.monotonic()
    after_fac, after_job = _ingest(stack, volatile_broker, tenant_id=who.id, rows=4_000, seed=3)
    procs.wait(
        lambda: _done(stack, busy_job) and _done(stack, after_job),
        timeout=90,
        what="the interrupted ingest and one sent after the restart",
    )
    finished = time.monotonic() - restarted

    assert worker.poll() is None  # the same worker process throughout
    for fac, rows in ((idle_fac, 4_000), (busy_fac, BUSY_ROWS), (after_fac, 4_000)):
        assert h.points_per_facility(stack.db, fac) == (rows, rows)
    completed = h.rows(
        stack.db,
        "SELECT payload->'data'->>'job_id', count(*) FROM event "
        "WHERE type = 'ingest.completed' GROUP BY 1",
    )
    assert dict(completed) == {idle_job: 1, busy_job: 1, after_job: 1}
    busy = h.jobs(stack.db, [busy_job])[busy_job]
    h.observe(
        "Broker without persistence restarted under a connected worker, idle and mid-ingest",
        f"worker connected throughout; an ingest after the idle restart; a {BUSY_ROWS}-row "
        "ingest running at the second restart and another ingest sent after it",
        f"same worker process, never exited; all ingests and their analyses succeeded "
        f"({finished:.1f} s after the busy restart; interrupted job attempts="
        f"{busy['attempts']}); points exact; one ingest.completed per job",
    )
