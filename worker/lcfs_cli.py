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
    help="California LCFS credits.", no_args_is_help=True, pretty_exceptions_enable=False
)
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


@lcfs_app.callback()
def _main() -> None:
    """California LCFS credits."""


@lcfs_app.command()
def credits(
    transactions: Annotated[
        Path,
        typer.Option(
            help="CSV: fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date "
            "[,energy_density,eer,benchmark,application,business_partner,reference]"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    tables: Annotated[
        Path | None,
        typer.Option(help="Directory of parameter tables overriding the packaged ones"),
    ] = None,
) -> None:
    """Credits and deficits (MT CO2e) of each fuel transaction in a CSV file."""
    from pipelines.errors import PipelineError
    from pipelines.lcfs import check_lines, credit_totals, load_tables, parse_transactions_csv

    try:
        content = transactions.read_bytes()
    except OSError as exc:
        _error(as_json, "unreadable_file", f"cannot read {transactions}: {exc.strerror}")
    try:
        loaded = load_tables(tables)
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
    shown = ("fuel_pathway_code", "transaction_type", "date", "quantity", "unit", "ci", "eer",
             "benchmark", "energy_mj", "credits_mt")  # fmt: skip
    for column in shown:
        table.add_column(column, justify="right" if column in _NUMERIC else "left")
    for row in rows:
        table.add_row(*(_cell(column, row[column]) for column in shown))
    console.print(table)
    console.print(
        f"credits {summary['credits_mt']:,.2f} MT  deficits {summary['deficits_mt']:,.2f} MT  "
        f"net {summary['net_mt']:,.2f} MT CO2e"
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
