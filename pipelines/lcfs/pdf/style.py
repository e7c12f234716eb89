"""Shared look of the LCFS PDF: colours, paragraph styles, the table grid and text helpers.

Times people read are shown in the facility's time zone (``local_time``), labelled with the
zone's name and abbreviations (``zone_label``); the machine-readable files keep UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import letter  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.platypus import Paragraph, Table, TableStyle  # type: ignore[import-untyped]

NAVY = colors.HexColor("#1F3A5F")
TEAL = colors.HexColor("#2E7D8C")
LIGHT = colors.HexColor("#EEF2F6")
RULE = colors.HexColor("#B8C4D0")
GREY = colors.HexColor("#44546A")
RED = colors.HexColor("#B03A2E")
GREEN = colors.HexColor("#2E7D32")
AMBER = colors.HexColor("#C77C02")
WARN_BG = colors.HexColor("#FFF6E5")
SERIES = [
    NAVY,
    TEAL,
    colors.HexColor("#8FB8DE"),
    AMBER,
    colors.HexColor("#7B5EA7"),
    colors.HexColor("#5D8A3A"),
    colors.HexColor("#A0522D"),
    colors.HexColor("#607D8B"),
]
PAGE_W, PAGE_H = letter
MARGIN = 0.7 * inch
WIDTH = PAGE_W - 2 * MARGIN

_base = getSampleStyleSheet()
TITLE = ParagraphStyle(
    "t", parent=_base["Title"], fontSize=20, leading=24, textColor=NAVY, alignment=0, spaceAfter=4
)
SUBTITLE = ParagraphStyle("st", parent=_base["Normal"], fontSize=11, leading=14, textColor=GREY)
H1 = ParagraphStyle(
    "h1",
    parent=_base["Heading2"],
    fontSize=13,
    leading=16,
    textColor=NAVY,
    spaceBefore=10,
    spaceAfter=6,
    keepWithNext=1,
)
H2 = ParagraphStyle(
    "h2", parent=H1, fontSize=10, leading=13, spaceBefore=8, spaceAfter=4, keepWithNext=1
)
BODY = ParagraphStyle("b", parent=_base["Normal"], fontSize=8.5, leading=11)
INTRO = ParagraphStyle("i", parent=BODY, keepWithNext=1, spaceAfter=4)
SMALL = ParagraphStyle("s", parent=BODY, fontSize=7.5, leading=9.5)
CELL = ParagraphStyle("c", parent=BODY, fontSize=7.5, leading=9)
CELL_R = ParagraphStyle("cr", parent=CELL, alignment=TA_RIGHT)
MONO = ParagraphStyle("m", parent=BODY, fontName="Courier", fontSize=8, leading=10)
BIG = ParagraphStyle(
    "big", parent=BODY, fontName="Helvetica-Bold", fontSize=16, leading=20, alignment=TA_RIGHT
)

# Notes for the project's own reference files, never meant for a filed report.
_INTERNAL = (
    re.compile(r",?\s*(?:reference/|docs/)?[\w./-]*lcfs\.md(?:\s*§\s*[\d.]+(?:-[\d.]+)?)?"),
    re.compile(r"\s*\[\d+(?:st|nd|rd|th)\]"),
    re.compile(r",?\s*\(?justia excerpt\)?", re.IGNORECASE),
)


def public(text: str) -> str:
    """``text`` without pointers into the project's internal notes (file names, markers)."""
    for pattern in _INTERNAL:
        text = pattern.sub("", text)
    return text.replace("()", "").strip()


def esc(text: str) -> str:
    """Plain text for a Paragraph (reportlab reads a small XML subset)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def para(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(esc(public(text)), style)


def header_row(names: Sequence[str]) -> list[Paragraph]:
    return [Paragraph(f"<b>{esc(h)}</b>", CELL) for h in names]


def scaled(widths: Sequence[float]) -> list[float]:
    """Relative column widths stretched to the text width."""
    total = sum(widths)
    return [w * WIDTH / total for w in widths]


def grid(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    header: bool = True,
    numeric_from: int | None = None,
    total_rows: int = 0,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), LIGHT), ("LINEBELOW", (0, 0), (-1, 0), 0.8, NAVY)]
        for i in range(2, len(rows), 2):
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#F8FAFC")))
    if numeric_from is not None:
        style.append(("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"))
    if total_rows:
        first = len(rows) - total_rows
        style += [
            ("LINEABOVE", (0, first), (-1, first), 0.8, NAVY),
            ("FONT", (0, first), (-1, -1), "Helvetica-Bold", 7.5),
            ("BACKGROUND", (0, first), (-1, -1), LIGHT),
        ]
    style += list(extra)
    table.setStyle(TableStyle(style))
    return table


def zone_label(timezone: str, year: int) -> str:
    """``America/Los_Angeles (PST/PDT)``: the zone and its abbreviations in ``year``."""
    zone = ZoneInfo(timezone)
    names: list[str] = []
    for month in (1, 7):
        name = dt.datetime(year, month, 15, 12, tzinfo=zone).tzname() or ""
        if name and name not in names:
            names.append(name)
    shown = "/".join(names)
    return timezone if not shown or shown == timezone else f"{timezone} ({shown})"


def local_time(iso_utc: str, timezone: str) -> str:
    """An ISO UTC instant as facility-local ``YYYY-MM-DD HH:MM ABBR`` (seconds when not 0)."""
    if not iso_utc:
        return ""
    when = to_local(iso_utc, timezone)
    fmt = "%Y-%m-%d %H:%M:%S %Z" if when.second else "%Y-%m-%d %H:%M %Z"
    return when.strftime(fmt)


def to_local(iso_utc: str, timezone: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(ZoneInfo(timezone))


def local_midnight(day: dt.date, timezone: str) -> str:
    """The facility-local midnight that starts ``day``, with its abbreviation."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))
    return start.strftime("%Y-%m-%d %H:%M %Z")
