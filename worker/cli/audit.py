"""``tickwork audit``: verify the hash-chained audit log from the server side."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

audit_app = typer.Typer(
    rich_markup_mode="markdown",
    help="The tamper-evident audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


@audit_app.callback()
def _main() -> None:
    """The tamper-evident audit log."""


@audit_app.command()
def verify(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's chain (default: every tenant's)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Recompute every chain and name the first altered, deleted or reordered entry.

    Exit 0 when every chain is intact, 1 when one is damaged, 2 when the database cannot be
    read or the tenant does not exist."""
    import sqlalchemy.exc

    from worker.storage import audit
    from worker.storage.db import session_scope
    from worker.storage.models import Tenant

    verdicts = {}
    try:
        with session_scope(readonly=True) as s:
            if tenant is not None and s.get(Tenant, tenant) is None:
                err.print(f"[red]error:[/red] no tenant '{tenant}'")
                raise typer.Exit(2)
            tenants = [tenant] if tenant else audit.tenants_with_log(s)
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=err, transient=True, disable=as_json,
            ) as progress:  # fmt: skip
                for tenant_id in tenants:
                    total, _ = audit.head_of(s, tenant_id=tenant_id)
                    task = progress.add_task(f"verifying {tenant_id}", total=total)

                    def track(stream, task=task):  # type: ignore[no-untyped-def]
                        for entry in stream:
                            progress.advance(task)
                            yield entry

                    verdicts[tenant_id] = audit.verify(s, tenant_id=tenant_id, track=track)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError) as exc:
        err.print(
            f"[red]error:[/red] cannot read the audit log: {exc.orig or exc}\n"
            "check TICKWORK_DATABASE_URL, that the database is running, and that its schema is "
            "current (tickwork db upgrade)"
        )
        raise typer.Exit(2) from None

    damaged = {t: v for t, v in verdicts.items() if not v.valid}
    if as_json:
        console.print_json(json.dumps({t: v.to_dict() for t, v in verdicts.items()}))
    else:
        for tenant_id, verdict in verdicts.items():
            if verdict.valid:
                console.print(
                    f"[green]ok[/green] {tenant_id}: {verdict.entries} entries, "
                    f"head seq {verdict.head_seq} {verdict.head_hash}"
                )
            else:
                assert verdict.problem is not None
                console.print(
                    f"[red]DAMAGED[/red] {tenant_id}: {verdict.problem.kind}: "
                    f"{verdict.problem.message}"
                )
        if not verdicts:
            console.print("no audit entries yet")
    if damaged:
        raise typer.Exit(1)
