"""One error tree for everything in pipelines/. Each leaf carries the data needed to act on it.

A ``PipelineError`` means the input itself is wrong: callers record it and do not retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class PipelineError(Exception):
    """Base class. ``code`` is the machine-readable name used in API errors and job records.

    A leaf says what went wrong through ``template``, a ``str.format`` text over its own fields
    (``"the PDF has {pages} pages"``); a leaf whose text needs more than that (a choice, a join)
    defines ``__str__`` instead.
    """

    code = "invalid_input"
    template: ClassVar[str] = ""

    def __str__(self) -> str:
        if self.template:
            return self.template.format_map(vars(self))
        return super().__str__()


@dataclass
class EmptyInputError(PipelineError):
    what: str = "file"
    code = "empty_file"
    template = "the {what} is empty: it has no header and no rows"


@dataclass
class EncodingError(PipelineError):
    line: int
    byte: int
    code = "invalid_encoding"
    template = (
        "the file is not UTF-8 (byte 0x{byte:02x} on line {line}); "
        "export it as UTF-8 and upload it again"
    )


@dataclass
class MissingColumnsError(PipelineError):
    columns: tuple[str, ...]
    found: tuple[str, ...] = ()
    code = "missing_columns"

    def __str__(self) -> str:
        found = ", ".join(self.found) or "none"
        return (
            f"missing required column(s): {', '.join(self.columns)} (found: {found}); "
            "the header must name facility_id,tag,timestamp,value[,unit][,quality]"
        )


@dataclass
class MalformedInputError(PipelineError):
    detail: str
    code = "malformed_input"
    template = "{detail}"


@dataclass
class ArchivedRangeError(PipelineError):
    """Work needs points of months that were moved to archive files (retention): computing
    without them would be computing from missing data, and writing into them would split a
    month between the table and its file."""

    months: tuple[str, ...]  # "YYYY-MM", each a whole UTC month
    what: str = "this"
    writing: bool = False
    code = "archived_range"

    def __str__(self) -> str:
        spans = ", ".join(_month_span(m) for m in self.months)
        restore = " and ".join(f"`tickwork points restore {m}`" for m in self.months)
        if self.writing:
            return (
                f"{self.what} fall in archived months ({spans}); restore them with {restore} "
                "before writing into them"
            )
        return (
            f"{self.what} needs points of archived months ({spans}); restore them with "
            f"{restore} and try again"
        )


def _month_span(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    nxt = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"
    return f"{month}-01T00:00:00Z to {nxt}-01T00:00:00Z"
