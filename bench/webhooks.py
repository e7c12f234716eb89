"""Webhook delivery benchmark: signed deliveries per second through real Celery workers, beside
a no-op Celery task rate on the same broker, measured in the same run.

Run from the project root: ``.venv/bin/python bench/webhooks.py`` (PostgreSQL on 127.0.0.1:5432,
Redis on 127.0.0.1:6379; the broker is Redis database 9, flushed before and after).

1. **Receiver.** A small asyncio HTTP/1.1 server in its own process on 127.0.0.1 answers every
   POST with 204, counts requests and distinct ``webhook-id`` values, verifies every request
   (``--sample-every`` 1; n: every n-th and the first) with ``standardwebhooks.webhooks.Webhook``
   and counts bodies that arrive under more than one ``webhook-id`` (must be none).
2. **Baseline.** A no-op Celery app defined in this file (``noop_app``: the same reliability
   settings as ``worker.celery_app``, copied from ``make_app``'s configuration) runs in a worker
   started like ours (``worker.processes.worker_command`` with ``-A bench.webhooks:noop_app``,
   prefork, the same concurrency). M tasks (``--noop-tasks``, 2,000) are queued while the worker
   listens elsewhere; each INCRs a counter in Redis db 9. The worker is then told to consume them
   (``control.add_consumer``); timed from the first completed task until the counter reaches M
   (the rate counts the tasks completed in that interval).
3. **Ours.** A fresh PostgreSQL database, migrated with ``worker.storage.db.upgrade``; one tenant;
   one endpoint (``create_endpoint``, every event type) pointing at the receiver; N events
   (``--events``, 10,000) written to the outbox with ``worker.storage.events.publish``. Then a
   real worker (``worker_command(queues=["webhooks"])``) with the webhook settings in its
   environment, and ``webhooks.deliver`` tasks sent with ``worker.celery_app.app.send_task``
   (one per child at first; another whenever a child is free and unclaimed work remains). Timed
   from the first ``send_task`` until every message is ``succeeded`` and N ``delivery_attempt``
   rows have outcome ``success``; fan-out from the outbox is inside the timed part.
4. **Breakdown** (``--breakdown-events``, 2,000; 0 skips it): more events delivered by one
   ``worker.delivery.webhooks.Sweeper`` in this process, split by the sweep's own timers into
   claim (with fan-out), HTTP and recording outcomes.

CPU time per process group (workers, PostgreSQL, Redis, receiver, this driver) is read from
``/proc`` around each timed part, and per delivery for the end-to-end part. One JSON object
goes to stdout, a table to stderr. The database is dropped and Redis db 9 flushed at the end
(``--keep-db`` keeps the database). See ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery
from kombu import Exchange, Queue
from psycopg import sql
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
REDIS_URL = "redis://127.0.0.1:6379/9"  # broker, rate limits and the no-op counter; flushed
NOOP_QUEUE = "bench_noop"
NOOP_IDLE_QUEUE = "bench_noop_idle"  # the no-op worker's only queue until the timed part
NOOP_COUNTER = "bench:webhooks:noop_done"
WEBHOOK_QUEUE = "webhooks"
TARGET_RATIO = 4.0  # the goal: deliveries/s >= 4 x no-op tasks/s, in the same run
POLL_REDIS_S = 0.02
POLL_DB_S = 0.1

console = Console(stderr=True)


# --- the no-op baseline app (imported by its worker as bench.webhooks:noop_app) --------------

# Configuration copied from Tickwork's app, so the baseline pays for the same reliability
# settings: late acks, requeue on worker loss, prefetch 1, no results, time limits, the Redis
# transport options, child recycling. Queues, routes, includes and beat are the app's own.
SAME_AS_OURS = (
    "task_serializer",
    "accept_content",
    "task_ignore_result",
    "result_backend",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "worker_prefetch_multiplier",
    "task_soft_time_limit",
    "task_time_limit",
    "broker_transport_options",
    "result_backend_transport_options",
    "visibility_timeout",
    "worker_cancel_long_running_tasks_on_connection_loss",
    "broker_connection_retry_on_startup",
    "broker_connection_max_retries",
    "worker_max_tasks_per_child",
    "worker_max_memory_per_child",
    "worker_hijack_root_logger",
    "timezone",
    "enable_utc",
)


def _noop_config() -> dict[str, Any]:
    """Evaluated when noop_app's configuration is first used (worker start, first send)."""
    from worker.celery_app import make_app
    from worker.settings import Settings

    ours = make_app(Settings(broker_url=REDIS_URL, redis_url=REDIS_URL)).conf
    conf = {key: ours[key] for key in SAME_AS_OURS}
    conf.update(
        broker_url=REDIS_URL,
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name)
            for name in (NOOP_QUEUE, NOOP_IDLE_QUEUE)
        ],
        task_default_queue=NOOP_QUEUE,
        task_create_missing_queues=False,
    )
    return conf


noop_app = Celery("bench_noop", set_as_current=False)
noop_app.add_defaults(_noop_config)
_counter_client: redis.Redis | None = None


@noop_app.task(
    name="bench.noop", ignore_result=True, acks_late=True, reject_on_worker_lost=True, shared=False
)
def noop() -> None:
    global _counter_client
    if _counter_client is None:  # one connection per worker child
        _counter_client = redis.Redis.from_url(REDIS_URL)
    _counter_client.incr(NOOP_COUNTER)


# --- the receiver (its own process) ----------------------------------------------------------


def receiver_main(conn: Connection, sample_every: int) -> None:
    """Serve on 127.0.0.1:<free port>: send the port, receive the secret, serve until "stop"."""
    asyncio.run(_serve(conn, sample_every))


async def _serve(conn: Connection, sample_every: int) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    stats: dict[str, Any] = {
        "requests": 0,
        "verified": 0,
        "verify_failed": 0,
        "missing_headers": 0,
        "connections": 0,
        "ids_twice": 0,  # requests repeating an id already seen (at least once: allowed)
        "bodies_under_two_ids": 0,  # a body already delivered under another id (never allowed)
    }
    ids: set[str] = set()
    body_ids: dict[int, str] = {}  # hash of a body -> the id it came under
    verifier: list[Webhook] = []
    ok = b"HTTP/1.1 204 No Content\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers: dict[str, str] = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                stats["requests"] += 1
                msg_id = headers.get("webhook-id")
                if msg_id is None or "webhook-signature" not in headers:
                    stats["missing_headers"] += 1
                else:
                    stats["ids_twice"] += msg_id in ids
                    ids.add(msg_id)
                    if body_ids.setdefault(hash(body), msg_id) != msg_id:
                        stats["bodies_under_two_ids"] += 1
                if stats["requests"] % sample_every == 1 or sample_every == 1:
                    try:
                        verifier[0].verify(body, headers, json_parse=False)
                        stats["verified"] += 1
                    except (WebhookVerificationError, IndexError, ValueError):
                        stats["verify_failed"] += 1
                writer.write(ok)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024, start_serving=False)
    conn.send(server.sockets[0].getsockname()[1])
    verifier.append(Webhook(await loop.run_in_executor(None, conn.recv)))
    cpu_started = time.process_time()
    await server.start_serving()
    while True:  # commands: "stats" (counters so far) or "stop"
        command = await loop.run_in_executor(None, conn.recv)
        stats["distinct_ids"] = len(ids)
        stats["cpu_s"] = round(time.process_time() - cpu_started, 3)
        if command == "stop":
            server.close()
            conn.send(dict(stats))
            return
        conn.send(dict(stats))


@dataclass
class Receiver:
    process: BaseProcess
    conn: Connection
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tickwork"

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        if not self.conn.poll(10):
            raise SystemExit("the receiver did not answer")
        answer: dict[str, Any] = self.conn.recv()
        return answer

    def stop(self) -> dict[str, Any]:
        stats: dict[str, Any] = {}
        if self.process.is_alive():
            with suppress(OSError, EOFError):
                self.conn.send("stop")
                if self.conn.poll(10):
                    stats = self.conn.recv()
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        return stats


def start_receiver(sample_every: int) -> Receiver:
    ctx = multiprocessing.get_context("spawn")  # no fork of this process's threads or pools
    parent, child = ctx.Pipe()
    process = ctx.Process(target=receiver_main, args=(child, sample_every), daemon=True)
    process.start()
    if not parent.poll(30):
        process.terminate()
        raise SystemExit("the receiver did not start within 30 s")
    return Receiver(process=process, conn=parent, port=parent.recv())


# --- CPU accounting from /proc ---------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_table() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, process group, CPU seconds) for every process we may read. CPU
    seconds include the children it has waited for (a recycled pool child counts for its worker).
    """
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        table[int(entry.name)] = (comm, int(rest[2]), sum(int(v) for v in rest[11:15]) / _TICK)
    return table


def _busy() -> tuple[float, float]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / _TICK, sum(fields[:8]) / _TICK


class CpuMeter:
    """CPU seconds by group over an interval (processes that exit in between are not counted)."""

    def __init__(self, groups: Callable[[int, str, int], str]) -> None:
        self._groups = groups

    def __enter__(self) -> CpuMeter:
        self._before = _proc_table() if Path("/proc/stat").exists() else {}
        self._busy_before = _busy() if self._before else (0.0, 0.0)
        self.result: dict[str, float] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._before:
            return
        after = _proc_table()
        busy, total = (a - b for a, b in zip(_busy(), self._busy_before, strict=True))
        spent: dict[str, float] = defaultdict(float)
        for pid, (comm, pgrp, cpu) in after.items():
            before = self._before.get(pid)
            spent[self._groups(pid, comm, pgrp)] += cpu - (before[2] if before else 0.0)
        self.result = {k: round(v, 2) for k, v in sorted(spent.items()) if v >= 0.005}
        # Processes that ended in between without a parent that waited for them (and rounding):
        # a large figure, or a large "other", means something else was using the CPUs.
        self.result["exited or unattributed"] = round(busy - sum(spent.values()), 2)
        self.result["all CPUs busy"] = round(busy, 2)
        self.result["all CPUs available"] = round(total, 2)


def grouper(
    *, workers: list[int], receiver: int, our_backends: set[int] | None = None, polling: int = -1
) -> Callable[[int, str, int], str]:
    """With ``our_backends`` (filled before the meter stops), "postgresql" is the backends
    serving the bench database; the server's other processes (other databases' backends, WAL
    writer, checkpointer, ...) are "postgresql, other" (on a shared machine, mostly others')."""
    me = os.getpid()

    def group(pid: int, comm: str, pgrp: int) -> str:
        if pgrp in workers:
            return "celery worker"
        if pid == receiver:
            return "receiver"
        if pid == me:
            return "bench driver"
        if comm == "postgres":
            if pid == polling:
                return "postgresql, bench polling"
            if our_backends is None or pid in our_backends:
                return "postgresql"
            return "postgresql, other"
        if comm.startswith("redis-server"):
            return "redis"
        return "other"

    return group


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass
class PgTarget:
    host: str
    port: int
    user: str
    database: str

    def conninfo(self, dbname: str | None = None) -> str:
        return (
            f"host={self.host} port={self.port} user={self.user} dbname={dbname or self.database}"
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"


def find_pg(host: str, port: int, users: list[str], database: str) -> PgTarget:
    errors = []
    for user in users:
        target = PgTarget(host, port, user, database)
        try:
            with psycopg.connect(target.conninfo("postgres"), connect_timeout=5):
                return target
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    raise SystemExit("cannot connect to PostgreSQL:\n  " + "\n  ".join(errors))


def admin(target: PgTarget, statement: sql.Composable) -> None:
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def pg_info(target: PgTarget) -> dict[str, str]:
    with psycopg.connect(target.conninfo()) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections')"
        ).fetchall()
    return {"server": server[0] if server else "?", **{f"setting {n}": v for n, v in settings}}


def backends(conn: psycopg.Connection, database: str) -> set[int]:
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
    return {int(pid) for (pid,) in rows}


def delivery_state(conn: psycopg.Connection) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM event WHERE fanned_out_at IS NULL),"
        " (SELECT count(*) FROM webhook_message),"
        " (SELECT count(*) FROM webhook_message WHERE status = 'succeeded'),"
        " (SELECT count(*) FROM webhook_message WHERE status = 'failed'),"
        " (SELECT count(*) FROM delivery_attempt WHERE outcome = 'success'),"
        " (SELECT count(*) FROM delivery_attempt WHERE outcome <> 'success'),"
        " (SELECT count(*) FROM webhook_message WHERE status = 'pending'"
        "  AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until <= now()))"
    ).fetchone()
    assert row is not None
    keys = (
        "events_pending_fan_out",
        "messages",
        "succeeded",
        "failed",
        "attempts_success",
        "attempts_failure",
        "due_unclaimed",
    )
    return dict(zip(keys, (int(v) for v in row), strict=True))


# --- workers ---------------------------------------------------------------------------------


def wait_ready(app: Celery, name: str, proc: Any, timeout: float) -> tuple[float, str]:
    """Ping the worker ``name@...`` over the broker until it answers; returns the seconds waited
    and its full name.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"worker {name} exited with {proc.returncode}; see its log")
        for reply in app.control.ping(timeout=0.5) or []:
            hostname = next(iter(reply))
            if hostname.startswith(f"{name}@"):
                return time.monotonic() - started, hostname
    raise SystemExit(f"worker {name} did not answer a ping within {timeout:.0f} s")


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_REDIS_S)


# --- the runs --------------------------------------------------------------------------------


@dataclass
class NoopRun:
    tasks: int
    send_s: float
    consume_start_s: float  # from add_consumer to the first completed task (not timed)
    timed_tasks: int  # tasks completed after the first was seen: the rate's numerator
    seconds: float
    tasks_per_s: float
    worker_ready_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)


@dataclass
class DeliveryRun:
    events: int
    publish_s: float
    seconds: float
    deliveries_per_s: float
    deliver_tasks_sent: int
    worker_ready_s: float
    state: dict[str, int]
    receiver: dict[str, Any]
    from_the_log: dict[str, Any]
    table_stats: dict[str, dict[str, int]]
    fan_out_passes_per_event: float
    cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_us_per_delivery: dict[str, float] = field(default_factory=dict)


def run_noop(
    args: argparse.Namespace, env: dict[str, str], r: redis.Redis, receiver_pid: int
) -> NoopRun:
    from worker import processes

    # The worker starts on an idle queue; the M tasks are queued first and the worker is then
    # told to consume them (add_consumer), so the timed part is the worker's rate alone, not
    # this process sending tasks on the same two CPUs.
    cmd = processes.worker_command(
        queues=[NOOP_IDLE_QUEUE], concurrency=args.concurrency, name="noop", loglevel=args.loglevel
    )
    cmd[cmd.index("worker.celery_app")] = "bench.webhooks:noop_app"
    noop_env = {
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    }
    proc = processes.start(cmd, env=noop_env, log_file=OUT / "webhooks_noop_worker.log")
    with processes.running(proc):
        ready, hostname = wait_ready(noop_app, "noop", proc, args.timeout)
        # Warm-up: one task through the whole path (a child's connection to Redis).
        noop.apply_async(queue=NOOP_IDLE_QUEUE)
        wait_for("the warm-up no-op task", lambda: int(r.get(NOOP_COUNTER) or 0) >= 1, 60)
        r.delete(NOOP_COUNTER)
        started = time.perf_counter()
        with noop_app.producer_or_acquire() as producer:
            for _ in range(args.noop_tasks):
                noop.apply_async(producer=producer)
        send_s = time.perf_counter() - started
        if r.llen(NOOP_QUEUE) != args.noop_tasks:
            raise SystemExit(f"{r.llen(NOOP_QUEUE)} no-op tasks queued, expected {args.noop_tasks}")
        # The worker notices the new queue only when its current BRPOP on the idle queue times
        # out (about a second), so the clock starts at the first completed task: the rate is
        # over the tasks completed after that moment.
        with CpuMeter(grouper(workers=[proc.pid], receiver=receiver_pid)) as cpu:
            asked = time.perf_counter()
            noop_app.control.add_consumer(
                NOOP_QUEUE, exchange=NOOP_QUEUE, routing_key=NOOP_QUEUE, destination=[hostname]
            )
            wait_for("the first no-op task", lambda: int(r.get(NOOP_COUNTER) or 0) >= 1, 60)
            started = time.perf_counter()
            done_at_start = int(r.get(NOOP_COUNTER) or 0)
            wait_for(
                f"{args.noop_tasks:,} no-op tasks",
                lambda: int(r.get(NOOP_COUNTER) or 0) >= args.noop_tasks,
                args.timeout,
            )
            seconds = time.perf_counter() - started
        time.sleep(0.5)
        done = int(r.get(NOOP_COUNTER) or 0)
        if done != args.noop_tasks:
            raise SystemExit(f"the no-op counter is {done}, expected {args.noop_tasks}")
    return NoopRun(
        tasks=args.noop_tasks,
        send_s=send_s,
        consume_start_s=started - asked,
        timed_tasks=args.noop_tasks - done_at_start,
        seconds=seconds,
        tasks_per_s=(args.noop_tasks - done_at_start) / seconds,
        worker_ready_s=ready,
        cpu_s=cpu.result,
    )


def prepare(url: str, receiver: Receiver, events: int) -> tuple[str, str, float]:
    """Tenant, endpoint and ``events`` outbox rows; returns tenant id, endpoint id, publish s."""
    from worker.storage.db import session_scope
    from worker.storage.tenants import create_tenant
    from worker.storage.webhooks import create_endpoint

    with session_scope(url) as s:
        tenant = create_tenant(s, name="Bench webhooks")
        endpoint, secret = create_endpoint(
            s, tenant_id=tenant.id, url=receiver.url, event_types=[], description="bench receiver"
        )
        tenant_id, endpoint_id = tenant.id, endpoint.id
    receiver.conn.send(secret)
    published = publish_events(url, tenant_id, events, prefix="e2e")
    return tenant_id, endpoint_id, published


def publish_events(url: str, tenant_id: str, events: int, *, prefix: str) -> float:
    from worker.storage.db import session_scope
    from worker.storage.events import publish

    started = time.perf_counter()
    with session_scope(url) as s:
        for i in range(events):
            publish(
                s,
                tenant_id=tenant_id,
                type="alert.triggered",
                key=f"{prefix}:{i}",
                data={
                    "alert_id": f"alr_bench{i:08d}",
                    "facility_id": "fac_bench",
                    "tag": f"tag_{i % 8}",
                    "rule": "gap",
                    "value_minutes": 90 + i % 60,
                    "threshold_minutes": 60,
                },
            )
    return time.perf_counter() - started


def run_ours(
    args: argparse.Namespace,
    env: dict[str, str],
    r: redis.Redis,
    target: PgTarget,
    receiver: Receiver,
) -> DeliveryRun:
    from worker import processes
    from worker.celery_app import app

    with console.status(f"writing {args.events:,} events to the outbox"):
        _tenant, _endpoint, publish_s = prepare(target.url, receiver, args.events)
    console.log(f"outbox: {args.events:,} events in {publish_s:.1f} s (not timed)")

    cmd = processes.worker_command(
        queues=[WEBHOOK_QUEUE],
        concurrency=args.concurrency,
        name="webhooks",
        loglevel=args.loglevel,
    )
    proc = processes.start(cmd, env=env, log_file=OUT / "webhooks_worker.log")
    sent_tasks = 0
    with processes.running(proc), psycopg.connect(target.conninfo(), autocommit=True) as conn:
        ready, _hostname = wait_ready(app, "webhooks", proc, args.timeout)
        ours_pg: set[int] = set()
        group = grouper(
            workers=[proc.pid],
            receiver=receiver.process.pid or -1,
            our_backends=ours_pg,
            polling=conn.info.backend_pid,
        )
        with CpuMeter(group) as cpu:
            started = time.perf_counter()
            for _ in range(args.concurrency):
                app.send_task("webhooks.deliver", queue=WEBHOOK_QUEUE)
                sent_tasks += 1
            deadline = time.monotonic() + args.timeout
            while True:
                state = delivery_state(conn)
                ours_pg.update(backends(conn, target.database))
                if state["succeeded"] >= args.events and state["attempts_success"] >= args.events:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out after {args.timeout:.0f} s: {state}")
                if proc.poll() is not None:
                    raise SystemExit(f"the worker exited with {proc.returncode}: {state}")
                # A sweep ends when a batch comes back short (the other sweep holds the rest, or
                # fan-out lags behind). Like beat, send another one, but only while unclaimed work
                # exists and fewer sweeps than children are queued or running (kombu keeps a
                # delivered, unacknowledged message in the "unacked" hash until the task ends).
                unclaimed = state["due_unclaimed"] + state["events_pending_fan_out"]
                outstanding = r.llen(WEBHOOK_QUEUE) + r.hlen("unacked")
                if unclaimed and outstanding < args.concurrency:
                    app.send_task("webhooks.deliver", queue=WEBHOOK_QUEUE)
                    sent_tasks += 1
                time.sleep(POLL_DB_S)
            seconds = time.perf_counter() - started
        state = delivery_state(conn)
        log = attempt_log(conn, seconds, args.concurrency)
    stats = receiver.stats()
    time.sleep(1.0)  # the worker's backends have exited and flushed their table statistics
    tables = table_stats(target)
    if state["succeeded"] != args.events or state["attempts_success"] != args.events:
        raise SystemExit(f"expected {args.events} succeeded messages and attempts, got {state}")
    return DeliveryRun(
        events=args.events,
        publish_s=publish_s,
        seconds=seconds,
        deliveries_per_s=args.events / seconds,
        deliver_tasks_sent=sent_tasks,
        worker_ready_s=ready,
        state=state,
        receiver=stats,
        from_the_log=log,
        table_stats=tables,
        fan_out_passes_per_event=tables.get("event", {}).get("updated", 0) / args.events,
        cpu_s=cpu.result,
        cpu_us_per_delivery={
            group: round(cpu.result.get(group, 0.0) * 1e6 / args.events)
            for group in ("celery worker", "postgresql", "receiver", "redis", "postgresql, other")
        },
    )


def table_stats(target: PgTarget) -> dict[str, dict[str, int]]:
    """Rows inserted / updated per table so far: ``event`` updates beyond one per event are
    fan-outs done twice (two sweeps that selected the same events).
    """
    with psycopg.connect(target.conninfo()) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname IN ('event', 'webhook_message', 'delivery_attempt') ORDER BY relname"
        ).fetchall()
    return {
        name: {"inserted": ins, "updated": upd, "hot_updated": hot} for name, ins, upd, hot in rows
    }


def attempt_log(conn: psycopg.Connection, seconds: float, concurrency: int) -> dict[str, Any]:
    """What the delivery_attempt rows say about the batches: every attempt of one batch is
    recorded with the same ``attempted_at`` (the time its HTTP part finished).
    """
    from worker.settings import get_settings

    per_endpoint = get_settings().webhook_endpoint_concurrency
    latencies = [int(v) for (v,) in conn.execute("SELECT latency_ms FROM delivery_attempt")]
    batches = conn.execute(
        "SELECT count(*), sum(latency_ms) FROM delivery_attempt GROUP BY attempted_at"
    ).fetchall()
    sizes = [int(n) for n, _ in batches]
    # One batch's requests go out at most `per_endpoint` at a time (one endpoint), so its HTTP
    # part lasts about sum(latency) / that; `concurrency` sweeps run side by side.
    http_s = [float(total) / 1000 / per_endpoint for _, total in batches]
    cycle = seconds * concurrency / len(batches) if batches else 0.0
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "batches": len(batches),
        "batch_size_mean": round(statistics.fmean(sizes), 1) if sizes else 0,
        "batch_size_max": max(sizes, default=0),
        "latency_ms_mean": round(statistics.fmean(latencies), 2) if latencies else 0,
        "latency_ms_p50": quantiles[49],
        "latency_ms_p99": quantiles[98],
        "latency_ms_max": max(latencies, default=0),
        "est_http_s_per_batch": round(statistics.fmean(http_s), 3) if http_s else 0,
        "est_cycle_s_per_batch": round(cycle, 3),
        "est_http_share": round(sum(http_s) / (seconds * concurrency), 3) if seconds else 0,
    }


# --- the in-process breakdown ----------------------------------------------------------------


def run_breakdown(
    args: argparse.Namespace, target: PgTarget, tenant_id: str, receiver_pid: int
) -> dict[str, Any]:
    """One ``Sweeper`` in this process until nothing is due; its own timers split the time."""
    import worker.delivery.webhooks as delivery
    from worker.settings import get_settings

    publish_events(target.url, tenant_id, args.breakdown_events, prefix="breakdown")
    settings = delivery.settings_from_env()
    batch = get_settings().webhook_batch_size
    with CpuMeter(grouper(workers=[], receiver=receiver_pid)) as cpu:
        started = time.perf_counter()
        stats = asyncio.run(delivery.sweep(settings, batch_size=batch, max_seconds=3600))
        seconds = time.perf_counter() - started
    if stats.sent != args.breakdown_events:
        raise SystemExit(f"breakdown: delivered {stats.sent}, expected {args.breakdown_events}")
    phases = {
        "claim with fan-out (one transaction)": stats.claim_s,
        "HTTP (signing, sending, answers)": stats.http_s,
        "recording outcomes (one transaction)": stats.record_s,
    }
    phases["rest"] = seconds - sum(phases.values())
    return {
        "events": args.breakdown_events,
        "sweepers": 1,
        "batches": stats.batches,
        "seconds": round(seconds, 3),
        "deliveries_per_s": round(stats.sent / seconds, 1),
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "phases_ms_per_delivery": {k: round(v * 1000 / stats.sent, 3) for k, v in phases.items()},
        "cpu_s": cpu.result,
    }


# --- reporting -------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    for package in (
        "celery",
        "kombu",
        "redis",
        "httpx",
        "aiohttp",
        "sqlalchemy",
        "psycopg",
        "standardwebhooks",
    ):
        try:
            info[package] = version(package)
        except Exception:
            info[package] = None
    return info


def print_table(report: dict[str, Any]) -> None:
    ours, base = report["ours"], report["noop"]
    table = Table(
        title=f"Webhook delivery vs no-op Celery tasks "
        f"({report['machine']['cpu_count']} CPUs, concurrency "
        f"{report['concurrency']})"
    )
    for column in ("path", "items", "seconds", "per second", "vs no-op"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row(
        "ours: signed deliveries, end to end",
        f"{ours['events']:,}",
        f"{ours['seconds']:.2f}",
        f"{ours['deliveries_per_s']:,.0f}",
        f"{report['ratio']:.2f}",
    )
    table.add_row(
        "no-op Celery task (baseline)",
        f"{base['tasks']:,}",
        f"{base['seconds']:.2f}",
        f"{base['tasks_per_s']:,.0f}",
        "1.00",
    )
    console.print(table)
    log, rec = ours["from_the_log"], ours["receiver"]
    console.print(
        f"[dim]ours: {log['batches']} batches (mean size {log['batch_size_mean']}); attempt "
        f"latency mean {log['latency_ms_mean']} ms, p99 {log['latency_ms_p99']} ms; per batch "
        f"~{log['est_cycle_s_per_batch']} s, of it HTTP ~{log['est_http_s_per_batch']} s; "
        f"{ours['deliver_tasks_sent']} deliver tasks sent; receiver: {rec['requests']:,} "
        f"requests, {rec['distinct_ids']:,} distinct ids, {rec['verified']:,} verified, "
        f"{rec['bodies_under_two_ids']} bodies under two ids; "
        f"each event fanned out {ours['fan_out_passes_per_event']:.2f} times[/dim]"
    )
    per = ", ".join(f"{k} {v:,.0f}" for k, v in ours["cpu_us_per_delivery"].items())
    console.print(f"[dim]ours: CPU µs per delivery: {per}[/dim]")
    runs = [("ours", ours), ("no-op", base)]
    if report.get("breakdown"):
        runs.append(("breakdown (sweeper = bench driver)", report["breakdown"]))
    for label, run in runs:
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in run["cpu_s"].items())
        console.print(f"[dim]{label} CPU s: {cpu}[/dim]")
    if report.get("breakdown"):
        b = report["breakdown"]
        parts = Table(
            title=f"One sweeper in this process: {b['events']:,} deliveries, "
            f"{b['deliveries_per_s']:,.0f}/s, {b['batches']} batches"
        )
        for column in ("part of a sweep", "s", "ms / delivery"):
            parts.add_column(column, justify="left" if column.startswith("part") else "right")
        for name, seconds in b["phases_s"].items():
            parts.add_row(name, f"{seconds:.2f}", f"{b['phases_ms_per_delivery'][name]:.2f}")
        console.print(parts)
    verdict = "met" if report["target_met"] else "NOT met"
    console.print(
        f"deliveries/s / no-op tasks/s = {report['ratio']:.2f} "
        f"(target >= {TARGET_RATIO:g}): [bold]{verdict}[/bold]"
    )


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000, help="N events / deliveries")
    parser.add_argument("--noop-tasks", type=int, default=2_000, help="M no-op tasks")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children per worker")
    parser.add_argument(
        "--endpoint-concurrency",
        type=int,
        default=None,
        help="requests in flight per endpoint per sweep (default: the setting's default, 4)",
    )
    parser.add_argument(
        "--breakdown-events",
        type=int,
        default=2_000,
        help="events for the in-process breakdown (0: skip)",
    )
    parser.add_argument(
        "--sample-every", type=int, default=1, help="the receiver verifies every n-th request"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per wait")
    parser.add_argument("--loglevel", default="WARNING", help="both workers' log level")
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument(
        "--pg-user",
        action="append",
        help="role (repeatable; default: postgres, then the current user)",
    )
    parser.add_argument("--pg-database", default="tickwork_bench_webhooks")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    users = args.pg_user or list(dict.fromkeys(["postgres", getpass.getuser()]))
    target = find_pg(args.pg_host, args.pg_port, users, args.pg_database)
    OUT.mkdir(parents=True, exist_ok=True)
    for log in ("webhooks_worker.log", "webhooks_noop_worker.log"):  # the workers append
        (OUT / log).unlink(missing_ok=True)
    tickwork_env = {
        "TICKWORK_DATABASE_URL": target.url,
        "TICKWORK_BROKER_URL": REDIS_URL,
        "TICKWORK_REDIS_URL": REDIS_URL,
        "TICKWORK_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "TICKWORK_WEBHOOK_ALLOW_HTTP": "true",
        "TICKWORK_LOG_LEVEL": args.loglevel,
    }
    if args.endpoint_concurrency:
        tickwork_env["TICKWORK_WEBHOOK_ENDPOINT_CONCURRENCY"] = str(args.endpoint_concurrency)
    # Before anything imports worker.celery_app, which reads its settings at import time.
    os.environ.update(tickwork_env)
    env = {**os.environ, **tickwork_env}

    from worker.storage.db import get_engine, upgrade

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()  # db 9 only: leftovers of an interrupted run
    report: dict[str, Any] = {
        "events": args.events,
        "noop_tasks": args.noop_tasks,
        "concurrency": args.concurrency,
        "endpoint_concurrency": args.endpoint_concurrency or 4,
        "broker": REDIS_URL,
        "machine": machine_info(),
    }
    report["machine"]["redis_server"] = r.info("server").get("redis_version")
    name = sql.Identifier(target.database)
    admin(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin(target, sql.SQL("CREATE DATABASE {}").format(name))
    receiver: Receiver | None = None
    try:
        receiver = start_receiver(args.sample_every)
        with console.status("migrating"):
            upgrade(target.url)
        report["machine"]["postgresql"] = pg_info(target)

        with console.status(f"baseline: {args.noop_tasks:,} no-op tasks"):
            base = run_noop(args, env, r, receiver.process.pid or -1)
        console.log(
            f"no-op: {base.tasks:,} tasks in {base.seconds:.2f} s, {base.tasks_per_s:,.0f}/s"
        )

        with console.status(f"ours: {args.events:,} deliveries"):
            ours = run_ours(args, env, r, target, receiver)
        console.log(
            f"ours: {ours.events:,} deliveries in {ours.seconds:.2f} s, "
            f"{ours.deliveries_per_s:,.0f}/s"
        )

        if args.breakdown_events:
            from worker.storage.db import session_scope
            from worker.storage.models import Tenant

            with session_scope(target.url, readonly=True) as s:
                tenant_id = s.query(Tenant.id).scalar()
            with console.status(f"breakdown: {args.breakdown_events:,} deliveries in-process"):
                report["breakdown"] = run_breakdown(
                    args, target, tenant_id, receiver.process.pid or -1
                )
    finally:
        stats = receiver.stop() if receiver else {}
        get_engine(target.url).dispose()
        get_engine(None).dispose()  # deliver_due's engine in the breakdown
        if args.keep_db:
            console.log(f"kept database {target.database}")
        else:
            admin(target, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        r.flushdb()

    expected = args.events + args.breakdown_events
    if (
        stats.get("requests") != expected
        or stats.get("verify_failed")
        or stats.get("missing_headers")
        or stats.get("bodies_under_two_ids")
        or (args.sample_every == 1 and stats.get("verified") != expected)
    ):
        raise SystemExit(
            f"receiver saw {stats}, expected {expected} signed requests, each verified, "
            "no body under two ids"
        )
    if ours.receiver.get("requests") != args.events:
        raise SystemExit(f"receiver saw {ours.receiver} during ours, expected {args.events}")
    report["receiver_total"] = stats
    report["noop"] = asdict(base)
    report["ours"] = asdict(ours)
    report["ratio"] = ours.deliveries_per_s / base.tasks_per_s
    report["target_ratio"] = TARGET_RATIO
    report["target_met"] = report["ratio"] >= TARGET_RATIO
    print_table(report)
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
