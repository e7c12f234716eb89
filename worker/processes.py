"""Start Tickwork's long-running processes (API, worker, beat) as child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from worker.celery_app import QUEUES


def worker_command(
    *,
    queues: Sequence[str] = QUEUES,
    concurrency: int = 2,
    name: str = "worker",
    loglevel: str = "INFO",
    beat: bool = False,
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        ",".join(queues),
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        cmd += [
            "--beat",
            "--schedule",
            str(Path(os.environ.get("TICKWORK_DATA_DIR", ".tickwork")) / "celerybeat-schedule"),
        ]
    return cmd


def beat_command(*, schedule_file: Path, loglevel: str = "INFO") -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--schedule",
        str(schedule_file),
        "--loglevel",
        loglevel,
    ]


def api_command(*, host: str, port: int, loglevel: str = "warning") -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:app",
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        loglevel,
    ]


def start(cmd: list[str], *, env: dict[str, str], log_file: Path | None = None) -> subprocess.Popen:
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - child owns it
    return subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(*procs: subprocess.Popen, timeout: float = 20) -> None:
    """TERM (Celery's warm shutdown) every process group at once, then KILL any that lingers
    ``timeout`` seconds later: several processes stop in the time of the slowest, not the sum."""
    live = [proc for proc in procs if proc.poll() is None]
    for proc in live:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in live:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def wait_http(url: str, *, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def running(*procs: subprocess.Popen) -> Iterator[None]:
    try:
        yield
    finally:
        stop(*procs)
