"""One error tree for everything in pipelines/. Each leaf carries the data needed to act on it.

A ``PipelineError`` means the input itself is wrong: callers record it and do not retry.
"""

from __future__ import annotations

from dataclasses import dataclass


class PipelineError(Exception):
    """Base class. ``code`` is the machine-readable name used in API errors and job records."""

    code = "invalid_input"


@dataclass
class EmptyInputError(PipelineError):
    what: str = "file"
    code = "empty_file"

    def __str__(self) -> str:
        return f"the {self.what} is empty: it has no header and no rows"


@dataclass
class EncodingError(PipelineError):
    line: int
    byte: int
    code = "invalid_encoding"

    def __str__(self) -> str:
        return (
            f"the file is not UTF-8 (byte 0x{self.byte:02x} on line {self.line}); "
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

    def __str__(self) -> str:
        return self.detail
