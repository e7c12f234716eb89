"""`tickwork report lcfs` builds a report from the database into a file, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.factories import report_facility

TICKWORK = [sys.executable, "-m", "worker.cli.main"]


def run(db: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env["TICKWORK_DATABASE_URL"] = db
    return subprocess.run([*TICKWORK, *args], capture_output=True, text=True, timeout=120, env=env)


def test_report_lcfs_writes_the_file_and_prints_the_totals(sqlite_db: str, configure,
                                                          tmp_path: Path) -> None:  # fmt: skip
    configure(TICKWORK_DATABASE_URL=sqlite_db)
    _, fac = report_facility(sqlite_db)
    out = tmp_path / "q4.pdf"
    done = run(sqlite_db, "report", "lcfs", "--facility", fac, "--quarter", "Q4", "--year",
               "2025", "--format", "pdf", "--out", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["has_data"] is True and summary["net_mt"] > 0
    assert out.read_bytes().startswith(b"%PDF-") and summary["bytes"] == out.stat().st_size
    as_json = tmp_path / "q4.json"
    done = run(sqlite_db, "report", "lcfs", "--facility", fac, "--quarter", "4", "--year",
               "2025", "--format", "json", "--out", str(as_json))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(as_json.read_text())["totals"]["net_mt"] == summary["net_mt"]


def test_report_lcfs_bad_input_is_a_message_and_exit_2(sqlite_db: str, configure,
                                                      tmp_path: Path) -> None:  # fmt: skip
    configure(TICKWORK_DATABASE_URL=sqlite_db)
    _, fac = report_facility(sqlite_db, points=False)
    out = str(tmp_path / "x.pdf")
    cases = [
        (["--facility", fac, "--quarter", "Q5", "--year", "2025"], "Q1, Q2, Q3 or Q4"),
        (["--facility", "fac_nope", "--quarter", "Q1", "--year", "2025"], "no facility"),
        (["--facility", fac, "--quarter", "Q1", "--year", "2031"], "lcfs_no_benchmark"),
    ]
    for args, message in cases:
        done = run(sqlite_db, "report", "lcfs", *args, "--out", out)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
