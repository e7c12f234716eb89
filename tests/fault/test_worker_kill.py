"""SIGKILL a worker in the middle of an ingest: the job is redelivered, runs again, and its
points are stored exactly once."""

from __future__ import annotations

import time

import pytest

from tests.fault import harness as h
from tests.fault.harness import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SIZES = (200_000, 60_000, 60_000)


def _queue_ingests(stack: Stack, sizes: tuple[int, ...]) -> tuple[list[str], list[str]]:
    who = stack.tenant()
    facilities, job_ids = [], []
    for i, n in enumerate(sizes):
        fac = h.facility(stack.db, tenant_id=who.id, name=f"P{i}")
        job = h.ingest_job(
            stack.db, tenant_id=who.id, facility_id=fac, content=h.meter_csv(n, seed=i)
        )
        h.publish(stack.broker.url, "ingest.process_upload", job)
        h.mark_enqueued(stack.db, job)
        facilities.append(fac)
        job_ids.append(job)
    return facilities, job_ids


def _running_and_unstored(stack: Stack, job_id: str, facility_id: str) -> bool:
    job = h.jobs(stack.db, [job_id])[job_id]
    return job["status"] == "running" and h.points_per_facility(stack.db, facility_id)[0] == 0


def _check_exact(stack: Stack, facilities: list[str], job_ids: list[str]) -> dict[str, dict]:
    views = h.jobs(stack.db, job_ids)
    for fac, job, n in zip(facilities, job_ids, SIZES[: len(job_ids)], strict=True):
        assert views[job]["status"] == "succeeded", views[job]
        assert h.points_per_facility(stack.db, fac) == (n, n)
        result = views[job]["result"]
        assert (result["rows"], result["inserted"], result["duplicates"]) == (n, n, 0)
    completed = h.rows(
        stack.db,
        "SELECT payload->'data'->>'job_id', count(*) FROM event "
        "WHERE type = 'ingest.completed' GROUP BY 1",
    )
    assert dict(completed) == dict.fromkeys(job_ids, 1)  # one event per job, none twice
    analyses = [views[j]["result"]["analysis_job_id"] for j in job_ids]
    kinds = h.rows(stack.db, "SELECT count(*) FROM job WHERE kind = 'analysis.analyse_ingest'")
    assert kinds == [(len(job_ids),)]  # one follow-up analysis per ingest
    stack.procs.wait(
        lambda: all(v["status"] == "succeeded" for v in h.jobs(stack.db, analyses).values()),
        timeout=60,
        what="the follow-up analyses",
    )
    return views


def _succeeded_after(
    stack: Stack, job_ids: list[str], killed_at: float, *, what: str, timeout: float = 60
) -> float:
    """Wait until every job has succeeded; the seconds from the kill."""
    stack.procs.wait(
        lambda: all(v["status"] == "succeeded" for v in h.jobs(stack.db, job_ids).values()),
        timeout=timeout,
        what=what,
    )
    return time.monotonic() - killed_at


def test_sigkill_whole_worker_mid_ingest_then_new_worker(stack: Stack) -> None:
    """The worker and its pool die at once (OOM killer, power loss): nothing acks or requeues
    the messages it held, so they come back after the visibility timeout."""
    facilities, job_ids = _queue_ingests(stack, SIZES)
    big_job, big_fac = job_ids[0], facilities[0]
    first = stack.procs.worker("w1")
    stack.procs.wait(
        lambda: _running_and_unstored(stack, big_job, big_fac),
        timeout=60,
        what="the 200k-row ingest to be running",
    )
    stack.procs.kill(first)
    killed_at = time.monotonic()
    at_kill = h.jobs(stack.db, job_ids)
    assert at_kill[big_job]["status"] == "running"  # the kill landed mid-task...
    assert h.points_per_facility(stack.db, big_fac) == (0, 0)  # ...before its commit
    unfinished = [j for j in job_ids if at_kill[j]["status"] != "succeeded"]

    # A replacement worker comes up once the dead worker's messages are visible again; started
    # earlier, it would pick them up at its next restore sweep (every 30 s) instead.
    h.wait_visible_again(stack.procs, stack.broker)
    stack.procs.worker("w2")
    recovered = _succeeded_after(
        stack, job_ids, killed_at, what="every ingest job to succeed after the restart"
    )
    views = _check_exact(stack, facilities, job_ids)
    assert views[big_job]["attempts"] == 2
    h.observe(
        "SIGKILL whole worker mid-ingest",
        f"{len(SIZES)} jobs ({sum(SIZES)} rows); killed while the 200k-row job was running; "
        "new worker; point counts, job results, events",
        f"{len(unfinished)} jobs unfinished at the kill; all {len(SIZES)} succeeded "
        f"{recovered:.1f} s after the kill (visibility timeout {h.VISIBILITY} s); killed job "
        f"attempts={views[big_job]['attempts']}; points {'/'.join(map(str, SIZES))} exact, "
        "0 duplicates; 1 ingest.completed per job",
    )


def test_sigkill_pool_process_mid_ingest(stack: Stack) -> None:
    """Only the process running the task dies: the worker requeues the message at once
    (reject_on_worker_lost) and runs it again."""
    marker = h.pause_at(stack.procs, "ingest_parsed")  # the 200k-row job: it comes first
    facilities, job_ids = _queue_ingests(stack, SIZES[:2])
    big_job, big_fac = job_ids[0], facilities[0]
    worker = stack.procs.worker("w1", concurrency=1)
    h.wait_paused(stack.procs, marker)
    assert _running_and_unstored(stack, big_job, big_fac)
    killed_at = h.kill_paused_child(stack.procs, marker, worker)
    recovered = _succeeded_after(
        stack, job_ids, killed_at, what="every ingest job to succeed after the pool process died"
    )
    views = _check_exact(stack, facilities, job_ids)
    assert views[big_job]["attempts"] == 2
    assert worker.poll() is None  # the same worker carried on
    h.observe(
        "SIGKILL pool process mid-ingest",
        "2 jobs (260000 rows), concurrency 1; the pool process running the 200k-row job "
        "killed; the same worker carries on; point counts, job results, events",
        f"both jobs succeeded {recovered:.1f} s after the kill; killed job "
        f"attempts={views[big_job]['attempts']}; points exact, 0 duplicates",
    )


# The product's defaults for these (the suite's environment shortens them).
DEFAULT_TIMINGS = {
    "TICKWORK_VISIBILITY_TIMEOUT": "3600",
    "TICKWORK_TASK_SOFT_TIME_LIMIT": "1500",
    "TICKWORK_TASK_TIME_LIMIT": "1800",
}
RECOVERY_TARGET = 120  # s from the kill to the result on default settings (docs/architecture.md)
VISIBILITY_TIMEOUT = 3600  # Redis default: without the heartbeat, recovery waits this long


def test_sigkill_whole_worker_default_settings_job_completes_within_two_minutes(
    stack: Stack,
) -> None:
    """On Redis with default settings (visibility timeout one hour), a worker killed whole in the
    middle of an ingest and started again, as a supervisor does: the job's heartbeat stops, beat's
    `jobs.requeue_stale` (every 30 s) sends the job again, and it completes within two minutes
    with one result and one set of events."""
    stack.procs.env.update(DEFAULT_TIMINGS)
    for key in (
        "TICKWORK_STALE_JOB_SECONDS",
        "TICKWORK_JOB_HEARTBEAT_SECONDS",
        "TICKWORK_JOB_SILENT_SECONDS",
    ):
        stack.procs.env.pop(key, None)
    facilities, job_ids = _queue_ingests(stack, SIZES)
    big_job, big_fac = job_ids[0], facilities[0]
    first = stack.procs.worker("w1")
    stack.procs.beat("beat", schedule_app=stack.procs._app())  # the product's schedule
    stack.procs.wait(
        lambda: _running_and_unstored(stack, big_job, big_fac),
        timeout=60,
        what="the 200k-row ingest to be running",
    )
    stack.procs.kill(first)
    killed_at = time.monotonic()
    assert h.points_per_facility(stack.db, big_fac) == (0, 0)  # killed before its commit
    stack.procs.worker("w2")  # restarted at once, as `tickwork serve` or systemd would

    # The property: the heartbeat brings the job back long before the visibility timeout would.
    # How long it takes is a figure (observed below, ~65 s on a quiet machine), not a pass/fail:
    # a loaded machine must not fail the test, so the wait is generous.
    recovered = _succeeded_after(
        stack,
        job_ids,
        killed_at,
        what="every ingest to succeed after the kill (heartbeat recovery)",
        timeout=4 * RECOVERY_TARGET,
    )
    assert recovered < VISIBILITY_TIMEOUT / 4
    views = _check_exact(stack, facilities, job_ids)
    stored = [h.points_per_facility(stack.db, fac)[0] for fac in facilities]
    h.observe(
        "SIGKILL whole worker mid-ingest, default settings (visibility timeout 1 h)",
        f"{len(SIZES)} jobs ({sum(SIZES)} rows); worker killed while the 200k-row job ran and "
        "started again at once; beat on the product schedule",
        f"all succeeded {recovered:.1f} s after the kill (target {RECOVERY_TARGET} s); killed "
        f"job attempts={views[big_job]['attempts']}; points stored "
        f"{'/'.join(map(str, stored))} of {'/'.join(map(str, SIZES))}, 0 duplicates; "
        "1 ingest.completed and 1 analysis per job",
    )


def test_sigkill_worker_holding_a_message_it_had_not_started(stack: Stack) -> None:
    """A worker holds messages a little before a pool process starts them (here for long: one
    process, prefetch two). Killed then, it leaves the held job "queued" while its message sits
    unacknowledged in the broker for the visibility timeout (an hour). The worker vouched for the
    held job, so when it falls silent beat's `jobs.requeue_stale` sends the job again."""
    stack.procs.env.update(
        DEFAULT_TIMINGS, TICKWORK_JOB_HEARTBEAT_SECONDS="2", TICKWORK_JOB_SILENT_SECONDS="6"
    )
    # The running ingest stops once parsed, for longer than the test needs: the kill lands
    # there however busy the machine is.
    marker = h.pause_at(stack.procs, "ingest_parsed", seconds=120)
    sizes = SIZES[:2]
    facilities, job_ids = _queue_ingests(stack, sizes)
    big_job, held_job = job_ids
    first = stack.procs.worker("w1", concurrency=1, prefetch_multiplier=2)
    h.wait_paused(stack.procs, marker)
    stack.procs.wait(
        lambda: (
            h.rows(
                stack.db,
                f"SELECT status, heartbeat_at IS NOT NULL FROM job WHERE id = '{held_job}'",
            )
            == [("queued", True)]
        ),
        timeout=60,
        what="the next message to be held (the worker vouching for it), not started",
    )
    assert _running_and_unstored(stack, big_job, facilities[0])
    # Beat only now: started with the worker, its first message could take the second prefetch
    # slot before the held ingest does. The worker's two slots are full, so it takes no more.
    stack.procs.beat("beat")
    stack.procs.kill(first)
    killed_at = time.monotonic()
    stack.procs.worker("w2")
    recovered = _succeeded_after(
        stack, job_ids, killed_at, what="both ingests to succeed after the kill", timeout=180
    )
    assert recovered < VISIBILITY_TIMEOUT / 4  # not the broker's redelivery
    views = h.jobs(stack.db, job_ids)
    assert views[held_job]["attempts"] == 1  # never started by the killed worker
    assert any(
        "went silent before starting it" in line["message"] for line in views[held_job]["logs"]
    )
    for fac, n in zip(facilities, sizes, strict=True):
        assert h.points_per_facility(stack.db, fac) == (n, n)
    h.observe(
        "SIGKILL worker holding a message it had not started (visibility timeout 1 h)",
        "2 ingests, one pool process with prefetch 2: the 200k-row job running, the 60k-row "
        "job's message held; worker killed, another started",
        f"both succeeded {recovered:.1f} s after the kill; the held job sent again by "
        f"jobs.requeue_stale (attempts {views[held_job]['attempts']}); points exact",
    )
