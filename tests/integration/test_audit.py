"""The audit log in the database: append-only, tamper found by `verify`, concurrent writers."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from typer.testing import CliRunner

from tests.factories import make_tenant
from worker.cli.main import app as cli
from worker.storage import audit
from worker.storage.db import get_engine, session_scope


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def fill(db: str, tenant_id: str, n: int) -> None:
    for i in range(n):
        with session_scope(db) as s:
            audit.record(
                s,
                tenant_id=tenant_id,
                action="analysis.completed",
                subject_type="job",
                subject_id=f"job_{i}",
                details={"i": i, "ratio": i / 7},
            )


def tamper(db: str, statement: str) -> None:
    """Change the log behind the application's back, as someone with the database owner's
    rights could: switch the append-only triggers off for one statement."""
    engine = get_engine(db)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
            for one in statement.split(";"):
                conn.execute(text(one))
            conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_entry_no_update"))
            conn.execute(text("DROP TRIGGER audit_entry_no_delete"))
            for one in statement.split(";"):
                conn.execute(text(one))


def verdict(db: str, tenant_id: str):
    with session_scope(db, readonly=True) as s:
        return audit.verify(s, tenant_id=tenant_id)


def test_entries_chain_and_verify(db: str) -> None:
    who = make_tenant(db, "T")  # its key's creation is the first entry
    fill(db, who.id, 5)
    with session_scope(db, readonly=True) as s:
        entries = list(audit.entries(s, tenant_id=who.id))
        head = audit.head_of(s, tenant_id=who.id)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].action == "api_key.created" and entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(entries))
    assert head == (6, entries[-1].row_hash)
    assert entries[3].details == {"i": 2, "ratio": 2 / 7}  # the float survives the round trip
    assert verdict(db, who.id).valid


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET actor = 'someone' WHERE seq = 2",
        "DELETE FROM audit_entry WHERE seq = 2",
    ],
)
def test_the_table_is_append_only(db: str, statement: str) -> None:
    who = make_tenant(db, "T")
    fill(db, who.id, 2)
    with pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"):  # noqa: SIM117
        with get_engine(db).begin() as conn:
            conn.execute(text(statement))
    assert verdict(db, who.id).valid


@pytest.mark.parametrize(
    ("statement", "kind", "seq"),
    [
        # a changed detail: the row no longer hashes to its row_hash
        ('UPDATE audit_entry SET details = \'{"i": 99, "ratio": 0}\' WHERE seq = 4', "altered", 4),
        # a row gone from the middle: its successor's predecessor is nowhere
        ("DELETE FROM audit_entry WHERE seq = 3", "deleted", 4),
        # two rows swapped in order (positions exchanged, contents intact)
        (
            "UPDATE audit_entry SET seq = -3 WHERE seq = 3;"
            " UPDATE audit_entry SET seq = 3 WHERE seq = 4;"
            " UPDATE audit_entry SET seq = 4 WHERE seq = -3",
            "reordered",
            3,
        ),
        # the newest rows gone: the head still says 6
        ("DELETE FROM audit_entry WHERE seq >= 5", "deleted", None),
    ],
)
def test_verify_names_the_first_damaged_entry(db: str, statement: str, kind: str, seq) -> None:
    who = make_tenant(db, "T")
    other = make_tenant(db, "Other")
    fill(db, who.id, 5)
    fill(db, other.id, 3)
    tamper(db, statement.replace("WHERE", f"WHERE tenant_id = '{who.id}' AND"))
    found = verdict(db, who.id)
    assert not found.valid
    assert found.problem is not None
    assert (found.problem.kind, found.problem.seq) == (kind, seq), found.problem.message
    assert verdict(db, other.id).valid  # each tenant's chain stands alone

    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"DAMAGED {who.id}: {kind}" in " ".join(result.output.split())
    assert f"ok {other.id}: 4 entries" in result.output
    only_other = CliRunner().invoke(cli, ["audit", "verify", "--tenant", other.id, "--json"])
    assert only_other.exit_code == 0, only_other.output


def test_cli_on_an_intact_log_and_an_unknown_tenant(db: str) -> None:
    who = make_tenant(db, "T")
    fill(db, who.id, 2)
    ok = CliRunner().invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert f"ok {who.id}: 3 entries" in ok.output
    missing = CliRunner().invoke(cli, ["audit", "verify", "--tenant", "ten_nope"])
    assert missing.exit_code == 2
    assert "no tenant 'ten_nope'" in missing.output


@pytest.mark.postgres
def test_concurrent_writers_serialise_on_the_chain_head(pg_db: str, configure) -> None:
    """Eight threads, each appending in its own transactions at once: one contiguous chain."""
    configure(TICKWORK_DATABASE_URL=pg_db)
    who = make_tenant(pg_db, "T")
    threads, per_thread, errors = 8, 15, []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with session_scope(pg_db) as s:
                    audit.record(
                        s,
                        tenant_id=who.id,
                        action="analysis.completed",
                        subject_type="job",
                        subject_id=f"job_{n}_{i}",
                    )
                    s.execute(text("SELECT pg_sleep(0.002)"))  # hold the head a little
        except Exception as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    found = verdict(pg_db, who.id)
    assert found.valid, found.problem
    assert found.entries == found.head_seq == 1 + threads * per_thread
