"""The embedded default (SQLite + an embedded Redis started by Tickwork), as a new user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.synthetic import make_series, to_csv_bytes
from tests.e2e.demo import DemoRun
from worker import processes

pytestmark = pytest.mark.e2e
TICKWORK = [sys.executable, "-m", "worker.cli.main"]


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env["TICKWORK_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    yield env
    subprocess.run([*TICKWORK, "broker", "stop"], env=env, capture_output=True, timeout=30)


def tickwork(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TICKWORK, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.xdist_group("demo")  # its run also serves test_secrets_not_logged.py's text case
def test_demo_runs_end_to_end(demo_run: Callable[[str], DemoRun]) -> None:
    ran = demo_run("text")
    done = ran.done
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
    assert "re-uploading a file inserted nothing" in done.stdout
    assert "reconciliation pass / warn / fail as planted (pass, warn, fail)" in done.stdout
    text = " ".join(done.stdout.split())  # rich wraps long lines
    assert "PDF and CSVs built from the same inputs True" in text
    assert "biomethane claim covered by the injection True" in text
    reports = ran.data / "demo" / "reports"
    (pdf,) = reports.glob("lcfs_*_2025Q4.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    (upload,) = reports.glob("lcfs_*_2025Q4.csv")
    assert upload.read_text().splitlines()[0].endswith("Fuel Amount,Unit")
    assert list(reports.glob("lcfs_*_2025Q4.calculation.csv"))
    assert (ran.data / "demo" / "demo.db").is_file()
    assert not ran.broker_left_running  # the demo stopped its broker


def test_cli_ingest_with_a_worker(embedded_env: dict[str, str], tmp_path: Path) -> None:
    assert tickwork(embedded_env, "db", "upgrade").returncode == 0
    tenant = tickwork(embedded_env, "tenants", "create", "Acme RNG").stdout.strip()
    assert tenant.startswith("ten_")
    key = tickwork(embedded_env, "keys", "create", "--tenant", tenant)
    assert key.returncode == 0 and key.stdout.strip().startswith("tw_")
    assert "not shown again" in key.stderr
    fac = tickwork(
        embedded_env,
        "facilities",
        "create",
        "--tenant",
        tenant,
        "--name",
        "Plant",
        "--timezone",
        "America/Los_Angeles",
    ).stdout.strip()
    assert fac.startswith("fac_")

    frame, _ = make_series("2025-01-01", "2025-01-02", faults_per_tag=1)
    csv = tmp_path / "day.csv"
    csv.write_bytes(to_csv_bytes(frame))  # no facility_id column: --facility supplies it
    worker = processes.start(
        [*TICKWORK, "worker", "--concurrency", "1"],
        env=embedded_env,
        log_file=tmp_path / "worker.log",
    )
    with processes.running(worker):
        done = tickwork(embedded_env, "ingest", str(csv), "--facility", fac, timeout=300)
        assert done.returncode == 0, (
            done.stdout + done.stderr + (tmp_path / "worker.log").read_text()
        )
        assert "succeeded" in done.stdout
        assert f"{len(frame):,}".replace(",", "") in done.stdout.replace(",", "")

    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"when,what\n1,2\n")
    refused = tickwork(embedded_env, "ingest", str(bad), "--facility", fac)
    assert refused.returncode == 2
    assert "missing required column(s): tag, timestamp, value" in refused.stderr
    assert "Traceback" not in refused.stderr

    missing = tickwork(embedded_env, "ingest", str(tmp_path / "nope.csv"), "--facility", fac)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    unknown = tickwork(embedded_env, "keys", "create", "--tenant", "ten_nope")
    assert unknown.returncode == 2 and "no tenant 'ten_nope'" in unknown.stderr


def test_embedded_redis_never_adopts_or_stops_another_redis_on_its_old_port(
    tmp_path: Path,
) -> None:
    """The port file names a port another Redis now holds (the embedded one stopped, its port
    was reused): Tickwork starts its own on a new port and leaves the other one running."""
    from tests.fault.harness import RedisServer
    from worker.broker import ensure_embedded_redis, stop_embedded_redis

    other = RedisServer(tmp_path / "other", persistent=False)
    other.start()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "redis.port").write_text(str(other.port))
    (data_dir / "redis.pid").write_text("999999")  # the old, stopped embedded Redis
    try:
        url = ensure_embedded_redis(data_dir)
        assert url != other.url
        assert ensure_embedded_redis(data_dir) == url  # the running one is found again
        (data_dir / "redis.port").write_text(str(other.port))
        assert stop_embedded_redis(data_dir) is False  # not ours: left running
        assert other.alive()
        (data_dir / "redis.port").write_text(url.rsplit(":", 1)[1].split("/")[0])
        assert stop_embedded_redis(data_dir) is True
    finally:
        other.stop()
        stop_embedded_redis(data_dir)
