"""Process start-up benchmark: the CPU a new process spends importing, per entry point.

Run from the project root with ``.venv/bin/python bench/startup.py [--repeat 7]``.

Every Celery worker, beat, API server and CLI command is a new Python process, and a deployment
(or a test suite) starts many: what each imports before it does anything is paid every time.
Measured in one run, each case in a fresh interpreter ``--repeat`` times, interleaved, as the
CPU seconds (user + system) of the child process:

- baselines: an empty interpreter (``python -c pass``) and ``import pandas`` (what a process
  pays for pandas alone, the largest library the lazy imports keep out of light processes);
- ``tickwork --help``, ``import worker.settings``,
  the worker's parent process with every task module imported, ``import api.app``.

Prints one JSON object to stdout and a table to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
err = Console(stderr=True)

PY = [sys.executable, "-c"]
CASES = {
    "python -c pass (baseline)": [*PY, "pass"],
    "import pandas (baseline)": [*PY, "import pandas"],
    "tickwork --help": [sys.executable, "-m", "worker.cli.main", "--help"],
    "import worker.settings": [*PY, "import worker.settings"],
    "worker: app + every task module": [
        *PY,
        "from worker.celery_app import app\napp.loader.import_default_modules()",
    ],
    "import api.app": [*PY, "import api.app"],
}


def child_cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) of one fresh process running ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for argv in CASES.values():  # warm the bytecode caches and the page cache once
        child_cpu(argv)
    runs: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeat):  # interleaved, so a noisy moment hits every case alike
        for name, argv in CASES.items():
            runs[name].append(child_cpu(argv))
    results = {
        name: {
            "median_cpu_s": round(statistics.median(v), 3),
            "min": round(min(v), 3),
            "max": round(max(v), 3),
        }
        for name, v in runs.items()
    }
    table = Table(title=f"start-up CPU seconds ({args.repeat} runs each, interleaved)")
    for column in ("process", "median", "range"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['median_cpu_s']:.2f}", f"{r['min']:.2f}-{r['max']:.2f}")
    err.print(table)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    print(json.dumps({"machine": machine, "repeat": args.repeat, "results": results}))


if __name__ == "__main__":
    main()
