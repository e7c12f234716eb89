"""`tickwork gaps` and `tickwork quality` analyse a CSV offline, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import SEED_GAP

TICKWORK = [sys.executable, "-m", "worker.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    return subprocess.run([*TICKWORK, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def seed_csv(tmp_path: Path) -> Path:
    rows = ["tag,timestamp,value"]
    rows += [f"flow_rate,2025-01-15T11:{m:02d}:00Z,125.4" for m in range(50, 60)]
    rows += ["flow_rate,2025-01-15T12:00:00Z,125.4"]
    rows += [f"flow_rate,2025-01-15T14:{m:02d}:00Z,125.4" for m in range(30, 40)]
    rows += [  # 12:00+01:00 is 11:00Z again: a duplicate
        "ch4,2025-01-15T12:00:00+01:00,58.0",
        "ch4,2025-01-15T11:00:00Z,58.2",
        "ch4,2025-01-15T11:30:00Z,58.1",
        "ch4,2025-01-15T11:15:00Z,-9999",  # after 11:30: out of order, and a sentinel
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_gaps_json_reproduces_the_seed_example(seed_csv: Path) -> None:
    done = run("gaps", str(seed_csv), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "gaps": [
            {
                "tag": "ch4",
                "gap_start": "2025-01-15T11:00:00Z",
                "gap_end": "2025-01-15T11:30:00Z",
                "duration_minutes": 30.0,
                "missing_points": 1,
                "open": False,
            },
            SEED_GAP,
        ]
    }


def test_gaps_with_interval_and_window(seed_csv: Path) -> None:
    done = run(
        "gaps",
        str(seed_csv),
        "--interval",
        "1min",
        "--start",
        "2025-01-15T11:50:00Z",
        "--end",
        "2025-01-15T15:00:00Z",
        "--json",
    )
    gaps = [g for g in json.loads(done.stdout)["gaps"] if g["tag"] == "flow_rate"]
    assert [(g["gap_start"], g["gap_end"], g["open"]) for g in gaps] == [
        ("2025-01-15T12:00:00Z", "2025-01-15T14:30:00Z", False),
        ("2025-01-15T14:39:00Z", "2025-01-15T15:00:00Z", True),
    ]


def test_quality_json(seed_csv: Path) -> None:
    done = run("quality", str(seed_csv), "--json", "--interval", "1min")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["quality"]
    assert [r["tag"] for r in rows] == ["ch4", "flow_rate"]
    flow = rows[1]
    assert (flow["period_start"], flow["received_points"], flow["usable_points"]) == (
        "2025-01-15T11:00:00Z",  # no --start: the window is the data's own
        21,
        21,
    )
    ch4 = rows[0]
    assert (ch4["received_points"], ch4["duplicates"], ch4["out_of_order"]) == (4, 1, 1)
    # --interval 1min over the file's window, 11:00 to 14:40 (the latest point + 1 min)
    assert (ch4["usable_points"], ch4["expected_points"]) == (2, 220)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["gaps", "missing.csv", "--json"], "unreadable_file", "cannot read"),
        (["gaps", "{csv}", "--interval", "soon", "--json"], "invalid_parameter", "duration"),
        (
            [
                "gaps",
                "{csv}",
                "--start",
                "2025-01-15T00:00:00",
                "--end",
                "2025-01-16T00:00:00Z",
                "--json",
            ],
            "invalid_parameter",
            "UTC offset",
        ),
        (
            ["gaps", "{csv}", "--start", "2025-01-15T00:00:00Z", "--json"],
            "invalid_parameter",
            "both --start and --end",
        ),
        (["quality", "{bad}", "--json"], "missing_columns", "missing required column"),
        (["quality", "{csv}", "--tz", "Mars/Base", "--json"], "invalid_parameter", "time zone"),
    ],
)
def test_bad_input_exits_2_with_a_json_error(
    seed_csv: Path, tmp_path: Path, args: list[str], code: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n1,2\n")
    argv = [a.format(csv=seed_csv, bad=bad) for a in args]
    done = run(*argv)
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["code"] == code and message in error["message"]
    assert "Traceback" not in done.stderr
