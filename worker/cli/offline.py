"""``tickwork gaps`` and ``tickwork quality``: analysis of a CSV file on this machine, nothing
stored. Kept apart from the other commands because it needs pandas, which the CLI imports only
when one of these two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from pipelines.errors import PipelineError
from pipelines.gaps import find_gaps
from pipelines.ingest import parse_csv
from pipelines.quality import score_quality

err = Console(stderr=True)


def read_points(file: Path, as_json: bool) -> pd.DataFrame:
    """Read a CSV for offline analysis; exits 2 with a clear message when it cannot."""
    try:
        content = file.read_bytes()
        parsed = parse_csv(content, facility_id="-", for_analysis=True)
    except OSError as exc:
        error(as_json, "unreadable_file", f"cannot read {file}: {exc.strerror}")
    except PipelineError as exc:
        error(as_json, exc.code, f"{file}: {exc}")
    points = parsed.points
    facilities = points["facility_id"].astype(object).unique()
    tag = points["tag"].astype(object)
    if len(facilities) > 1:  # one file, several facilities: keep their tags apart
        tag = points["facility_id"].astype(object) + "/" + tag
    return pd.DataFrame(
        {
            "tag": tag.to_numpy(),
            "ts": points["ts"],
            "value": points["value"],
            "quality": points["quality"],
        }
    )


def error(as_json: bool, code: str, message: str) -> NoReturn:
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message}}))
    else:
        err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(2)


def timestamp(value: str | None, name: str, as_json: bool) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        error(as_json, "invalid_parameter", f"--{name} {value!r} is not ISO 8601")
    if stamp.tzinfo is None:
        error(as_json, "invalid_parameter", f"--{name} needs a UTC offset, e.g. Z")
    return stamp.tz_convert("UTC")


def interval_of(value: str | None, as_json: bool) -> pd.Timedelta | None:
    if value is None:
        return None
    try:
        interval = pd.Timedelta(value)
    except ValueError:
        error(
            as_json,
            "invalid_parameter",
            f"--interval {value!r} is not a duration (e.g. 1min, 15min, 1h)",
        )
    if interval <= pd.Timedelta(0):
        error(as_json, "invalid_parameter", "--interval must be positive")
    return interval


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = (
                out[column]
                .dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                .str.replace(r"\.000000Z$", "Z", regex=True)
            )
    return json.loads(out.to_json(orient="records"))


def check_window(start: pd.Timestamp | None, end: pd.Timestamp | None, as_json: bool) -> None:
    if (start is None) != (end is None):
        error(as_json, "invalid_parameter", "give both --start and --end, or neither")
    if start is not None and end is not None and end <= start:
        error(as_json, "invalid_parameter", "--end must be after --start")


def gaps(
    file: Path,
    *,
    interval: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    console: Console,
) -> None:
    """``tickwork gaps``: the gaps in a CSV file, as JSON or a table."""
    window = (timestamp(start, "start", as_json), timestamp(end, "end", as_json))
    check_window(*window, as_json)
    points = read_points(file, as_json)
    found = find_gaps(
        points, interval=interval_of(interval, as_json), start=window[0], end=window[1]
    )
    if as_json:
        print(json.dumps({"gaps": records(found)}))
        return
    table = Table(title=f"{len(found)} gap(s) in {file.name}")
    for column in found.columns:
        table.add_column(
            column, justify="right" if column in ("duration_minutes", "missing_points") else "left"
        )
    for row in records(found):
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


def quality(
    file: Path,
    *,
    interval: str | None,
    start: str | None,
    end: str | None,
    tz: str,
    daily: bool,
    as_json: bool,
    console: Console,
) -> None:
    """``tickwork quality``: the quality scores of a CSV file, as JSON or a table."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        error(as_json, "invalid_parameter", f"unknown time zone {tz!r}")
    window = (timestamp(start, "start", as_json), timestamp(end, "end", as_json))
    check_window(*window, as_json)
    points = read_points(file, as_json)
    scores = score_quality(
        points,
        interval=interval_of(interval, as_json),
        start=window[0],
        end=window[1],
        freq="1D" if daily else None,
        tz=tz,
    )
    if as_json:
        print(json.dumps({"quality": records(scores)}))
        return
    table = Table(title=f"quality of {file.name}")
    shown = (
        "tag",
        "period_start",
        "completeness",
        "validity",
        "flatline_minutes",
        "spikes",
        "duplicates",
        "out_of_order",
        "score",
    )
    for column in shown:
        table.add_column(column, justify="left" if column in ("tag", "period_start") else "right")
    for row in records(scores):
        table.add_row(
            *(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in shown)
        )
    console.print(table)
