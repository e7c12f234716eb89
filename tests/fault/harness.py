"""Real parts for the fault-injection tests: a private Redis, a throwaway PostgreSQL cluster,
Tickwork worker/beat/API processes, a recording webhook receiver, and helpers that create jobs
exactly as the API does (store the upload, write the job, commit, then publish).

Nothing here touches the machine's services: every test gets its own Redis server on a free port
and its own processes, each in its own process group so a fault can SIGKILL it whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import redis
from sqlalchemy import text

from tests.factories import QuietHandler, Tenant, http_server, make_tenant, wait_for
from worker.broker import free_port, redis_server_binary

ROOT = Path(__file__).resolve().parents[2]


def _pg_bin() -> Path:
    """Where the installed PostgreSQL server's programs are: ``pg_config --bindir``, else the
    newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else ``initdb`` on PATH."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        if (found / "initdb").exists():
            return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: [int(n) for n in re.findall(r"\d+", path.parent.parent.name)],
    )
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else Path("/usr/lib/postgresql/bin")


PG_BIN = _pg_bin()
# Short timings for the tests: a task killed with its worker becomes visible again after
# VISIBILITY seconds (soft < hard < visibility, as the settings require).
VISIBILITY = 12
T = TypeVar("T")


class Violation(AssertionError):
    """The property under test does not hold (as opposed to a harness or set-up failure), so an
    ``xfail(raises=Violation)`` test cannot pass for the wrong reason."""


# --- Redis -------------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server; ``persistent`` = append-only file fsynced on every write, as a
    production broker is run (the embedded broker runs without persistence)."""

    def __init__(self, directory: Path, *, persistent: bool = True) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> None:
        """Start it, on the same port as before once it has run (a restart keeps its clients'
        URL). redis-server cannot be given port 0, so the port is picked free beforehand; if
        something took it meanwhile, the first start picks another."""
        for _ in range(5):
            self.proc = subprocess.Popen(
                self._command(), stdout=subprocess.DEVNULL, start_new_session=True
            )
            wait_for(self._settled, timeout=10, what=f"redis-server on port {self.port}")
            if self.alive():
                self.started = True
                return
            if self.started:
                break  # a restart must keep its port
            self.port = free_port()
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def _settled(self) -> bool:
        """Answering, or exited (e.g. its port was taken)."""
        return self.alive() or (self.proc is not None and self.proc.poll() is not None)

    def _command(self) -> list[str]:
        return [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "always",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.dir / "redis.log"),
        ]

    def alive(self) -> bool:
        """Our redis-server answers on our port (not another process that holds the port)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            info = redis.Redis.from_url(self.url, socket_timeout=0.5).info("server")
        except redis.RedisError:
            return False
        return int(info.get("process_id", -1)) == self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown save, open connections are reset."""
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc)
        self.proc = None

    def stop(self) -> None:
        self.kill()


# --- PostgreSQL ----------------------------------------------------------------------------------


class PgCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, run as the postgres OS user."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.data = directory / "data"
        self.port = free_port()
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        """Start it; as with Redis, the port is picked free beforehand (PostgreSQL cannot be
        given port 0), and a first start whose port was taken meanwhile tries another."""
        for _ in range(5):
            opts = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
            )
            try:
                self._as_postgres(
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.dir / "pg.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "30",
                    "start",
                )
            except subprocess.CalledProcessError:
                log = (self.dir / "pg.log").read_text(errors="replace")
                if self.started or "could not bind" not in log.rsplit("starting PostgreSQL", 1)[-1]:
                    raise
                self.port = free_port()
                continue
            self.started = True
            return
        raise AssertionError(f"PostgreSQL did not start on port {self.port}")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


# --- processes ----------------------------------------------------------------------------------


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def break_requested() -> str:
    """``TICKWORK_FAULT_BREAK=<name>`` starts every process through tests/fault/sabotage.py,
    which applies the named defect: the way to check that a fault test can fail."""
    return os.environ.get("TICKWORK_FAULT_BREAK", "")


@dataclass
class Processes:
    """Starts Tickwork processes with one environment and stops them all at the end."""

    env: dict[str, str]
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    killed: set[int] = field(default_factory=set)

    def _app(self) -> str:
        sabotaged = break_requested() or self.env.get("TICKWORK_FAULT_PAUSE")
        if sabotaged:
            return "tests.fault.sabotage"
        if self.env.get("TICKWORK_TEST_FROZEN_CLOCK"):
            return "tests.fault.frozen_clock"
        return "worker.celery_app"

    def spawn(self, cmd: list[str], log_name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        out = open(self.logs / log_name, "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.started.append(proc)
        self.names[proc.pid] = log_name
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a process group on purpose (a fault, not a failure)."""
        self.killed.add(proc.pid)
        kill_group(proc)

    def check(self) -> None:
        """Fail at once, with its log, if a process died that no fault killed."""
        for proc in self.started:
            if proc.pid not in self.killed and proc.poll() is not None:
                log = (self.logs / self.names[proc.pid]).read_text(errors="replace")
                raise AssertionError(
                    f"{self.names[proc.pid]}: exited with {proc.returncode}:\n{log[-3000:]}"
                )

    def wait(self, check: Callable[[], T], *, timeout: float, what: str, every: float = 0.05) -> T:
        """``wait_for`` that also fails as soon as one of our processes died unexpectedly."""
        return wait_for(check, timeout=timeout, what=what, every=every, guard=self.check)

    def worker(
        self,
        name: str,
        *,
        queues: str = "ingest,analysis,webhooks",
        concurrency: int = 2,
        prefetch_multiplier: int = 1,
    ) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self._app(),
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--prefetch-multiplier",
            str(prefetch_multiplier),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        return self.spawn(cmd, f"{name}.log")

    def beat(self, name: str, schedule_app: str = "tests.fault.short_beat") -> subprocess.Popen:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            schedule_app,
            "beat",
            "--schedule",
            str(self.logs / f"{name}-schedule"),
            "--loglevel",
            "INFO",
        ]
        return self.spawn(cmd, f"{name}.log")

    def api(self, port: int) -> subprocess.Popen[bytes]:
        app = "tests.fault.sabotage:api" if break_requested() else "api.app:app"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        return self.spawn(cmd, "api.log")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        """SIGKILL every process group we started: at the end of a test nothing needs a warm
        shutdown (and a Celery warm shutdown costs ~2 s a worker)."""
        for proc in reversed(self.started):
            kill_group(proc)


def wait_consuming(procs: Processes, name: str, timeout: float = 60) -> None:
    """Until worker ``name`` has connected to the broker and is ready to consume."""
    procs.wait(lambda: " ready." in procs.log(name), timeout=timeout, what=f"worker {name} ready")


def wait_visible_again(procs: Processes, broker: RedisServer, *, timeout: float = 60) -> None:
    """Until every message a killed worker held unacknowledged is older than the visibility
    timeout, so the next worker's first restore sweep returns them to their queues."""

    def visible() -> bool:
        held = broker.client().zrange("unacked_index", 0, -1, withscores=True)
        return all(score <= time.time() - VISIBILITY for _, score in held)

    procs.wait(visible, timeout=timeout, every=0.2, what="the killed worker's messages to expire")


def wait_idle(procs: Processes, worker: str, *, timeout: float = 30) -> None:
    """Until every task message worker ``worker`` received has finished (its log shows as many
    outcomes as receipts)."""

    def idle() -> bool:
        log = procs.log(worker)
        received = len(re.findall(r"Task [\w.]+\[[^\]]+\] received", log))
        done = len(re.findall(r"Task [\w.]+\[[^\]]+\] (?:succeeded|raised|retry)", log))
        return done >= received

    procs.wait(idle, timeout=timeout, what=f"worker {worker} to finish what it received")


def pool_children(proc: subprocess.Popen[bytes]) -> list[int]:
    """The pids of a Celery worker's pool processes (its direct children)."""
    path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


# --- publishing, exactly as worker.dispatch does it, to a chosen broker ---------------------------


def publish(
    broker_url: str,
    kind: str,
    job_id: str | None,
    *,
    args: list[Any] | None = None,
    task_id: str | None = None,
) -> str:
    """Send one task message: the job's task (task id = job id, as dispatch() does) or, with
    ``args``/``task_id``, any task. Queues are declared first so a message published before any
    worker started is routed, not dropped."""
    from worker.celery_app import app
    from worker.kinds import route_for

    task_id = task_id or job_id
    with app.connection_for_write(broker_url) as conn:
        channel = conn.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()
        app.send_task(
            kind,
            args=[job_id] if args is None else args,
            task_id=task_id,
            queue=route_for(kind),
            connection=conn,
        )
    return str(task_id)


def queued_task_ids(client: redis.Redis, queue: str) -> list[str]:
    """Task ids of the messages waiting in a Redis-transport queue."""
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


# --- data -----------------------------------------------------------------------------------------


def meter_csv(rows: int, *, tags: int = 4, start: str = "2024-01-01", seed: int = 1) -> bytes:
    """``rows`` one-minute readings spread over ``tags`` tags, as an ingest CSV."""
    per_tag = rows // tags
    stamps = pd.date_range(start, periods=per_tag, freq="1min", tz="UTC")
    text = np.tile(stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(), tags)
    values = np.round(np.random.default_rng(seed).normal(100, 5, per_tag * tags), 3)
    names = np.repeat([f"flow_{i}" for i in range(tags)], per_tag)
    frame = pd.DataFrame({"tag": names, "timestamp": text, "value": values})
    return frame.to_csv(index=False).encode()


def meter_json(rows: int, *, tags: int = 4, start: str = "2024-01-01", seed: int = 1) -> bytes:
    """The same readings as ``meter_csv``, as a JSON batch (``{"data": [...]}``)."""
    per_tag = rows // tags
    stamps = pd.date_range(start, periods=per_tag, freq="1min", tz="UTC")
    text = stamps.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    values = np.round(np.random.default_rng(seed).normal(100, 5, per_tag * tags), 3).tolist()
    data = [
        {"tag": f"flow_{k}", "timestamp": text[i], "value": values[k * per_tag + i]}
        for k in range(tags)
        for i in range(per_tag)
    ]
    return json.dumps({"data": data}).encode()


def ingest_job(
    db_url: str, *, tenant_id: str, facility_id: str, content: bytes, content_type: str = "text/csv"
) -> str:
    """What POST /v1/data-points/import does before publishing: keep the upload, write the job,
    commit. Returns the job id (the task id to publish)."""
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job
    from worker.storage.uploads import save_upload

    with session_scope(db_url) as s:
        upload = save_upload(s, tenant_id=tenant_id, content=content, content_type=content_type)
        job = create_job(
            s,
            tenant_id=tenant_id,
            kind="ingest.process_upload",
            upload_id=upload.id,
            params={"facility_id": facility_id},
        )
        return job.id


def mark_enqueued(db_url: str, job_id: str) -> None:
    from worker.storage.db import session_scope
    from worker.storage.jobs import mark_enqueued as mark

    with session_scope(db_url) as s:
        mark(s, job_id=job_id)


def facility(db_url: str, *, tenant_id: str, name: str = "Plant") -> str:
    from worker.storage.db import new_id, session_scope
    from worker.storage.models import Facility

    with session_scope(db_url) as s:
        fac = Facility(id=new_id("fac"), tenant_id=tenant_id, name=name, timezone="UTC")
        s.add(fac)
        s.flush()
        return fac.id


def jobs(db_url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    from sqlalchemy import select

    from worker.storage.db import session_scope
    from worker.storage.jobs import job_view
    from worker.storage.models import Job

    with session_scope(db_url) as s:
        return {j.id: job_view(j) for j in s.scalars(select(Job).where(Job.id.in_(ids)))}


def scalar(db_url: str, sql: str, **params: Any) -> Any:
    from sqlalchemy import text

    from worker.storage.db import get_engine

    with get_engine(db_url).connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(db_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    from worker.storage.db import get_engine

    with get_engine(db_url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def points_per_facility(db_url: str, facility_id: str) -> tuple[int, int]:
    """(rows stored, distinct (tag, ts) keys) of one facility."""
    found = rows(
        db_url,
        "SELECT count(*), count(DISTINCT (d.tag_id, d.ts)) FROM data_point d "
        "JOIN tag t ON t.id = d.tag_id WHERE t.facility_id = :f",
        f=facility_id,
    )
    return int(found[0][0]), int(found[0][1])


# --- a webhook receiver ---------------------------------------------------------------------------


@dataclass
class Receiver:
    """Records the webhook-id and event of every request; answers 200 after ``delay`` s."""

    delay: float = 0.0
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)  # (webhook-id, event key)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0  # requests being read or answered right now

    def ids_by_event(self) -> dict[str, set[str]]:
        by_event: dict[str, set[str]] = {}
        with self.lock:
            for msg_id, event in self.requests:
                by_event.setdefault(event, set()).add(msg_id)
        return by_event

    def per_id(self) -> Counter[str]:
        with self.lock:
            return Counter(msg_id for msg_id, _ in self.requests)


@contextlib.contextmanager
def receiving(delay: float = 0.0) -> Iterator[Receiver]:
    state = Receiver(delay=delay)

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            with state.lock:
                state.in_flight += 1
            try:
                self._record_and_answer()
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _record_and_answer(self) -> None:
            payload = json.loads(self.body())
            key = json.dumps(payload["data"], sort_keys=True)
            with state.lock:
                state.requests.append((self.headers["webhook-id"], key))
            time.sleep(state.delay)  # a receiver that takes this long to answer
            with contextlib.suppress(ConnectionError):  # the sender may have been killed
                self.answer_ok()

    with http_server(Handler) as base:
        state.url = f"{base}/hook"
        yield state


def webhook_endpoint(db_url: str, *, tenant_id: str, url: str) -> str:
    from worker.storage.db import session_scope
    from worker.storage.webhooks import create_endpoint

    with session_scope(db_url) as s:
        endpoint, _secret = create_endpoint(s, tenant_id=tenant_id, url=url, event_types=[])
        return endpoint.id


def events(db_url: str, *, tenant_id: str, count: int, prefix: str = "e") -> list[str]:
    """``count`` outbox events (as an analysis would write them); returns their dedupe keys."""
    from worker.storage.db import session_scope
    from worker.storage.events import publish as publish_event

    keys = [f"{prefix}{i}" for i in range(count)]
    with session_scope(db_url) as s:
        for key in keys:
            publish_event(
                s,
                tenant_id=tenant_id,
                type="alert.triggered",
                key=key,
                data={"n": key, "rule": "fault-test"},
            )
    return keys


# --- observed numbers, gathered for the report ---------------------------------------------

OBSERVED: list[tuple[str, str, str]] = []


def observe(fault: str, checked: str, result: str) -> None:
    OBSERVED.append((fault, checked, result))
    print(f"\n[fault] {fault} | {checked} | {result}", flush=True)


def store_points(db_url: str, *, tenant_id: str, facility_id: str, content: bytes) -> dict:
    """Store a CSV's points in-process (what an ingest stores), without a job or analysis."""
    from pipelines import ingest
    from worker.storage.db import session_scope
    from worker.storage.points import store_parsed

    parsed = ingest.parse_csv(content, facility_id=facility_id)
    with session_scope(db_url) as s:
        return store_parsed(s, job_id="-", tenant_id=tenant_id, upload_id=None, parsed=parsed)


def yesterday_csv(*, every_minutes: int = 10) -> bytes:
    """Readings of one tag over yesterday (UTC) that stop at its end, or an hour ago when that is
    earlier: a stale tag whatever the time of day (just after midnight, data up to midnight would
    not yet be late enough to be stale)."""
    now = pd.Timestamp.now(tz="UTC")
    day = now.normalize() - pd.Timedelta(days=1)
    end = min(day + pd.Timedelta(days=1), now - pd.Timedelta(hours=1))
    stamps = pd.date_range(day, end, freq=f"{every_minutes}min", inclusive="left")
    lines = [f"flow,{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{100 + i % 7}" for i, t in enumerate(stamps)]
    return ("tag,timestamp,value\n" + "\n".join(lines) + "\n").encode()


def old_event(db_url: str, *, tenant_id: str, key: str, days: int = 400) -> None:
    """An event older than the retention period (cleanup deletes it)."""
    events(db_url, tenant_id=tenant_id, count=1, prefix=key)
    execute(
        db_url,
        "UPDATE event SET created_at = now() - make_interval(days => :d), fanned_out_at = now() "
        "WHERE dedupe_key = :k",
        d=days,
        k=f"alert.triggered:{key}0",
    )


def stale_jobs(db_url: str, *, tenant_id: str, count: int, kind: str) -> list[str]:
    """Jobs committed but never published (as when the broker was down at enqueue time)."""
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job

    with session_scope(db_url) as s:
        ids = [create_job(s, tenant_id=tenant_id, kind=kind).id for _ in range(count)]
    execute(
        db_url,
        "UPDATE job SET created_at = now() - interval '1 hour' WHERE id = ANY(:ids)",
        ids=ids,
    )
    return ids


def execute(db_url: str, sql: str, **params: Any) -> None:
    from sqlalchemy import text

    from worker.storage.db import get_engine

    with get_engine(db_url).begin() as conn:
        conn.execute(text(sql), params)


def received(procs: Processes, worker: str, task: str) -> int:
    """How many messages of ``task`` worker ``worker`` has received so far (its log)."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] received", procs.log(worker)))


def outcomes(procs: Processes, worker: str, task: str, task_id: str) -> list[str]:
    """What each finished copy of one task message returned (or raised), from the worker log."""
    pattern = (
        rf"Task {re.escape(task)}\[{re.escape(task_id)}\] (succeeded in [\d.]+s: (.*)|raised.*)"
    )
    return [
        m.group(2) if m.group(2) is not None else m.group(1)
        for m in re.finditer(pattern, procs.log(worker))
    ]


def gap_csv(*, tag: str = "flow", day: str = "2025-01-15") -> bytes:
    """One-minute readings over a day with three planted gaps (30, 90 and 150 minutes)."""
    stamps = pd.date_range(day, periods=24 * 60, freq="1min", tz="UTC")
    keep = np.ones(len(stamps), dtype=bool)
    for start, minutes in ((120, 29), (600, 89), (1000, 149)):
        keep[start : start + minutes] = False
    lines = [
        f"{tag},{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{100 + i % 5}"
        for i, t in enumerate(stamps[keep])
    ]
    return ("tag,timestamp,value\n" + "\n".join(lines) + "\n").encode()


# --- pausing a task where a fault should land ---------------------------------------------------

# How long a paused task sleeps: under the soft time limit (VISIBILITY - 4), so a pause the test
# fails to act on resumes and finishes normally (and the test's "killed mid-task" check fails).
PAUSE_SECONDS = 5


def pause_at(procs: Processes, point: str, *, seconds: float = PAUSE_SECONDS) -> Path:
    """Workers started from now on run through tests/fault/sabotage.py with pause point
    ``point``: the first task to reach it writes its pid to the returned file and sleeps
    ``seconds`` (for the test to kill it there); every later one passes straight on."""
    marker = procs.logs / f"paused-at-{point}"
    procs.env.update(
        TICKWORK_FAULT_PAUSE=point,
        TICKWORK_FAULT_PAUSE_FILE=str(marker),
        TICKWORK_FAULT_PAUSE_SECONDS=str(seconds),
    )
    return marker


def wait_paused(procs: Processes, marker: Path, *, timeout: float = 60) -> int:
    """Until a task is paused at ``marker``'s point; the pid of the (pool) process pausing."""

    def paused() -> int:
        text = marker.read_text().strip() if marker.exists() else ""
        return int(text) if text else 0

    return procs.wait(paused, timeout=timeout, what=f"a task to pause at {marker.name}")


def kill_paused_child(procs: Processes, marker: Path, worker: subprocess.Popen[bytes]) -> float:
    """Once a pool process of ``worker`` pauses at ``marker``, SIGKILL that process alone; the
    monotonic time of the kill."""
    child = wait_paused(procs, marker)
    assert child in pool_children(worker)
    os.kill(child, signal.SIGKILL)
    return time.monotonic()


# --- LCFS reports and documents -------------------------------------------------------------------


def lcfs_facility(
    db_url: str, *, tenant_id: str, tags: int = 3, year: int = 2025, quarter: int = 4
) -> str:
    """A facility (UTC) whose ``tags`` meter tags read RNG in m3/h once a minute over the whole
    quarter, each mapped to an LCFS fuel pathway: what a quarterly report is built from."""
    from pipelines import lcfs
    from worker.storage.db import session_scope
    from worker.storage.models import Facility
    from worker.storage.reports import quarter_bounds, replace_mappings

    fac = facility(db_url, tenant_id=tenant_id, name="RNG plant")
    start, end = quarter_bounds(year, quarter, "UTC")
    minutes = int((end - start).total_seconds() // 60)
    content = meter_csv(minutes * tags, tags=tags, start=start.strftime("%Y-%m-%d"))
    store_points(db_url, tenant_id=tenant_id, facility_id=fac, content=content)
    mappings = [
        lcfs.TagMapping(
            tag=f"flow_{i}",
            fuel_pathway_code=f"CNG-RNG-{i + 1:03d}",
            fuel_type="rng",
            ci=40.0 + 5 * i,
            unit="m3",
            kind="rate",
            rate_per="h",
        )
        for i in range(tags)
    ]
    with session_scope(db_url) as s:
        replace_mappings(s, facility=s.get(Facility, fac), mappings=mappings)
    return fac


def report_job(
    db_url: str, *, facility_id: str, year: int, quarter: int, fmt: str = "pdf"
) -> tuple[str, str]:
    """What POST /v1/reports does before publishing: the queued report and its job, committed.
    Returns (report id, job id)."""
    from worker.storage.db import session_scope
    from worker.storage.models import Facility
    from worker.storage.reports import create_report

    with session_scope(db_url) as s:
        report, job = create_report(
            s, facility=s.get(Facility, facility_id), year=year, quarter=quarter, fmt=fmt
        )
        return report.id, job.id


def rebuild_report(db_url: str, report_id: str) -> tuple[str, str]:
    """Build a stored report again, in this process, from what is stored now, exactly as the
    task does (same tables and substitution method): (input_sha256, sha256 of the file)."""
    import hashlib

    from pipelines import lcfs
    from worker.settings import get_settings
    from worker.signing import render_signed
    from worker.storage.db import session_scope
    from worker.storage.models import Facility, Report
    from worker.storage.reports import lcfs_tables, load_lcfs_inputs

    with session_scope(db_url, readonly=True) as s:
        row = s.get(Report, report_id)
        assert row is not None
        inputs = load_lcfs_inputs(
            s,
            facility=s.get(Facility, row.facility_id),
            year=row.year,
            quarter=row.quarter,
            tables=lcfs_tables(),
            substitution_method=get_settings().lcfs_substitution_method,
            report=row,
        )
        fmt = row.format
    report = lcfs.compute_quarter(inputs)
    return report.input_sha256, hashlib.sha256(render_signed(report, fmt)).hexdigest()


def report_files_on_disk(directory: Path) -> list[Path]:
    """Files under a worker's data directory that look like a report (by name or by bytes).
    Reports are stored in the database (``report.content``): none is expected on disk."""
    found = []
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        with path.open("rb") as f:
            head = f.read(5)
        if path.suffix in (".pdf", ".csv", ".json") or head == b"%PDF-":
            found.append(path)
    return found


def invoice_pdf() -> tuple[bytes, dict[str, Any]]:
    """A two-page supplier invoice (tests/documents_corpus.py, layout "multipage": the line
    items on page 2) naming a fuel pathway code and a carbon intensity, so it yields a fuel
    transaction; and the fields a reader should get from it."""
    from tests import documents_corpus as corpus

    spec = next(
        s
        for s in corpus.specs(7, 60, ("multipage",))
        if s.document_type == "invoice" and "fuel_pathway_code" in s.expected
    )
    return corpus.render_pdf(spec), dict(spec.expected)


def document_job(
    db_url: str, *, tenant_id: str, facility_id: str, content: bytes, filename: str = "invoice.pdf"
) -> tuple[str, str]:
    """What POST /v1/documents does before publishing: keep the upload, the document row and
    its job, commit. Returns (document id, job id)."""
    from worker.storage import documents as storage
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job
    from worker.storage.uploads import save_upload

    with session_scope(db_url) as s:
        upload = save_upload(
            s,
            tenant_id=tenant_id,
            content=content,
            content_type="application/pdf",
            filename=filename,
        )
        document, _ = storage.create_document(
            s,
            tenant_id=tenant_id,
            upload=upload,
            facility_id=facility_id,
            declared_type=None,
            filename=filename,
        )
        job = create_job(
            s,
            tenant_id=tenant_id,
            kind="documents.process",
            upload_id=upload.id,
            params={"document_id": document.id},
        )
        storage.reset_for_requeue(document, job_id=job.id)
        return document.id, job.id


# --- the stack a fault test runs (the fixtures in conftest.py build it) ------------------------


@dataclass
class Stack:
    db: str
    broker: RedisServer
    procs: Processes
    tmp: Path

    def tenant(self, name: str = "T") -> Tenant:
        return make_tenant(self.db, name)


def empty(db_url: str) -> None:
    from worker.storage.db import get_engine
    from worker.storage.models import Base

    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(db_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def environment(db_url: str, broker_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.update(
        TICKWORK_DATABASE_URL=db_url,
        TICKWORK_BROKER_URL=broker_url,
        TICKWORK_REDIS_URL=broker_url,
        TICKWORK_DATA_DIR=str(data_dir),
        TICKWORK_VISIBILITY_TIMEOUT=str(VISIBILITY),
        TICKWORK_TASK_SOFT_TIME_LIMIT=str(VISIBILITY - 4),
        TICKWORK_TASK_TIME_LIMIT=str(VISIBILITY - 2),
        # A silent job is re-sent after the visibility timeout has brought its message back, so
        # the tests of redelivery see redelivery first.
        TICKWORK_JOB_HEARTBEAT_SECONDS="4",
        TICKWORK_JOB_SILENT_SECONDS=str(VISIBILITY + 8),
        TICKWORK_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
        TICKWORK_WEBHOOK_ALLOW_HTTP="true",
        TICKWORK_WEBHOOK_CONNECT_TIMEOUT="1",
        TICKWORK_WEBHOOK_TIMEOUT="1",
        TICKWORK_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    if break_requested():
        env["TICKWORK_FAULT_BREAK"] = break_requested()
    env.update(extra)
    return env
