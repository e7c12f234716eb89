"""`tickwork serve` as a user runs it, with real processes: the API, worker and beat's output
shown prefixed by process (or appended to a file), a child that dies restarted after a backoff,
and everything stopped on SIGTERM or Ctrl-C (SIGINT)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import stop_process, wait_for
from worker.broker import EmbeddedBrokerError, free_port, redis_server_binary

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def wait(check: Callable[[], object], *, timeout: float, what: str) -> object:
    return wait_for(check, timeout=timeout, what=what, every=0.2)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path, int]]]:
    """Start `tickwork serve` on the embedded default (SQLite, a Redis of its own) in a fresh
    data directory; returns (process, file its terminal output goes to, API port)."""
    try:
        redis_server_binary()
    except EmbeddedBrokerError as exc:
        pytest.skip(str(exc))
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> tuple[subprocess.Popen[bytes], Path, int]:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
        env.update(
            TICKWORK_DATA_DIR=str(tmp_path / "data"),
            TICKWORK_API_PORT=str(port),
            TICKWORK_LOG_FORMAT="text",
            TICKWORK_WORKER_CONCURRENCY="1",
            PYTHONUNBUFFERED="1",
        )
        terminal = tmp_path / f"terminal-{len(started)}.txt"
        with terminal.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker.cli.main", "serve", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return proc, terminal, port

    yield start
    for proc in started:  # a failed test must not leave serve or its children running
        stop_process(proc, timeout=30)
    for out in (*tmp_path.glob("terminal-*.txt"), *tmp_path.glob("*.log")):
        for pid in (pid for found in pids(out.read_text()).values() for pid in found):
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def pids(text: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for name, pid in re.findall(r"^serve +\| started (\w+) \(pid (\d+)\)$", text, re.M):
        found.setdefault(name, []).append(int(pid))
    return found


def test_serve_shows_output_restarts_a_dead_child_and_stops_all_on_sigterm(serve) -> None:
    proc, terminal, port = serve()
    read = terminal.read_text
    wait(
        lambda: re.search(r"^worker +\| .* ready\.$", read(), re.M),
        timeout=90,
        what="the worker's 'ready' line, prefixed",
    )
    wait(
        lambda: re.search(r"^beat +\| .*beat: Starting", read(), re.M),
        timeout=30,
        what="beat's start line, prefixed",
    )
    wait(
        lambda: (
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            if re.search(r"^api +\| .*startup complete", read(), re.M)
            else False
        ),
        timeout=30,
        what="the API, its start-up line prefixed",
    )
    first = pids(read())
    [worker] = first["worker"]

    os.kill(worker, signal.SIGKILL)  # dies unexpectedly
    wait(
        lambda: len(pids(read()).get("worker", [])) == 2,
        timeout=30,
        what="the worker to be started again",
    )
    assert re.search(
        rf"^serve +\| worker \(pid {worker}\) exited with signal 9; restarting it "
        r"in 1 s$",
        read(),
        re.M,
    ), read()
    wait(
        lambda: len(re.findall(r"^worker +\| .* ready\.$", read(), re.M)) == 2,
        timeout=90,
        what="the new worker to be ready",
    )
    children = [pid for name in ("api", "beat") for pid in first[name]] + pids(read())["worker"]
    assert proc.poll() is None

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, read()
    assert not [pid for pid in children if alive(pid)], read()
    assert re.search(r"^serve +\| worker stopped", read(), re.M), read()
    assert "Traceback" not in read()


def test_serve_writes_to_a_log_file_and_stops_on_ctrl_c(serve, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    proc, terminal, _ = serve("--log-file", str(log))
    text = lambda: log.read_text() if log.exists() else ""  # noqa: E731
    wait(
        lambda: re.search(r"^worker +\| .* ready\.$", text(), re.M),
        timeout=90,
        what="the worker's 'ready' line in the log file",
    )
    children = [pid for found in pids(text()).values() for pid in found]
    assert len(children) == 3
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(timeout=60) == 0, terminal.read_text()
    assert not [pid for pid in children if alive(pid)]
    assert "| " not in terminal.read_text()  # the processes' lines went to the file only
