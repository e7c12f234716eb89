"""``tickwork points``: the monthly partitions of the data points and their archives
(PostgreSQL)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

points_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Monthly partitions of the data points and their archives (PostgreSQL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


@points_app.callback()
def _main() -> None:
    """Monthly partitions of the data points and their archives (PostgreSQL)."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def _month(value: str) -> datetime:
    from worker.storage.partitions import parse_month

    month = parse_month(value)
    if month is None:
        raise _fail(f"'{value}' is not a month: write it as YYYY-MM, e.g. 2024-01", 2)
    return month


def _postgres_only(session: object) -> None:
    from worker.storage.partitions import is_postgres

    if not is_postgres(session):  # type: ignore[arg-type]
        raise _fail(
            "partitions and archives exist on PostgreSQL only: this database is SQLite, which "
            "keeps every point in one table",
            2,
        )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@points_app.command("archives")
def list_archives(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the archived months: range, status, points, file and its SHA-256."""
    from worker.settings import get_settings
    from worker.storage import archives
    from worker.storage.db import session_scope
    from worker.storage.partitions import label

    data_dir = get_settings().data_dir
    with session_scope(readonly=True) as s:
        rows = [
            {
                "month": label(a.range_start),
                "range_start": _iso(a.range_start),
                "range_end": _iso(a.range_end),
                "status": a.status,
                "points": a.rows,
                "file": str(data_dir / a.path),
                "file_present": (data_dir / a.path).is_file(),
                "sha256": a.sha256,
                "points_checksum": a.points_checksum,
                "archived_at": _iso(a.archived_at),
                "restored_at": _iso(a.restored_at),
            }
            for a in archives.archive_listing(s)
        ]
    if as_json:
        print(json.dumps({"archives": rows}))
        return
    if not rows:
        console.print("no archived months")
        return
    table = Table(title=f"{len(rows)} archived month(s)")
    for column in ("month", "status", "points", "file", "sha256"):
        table.add_column(column, justify="right" if column == "points" else "left")
    for r in rows:
        missing = "" if r["file_present"] else " [red](missing)[/red]"
        table.add_row(
            r["month"], r["status"], f"{r['points']:,}", f"{r['file']}{missing}", r["sha256"]
        )
    console.print(table)


@points_app.command("restore")
def restore(
    month: Annotated[str, typer.Argument(help="The archived month, YYYY-MM")],
) -> None:
    """Copy an archived month back into the database from its file (checked against its
    SHA-256 and the points' checksum before and after); audit-logged. Automatic archival then
    leaves the month in the database until `tickwork points archive` moves it again."""
    from worker.settings import get_settings
    from worker.storage import archives
    from worker.storage.db import session_scope

    when = _month(month)
    try:
        with session_scope() as s:
            _postgres_only(s)
            was = archives.get_archive(s, month=when)
            status = was.status if was is not None else None  # before the restore changes it
            record = archives.restore_month(s, month=when, data_dir=get_settings().data_dir)
            rows = record.rows
    except archives.ArchiveError as exc:
        raise _fail(str(exc)) from None
    if status == "restored":
        console.print(f"{month} was restored already: {rows:,} points in the database")
    else:
        console.print(f"restored {month}: {rows:,} points back in the database, checksum verified")


@points_app.command("archive")
def archive(
    month: Annotated[str, typer.Argument(help="The month to archive, YYYY-MM")],
) -> None:
    """Move one whole month to its archive file now (verified before the month's partition is
    dropped), whatever TICKWORK_POINTS_ARCHIVE_AFTER_MONTHS says; also a restored month."""
    from worker.settings import get_settings
    from worker.storage import archives, audit
    from worker.storage.db import session_scope
    from worker.storage.partitions import month_start

    when = _month(month)
    if when >= month_start(datetime.now(UTC)):
        raise _fail(f"{month} has not ended: only whole past months can be archived", 2)
    try:
        with session_scope() as s:
            _postgres_only(s)
            was = archives.get_archive(s, month=when)
            status = was.status if was is not None else None  # before the archive changes it
            record = archives.archive_month(
                s, month=when, data_dir=get_settings().data_dir, actor=audit.OPERATOR
            )
            shown = None if record is None else (record.rows, record.path, record.sha256)
    except archives.ArchiveError as exc:
        raise _fail(str(exc)) from None
    if shown is None:
        console.print(f"{month} has no points in the database: nothing to archive")
    elif status == "archived":
        console.print(f"{month} was archived already: {shown[0]:,} points in {shown[1]}")
    else:
        console.print(f"archived {month}: {shown[0]:,} points in {shown[1]} (sha256 {shown[2]})")


@points_app.command("partitions")
def list_partitions(
    ahead: Annotated[
        int | None,
        typer.Option(help="First create this month's partition and the next N months'"),
    ] = None,
) -> None:
    """List the monthly partitions of data_point (and create the next ones with --ahead)."""
    from worker.storage.db import session_scope
    from worker.storage.partitions import create_ahead, label, partitions

    if ahead is not None and not 0 <= ahead <= 120:
        raise _fail("--ahead must be between 0 and 120", 2)
    with session_scope() as s:
        _postgres_only(s)
        if ahead is not None:
            for name in create_ahead(s, now=datetime.now(UTC), months=ahead):
                console.print(f"created {name}")
        found = partitions(s)
    console.print(" ".join(label(m) for m in sorted(found)) or "no partitions")
