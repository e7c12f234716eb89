"""SIGKILL a worker in the middle of an LCFS report build: the build is redelivered and runs
again, and the request ends with one report row, one file, one ``report.generated`` event, the
file byte-identical to a rebuild from the same inputs.

The data is a quarter of one-minute readings on three mapped tags (~400k points). The kill lands
at a pause point (tests/fault/sabotage.py, ``report_rendered``): the points are loaded, the
credits computed and the PDF rendered, and nothing is stored yet.
"""

from __future__ import annotations

import time

import pytest

from tests.fault import harness as h
from tests.fault.harness import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TAGS = 3
YEAR, QUARTER = 2025, 4
FORMAT = "pdf"


def _request(stack: Stack) -> tuple[str, str, str]:
    """Meter data and mappings, then a report request as the API makes it (the worker is
    started first: it comes up while the data is stored). Returns (facility, report, job)."""
    who = stack.tenant()
    fac = h.lcfs_facility(stack.db, tenant_id=who.id, tags=TAGS, year=YEAR, quarter=QUARTER)
    report_id, job_id = h.report_job(
        stack.db, facility_id=fac, year=YEAR, quarter=QUARTER, fmt=FORMAT
    )
    h.publish(stack.broker.url, "reports.build_lcfs", job_id)
    h.mark_enqueued(stack.db, job_id)
    return fac, report_id, job_id


def _check_mid_build(stack: Stack, report_id: str, job_id: str) -> None:
    """The kill landed inside the build: the job is running, nothing of the report is stored."""
    assert h.jobs(stack.db, [job_id])[job_id]["status"] == "running"
    assert h.rows(
        stack.db, "SELECT status, content IS NULL FROM report WHERE id = :r", r=report_id
    ) == [("queued", True)]
    assert h.scalar(stack.db, "SELECT count(*) FROM event WHERE type LIKE 'report.%'") == 0


def _generated(stack: Stack, report_id: str) -> bool:
    status = h.scalar(stack.db, "SELECT status FROM report WHERE id = :r", r=report_id)
    assert status != "failed", h.scalar(
        stack.db, "SELECT error FROM report WHERE id = :r", r=report_id
    )
    return bool(status == "generated")


def _check_one_report(
    stack: Stack, fac: str, report_id: str, job_id: str, rebuilt: tuple[str, str]
) -> dict:
    """One report row for the request, one file (in the database, none on disk), one event, the
    job's result naming that file, and the same bytes as ``rebuilt`` (a rebuild from the same
    inputs: (input_sha256, file_sha256))."""
    found = h.rows(
        stack.db,
        "SELECT id, status, job_id, has_data, input_sha256, file_sha256, file_size, "
        "length(content), encode(sha256(content), 'hex') FROM report "
        "WHERE facility_id = :f OR job_id = :j",
        f=fac,
        j=job_id,
    )
    assert len(found) == 1, f"{len(found)} report rows for one request: {found}"
    rid, status, job, has_data, input_sha, file_sha, size, length, content_sha = found[0]
    assert (rid, status, job, has_data) == (report_id, "generated", job_id, True)
    assert (length, content_sha) == (size, file_sha)  # the stored file is the one it names
    assert h.scalar(stack.db, "SELECT count(*) FROM report") == 1
    assert h.report_files_on_disk(stack.tmp) == []  # no file spooled or left behind on disk
    announced = h.rows(
        stack.db,
        "SELECT type, payload->'data'->>'report_id', payload->'data'->>'file_sha256' "
        "FROM event WHERE type LIKE 'report.%'",
    )
    assert announced == [("report.generated", report_id, file_sha)]
    job_view = h.jobs(stack.db, [job_id])[job_id]
    assert job_view["status"] == "succeeded", job_view
    assert job_view["result"]["file_sha256"] == file_sha
    assert (input_sha, file_sha) == rebuilt  # byte-identical to a rebuild
    points = h.scalar(stack.db, "SELECT count(*) FROM data_point")
    return {"attempts": job_view["attempts"], "size": size, "points": points, "sha": file_sha}


def test_sigkill_whole_worker_mid_report_build_then_new_worker(stack: Stack) -> None:
    """The worker and its pool die at once: the unacknowledged build comes back after the
    visibility timeout and a new worker builds it from scratch."""
    marker = h.pause_at(stack.procs, "report_rendered")
    first = stack.procs.worker("w1", queues="reports")
    fac, report_id, job_id = _request(stack)
    h.wait_paused(stack.procs, marker)
    stack.procs.kill(first)
    killed_at = time.monotonic()
    _check_mid_build(stack, report_id, job_id)
    rebuilt = h.rebuild_report(stack.db, report_id)  # while the message is invisible

    # As in test_worker_kill: the replacement starts once the message is visible again.
    h.wait_visible_again(stack.procs, stack.broker)
    stack.procs.worker("w2", queues="reports")
    stack.procs.wait(
        lambda: _generated(stack, report_id),
        timeout=60,
        what="the report to be generated after the restart",
    )
    recovered = time.monotonic() - killed_at
    seen = _check_one_report(stack, fac, report_id, job_id, rebuilt)
    assert seen["attempts"] == 2
    assert h.outcomes(stack.procs, "w1", "reports.build_lcfs", job_id) == []
    assert len(h.outcomes(stack.procs, "w2", "reports.build_lcfs", job_id)) == 1
    h.observe(
        "SIGKILL whole worker mid-report-build",
        f"LCFS {YEAR} Q{QUARTER} {FORMAT}, {TAGS} mapped tags, {seen['points']} one-minute "
        "points; killed after rendering, before storing; new worker; report rows, file, events, "
        "rebuild hash",
        f"generated {recovered:.1f} s after the kill (visibility timeout {h.VISIBILITY} s); "
        f"attempts={seen['attempts']}; 1 report row, 1 file ({seen['size']:,} bytes, none on "
        "disk), 1 report.generated; file SHA-256 = rebuild's",
    )


def test_sigkill_pool_process_mid_report_build(stack: Stack) -> None:
    """Only the pool process building the report dies: the worker requeues the message at once
    (reject_on_worker_lost) and a fresh pool process builds it."""
    marker = h.pause_at(stack.procs, "report_rendered")
    worker = stack.procs.worker("w1", queues="reports", concurrency=1)
    fac, report_id, job_id = _request(stack)
    killed_at = h.kill_paused_child(stack.procs, marker, worker)
    _check_mid_build(stack, report_id, job_id)
    stack.procs.wait(
        lambda: _generated(stack, report_id),
        timeout=60,
        what="the report to be generated after the pool process died",
    )
    recovered = time.monotonic() - killed_at
    seen = _check_one_report(stack, fac, report_id, job_id, h.rebuild_report(stack.db, report_id))
    assert seen["attempts"] == 2
    assert worker.poll() is None  # the same worker carried on
    h.observe(
        "SIGKILL pool process mid-report-build",
        f"LCFS {YEAR} Q{QUARTER} {FORMAT}, {TAGS} mapped tags, {seen['points']} points, "
        "concurrency 1; the pool process killed after rendering; report rows, file, events, "
        "rebuild hash",
        f"generated {recovered:.1f} s after the kill on the same worker; "
        f"attempts={seen['attempts']}; 1 report row, 1 file, 1 report.generated; file SHA-256 "
        "= rebuild's",
    )
