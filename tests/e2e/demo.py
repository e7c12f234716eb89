"""One ``tickwork demo`` run per log format, shared by the tests that check a demo run (the
end-to-end demo test and the secrets-not-logged test): each run costs a minute of CPU here.

The demo runs in a fresh process, on the embedded default in a data directory of its own, with two
changes made by a wrapper: every API key it creates is also written to a file (the plaintext is
otherwise gone once the demo exits, and the secrets test must look for it), and the demo, its
API and its worker log at DEBUG (so the secrets test searches every line any level could write).
Neither changes what the demo does or prints on stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Runs the demo in this process after two changes: every API key created is also written to a
# file (the plaintext is otherwise gone once the demo exits), and the processes log at DEBUG.
WRAPPER = """
import logging, sys
from pathlib import Path

import worker.processes as processes
import worker.storage.tenants as tenants

issued = Path(sys.argv.pop(1))
create_api_key = tenants.create_api_key


def spy(*args, **kwargs):
    row, plaintext = create_api_key(*args, **kwargs)
    with issued.open("a") as out:
        out.write(plaintext + "\\n")
    return row, plaintext


tenants.create_api_key = spy
worker_command, api_command = processes.worker_command, processes.api_command
processes.worker_command = lambda **kw: worker_command(**{**kw, "loglevel": "DEBUG"})
processes.api_command = lambda **kw: api_command(**{**kw, "loglevel": "debug"})
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

from worker.cli.main import main

sys.argv[0] = "tickwork"
main()
"""


@dataclass(frozen=True)
class DemoRun:
    """A finished ``tickwork demo --days 3``: its process, its data directory, the API keys it
    created, and whether its embedded broker was still running when it exited."""

    done: subprocess.CompletedProcess[str]
    data: Path
    issued_keys: list[str]
    broker_left_running: bool


def run_demo(base: Path, log_format: str) -> DemoRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.update(
        TICKWORK_DATA_DIR=str(base / "data"),
        PYTHONPATH=str(ROOT),
        TICKWORK_LOG_FORMAT=log_format,
        TICKWORK_LOG_LEVEL="DEBUG",
    )
    issued = base / "issued-keys.txt"
    try:
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(issued), "demo", "--days", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            cwd=base,
        )
        left_running = (base / "data" / "demo" / "redis.port").exists()
    finally:
        subprocess.run(
            [sys.executable, "-m", "worker.cli.main", "broker", "stop"],
            env=env,
            capture_output=True,
            timeout=30,
        )
    keys = issued.read_text().split() if issued.exists() else []
    return DemoRun(done, data=base / "data", issued_keys=keys, broker_left_running=left_running)
