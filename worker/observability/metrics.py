"""Prometheus metrics of the workers, and the state gauges the API serves too (the API's own
request metrics are in ``api/metrics.py``).

**Workers** (``TICKWORK_METRICS_PORT``, 0 = off): Celery's prefork pool runs tasks in child
processes, and a child's in-memory counters are invisible to whoever scrapes the worker. So the
workers use prometheus_client's multiprocess mode. In ``worker_init`` (main process, before the
pool forks) the worker points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory (unless one is
set); nothing here imports prometheus_client at module level, so every pool child, forked
after that, imports it in multiprocess mode and writes its samples to memory-mapped files of
its own pid there (those of children recycled by ``worker_max_tasks_per_child`` stay, and keep
counting). The main process then starts one exporter process (``python -m
worker.observability.metrics``), which serves ``MultiProcessCollector`` (the sum over every
file) and the state gauges on the port and exits with the worker. Not a thread of the main
process: that process forks children at any moment, and a fork taken while a scrape thread
holds a lock (SQLAlchemy's mapper configuration, a connection pool's) leaves the child waiting
for it forever.

Task metrics: ``tickwork_task_duration_seconds`` (histogram by task),
``tickwork_task_failures_total`` (by task and reason: ``exception`` when the task raised,
``job_failed`` when the run ended with its job failed: bad input, timeout, retries exhausted)
and ``tickwork_task_retries_total``.

**State gauges** (both): read from the broker and the database when scraped (a collector, not
values kept by a process), so they are right whichever process serves them:
``tickwork_queue_depth`` (messages waiting per queue), ``tickwork_jobs`` (queued and running),
``tickwork_job_oldest_queued_age_seconds``, ``tickwork_webhook_backlog`` (messages due now, of
enabled endpoints), ``tickwork_webhook_backlog_oldest_age_seconds`` and
``tickwork_metrics_source_up`` (1 when the broker / database answered this scrape).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from celery import signals

from worker.broker import broker_url
from worker.kinds import QUEUES
from worker.observability import logs
from worker.settings import get_settings

if TYPE_CHECKING:
    pass

log = logging.getLogger("worker.observability.metrics")  # also when run as the exporter (__main__)

TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
# Kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>".
REDIS_PRIORITY_KEYS = ("", "\x06\x163", "\x06\x166", "\x06\x169")
SOURCE_TIMEOUT_S = 2.0

# The worker side's state, set in the main process before the pool forks (children inherit it).
_worker: dict[str, Any] = {"enabled": False, "exporter": None, "own_dir": None}
_running: dict[str, tuple[float, dict[str, Any]]] = {}  # task id: start, the task's log context


# --- state gauges, computed when scraped ------------------------------------------------------


class StateCollector:
    """Queue depth, jobs, webhook backlog: read from the broker and the database per scrape."""

    def describe(self) -> list[Any]:
        return []  # nothing to check at registration; and no query then

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(
            "tickwork_metrics_source_up",
            "1 when the source answered this scrape, else 0 (its gauges are then missing).",
            labels=["source"],
        )
        try:
            depths = queue_depths()
        except Exception as exc:
            log.warning("metrics: broker not readable: %s: %s", type(exc).__name__, exc)
            up.add_metric(["broker"], 0)
        else:
            up.add_metric(["broker"], 1)
            depth = GaugeMetricFamily(
                "tickwork_queue_depth",
                "Messages waiting in the broker per queue (not yet taken by a worker).",
                labels=["queue"],
            )
            for queue, n in depths.items():
                depth.add_metric([queue], n)
            yield depth
        try:
            state = database_state(datetime.now(UTC))
        except Exception as exc:
            log.warning("metrics: database not readable: %s: %s", type(exc).__name__, exc)
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
            jobs = GaugeMetricFamily("tickwork_jobs", "Jobs by live status.", labels=["status"])
            for status in ("queued", "running"):
                jobs.add_metric([status], state["jobs"].get(status, 0))
            yield jobs
            yield GaugeMetricFamily(
                "tickwork_job_oldest_queued_age_seconds",
                "Age of the oldest queued job (0 when none is queued).",
                value=state["oldest_queued_s"],
            )
            yield GaugeMetricFamily(
                "tickwork_webhook_backlog",
                "Webhook messages due now (pending, next attempt reached) of enabled endpoints.",
                value=state["backlog"],
            )
            yield GaugeMetricFamily(
                "tickwork_webhook_backlog_oldest_age_seconds",
                "How long the longest-waiting due webhook message has been due (0 when none).",
                value=state["backlog_oldest_s"],
            )
        yield up


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue of ``worker.kinds.QUEUES``."""
    url = broker_url(get_settings())
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=SOURCE_TIMEOUT_S, socket_connect_timeout=SOURCE_TIMEOUT_S
        )
        try:
            pipe = client.pipeline(transaction=False)
            for queue in QUEUES:
                for suffix in REDIS_PRIORITY_KEYS:
                    pipe.llen(queue + suffix)
            counts = pipe.execute()
        finally:
            client.close()
        per = len(REDIS_PRIORITY_KEYS)
        return {q: int(sum(counts[i * per : (i + 1) * per])) for i, q in enumerate(QUEUES)}
    return _amqp_depths(url, QUEUES)


def _amqp_depths(url: str, queues: tuple[str, ...]) -> dict[str, int]:
    from amqp.exceptions import NotFound
    from kombu import Connection

    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=SOURCE_TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=0, timeout=SOURCE_TIMEOUT_S)
        for queue in queues:
            channel = conn.channel()
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except NotFound:  # not declared yet: nothing was ever sent to it
                depths[queue] = 0
            finally:
                channel.close()
    return depths


@cache
def _state_engine(url: str) -> Any:
    """An engine of its own, without a pool: a scrape every few seconds needs no connection
    kept open between scrapes, and the API's pool stays for the API's requests."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    timeout = int(SOURCE_TIMEOUT_S)
    args = {"timeout": timeout} if url.startswith("sqlite") else {"connect_timeout": timeout}
    return create_engine(url, poolclass=NullPool, connect_args=args)


def database_state(now: datetime) -> dict[str, Any]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from worker.storage.models import Job, WebhookEndpoint, WebhookMessage

    engine = _state_engine(get_settings().resolved_database_url)
    with Session(engine) as s:
        jobs = dict(
            s.execute(
                select(Job.status, func.count())
                .where(Job.status.in_(("queued", "running")))
                .group_by(Job.status)
            ).all()
        )
        oldest_queued = s.scalar(select(func.min(Job.created_at)).where(Job.status == "queued"))
        backlog, oldest_due = s.execute(
            select(func.count(), func.min(WebhookMessage.next_attempt_at))
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(
                WebhookMessage.status == "pending",
                WebhookMessage.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
        ).one()
    return {
        "jobs": {str(k): int(v) for k, v in jobs.items()},
        "oldest_queued_s": _age(now, oldest_queued),
        "backlog": int(backlog or 0),
        "backlog_oldest_s": _age(now, oldest_due),
    }


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


# --- worker ------------------------------------------------------------------------------------


@cache
def _task_metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        duration=Histogram(
            "tickwork_task_duration_seconds",
            "Task run time (seconds) in the worker, by task name.",
            ["task"],
            buckets=TASK_BUCKETS,
        ),
        failures=Counter(
            "tickwork_task_failures_total",
            "Task runs that failed, by task and reason (exception: the task raised; "
            "job_failed: the run ended with its job failed).",
            ["task", "reason"],
        ),
        retries=Counter(
            "tickwork_task_retries_total", "Task runs that asked to be retried.", ["task"]
        ),
    )


@signals.worker_init.connect(weak=False)
def _start_worker_metrics(**_: object) -> None:
    """Main process, before the pool forks: shared sample files, and the exporter process."""
    settings = get_settings()
    if not settings.metrics_port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if "prometheus_client" in sys.modules:
            log.error(
                "metrics: prometheus_client was imported before the worker started, so pool "
                "processes cannot share their samples; set PROMETHEUS_MULTIPROC_DIR"
            )
        _worker["own_dir"] = tempfile.mkdtemp(prefix="tickwork-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _worker["own_dir"]
    command = [sys.executable, "-m", "worker.observability.metrics", "--parent", str(os.getpid())]
    _worker["exporter"] = subprocess.Popen(command, env=dict(os.environ))
    _worker["enabled"] = True


@signals.worker_shutdown.connect(weak=False)
def _stop_worker_metrics(**_: object) -> None:
    exporter, own_dir = _worker["exporter"], _worker["own_dir"]
    if exporter is not None and exporter.poll() is None:
        exporter.terminate()
        try:
            exporter.wait(timeout=5)
        except subprocess.TimeoutExpired:
            exporter.kill()
    if own_dir:
        shutil.rmtree(own_dir, ignore_errors=True)


@signals.task_prerun.connect(weak=False)
def _task_started(task_id: str | None = None, **_: object) -> None:
    if not _worker["enabled"] or task_id is None:
        return
    _running[task_id] = (time.perf_counter(), logs.task_context())


@signals.task_postrun.connect(weak=False)
def _task_finished(task_id: str | None = None, task: Any = None, **_: object) -> None:
    if not _worker["enabled"] or task_id is None or task_id not in _running:
        return
    started, context = _running.pop(task_id)
    name = getattr(task, "name", "unknown")
    metrics = _task_metrics()
    metrics.duration.labels(name).observe(time.perf_counter() - started)
    if context.get("job_failed"):  # this run ended its job, as a failure (tasks.base.job_attempt)
        metrics.failures.labels(name, "job_failed").inc()


@signals.task_failure.connect(weak=False)
def _task_failed(sender: Any = None, **_: object) -> None:
    if _worker["enabled"]:
        _task_metrics().failures.labels(getattr(sender, "name", "unknown"), "exception").inc()


@signals.task_retry.connect(weak=False)
def _task_retried(sender: Any = None, **_: object) -> None:
    if _worker["enabled"]:
        _task_metrics().retries.labels(getattr(sender, "name", "unknown")).inc()


# --- the worker's exporter process -------------------------------------------------------------


def serve_exporter(*, parent: int) -> None:
    """Serve the pool's sample files and the state gauges until the worker (``parent``) exits.

    A process of its own rather than a thread of the worker's main process: that process forks
    pool children at any time (recycling), and a fork taken while a scrape thread held a lock
    (SQLAlchemy's mapper configuration, a connection pool's) would leave the child waiting for
    it forever. Started with exec, not fork, so it inherits no such state either.
    """
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    settings = get_settings()
    logs.configure_logging(fmt=settings.log_format, level=settings.log_level.upper())
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector())
    try:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.metrics_host, registry=registry
        )
    except OSError as exc:
        log.error("metrics: cannot serve on port %s: %s", settings.metrics_port, exc)
        raise SystemExit(1) from exc
    log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
    try:
        while os.getppid() == parent:  # reparented: the worker is gone, whatever killed it
            time.sleep(1)
    except KeyboardInterrupt:  # Ctrl-C in a terminal reaches the whole process group
        pass
    server.shutdown()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A Tickwork worker's metrics exporter.")
    parser.add_argument("--parent", type=int, required=True, help="the worker's main process")
    serve_exporter(parent=parser.parse_args().parent)
