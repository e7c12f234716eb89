"""The CLI, run as a user runs it, against an environment that is wrong: a PostgreSQL database
that does not exist yet, a database or broker that cannot be reached, bad URLs, missing files,
invalid settings. Each ends with one line that says what is wrong, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from tests.services import PG_SERVER, libpq, unavailable
from worker.broker import free_port

TICKWORK = [sys.executable, "-m", "worker.cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    base.update(TICKWORK_DATA_DIR=str(data_dir), COLUMNS="80", **env)
    return subprocess.run([*TICKWORK, *args], capture_output=True, text=True, timeout=120,
                          env=base, cwd=ROOT)  # fmt: skip


def assert_one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def admin() -> psycopg.Connection:
    try:
        conn = psycopg.connect(libpq(PG_SERVER), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    yield conn
    conn.close()


def test_db_upgrade_creates_a_missing_postgres_database(admin, tmp_path: Path) -> None:
    name = f"tickwork_cli_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        done = run("db", "upgrade", data_dir=tmp_path, TICKWORK_DATABASE_URL=url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"created database {name}" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        again = run("db", "upgrade", data_dir=tmp_path, TICKWORK_DATABASE_URL=url)
        assert again.returncode == 0 and "created" not in again.stderr
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_upgrade_without_the_right_to_create_says_how_in_one_line(admin, tmp_path) -> None:
    role, name = f"tickwork_cli_{uuid.uuid4().hex[:8]}", f"tickwork_cli_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        url = make_url(PG_SERVER).set(username=role, password=None, database=name)
        try:
            psycopg.connect(libpq(url.set(database="postgres").render_as_string()),
                            connect_timeout=3).close()  # fmt: skip
        except psycopg.OperationalError as exc:  # the server wants a password for new roles
            pytest.skip(f"cannot log in as a new role on the test server: {exc}")
        done = run("db", "upgrade", data_dir=tmp_path,
                   TICKWORK_DATABASE_URL=url.render_as_string())  # fmt: skip
        assert_one_line_error(done, f'database "{name}" does not exist', "CREATE DATABASE")
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        pytest.param(("db", "upgrade"), {"TICKWORK_DATABASE_URL": "not a url"},
                     ("TICKWORK_DATABASE_URL",), id="bad-database-url"),
        pytest.param(("db", "upgrade"), {"TICKWORK_DATABASE_URL": "mysql://u@h/db"},
                     ("TICKWORK_DATABASE_URL",), id="database-driver-missing"),
        pytest.param(("tenants", "create", "T"),
                     {"TICKWORK_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:{port}/x"},
                     ("cannot use the database", "refused"), id="database-unreachable"),
        pytest.param(("db", "upgrade"),
                     {"TICKWORK_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:{port}/x"},
                     ("cannot use the database",), id="upgrade-database-unreachable"),
        pytest.param(("tenants", "create", "T"), {"TICKWORK_VISIBILITY_TIMEOUT": "10"},
                     ("invalid settings", "TICKWORK_VISIBILITY_TIMEOUT"), id="invalid-setting"),
        pytest.param(("ingest", "{tmp}/missing.csv", "--facility", "fac_x"), {},
                     ("missing.csv",), id="ingest-file-missing"),
        pytest.param(("gaps", "{tmp}/missing.csv"), {}, ("missing.csv",), id="gaps-file-missing"),
        pytest.param(("points", "archives"), {}, ("tickwork db upgrade", "point_archive"),
                     id="database-not-migrated"),
    ],
)  # fmt: skip
def test_operational_errors_are_one_line(
    args: tuple[str, ...], env: dict[str, str], needles: tuple[str, ...], tmp_path: Path
) -> None:
    port = str(free_port())  # nothing listens there
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    env = {k: v.replace("{port}", port) for k, v in env.items()}
    env.setdefault("TICKWORK_DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    assert_one_line_error(run(*args, data_dir=tmp_path, **env), *needles)


def _facility(tmp_path: Path, db: str) -> str:
    assert run("db", "upgrade", data_dir=tmp_path, TICKWORK_DATABASE_URL=db).returncode == 0
    tenant = run("tenants", "create", "T", data_dir=tmp_path, TICKWORK_DATABASE_URL=db)
    fac = run("facilities", "create", "--tenant", tenant.stdout.strip(), "--name", "P",
              data_dir=tmp_path, TICKWORK_DATABASE_URL=db)  # fmt: skip
    assert fac.returncode == 0, fac.stderr
    return fac.stdout.strip()


def test_broker_unreachable_or_misnamed_at_ingest(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/db.sqlite"
    facility = _facility(tmp_path, db)
    csv = tmp_path / "a.csv"
    csv.write_text("tag,timestamp,value\nflow,2025-01-15T00:00:00Z,1\n")

    def ingest(broker: str) -> subprocess.CompletedProcess[str]:
        args = ("ingest", str(csv), "--facility", facility, "--no-wait")
        return run(*args, data_dir=tmp_path, TICKWORK_DATABASE_URL=db, TICKWORK_BROKER_URL=broker)

    down = ingest(f"redis://127.0.0.1:{free_port()}/0")
    assert down.returncode == 0, down.stdout + down.stderr  # kept, sent when the broker is back
    assert "Traceback" not in down.stdout + down.stderr
    assert "broker unreachable" in down.stderr
    misnamed = ingest("nosuch://127.0.0.1/0")
    assert_one_line_error(misnamed, "TICKWORK_BROKER_URL")  # fmt: skip
