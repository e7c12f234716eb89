"""``tickwork lcfs``: LCFS credit calculations offline (nothing is stored)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

lcfs_app = typer.Typer(
    rich_markup_mode="markdown",
    help="California LCFS credits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


@lcfs_app.callback()
def _main() -> None:
    """California LCFS credits."""


def _accepted() -> str:
    from pipelines.lcfs import load_tables

    tables = load_tables()
    kinds = "; ".join(
        f"{t.name} ({'+' if t.effect > 0 else ''}{t.effect})" for t in tables.transaction_types
    )
    fuels = ", ".join(sorted(f.fuel_type for f in tables.fuel_types))
    apps = ", ".join(sorted(e.application for e in tables.eers))
    return (
        f"Transaction types (effect on the entity's credits): {kinds}.\n\n"
        f"Fuel types: {fuels}.\n\nApplications (EER rows): {apps}.\n\n"
        "A quantity in therm or MMBtu (higher heating value) needs hhv_btu_per_scf or "
        "lhv_hhv_ratio. Bad input: exit 2 with the reason (JSON with --json)."
    )


@lcfs_app.command(epilog=_accepted())
def credits(
    transactions: Annotated[
        Path,
        typer.Option(
            help="CSV: fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date "
            "[,energy_density,eer,benchmark,application,business_partner,reference,"
            "hhv_btu_per_scf,lhv_hhv_ratio]"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    tables: Annotated[
        Path | None,
        typer.Option(help="Directory of parameter tables overriding the packaged ones"),
    ] = None,
    require_confirmed: Annotated[
        bool,
        typer.Option(help="Refuse figures not yet compared with the regulation text they cite"),
    ] = False,
) -> None:
    """Credits and deficits (MT CO2e) of each fuel transaction in a CSV file.

    The transaction type sets the sign: types that give the reporting entity the obligation for
    the fuel add, types that pass it on or take the fuel out of transportation use subtract,
    transfers without obligation count zero."""
    from pipelines.errors import PipelineError
    from pipelines.lcfs import check_lines, credit_totals, load_tables, parse_transactions_csv

    try:
        content = transactions.read_bytes()
    except OSError as exc:
        _error(as_json, "unreadable_file", f"cannot read {transactions}: {exc.strerror}")
    try:
        loaded = load_tables(tables, require_confirmed=require_confirmed)
        parsed = parse_transactions_csv(content)
        lines = check_lines(parsed, loaded)
    except PipelineError as exc:
        _error(as_json, exc.code, f"{transactions}: {exc}")
    rows: list[dict[str, Any]] = []
    for t, line in zip(parsed, lines, strict=True):
        rows.append(
            {
                "fuel_pathway_code": t.fuel_pathway_code,
                "fuel_type": t.fuel_type,
                "quantity": t.quantity,
                "unit": t.unit,
                "ci": t.ci,
                "transaction_type": line.transaction_type,
                "effect": line.effect,
                "date": t.date.isoformat(),
                "application": line.application,
                "energy_density": line.energy_density,
                "eer": line.eer,
                "benchmark": line.ci_benchmark,
                "energy_mj": line.energy_mj,
                "credits_mt": line.credits_mt,
            }
        )
    totals = credit_totals(line.credits_mt for line in lines)
    summary = {
        "credits_mt": totals.credits_mt,
        "deficits_mt": totals.deficits_mt,
        "net_mt": totals.net_mt,
    }
    if as_json:
        print(json.dumps({"rows": rows, "totals": summary}))
        return
    table = Table(title=f"LCFS credits: {transactions.name}")
    shown = (
        "fuel_pathway_code",
        "transaction_type",
        "date",
        "quantity",
        "unit",
        "ci",
        "eer",
        "benchmark",
        "energy_mj",
        "credits_mt",
    )
    for column in shown:
        table.add_column(column, justify="right" if column in _NUMERIC else "left")
    for row in rows:
        table.add_row(*(_cell(column, row[column]) for column in shown))
    console.print(table)
    console.print(
        f"credits {summary['credits_mt']:,.2f} MT  deficits {summary['deficits_mt']:,.2f} MT  "
        f"net {summary['net_mt']:,.2f} MT CO2e"
    )


@lcfs_app.command("tables")
def tables_command(
    tables: Annotated[
        Path | None,
        typer.Option(help="Directory of parameter tables overriding the packaged ones"),
    ] = None,
    missing_only: Annotated[bool, typer.Option("--missing", help="Only what is missing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Which figures of 17 CCR §95484 and §95486.1 the tables hold, and what to add."""
    from pipelines.errors import PipelineError
    from pipelines.lcfs import load_tables
    from pipelines.lcfs.coverage import coverage

    try:
        items = coverage(load_tables(tables))
    except PipelineError as exc:
        _error(as_json, exc.code, str(exc))
    shown = [i for i in items if i.status == "missing" or not missing_only]
    if as_json:
        print(json.dumps([i.__dict__ for i in shown]))
        return
    table = Table(title="LCFS parameter tables against the regulation")
    for column in ("table", "figure", "status", "source / row to add"):
        table.add_column(column)
    for i in shown:
        style = {"confirmed": "green", "unconfirmed": "yellow"}.get(i.status, "red")
        table.add_row(i.table, i.key, f"[{style}]{i.status}[/{style}]", i.source or i.add)
    console.print(table)
    counts = {
        s: sum(1 for i in items if i.status == s) for s in ("confirmed", "unconfirmed", "missing")
    }
    console.print(
        f"{counts['confirmed']} confirmed, {counts['unconfirmed']} unconfirmed (check against "
        f"the cited text), {counts['missing']} missing: add rows to the CSV files in a tables "
        "directory (TICKWORK_LCFS_TABLES_DIR or --tables)."
    )


_NUMERIC = {"quantity", "ci", "eer", "benchmark", "energy_mj", "credits_mt"}


def _cell(column: str, value: Any) -> str:
    if column in ("energy_mj",):
        return f"{value:,.0f}"
    if column in ("quantity", "credits_mt"):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _error(as_json: bool, code: str, message: str) -> NoReturn:
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message}}))
    else:
        err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)
