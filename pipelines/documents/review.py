"""A person's review of extracted fields: the values they enter, checked against each field's
kind, and the fields that then count (a reviewed value wins over the extracted one).

Reviewed values are kept beside the extracted ones, never over them, as
``{name: {"value", "reviewed_by", "reviewed_at", "extracted"}}`` (docs/documents-and-audit.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pipelines import lcfs
from pipelines.documents.model import FIELD_NAMES, PLAUSIBLE, Field, Value
from pipelines.documents.templates import Kind, generic
from pipelines.documents.values import UNITS, unit_named
from pipelines.errors import MalformedInputError, PipelineError

REVIEWED_CONFIDENCE = 1.0  # a person read the document and entered the value
MAX_TEXT = 200  # characters of a text field (the fuel transaction keeps 200 of a partner)
MAX_CODE = 60  # characters of a code (the fuel transaction keeps 60 of a pathway code)
OBLIGATIONS = ("transferor", "recipient")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
YEARS = (1900, 2200)  # the years extraction reads a date in (pipelines/documents/values.py)


class ReviewError(PipelineError):
    """Base of the review leaves: what a reviewer entered cannot be recorded."""

    code = "invalid_review"


@dataclass
class UnknownFieldError(ReviewError):
    field: str
    code = "unknown_field"

    def __str__(self) -> str:
        return f"unknown field {self.field[:80]!r}; a document's fields: {', '.join(FIELD_NAMES)}"


@dataclass
class InvalidFieldValueError(ReviewError):
    field: str
    reason: str
    code = "invalid_field_value"
    template = "{field}: {reason}"


Refuse = Callable[[str], InvalidFieldValueError]


@dataclass
class NotReviewableError(ReviewError):
    """Only a processed document has extracted fields to review."""

    status: str
    code = "document_not_processed"
    template = "the document is {status}; only a processed document can be reviewed"


def check_review(
    changes: Mapping[str, object], *, tables: lcfs.LcfsTables | None = None
) -> dict[str, Value]:
    """The reviewed values as they are stored, field by field: numbers as floats (a JSON number
    or a plain decimal string, finite, within ``PLAUSIBLE``), dates as ISO ``YYYY-MM-DD``,
    units in their canonical spelling ("gallons" -> "gal"), currencies as upper-case ISO 4217
    codes, ``compliance_obligation`` as ``transferor`` or ``recipient``, ``transaction_type``
    as the LCFS tables spell it (``tables``: the packaged ones when None), other text with its
    runs of whitespace collapsed.

    Raises ``UnknownFieldError`` for a name not in ``FIELD_NAMES`` and
    ``InvalidFieldValueError`` for a value that does not fit its field.
    """
    if not changes:
        raise MalformedInputError(
            detail='no fields to review: name at least one, e.g. {"quantity": 8210.0}'
        )
    kinds = generic().kinds
    out: dict[str, Value] = {}
    for name, raw in changes.items():
        if name not in FIELD_NAMES:
            raise UnknownFieldError(field=name)
        out[name] = _check(name, kinds[name], raw, tables)
    return out


def effective_fields(
    extracted: Mapping[str, Any], reviewed: Mapping[str, Any] | None
) -> dict[str, Field]:
    """The fields that count, in ``FIELD_NAMES`` order: ``extracted`` as a document stores them
    (``{name: {"value", "confidence"[, "source"]}}``) with each ``reviewed`` value in place of
    the extracted one, at confidence 1.0 and with its reviewer as the source."""
    out: dict[str, Field] = {}
    for name in FIELD_NAMES:
        mine = (reviewed or {}).get(name)
        found = extracted.get(name)
        if isinstance(mine, Mapping):
            who = f"reviewed by {mine.get('reviewed_by')} at {mine.get('reviewed_at')}"
            out[name] = Field(mine["value"], REVIEWED_CONFIDENCE, who)
        elif isinstance(found, Mapping):
            out[name] = Field(
                found["value"], float(found.get("confidence", 0.0)), str(found.get("source", ""))
            )
    return out


def _check(name: str, kind: Kind, raw: object, tables: lcfs.LcfsTables | None) -> Value:
    def bad(reason: str) -> InvalidFieldValueError:
        return InvalidFieldValueError(field=name, reason=reason)

    if raw is None:
        raise bad("a reviewed value cannot be null")
    if kind == "number":
        return _number(name, raw, bad)
    if kind == "date" and isinstance(raw, date) and not isinstance(raw, datetime):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise bad(f"must be a string, not {type(raw).__name__}")
    text = " ".join(raw.split())
    if not text:
        raise bad("must not be empty")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise bad("must not contain control characters")
    if kind == "date":
        return _date(text, bad)
    if kind == "unit":
        unit = unit_named(text)
        if unit is None:
            raise bad(f"unknown unit {text[:40]!r}; one of {', '.join(UNITS)}")
        return unit
    if kind == "currency":
        if not _CURRENCY.fullmatch(text):
            raise bad(f"{text[:40]!r} is not an ISO 4217 currency code such as USD or EUR")
        return text.upper()
    limit = MAX_CODE if kind == "code" else MAX_TEXT
    if len(text) > limit:
        raise bad(f"is {len(text)} characters long; at most {limit}")
    if name == "compliance_obligation":
        if text.lower() not in OBLIGATIONS:
            raise bad(f"must be {' or '.join(OBLIGATIONS)}")
        return text.lower()
    if name == "transaction_type":
        try:
            return lcfs.canonical_transaction_type(text, tables)
        except PipelineError as exc:
            raise bad(str(exc)) from exc
    return text


def _number(name: str, raw: object, bad: Refuse) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise bad(f"must be a number, not {type(raw).__name__}")
    if isinstance(raw, str):
        if not _NUMBER.fullmatch(raw.strip()):
            raise bad(f"{raw[:40]!r} is not a number (write it like 8210.5)")
        raw = raw.strip()
    try:
        value = float(raw)
    except OverflowError:  # an integer past a float's range
        value = math.inf
    if not math.isfinite(value):
        raise bad("must be a finite number")
    low, high = PLAUSIBLE.get(name, (-math.inf, math.inf))
    if not low < value < high:
        raise bad(f"{value:g} is outside the plausible range ({low:g} to {high:g}, exclusive)")
    return value


def _date(text: str, bad: Refuse) -> str:
    if not _ISO_DATE.fullmatch(text):
        raise bad(f"{text[:40]!r} is not an ISO date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise bad(f"{text!r} is not a calendar date") from exc
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise bad(f"{text!r} is outside the years {YEARS[0]} to {YEARS[1]}")
    return day.isoformat()
