"""``tickwork documents``: read a PDF on disk with the same extraction the worker runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from pipelines.documents import DOCUMENT_TYPES
from pipelines.errors import PipelineError

documents_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Document extraction (invoices, BOLs, PTDs).",
    no_args_is_help=True,
)
console = Console()

EXIT_UNREADABLE = 2


@documents_app.callback()
def documents() -> None:
    """Document extraction (invoices, BOLs, PTDs)."""


@documents_app.command("parse")
def parse(
    file: Annotated[Path, typer.Argument(help="the PDF to read")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    document_type: Annotated[
        str | None, typer.Option("--type", help=f"skip detection: {', '.join(DOCUMENT_TYPES)}")
    ] = None,
) -> None:
    """Extract fields from FILE; exit 2 with an error code when it cannot be read."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(
            "file_not_found" if isinstance(exc, FileNotFoundError) else "unreadable_file",
            f"cannot read {file}: {exc.strerror or exc}",
            as_json,
        )
    from pipelines.documents.extract import extract_document  # pypdf: only when extracting

    try:
        result = extract_document(data, document_type=document_type)
    except PipelineError as exc:
        _fail(exc.code, str(exc), as_json)
    if as_json:
        out = result.to_dict(sources=False)
        typer.echo(
            json.dumps({k: out[k] for k in ("document_type", "fields", "warnings")}, indent=1)
        )
        return
    table = Table(
        title=f"{file.name}: {result.document_type} ({result.pages} page(s))"
        + (f", template {result.issuer}" if result.issuer else "")
    )
    for column in ("field", "value", "confidence", "source"):
        table.add_column(column, justify="right" if column == "confidence" else "left")
    for name, f in result.fields.items():
        style = "green" if f.confidence >= 0.9 else "yellow" if f.confidence >= 0.6 else "red"
        table.add_row(name, str(f.value), f"[{style}]{f.confidence:.2f}[/{style}]", f.source)
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _fail(code: str, message: str, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": {"code": code, "message": message}}))
    else:
        Console(stderr=True).print(f"[red]error ({code}):[/red] {message}")
    raise typer.Exit(EXIT_UNREADABLE)
