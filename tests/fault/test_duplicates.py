"""The same task message delivered twice (same arguments, same task id) through the real broker,
for every task type: the final state equals a single delivery's, with one external effect.

One worker (concurrency 2, prefetch 1) serves the module, so both copies of a message are
usually taken at once by its two pool processes; the tests that need the copies one after the
other publish the second when the first has finished.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import make_tenant
from tests.fault import harness as h
from tests.fault.harness import empty, environment

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROWS = 50_000


@dataclass
class Dup:
    db: str
    broker: h.RedisServer
    procs: h.Processes
    receiver: h.Receiver

    def finished(self, task: str, task_id: str, copies: int) -> list[str]:
        """Wait until ``copies`` copies of the message ran; what each returned."""
        return self.procs.wait(
            lambda: (
                (got := h.outcomes(self.procs, "w1", task, task_id)) and len(got) >= copies and got
            ),
            timeout=60,
            what=f"{copies} runs of {task}[{task_id}]",
        )


@pytest.fixture(scope="module")
def shared(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dup]:
    tmp: Path = tmp_path_factory.mktemp("duplicates")
    broker = h.RedisServer(tmp / "redis")
    broker.start()
    env = environment(pg_url, broker.url, tmp, TICKWORK_STALE_JOB_SECONDS="1")
    procs = h.Processes(env=env, logs=tmp)
    try:
        with h.receiving(delay=0.05) as receiver:
            empty(pg_url)
            procs.worker("w1")
            h.wait_consuming(procs, "w1")
            yield Dup(db=pg_url, broker=broker, procs=procs, receiver=receiver)
    finally:
        procs.stop_all()
        broker.stop()


@pytest.fixture
def dup(shared: Dup) -> Dup:
    empty(shared.db)
    client = shared.broker.client()
    for key in client.scan_iter("tickwork:*"):  # the period keys of scheduled tasks
        client.delete(key)
    with shared.receiver.lock:
        shared.receiver.requests.clear()
    return shared


# --- ingest ---------------------------------------------------------------------------------------


def _ingest_state(db: str, job_id: str, facility_id: str) -> dict:
    job = h.jobs(db, [job_id])[job_id]
    result = dict(job["result"] or {})
    analysis = result.pop("analysis_job_id", None)
    result["tags_created"] = [t.split("/", 1)[1] for t in result.get("tags_created", [])]
    tenant = "(SELECT tenant_id FROM job WHERE id = :j)"
    return {
        "status": job["status"],
        "result": result,
        "analysis job in result": analysis is not None,
        "points (rows, distinct)": h.points_per_facility(db, facility_id),
        "ingest.completed events": h.scalar(
            db,
            f"SELECT count(*) FROM event WHERE type = 'ingest.completed' AND tenant_id = {tenant}",
            j=job_id,
        ),
        "analysis jobs": h.scalar(
            db,
            f"SELECT count(*) FROM job WHERE kind = 'analysis.analyse_ingest' "
            f"AND tenant_id = {tenant}",
            j=job_id,
        ),
        "rejected rows": h.scalar(
            db, "SELECT count(*) FROM rejected_row WHERE job_id = :j", j=job_id
        ),
    }


def _ingest(dup: Dup, name: str) -> tuple[str, str]:
    who = make_tenant(dup.db, name)
    fac = h.facility(dup.db, tenant_id=who.id)
    content = h.meter_csv(ROWS) + b"flow_0,2024-01-01T00:00:00,1.0\n"  # one rejected row
    return fac, h.ingest_job(dup.db, tenant_id=who.id, facility_id=fac, content=content)


def _analyses_done(db: str) -> bool:
    states = h.rows(db, "SELECT status FROM job WHERE kind = 'analysis.analyse_ingest'")
    return bool(states) and all(s == "succeeded" for (s,) in states)


def _single_ingest(dup: Dup) -> dict:
    fac, job = _ingest(dup, "single")
    h.publish(dup.broker.url, "ingest.process_upload", job)
    dup.finished("ingest.process_upload", job, 1)
    return _ingest_state(dup.db, job, fac)


def test_ingest_message_twice_one_after_the_other(dup: Dup) -> None:
    single = _single_ingest(dup)
    fac, job = _ingest(dup, "twice")
    h.publish(dup.broker.url, "ingest.process_upload", job)
    dup.finished("ingest.process_upload", job, 1)
    h.publish(dup.broker.url, "ingest.process_upload", job)  # redelivered after it finished
    dup.finished("ingest.process_upload", job, 2)
    dup.procs.wait(lambda: _analyses_done(dup.db), timeout=60, what="the analyses")
    twice = _ingest_state(dup.db, job, fac)
    assert twice == single
    h.observe(
        "ingest.process_upload delivered twice, in sequence",
        f"{ROWS + 1}-row upload; the second copy after the first finished; state vs a single "
        "delivery",
        f"identical: {twice['points (rows, distinct)'][0]} points, 1 rejected row, "
        f"{twice['ingest.completed events']} ingest.completed, {twice['analysis jobs']} analysis "
        "job",
    )


def test_ingest_message_twice_at_once(dup: Dup) -> None:
    single = _single_ingest(dup)
    fac, job = _ingest(dup, "twice")
    h.publish(dup.broker.url, "ingest.process_upload", job)
    h.publish(dup.broker.url, "ingest.process_upload", job)
    dup.finished("ingest.process_upload", job, 2)
    dup.procs.wait(lambda: _analyses_done(dup.db), timeout=60, what="the analyses")
    twice = _ingest_state(dup.db, job, fac)
    attempts = h.jobs(dup.db, [job])[job]["attempts"]
    h.observe(
        "ingest.process_upload delivered twice, at once",
        f"{ROWS + 1}-row upload; both copies taken by the two pool processes; state vs a single "
        "delivery",
        f"attempts={attempts}; points {twice['points (rows, distinct)']}; job result "
        f"inserted={twice['result'].get('inserted')} duplicates={twice['result'].get('duplicates')}"
        f" (single: {single['result'].get('inserted')}/{single['result'].get('duplicates')})",
    )
    assert twice["points (rows, distinct)"] == (ROWS, ROWS)  # the points themselves are right
    if twice != single:
        raise h.Violation(f"state after two copies differs: {twice} != {single}")


# --- analysis -------------------------------------------------------------------------------------


def _analysis(dup: Dup, name: str) -> str:
    """Points with three gaps stored as an ingest stores them, and their analysis job."""
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job

    who = make_tenant(dup.db, name)
    fac = h.facility(dup.db, tenant_id=who.id)
    stored = h.store_points(dup.db, tenant_id=who.id, facility_id=fac, content=h.gap_csv())
    with session_scope(dup.db) as s:
        job = create_job(
            s, tenant_id=who.id, kind="analysis.analyse_ingest", params={"ranges": stored["ranges"]}
        )
        return job.id


def _analysis_state(db: str, job_id: str) -> dict:
    job = h.jobs(db, [job_id])[job_id]
    tenant = h.scalar(db, "SELECT tenant_id FROM job WHERE id = :j", j=job_id)
    # The trailing open gap (data stopped in 2025) ends "now": compare everything else.
    gaps = h.rows(
        db,
        "SELECT gap_start, CASE WHEN status = 'open' THEN NULL ELSE gap_end END, status, "
        "CASE WHEN status = 'open' THEN NULL ELSE missing_points END FROM gap "
        "WHERE tenant_id = :t ORDER BY gap_start",
        t=tenant,
    )
    per_gap = h.rows(
        db,
        "SELECT payload->'data'->>'gap_start', count(*) FROM event WHERE tenant_id = :t "
        "AND type = 'data_gap.detected' GROUP BY 1 ORDER BY 1",
        t=tenant,
    )
    return {
        "status": job["status"],
        "error": job["error"],
        "result": job["result"],
        "gaps": gaps,
        "data_gap.detected per gap": per_gap,
        "events": h.rows(
            db,
            "SELECT type, count(*) FROM event WHERE tenant_id = :t GROUP BY 1 ORDER BY 1",
            t=tenant,
        ),
        "alerts": h.scalar(db, "SELECT count(*) FROM alert WHERE tenant_id = :t", t=tenant),
        "quality rows": h.scalar(
            db, "SELECT count(*) FROM quality_score WHERE tenant_id = :t", t=tenant
        ),
    }


def _single_analysis(dup: Dup) -> dict:
    job = _analysis(dup, "single")
    h.publish(dup.broker.url, "analysis.analyse_ingest", job)
    dup.finished("analysis.analyse_ingest", job, 1)
    state = _analysis_state(dup.db, job)
    assert state["status"] == "succeeded" and len(state["gaps"]) == 4, state  # 3 + trailing
    return state


def test_analysis_message_twice_one_after_the_other(dup: Dup) -> None:
    single = _single_analysis(dup)
    job = _analysis(dup, "twice")
    h.publish(dup.broker.url, "analysis.analyse_ingest", job)
    dup.finished("analysis.analyse_ingest", job, 1)
    h.publish(dup.broker.url, "analysis.analyse_ingest", job)
    dup.finished("analysis.analyse_ingest", job, 2)
    twice = _analysis_state(dup.db, job)
    assert twice == single
    h.observe(
        "analysis.analyse_ingest delivered twice, in sequence",
        "a day with 3 planted gaps + the trailing open one; the second copy after the first "
        "finished; state vs a single delivery",
        f"identical: {len(twice['gaps'])} gaps, 1 data_gap.detected per gap, "
        f"{twice['alerts']} alerts, {twice['quality rows']} quality rows",
    )


def test_analysis_message_twice_at_once(dup: Dup) -> None:
    single = _single_analysis(dup)
    job = _analysis(dup, "twice")
    h.publish(dup.broker.url, "analysis.analyse_ingest", job)
    h.publish(dup.broker.url, "analysis.analyse_ingest", job)
    dup.finished("analysis.analyse_ingest", job, 2)
    twice = _analysis_state(dup.db, job)
    h.observe(
        "analysis.analyse_ingest delivered twice, at once",
        "a day with 3 planted gaps + the trailing open one; both copies at once; state vs a "
        "single delivery",
        f"job {twice['status']} (single: {single['status']}), result {twice['result']}; "
        f"{len(twice['gaps'])} gaps; data_gap.detected per gap "
        f"{[n for _, n in twice['data_gap.detected per gap']]}",
    )
    assert len(twice["gaps"]) == 4  # one row per gap whatever the job says
    if twice != single:
        raise h.Violation(f"state after two copies differs: {twice} != {single}")


# --- webhooks -------------------------------------------------------------------------------------

EVENTS = 40


def test_webhook_sweep_message_twice(dup: Dup) -> None:
    who = make_tenant(dup.db, "T")
    h.webhook_endpoint(dup.db, tenant_id=who.id, url=dup.receiver.url)
    keys = h.events(dup.db, tenant_id=who.id, count=EVENTS)
    h.publish(dup.broker.url, "webhooks.deliver", None, args=[], task_id="sweep-1")
    h.publish(dup.broker.url, "webhooks.deliver", None, args=[], task_id="sweep-1")
    returned = dup.finished("webhooks.deliver", "sweep-1", 2)
    per_id = dup.receiver.per_id()
    assert set(dup.receiver.ids_by_event()) == {
        f'{{"n": "{k}", "rule": "fault-test"}}' for k in keys
    }
    assert len(per_id) == EVENTS and set(per_id.values()) == {1}  # one HTTP request per id
    attempts = h.scalar(dup.db, "SELECT count(*) FROM delivery_attempt")
    assert attempts == EVENTS
    statuses = h.rows(dup.db, "SELECT status, count(*) FROM webhook_message GROUP BY 1")
    assert statuses == [("succeeded", EVENTS)]
    h.observe(
        "webhooks.deliver delivered twice, at once",
        f"{EVENTS} due messages; two copies of one sweep message (receiver 50 ms/request)",
        f"copies sent {' + '.join(returned)} messages; {len(per_id)} ids, each requested once; "
        f"{attempts} attempts recorded",
    )


# --- scheduled tasks ------------------------------------------------------------------------------


def test_scheduled_task_messages_twice(dup: Dup) -> None:
    db = dup.db
    who = make_tenant(db, "T")
    fac = h.facility(db, tenant_id=who.id)
    h.store_points(db, tenant_id=who.id, facility_id=fac, content=h.yesterday_csv())
    h.old_event(db, tenant_id=who.id, key="old")
    stale = h.stale_jobs(db, tenant_id=who.id, count=100, kind="reports.build_lcfs")
    tasks = (
        "analysis.scan_stale",
        "analysis.nightly_quality",
        "jobs.cleanup",
        "jobs.requeue_stale",
    )
    for task in tasks:
        for _ in range(2):
            h.publish(dup.broker.url, task, None, args=[], task_id=f"{task}-1")
    returned = {task: dup.finished(task, f"{task}-1", 2) for task in tasks}

    did_work = {
        "analysis.scan_stale": [r for r in returned["analysis.scan_stale"] if r != "0"],
        "analysis.nightly_quality": [r for r in returned["analysis.nightly_quality"] if r != "0"],
        "jobs.cleanup": [r for r in returned["jobs.cleanup"] if r != "{}"],
    }
    assert {t: len(r) for t, r in did_work.items()} == dict.fromkeys(did_work, 1)
    gaps = h.rows(db, "SELECT status, detected_at = updated_at FROM gap")
    assert gaps == [("open", True)]  # opened once, not grown again by a second run
    assert h.scalar(db, "SELECT count(*) FROM event WHERE type = 'data_gap.detected'") == 1
    old = h.scalar(db, "SELECT count(*) FROM event WHERE dedupe_key = :k", k="alert.triggered:old0")
    assert old == 0  # cleanup deleted it
    published = Counter(h.queued_task_ids(dup.broker.client(), "reports"))
    assert {j: published[j] for j in stale} == dict.fromkeys(stale, 1)
    h.observe(
        "Scheduled tasks delivered twice, at once",
        "scan_stale, nightly_quality, cleanup, requeue_stale: two copies of each message; "
        "a stale tag, yesterday's data, an old event, 100 unsent jobs",
        "copies returned "
        + "; ".join(f"{t.split('.')[-1]} {'/'.join(r)}" for t, r in returned.items())
        + "; 1 gap, 1 data_gap.detected; each unsent job published once",
    )
