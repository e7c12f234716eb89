"""Secrets are never logged: a full ``tickwork demo`` run writes no API key and no webhook
signing secret to any log.

The demo creates a tenant's API key (shown to nobody: it only uses it) and subscribes a webhook
endpoint whose ``whsec_`` secret signs every delivery to its receiver. The test learns both real
values: the key through a wrapper around ``create_api_key`` in the demo's own process (only its
SHA-256 is stored), the secret from the demo's database (where it must be, to sign). It raises
the logging of the demo and of its API and worker processes to DEBUG, so every line any level
could write is searched, in both log formats (text, the demo's; JSON, what ``tickwork serve``
writes), then looks for the values, their random parts (which no redaction pattern masks) and
anything shaped like a key or a secret in:

- the demo's stdout and stderr (the demo prints no key or secret, so there is no intended
  one-time display to tell apart from a leak; ``tickwork keys create`` does show a key once,
  on purpose, on stdout, but that is not a log and the demo does not call it);
- every file the demo writes in its data directory (api.log, worker.log with the pool
  processes and beat, redis.log, ...) except the database itself, which stores the webhook
  secret by design, and the generated reports;
- the log lines stored in the database: each job's log and the audit log.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.demo import DemoRun

pytestmark = pytest.mark.e2e
KEY_SHAPE = re.compile(r"tw_[0-9a-f]{12}_[A-Za-z0-9_-]{16,}")
SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9+/=]{16,}")
NOT_LOGS = {"demo.db", "demo.db-wal", "demo.db-shm", "demo.db-journal"}


def logs_in(demo: Path) -> dict[str, str]:
    """Every file the demo wrote, as text, except its database and its reports."""
    return {
        str(path.relative_to(demo)): path.read_text(errors="replace")
        for path in sorted(demo.rglob("*"))
        if path.is_file() and path.name not in NOT_LOGS and "reports" not in path.parts
    }


def logs_in_database(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        jobs = "\n".join(json.dumps(logs) for (logs,) in conn.execute("SELECT logs FROM job"))
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        audit = ""
        if "audit_entry" in tables:
            audit = "\n".join(map(repr, conn.execute("SELECT * FROM audit_entry")))
    return {"job logs (database)": jobs, "audit log (database)": audit}


def webhook_secrets(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT secrets FROM webhook_endpoint").fetchall()
    return [entry["secret"] for (secrets,) in rows for entry in json.loads(secrets)]


@pytest.mark.xdist_group("demo")  # shares its text-format run with test_embedded.py's demo test
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_demo_logs_hold_no_api_key_or_webhook_secret(
    demo_run: Callable[[str], DemoRun], log_format: str
) -> None:
    ran = demo_run(log_format)
    run = ran.done
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "all checks passed" in run.stdout

    demo = ran.data / "demo"
    keys = ran.issued_keys
    secrets = webhook_secrets(demo / "demo.db")
    assert keys and all(k.startswith("tw_") for k in keys)
    assert secrets and all(s.startswith("whsec_") for s in secrets)
    streams = {"demo stdout": run.stdout, "demo stderr": run.stderr}
    streams |= logs_in(demo) | logs_in_database(demo / "demo.db")
    assert {"api.log", "worker.log"} <= set(streams), sorted(streams)
    assert all(streams[name].strip() for name in ("api.log", "worker.log", "demo stderr"))

    # The whole values, their random parts (a key without its public prefix, a secret without
    # "whsec_"), the first 16 characters of those, and anything shaped like either.
    wanted = {}
    for key in keys:
        tail = key.split("_", 2)[2]
        wanted |= {key: "API key", tail: "API key (random part)", tail[:16]: "API key (start)"}
    for secret in secrets:
        body = secret.removeprefix("whsec_")
        wanted |= {
            secret: "webhook secret",
            body: "webhook secret (base64)",
            body[:16]: "webhook secret (start)",
        }
    leaks = [
        f"{what} in {name}: ...{text[max(0, at - 120) : at + 40]!r}..."
        for name, text in streams.items()
        for value, what in wanted.items()
        if (at := text.find(value)) >= 0
    ]
    leaks += [
        f"something shaped like {what} in {name}: {found.group(0)[:24]}..."
        for name, text in streams.items()
        for shape, what in ((KEY_SHAPE, "an API key"), (SECRET_SHAPE, "a webhook secret"))
        if (found := shape.search(text))
    ]
    assert not leaks, "\n".join(leaks)
