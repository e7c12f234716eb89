"""Start Tickwork's long-running processes (API, worker, beat) as child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

import httpx

from worker.kinds import QUEUES


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


def api_command(
    *,
    host: str,
    port: int,
    loglevel: str = "warning",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> list[str]:
    """uvicorn serving the API; with a certificate and key it serves HTTPS (and the API then
    sends ``Strict-Transport-Security``)."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ValueError("TLS needs both a certificate file and a key file")
    tls = []
    if ssl_certfile and ssl_keyfile:
        tls = ["--ssl-certfile", ssl_certfile, "--ssl-keyfile", ssl_keyfile]
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
        *tls,
    ]


def start(cmd: list[str], *, env: dict[str, str], log_file: Path | None = None) -> subprocess.Popen:
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - child owns it
    return subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(*procs: subprocess.Popen, timeout: float = 20) -> None:
    """TERM (Celery's warm shutdown) every process at once, then KILL the process group of any
    that lingers ``timeout`` seconds later: several processes stop in the time of the slowest,
    not the sum. The TERM goes to the process we started only: a Celery worker stops its own
    pool, whose processes would otherwise die under their running tasks."""
    live = [proc for proc in procs if proc.poll() is None]
    for proc in live:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in live:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError):  # whatever of its group is left
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


# --- supervision (tickwork serve) ---------------------------------------------------------------


@dataclass
class Child:
    """One supervised process: its name (the prefix of its output lines) and command."""

    name: str
    cmd: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # when a restart is due, after an unexpected exit
    delay: float = 0.0  # the next restart's backoff
    pump: threading.Thread | None = None


class Supervisor:
    """Runs child processes, shows their output line by line prefixed with their name (on
    ``out``), restarts one that exits unexpectedly after a backoff (1 s, doubling to
    ``max_delay``; back to 1 s once it has run ``stable_after`` seconds), and stops them all.

    Each child runs in a process group of its own, so a Ctrl-C in the terminal reaches only the
    supervisor, which then stops every child in order: TERM (Celery's warm shutdown, uvicorn's
    graceful one), KILL for any still running ``timeout`` seconds later.
    """

    def __init__(
        self,
        children: Sequence[tuple[str, list[str]]],
        *,
        env: dict[str, str],
        out: TextIO,
        min_delay: float = 1.0,
        max_delay: float = 60.0,
        stable_after: float = 60.0,
    ) -> None:
        self.children = [Child(name, cmd, delay=min_delay) for name, cmd in children]
        self.env = env
        self.out = out
        self.min_delay, self.max_delay, self.stable_after = min_delay, max_delay, stable_after
        self.width = max(len(name) for name, _ in children)
        self.lock = threading.Lock()

    def say(self, name: str, line: str) -> None:
        with self.lock, suppress(OSError, ValueError):  # a closed terminal must not stop us
            self.out.write(f"{name:<{self.width}} | {line}\n")
            self.out.flush()

    def _pump(self, child: Child, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(child.name, raw.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    def _start(self, child: Child) -> None:
        proc = subprocess.Popen(
            child.cmd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        child.proc, child.started_at, child.restart_at = proc, time.monotonic(), None
        child.pump = threading.Thread(target=self._pump, args=(child, proc.stdout), daemon=True)
        child.pump.start()
        self.say("serve", f"started {child.name} (pid {proc.pid})")

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    def check(self) -> None:
        """Restart any child that has exited, once its backoff has passed."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                if now - child.started_at >= self.stable_after:
                    child.delay = self.min_delay
                self.say(
                    "serve",
                    f"{child.name} (pid {child.proc.pid}) exited with "
                    f"{_exit_text(code)}; restarting it in {child.delay:g} s",
                )
                with suppress(ProcessLookupError):  # e.g. a killed worker's pool processes
                    os.killpg(child.proc.pid, signal.SIGKILL)
                if child.pump is not None:
                    child.pump.join(timeout=1)  # its last lines first
                child.proc, child.restart_at = None, now + child.delay
                child.delay = min(child.delay * 2, self.max_delay)
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self._start(child)

    def run(self, stop: threading.Event, *, every: float = 0.2) -> None:
        """Supervise until ``stop`` is set."""
        while not stop.wait(every):
            self.check()

    def stop_all(self, timeout: float = 20) -> None:
        live = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        if live:
            self.say("serve", f"stopping {', '.join(c.name for c in self.children if c.proc)}")
        stop(*live, timeout=timeout)
        for child in self.children:
            if child.pump is not None:
                child.pump.join(timeout=2)
            if child.proc is not None:
                self.say("serve", f"{child.name} stopped ({_exit_text(child.proc.returncode)})")
                child.proc = None


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    return f"signal {-code}" if code < 0 else f"code {code}"
