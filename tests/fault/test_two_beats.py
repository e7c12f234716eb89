"""Two beat processes at once (a second beat started by mistake): each scheduled job still does
its work once per period.

Both beats run the real app with every schedule entry firing each second (tests/fault/
short_beat.py), so a few seconds hold many fires of every task from both beats. After each task's
first effect the test plants a canary or takes a snapshot, waits for several more fires, and
checks that nothing ran again inside the task's period.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.fault import harness as h
from tests.fault.harness import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# The period-locked tasks (5 minutes, an hour, a day) and the one that runs at every fire.
PERIODIC = ("analysis.scan_stale", "analysis.nightly_quality", "jobs.cleanup")
STALE_JOBS = 200
EVENTS = 40
MORE_FIRES = 6


def _gap(db: str) -> list[tuple]:
    return h.rows(db, "SELECT id, status, detected_at, updated_at, gap_end FROM gap ORDER BY id")


def _quality(db: str) -> list[tuple]:
    return h.rows(db, "SELECT id, period_start, computed_at FROM quality_score ORDER BY id")


def _event_exists(db: str, key: str) -> bool:
    return bool(h.scalar(db, "SELECT count(*) FROM event WHERE dedupe_key = :k", k=key))


def _unsent(db: str, ids: list[str]) -> int:
    return int(
        h.scalar(
            db, "SELECT count(*) FROM job WHERE id = ANY(:ids) AND enqueued_at IS NULL", ids=ids
        )
    )


def _all_delivered(db: str) -> bool:
    counts = dict(h.rows(db, "SELECT status, count(*) FROM webhook_message GROUP BY status"))
    return counts.get("succeeded", 0) >= EVENTS and set(counts) == {"succeeded"}


def test_two_beats_run_each_scheduled_job_once_per_period(stack: Stack) -> None:
    db, procs = stack.db, stack.procs
    who = stack.tenant()
    fac = h.facility(db, tenant_id=who.id)
    h.store_points(db, tenant_id=who.id, facility_id=fac, content=h.yesterday_csv())
    h.old_event(db, tenant_id=who.id, key="old")
    stale = h.stale_jobs(db, tenant_id=who.id, count=STALE_JOBS, kind="reports.build_lcfs")
    # Created an hour ago, so sent at the first sweep; and a queued job is sent again only once
    # published longer ago than the visibility timeout plus this (nobody consumes "reports"
    # here), which keeps a slow run from counting that second, legitimate send.
    procs.env["TICKWORK_STALE_JOB_SECONDS"] = "60"
    # The worker's period clock held at one instant: however long this takes, every fire falls in
    # the same period of each task, so "once per period" is checked without a boundary guard.
    procs.env["TICKWORK_TEST_FROZEN_CLOCK"] = str(time.time())
    with h.receiving(delay=0.05) as receiver:
        h.webhook_endpoint(db, tenant_id=who.id, url=receiver.url)
        keys = h.events(db, tenant_id=who.id, count=EVENTS)
        procs.worker("w1")
        procs.beat("beat1")
        procs.beat("beat2")

        # The first run of each task: a trailing gap opened, yesterday scored, the old event
        # deleted, the stale jobs published, the events delivered.
        procs.wait(lambda: _gap(db), timeout=60, what="scan_stale to open the trailing gap")
        procs.wait(lambda: _quality(db), timeout=60, what="nightly_quality to score yesterday")
        procs.wait(
            lambda: not _event_exists(db, "alert.triggered:old0"),
            timeout=60,
            what="cleanup to delete the old event",
        )
        procs.wait(lambda: _unsent(db, stale) == 0, timeout=60, what="the stale jobs to be sent")
        procs.wait(lambda: _all_delivered(db), timeout=60, what="the webhooks")
        gap, quality = _gap(db), _quality(db)
        h.old_event(db, tenant_id=who.id, key="canary")  # old enough for cleanup, if it ran
        base = {task: h.received(procs, "w1", task) for task in (*PERIODIC, "jobs.requeue_stale")}
        procs.wait(
            lambda: all(h.received(procs, "w1", t) >= n + MORE_FIRES for t, n in base.items()),
            timeout=60,
            what=f"{MORE_FIRES} more fires of every scheduled task",
        )
        h.wait_idle(procs, "w1")  # the last of them finished

        assert _gap(db) == gap  # not grown again: scan_stale ran once in its period
        assert _quality(db) == quality  # not rescored: nightly_quality ran once
        assert _event_exists(db, "alert.triggered:canary0")  # cleanup ran once in its period
        detected = h.scalar(db, "SELECT count(*) FROM event WHERE type = 'data_gap.detected'")
        assert detected == 1
        published = Counter(h.queued_task_ids(stack.broker.client(), "reports"))
        assert {j: published[j] for j in stale} == dict.fromkeys(stale, 1)  # each sent once
        per_id = receiver.per_id()
        by_event = receiver.ids_by_event()  # ours, and the gap and alert events of the scan
        assert {f'{{"n": "{k}", "rule": "fault-test"}}' for k in keys} <= set(by_event)
        assert set(per_id.values()) == {1}  # one HTTP delivery per message...
        assert {len(ids) for ids in by_event.values()} == {1}  # ...and one message per event

    fires = {name: procs.log(name).count("Sending due task") for name in ("beat1", "beat2")}
    runs = {t: h.received(procs, "w1", t) for t in (*PERIODIC, "jobs.requeue_stale")}
    assert min(fires.values()) >= len(PERIODIC) * MORE_FIRES  # both beats were firing
    received = ", ".join(f"{t.split('.')[-1]} {n}" for t, n in runs.items())
    h.observe(
        "Two beat processes at once",
        "every entry firing each second in both beats; after each task's first effect, "
        f"{MORE_FIRES}+ more fires: gap not regrown, day not rescored, canary event not deleted,"
        f" {STALE_JOBS} stale jobs, {EVENTS} webhook events",
        f"beat messages sent {fires['beat1']} + {fires['beat2']}; received per task {received}; "
        f"each period-locked task did its work once; 1 gap event; each stale job "
        f"published once; {len(per_id)} webhooks, each sent once",
    )
