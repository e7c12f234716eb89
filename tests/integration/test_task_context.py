"""A job-backed task's log context and task metrics cost no query of their own: the job's tenant
and whether this run failed the job come from ``job_attempt``, which reads the job row anyway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event

from pipelines.errors import MalformedInputError
from tests.factories import make_tenant
from worker.observability import logs, metrics
from worker.storage.db import get_engine, session_scope
from worker.storage.jobs import create_job
from worker.tasks.base import JobRun, finish_or_stop, job_attempt

TASK = "ingest.process_upload"


class _Task(SimpleNamespace):
    def __init__(self) -> None:
        super().__init__(name=TASK, request=SimpleNamespace(retries=0), max_retries=3)


@pytest.fixture
def job(any_db: str, configure: Any) -> dict[str, str]:
    configure(TICKWORK_DATABASE_URL=any_db)
    tenant = make_tenant(any_db, "T")
    with session_scope(any_db) as s:
        job_id = create_job(s, tenant_id=tenant.id, kind=TASK).id
    return {"db": any_db, "tenant_id": tenant.id, "job_id": job_id}


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The failures the worker metrics count (stand-ins for the Prometheus metrics)."""
    counted: list[tuple[str, ...]] = []
    ignore = SimpleNamespace(observe=lambda value: None, inc=lambda: None)
    fake = SimpleNamespace(
        duration=SimpleNamespace(labels=lambda *labels: ignore),
        failures=SimpleNamespace(
            labels=lambda *labels: SimpleNamespace(inc=lambda: counted.append(labels))
        ),
        retries=SimpleNamespace(labels=lambda *labels: ignore),
    )
    monkeypatch.setattr(metrics, "_task_metrics", lambda: fake)
    monkeypatch.setitem(metrics._worker, "enabled", True)
    return counted


@dataclass
class Observed:
    queries: list[str] = field(default_factory=list)  # SQL issued by the signal receivers
    context: dict[str, Any] = field(default_factory=dict)  # what the task's log lines carried


@contextmanager
def signals_around(db: str, job_id: str, *, args: list[str] | None = None) -> Iterator[Observed]:
    """The log and metrics receivers of ``task_prerun``/``task_postrun`` around the body, as a
    worker calls them."""
    observed = Observed()
    task = _Task()

    def receivers(*calls: Callable[[], None]) -> None:
        def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            observed.queries.append(statement)

        event.listen(get_engine(db), "before_cursor_execute", note)
        try:
            for call in calls:
                call()
        finally:
            event.remove(get_engine(db), "before_cursor_execute", note)

    receivers(
        lambda: logs._task_started(task_id=job_id, task=task, args=args or [job_id]),
        lambda: metrics._task_started(task_id=job_id),
    )
    try:
        yield observed
    finally:
        observed.context = logs.current_context()
        receivers(
            lambda: metrics._task_finished(task_id=job_id, task=task),
            lambda: logs._task_finished(),
        )


def test_a_run_that_fails_its_job_is_counted_and_its_lines_carry_the_tenant(
    job: dict[str, str], failures: list[tuple[str, ...]]
) -> None:
    with (
        signals_around(job["db"], job["job_id"]) as observed,
        job_attempt(_Task(), job["job_id"]) as run,
    ):
        assert run is not None
        raise MalformedInputError("no upload to ingest")
    assert observed.queries == []
    assert observed.context["tenant_id"] == job["tenant_id"]
    assert observed.context["job_failed"] is True
    assert failures == [(TASK, "job_failed")]


@pytest.mark.parametrize(("status", "counted"), [("succeeded", 0), ("failed", 1)])
def test_a_body_that_finishes_its_job_is_counted_only_when_it_failed_it(
    job: dict[str, str], failures: list[tuple[str, ...]], status: str, counted: int
) -> None:
    with (
        signals_around(job["db"], job["job_id"]) as observed,
        job_attempt(_Task(), job["job_id"]) as run,
    ):
        assert isinstance(run, JobRun)
        with session_scope() as s:
            finish_or_stop(s, run, status=status)
    assert observed.queries == []
    assert observed.context["tenant_id"] == job["tenant_id"]
    assert failures == [(TASK, "job_failed")] * counted
    # A redelivered copy finds the job finished: its lines carry the tenant still; no count.
    with (
        signals_around(job["db"], job["job_id"]) as observed,
        job_attempt(_Task(), job["job_id"]) as run,
    ):
        assert run is None
    assert observed.queries == []
    assert observed.context["tenant_id"] == job["tenant_id"]
    assert "job_failed" not in observed.context
    assert failures == [(TASK, "job_failed")] * counted


def test_a_task_whose_id_is_not_its_jobs_gets_no_job_context(
    job: dict[str, str], failures: list[tuple[str, ...]]
) -> None:
    with (
        signals_around(job["db"], job["job_id"], args=["job_other"]) as observed,
        job_attempt(_Task(), job["job_id"]) as run,
    ):
        assert run is not None
        raise MalformedInputError("no upload to ingest")
    assert "tenant_id" not in observed.context and "job_failed" not in observed.context
    assert failures == []
