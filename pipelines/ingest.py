"""Parse and validate meter readings from CSV bytes or JSON records, and check the parsed points
against the stored tags (``check_tags``: the facility, the tag, its unit).

Input columns: ``facility_id, tag, timestamp, value[, unit][, quality]``. ``facility_id`` may be
left out when the caller names one facility for the whole file.

Every row ends up in exactly one of two frames:

``points`` (one row per distinct facility/tag/timestamp; the last row of a repeated key wins)
    row          int64            row number in the file, header = row 1 (JSON: item index + 1)
    facility_id  category (str values)
    tag          category (str values)
    ts           datetime64[us, UTC]
    value        float64          finite
    unit         category         "" when not given
    quality      int8             0 good, 1 uncertain, 2 bad

``rejected``
    row          int64
    reason       object (str)     says what is wrong and with which value
    raw          object (str)     the row as received (fields joined with commas)
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from pipelines.errors import (
    EmptyInputError,
    EncodingError,
    MalformedInputError,
    MissingColumnsError,
)

REQUIRED = ("tag", "timestamp", "value")
OPTIONAL = ("facility_id", "unit", "quality")
QUALITY_CODES = {
    "": 0,
    "good": 0,
    "g": 0,
    "ok": 0,
    "0": 0,
    "uncertain": 1,
    "u": 1,
    "questionable": 1,
    "1": 1,
    "bad": 2,
    "b": 2,
    "invalid": 2,
    "2": 2,
}
QUALITY_NAMES = {0: "good", 1: "uncertain", 2: "bad"}
MAX_TAG_LENGTH = 200
MAX_UNIT_LENGTH = 40
# Readings must fall in this window (UTC): beyond it a timestamp is a typo or a placeholder,
# and it would overflow the date arithmetic of every later step (local days, reports).
EARLIEST = pd.Timestamp("1900-01-01T00:00:00Z")
LATEST = pd.Timestamp("2200-01-01T00:00:00Z")  # excluded
# C0 and C1 control characters (NUL, CR, LF, ...): never part of a name, a unit or a quality.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# One line and its line break (CR, LF or CRLF), as a text file opened with newline="" reads it.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)?")
# An offset after a time of day: a date alone ("2025-01-01") has none, whatever its dashes say.
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class ParsedPoints:
    points: pd.DataFrame
    rejected: pd.DataFrame
    rows: int  # data rows seen, blank lines excluded
    duplicates: int  # rows superseded by a later row with the same facility/tag/timestamp


def check_header(data: bytes, *, facility_given: bool = False) -> tuple[str, ...]:
    """Cheap checks a receiver can afford before accepting a file: UTF-8, not empty, columns.

    Returns the header's column names; raises ``EmptyInputError``, ``EncodingError`` or
    ``MissingColumnsError``.
    """
    text = _decode(data)
    columns = tuple(_normalise_column(c) for c in _records(text[: 64 * 1024], 1)[0])
    _require_columns(columns, facility_given=facility_given)
    return columns


def parse_csv(
    data: bytes, *, facility_id: str | None = None, for_analysis: bool = False
) -> ParsedPoints:
    """Parse CSV bytes (UTF-8, optional BOM) into validated points and rejected rows.

    ``for_analysis`` reads a file the way an offline analysis needs it: a value that is empty,
    not a number or not finite is kept as NaN (an unusable reading, not a missing one), and
    repeated timestamps are all kept, in file order, so they can be counted as duplicates.
    """
    return _parse_csv(data, facility_id=facility_id, for_analysis=for_analysis, fast=True)


def _parse_csv(
    data: bytes, *, facility_id: str | None, for_analysis: bool, fast: bool
) -> ParsedPoints:
    """``parse_csv``; ``fast`` lets a plain file go through pyarrow's reader (``_read_plain``),
    which gives the same frame as pandas' reader for every file it accepts."""
    text = _decode(data)
    if re.search(r"\S", text) is None:  # not text.strip(): that copies the whole file
        raise EmptyInputError()
    lead = re.match(r"(?:[ \t]*(?:\r\n|\n|\r))*", text)
    skipped = len(re.findall(r"\r\n|\n|\r", lead.group(0))) if lead else 0
    text = text[lead.end() :] if lead else text  # the header is the first non-blank line
    head = _records(text, 2)
    names = [_normalise_column(c) for c in head[0]]
    _require_columns(tuple(names), facility_given=facility_id is not None)
    if len(set(names)) != len(names):
        raise MalformedInputError(f"the header repeats a column name: {', '.join(head[0])}")
    width = len(names)
    first_ragged = len(head) > 1 and any(f.strip() for f in head[1][width:])
    frame: pd.DataFrame | None = None
    if fast and not first_ragged:
        # The lead is ASCII (blanks and line breaks), so its length in bytes is its length.
        start = (3 if data.startswith(b"\xef\xbb\xbf") else 0) + (lead.end() if lead else 0)
        frame = _read_plain(data, start, names)
    if frame is None and not first_ragged:
        try:
            with warnings.catch_warnings():  # a trailing empty field on the first row
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    io.StringIO(text),
                    header=0,
                    names=names,
                    index_col=False,
                    # Text, except value: the C reader makes it float64 when every value is a
                    # plain number (the fast path); anything else arrives as text.
                    dtype={n: object for n in names if n != "value"},
                    keep_default_na=False,
                    skip_blank_lines=False,
                    engine="c",
                )
        except pd.errors.ParserError:
            frame = None
        except pd.errors.EmptyDataError as exc:
            raise EmptyInputError() from exc
    if frame is None:
        frame = _read_ragged(text, names)
    row = np.arange(2, len(frame) + 2, dtype=np.int64) + skipped
    values = frame.get("value")
    if values is not None and (
        values.dtype == bool  # "true"/"false" are not readings
        or (values.dtype.kind == "f" and not np.isfinite(values.to_numpy()).all())
    ):  # rejections quote the value as written ("-Infinity", not "-inf")
        frame["value"] = _column_text(text, names.index("value"), len(frame))
    parsed = _validate(frame, row, facility_id=facility_id, for_analysis=for_analysis)
    if not parsed.rejected.empty:  # show rejected rows exactly as they were received
        parsed.rejected["raw"] = _source_rows(text, parsed.rejected["row"].to_numpy() - skipped)
    return parsed


def _read_plain(data: bytes, start: int, names: list[str]) -> pd.DataFrame | None:
    """A plain file read by pyarrow's multi-threaded reader, or None when it is not plain.

    Plain: no quote and no NUL anywhere, every row exactly as wide as the header (no blank
    line), and every value a finite number. Such a file has one reading: split at commas and
    line breaks. The frame is the one pandas' reader gives (value float64, the text columns as
    categoricals, which ``_validate`` takes as they are, without a Python string per field).
    Anything else is left to pandas' reader and the ragged reader, which give exact reasons.
    """
    if b'"' in data or b"\x00" in data:
        return None
    text_type = pa.dictionary(pa.int32(), pa.string())
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data)[start:],
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(
                quote_char=False, newlines_in_values=False, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.float64() if n == "value" else text_type for n in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:  # a row of another width, or a value that is not a plain number
        return None
    table = table.unify_dictionaries()
    columns: dict[str, Any] = {}
    for name in names:
        column = table.column(name)
        if name == "value":
            value = column.to_numpy()
            if not np.isfinite(value).all():  # NaN/inf: quoted as written, by the text path
                return None
            columns[name] = value
            continue
        categories = (
            column.chunk(0).dictionary.to_numpy(zero_copy_only=False)
            if column.num_chunks
            else np.empty(0, dtype=object)
        )
        codes = (
            np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in column.chunks])
            if column.num_chunks
            else np.empty(0, dtype=np.int32)
        )
        columns[name] = pd.Categorical.from_codes(
            codes, categories=pd.Index(np.asarray(categories, dtype=object), dtype=object)
        )
    return pd.DataFrame(columns, columns=names)


def parse_batch(data: bytes, *, facility_id: str | None = None) -> ParsedPoints:
    """Parse a JSON batch ``{"data": [point, ...]}`` (UTF-8, -16 or -32) like ``parse_records``.

    Raises ``MalformedInputError`` when the body is not JSON or not such an object.
    """
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInputError(f"the batch is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # "[[[[..." deeper than the parser's stack
        raise MalformedInputError("the batch nests arrays or objects too deeply") from exc
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MalformedInputError('a batch is a JSON object with a "data" array of points')
    return parse_records(items, facility_id=facility_id)


def parse_records(records: Sequence[Any], *, facility_id: str | None = None) -> ParsedPoints:
    """Validate JSON items (objects with the CSV's column names; values may be numbers)."""
    is_obj = np.fromiter((isinstance(r, dict) for r in records), dtype=bool, count=len(records))
    row = np.arange(1, len(records) + 1, dtype=np.int64)
    objects = [r for r, ok in zip(records, is_obj, strict=True) if ok]
    columns = list(REQUIRED + OPTIONAL)
    frame = pd.DataFrame(
        {c: [_as_text(o.get(c)) for o in objects] for c in columns}, columns=columns, dtype=object
    )
    parsed = _validate(frame, row[is_obj], facility_id=facility_id, skip_blank=False)
    if not parsed.rejected.empty:  # show JSON items as JSON
        parsed.rejected["raw"] = [json.dumps(records[i - 1])[:500] for i in parsed.rejected["row"]]
    if is_obj.all():
        return parsed
    not_obj = pd.DataFrame(
        {
            "row": row[~is_obj],
            "reason": "item is not a JSON object",
            "raw": [json.dumps(r)[:500] for r, ok in zip(records, is_obj, strict=True) if not ok],
        }
    )
    rejected = pd.concat([parsed.rejected, not_obj], ignore_index=True)
    return ParsedPoints(
        points=parsed.points,
        rejected=rejected.sort_values("row", kind="stable", ignore_index=True),
        rows=len(records),
        duplicates=parsed.duplicates,
    )


def infer_intervals(points: pd.DataFrame) -> pd.Series:
    """Median spacing in seconds per (facility_id, tag); NaN for a tag with a single point."""
    if points.empty:
        return pd.Series(dtype="float64")
    fac = pd.Categorical(points["facility_id"])
    tag = pd.Categorical(points["tag"])
    width = len(tag.categories)
    key = fac.codes.astype(np.int64) * width + tag.codes
    ts = points["ts"].dt.as_unit("us").astype("int64").to_numpy()
    same = key[1:] == key[:-1]
    # Files usually list each tag's readings in time order, one tag after another: then the
    # order is already the sorted one.
    if not ((key[1:] >= key[:-1]).all() and (ts[1:] >= ts[:-1])[same].all()):
        order = np.lexsort((ts, key))
        key, ts = key[order], ts[order]
        same = key[1:] == key[:-1]
    step = np.diff(ts)[same].astype("float64") / 1e6
    group = key[1:][same]
    spaced = step > 0
    medians = pd.Series(step[spaced]).groupby(group[spaced]).median()
    every = np.unique(key)
    index = pd.MultiIndex.from_arrays(
        [
            np.asarray(fac.categories, dtype=object)[every // width],
            np.asarray(tag.categories, dtype=object)[every % width],
        ],
        names=["facility_id", "tag"],
    )
    return pd.Series(medians.reindex(every).to_numpy(dtype="float64"), index=index)


# --- points meet the stored tags ---------------------------------------------------------------


@dataclass(frozen=True)
class TagPairs:
    """The distinct (facility_id, tag) pairs of ``ParsedPoints.points`` in order of first
    appearance, and each point's pair: checks run once per pair and are broadcast back."""

    pairs: list[tuple[str, str]]
    code: np.ndarray  # int64 per point: its pair's index in ``pairs``


@dataclass(frozen=True)
class TagCheck:
    """Points that may be stored, and the rows refused once the points met the stored tags."""

    keep: np.ndarray  # bool per point
    tag_id: np.ndarray  # int64 per kept point
    rejected: pd.DataFrame  # row (int64), reason (object: str)


def tag_pairs(points: pd.DataFrame) -> TagPairs:
    """The (facility_id, tag) pair of each point of ``ParsedPoints.points``."""
    fac = pd.Categorical(points["facility_id"])
    tag = pd.Categorical(points["tag"])
    width = len(tag.categories)
    code, uniques = pd.factorize(fac.codes.astype(np.int64) * width + tag.codes)
    pairs = [
        (str(fac.categories[u // width]), str(tag.categories[u % width])) for u in uniques.tolist()
    ]
    return TagPairs(pairs=pairs, code=code)


def check_tags(
    points: pd.DataFrame,
    pairs: TagPairs,
    *,
    tag_id: np.ndarray,
    tag_unit: Sequence[str | None],
    facility_known: np.ndarray,
) -> TagCheck:
    """Refuse the points of unknown facilities, of tags that do not exist (a strict facility's
    unknown tags are not created for it) and with a unit that contradicts their tag's unit.

    Per pair of ``pairs``: ``tag_id`` (int64, -1 when there is no such tag), ``tag_unit`` (the
    tag's unit; "" or None when it has none or there is no tag) and ``facility_known`` (bool:
    one of the tenant's facilities). An unknown facility outranks an unknown tag, which outranks
    a wrong unit, as the reason a row gives. Units compare without case and spaces.
    """
    unit = pd.Categorical(points["unit"])
    pair = pairs.code
    # Units: compare each distinct (pair, unit) once.
    width = len(unit.categories) + 1  # unit code + 1: a missing unit (-1) is 0
    combo, uniques = pd.factorize(pair.astype(np.int64) * width + (unit.codes.astype(np.int64) + 1))
    combo_reason = np.full(len(uniques), None, dtype=object)
    for k, u in enumerate(uniques.tolist()):
        p, c = divmod(u, width)
        given = str(unit.categories[c - 1]) if c > 0 else ""
        expected = tag_unit[p]
        if given and expected and normalise_unit(given) != normalise_unit(expected):
            combo_reason[k] = f"unit '{given}' does not match the tag's unit '{expected}'"
    point_tag = tag_id[pair]
    # Every pair of ``pairs`` has points, so the per-pair arrays say whether any point is refused.
    if (
        not pd.notna(combo_reason).any()
        and (np.asarray(tag_id) >= 0).all()
        and np.asarray(facility_known).all()
    ):  # the usual case: every point may be stored
        return TagCheck(
            keep=np.ones(len(pair), dtype=bool),
            tag_id=point_tag,
            rejected=pd.DataFrame(
                {"row": np.empty(0, dtype=np.int64), "reason": np.empty(0, dtype=object)}
            ),
        )
    reason = combo_reason[combo]
    unknown_tag = point_tag < 0
    if unknown_tag.any():
        names = np.array([t for _, t in pairs.pairs], dtype=object)
        reason[unknown_tag] = [
            f"unknown tag '{t}': the facility is strict, create the tag first"
            for t in names[pair[unknown_tag]]
        ]
    unknown_fac = ~facility_known[pair]
    if unknown_fac.any():
        fids = np.array([f for f, _ in pairs.pairs], dtype=object)
        reason[unknown_fac] = [f"unknown facility_id '{f}'" for f in fids[pair[unknown_fac]]]
    bad = pd.notna(reason)
    return TagCheck(
        keep=~bad,
        tag_id=point_tag[~bad],
        rejected=pd.DataFrame({"row": points["row"].to_numpy()[bad], "reason": reason[bad]}),
    )


def first_units(points: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The first unit given per (facility_id, tag) (the unit of a tag created for them)."""
    given = points[points["unit"].astype(object) != ""]
    first = given.drop_duplicates(["facility_id", "tag"])
    return {
        (f, t): u
        for f, t, u in zip(
            first["facility_id"].astype(object),
            first["tag"].astype(object),
            first["unit"].astype(object),
            strict=True,
        )
    }


def normalise_unit(unit: str) -> str:
    """A unit as compared: ``"m3 / h"`` and ``"M3/h"`` are the same unit."""
    return unit.strip().lower().replace(" ", "")


def with_raw(rejected: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """``rejected`` (row, reason) of rows that parsed, with their ``raw`` text rebuilt from
    ``points`` (``facility_id,tag,timestamp,value,unit``; the file's own text is not kept)."""
    if rejected.empty:
        return rejected.assign(raw=pd.Series(dtype=object))
    by_row = points.set_index("row")
    raw = [
        f"{p.facility_id},{p.tag},{cast(pd.Timestamp, p.ts).isoformat()},{p.value!r},{p.unit}"
        for p in by_row.loc[rejected["row"]].itertuples()
    ]
    return rejected.assign(raw=raw)


def _decode(data: bytes) -> str:
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start
        line = data.count(b"\n", 0, at) + 1
        raise EncodingError(line=line, byte=data[at]) from exc


def _normalise_column(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _require_columns(columns: tuple[str, ...], *, facility_given: bool) -> None:
    need = REQUIRED if facility_given else ("facility_id", *REQUIRED)
    missing = tuple(c for c in need if c not in columns)
    if missing:
        raise MissingColumnsError(columns=missing, found=columns)


def _records(text: str, count: int) -> list[list[str]]:
    """The first ``count`` CSV records (blank lines skipped); the header must be there."""
    reader = csv.reader(_lines(text))
    out: list[list[str]] = []
    try:
        for fields in reader:
            if out or any(f.strip() for f in fields):
                out.append(fields)
            if len(out) == count:
                break
    except csv.Error as exc:
        raise MalformedInputError(f"the CSV cannot be read: {exc}") from exc
    if not out or not any(c.strip() for c in out[0]):
        raise EmptyInputError()
    return out


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their line breaks, one at a time, as ``io.StringIO(text,
    newline="")`` gives them, without first copying the whole text."""
    for match in _LINE.finditer(text):
        if match.group():
            yield match.group()


def _iter_records(text: str) -> Iterator[list[str]]:
    reader = csv.reader(_lines(text))
    try:
        yield from reader
    except csv.Error as exc:
        raise MalformedInputError(
            f"the CSV cannot be read at row {reader.line_num}: {exc}"
        ) from exc


def _read_ragged(text: str, names: list[str]) -> pd.DataFrame:
    """Slow path for files whose rows have differing field counts: keep row numbers exact.

    Short rows are padded with empty fields, as the fast path does; a boolean column
    ``__ragged__`` marks rows with more (non-empty) fields than the header.
    """
    records = _iter_records(text)
    next(records, None)  # the header, already read
    width = len(names)
    rows: list[list[str]] = []
    ragged: list[bool] = []
    for fields in records:
        ragged.append(len(fields) > width and any(f.strip() for f in fields[width:]))
        rows.append([*fields[:width], *[""] * (width - len(fields))])
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    frame["__ragged__"] = np.asarray(ragged, dtype=bool)
    return frame


def _column_text(text: str, index: int, n: int) -> np.ndarray:
    """One column's fields as text, row by row (rare: when the reader guessed another type)."""
    records = _iter_records(text)
    next(records, None)
    out = [f[index] if index < len(f) else "" for f in records]
    return np.asarray((out + [""] * n)[:n], dtype=object)


def _source_rows(text: str, rows: np.ndarray) -> list[str]:
    """The given rows (header = 1) as they appear in the file, joined with commas."""
    wanted = set(rows.tolist())
    if '"' not in text:  # no quoting: one record per line, blank lines included
        lines = re.split(r"\r\n|\n|\r", text)
        found = {r: lines[r - 1] for r in wanted if r - 1 < len(lines)}
    else:
        found = {}
        for number, fields in enumerate(_iter_records(text), start=1):
            if number in wanted:
                found[number] = ",".join(fields)
    return [found.get(r, "")[:500].replace("\x00", "\\x00") for r in rows.tolist()]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "\x01"  # booleans are never valid in any column
    if isinstance(value, float | int):
        return repr(value)
    if isinstance(value, str):
        return value
    return "\x01"


class _Reasons:
    """The first reason each row is rejected for; checks run in priority order."""

    def __init__(self, n: int, skip: np.ndarray) -> None:
        self.text = np.full(n, None, dtype=object)
        self.skip = skip  # blank rows are dropped, never rejected
        self.done = skip.copy()

    def add(
        self, mask: np.ndarray, why: str | np.ndarray | None = None, *, describe: Any = None
    ) -> None:
        fresh = mask & ~self.done
        if not fresh.any():
            return
        if describe is not None:  # build messages only for the rows that need one
            why = np.asarray([describe(i) for i in np.flatnonzero(fresh)], dtype=object)
        elif isinstance(why, np.ndarray):
            why = why[fresh]
        self.text[fresh] = why
        self.done |= fresh

    @property
    def rejected(self) -> np.ndarray:
        rejected: np.ndarray = self.done & ~self.skip
        return rejected


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(np.full(len(frame), "", dtype=object))
    column = frame[name].reset_index(drop=True)
    if column.dtype.kind in "fiub":  # the CSV reader inferred numbers: keep their text
        return column.astype(str).where(column.notna(), "")
    return column.astype(object).fillna("")


def _codes(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Unique values of a column as received and, per row, the index of its value among them
    (a categorical column, from ``_read_plain``, is already in that form)."""
    if name not in frame:
        return np.zeros(len(frame), dtype=np.intp), np.asarray([""], dtype=object)
    column = frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return (
            column.cat.codes.to_numpy(dtype=np.intp),
            np.asarray(column.cat.categories, dtype=object),
        )
    codes, uniques = pd.factorize(
        _column(frame, name).to_numpy(dtype=object), use_na_sentinel=False
    )
    return codes, np.asarray(uniques, dtype=object)


def _factor(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Stripped unique values of a column and, per row, the index of its value among them."""
    return _stripped(*_codes(frame, name))


def _stripped(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _merge(codes, np.asarray([str(u).strip() for u in uniques], dtype=object))


def _merge(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-point codes whose values became equal (after stripping or substitution)."""
    merged_codes, merged = pd.factorize(values, use_na_sentinel=False)
    return merged_codes[codes], np.asarray(merged, dtype=object)


def _validate(
    frame: pd.DataFrame,
    row: np.ndarray,
    *,
    facility_id: str | None,
    skip_blank: bool = True,
    for_analysis: bool = False,
) -> ParsedPoints:
    """Validate text columns; ``skip_blank`` drops rows with no fields at all (CSV blank lines),
    otherwise they are rejected (an empty JSON object)."""
    n = len(frame)
    ragged = (
        frame.pop("__ragged__").to_numpy(dtype=bool)
        if "__ragged__" in frame
        else np.zeros(n, dtype=bool)
    )
    fac_codes, facs = _factor(frame, "facility_id")
    tag_codes, tags = _factor(frame, "tag")
    unit_codes, units = _factor(frame, "unit")
    q_codes, q_values = _factor(frame, "quality")
    raw_ts_codes, raw_stamps = _codes(frame, "timestamp")
    stamp_empty = (raw_stamps == "")[raw_ts_codes]
    value_col = frame["value"].reset_index(drop=True) if "value" in frame else _column(frame, "v")

    if facility_id is not None:
        fac_codes, facs = _merge(fac_codes, np.where(facs == "", facility_id, facs))
    empty_value = value_col.isna().to_numpy(dtype=bool)
    if value_col.dtype.kind not in "iufb":
        empty_value = empty_value | (value_col == "").to_numpy(dtype=bool)
    blank = (tags[tag_codes] == "") & stamp_empty & empty_value
    if facility_id is None:
        blank &= (facs == "")[fac_codes]

    reasons = _Reasons(n, blank if skip_blank else np.zeros(n, dtype=bool))
    reasons.add(blank, "item has none of the fields facility_id, tag, timestamp, value")
    reasons.add(ragged, "row has more fields than the header")
    for name, codes, uniques in (
        ("facility_id", fac_codes, facs),
        ("tag", tag_codes, tags),
        ("unit", unit_codes, units),
        ("quality", q_codes, q_values),
    ):
        wrong_type = np.asarray(["\x01" in u for u in uniques], dtype=bool)
        reasons.add(wrong_type[codes], f"{name} has a value of the wrong type")
    for name, codes, uniques in (
        ("facility_id", fac_codes, facs),
        ("tag", tag_codes, tags),
        ("unit", unit_codes, units),
        ("quality", q_codes, q_values),
    ):
        control = np.asarray([_CONTROL.search(u) is not None for u in uniques], dtype=bool)
        reasons.add(
            control[codes],
            describe=lambda i, n=name, c=codes, u=uniques: (
                f"{n} {_q(u[c[i]])} contains a control character"
            ),
        )
    reasons.add((facs == "")[fac_codes], "facility_id is empty")
    reasons.add((tags == "")[tag_codes], "tag is empty")
    too_long = np.asarray([len(t) > MAX_TAG_LENGTH for t in tags], dtype=bool)
    reasons.add(too_long[tag_codes], f"tag is longer than {MAX_TAG_LENGTH} characters")
    long_unit = np.asarray([len(u) > MAX_UNIT_LENGTH for u in units], dtype=bool)
    reasons.add(long_unit[unit_codes], f"unit is longer than {MAX_UNIT_LENGTH} characters")

    # Exports repeat each timestamp once per tag: parse each distinct text once.
    ts_codes, stamps = _stripped(raw_ts_codes, raw_stamps)
    reasons.add(
        np.asarray(["\x01" in u for u in stamps], dtype=bool)[ts_codes],
        "timestamp has a value of the wrong type",
    )
    has_offset = np.asarray([u.endswith(("Z", "z")) for u in stamps], dtype=bool)
    if not has_offset.all():
        rest = ~has_offset
        has_offset[rest] = pd.Series(stamps[rest]).str.contains(_OFFSET, regex=True).to_numpy(bool)
    upper_z = [u[:-1] + "Z" if u.endswith("z") else u for u in stamps]  # RFC 3339 allows "z"
    parsed = pd.to_datetime(
        pd.Series(upper_z, dtype=object), format="ISO8601", utc=True, errors="coerce"
    )
    parsed_ok = parsed.notna().to_numpy()
    reasons.add((stamps == "")[ts_codes], "timestamp is empty")
    reasons.add(
        (parsed_ok & ~has_offset)[ts_codes],
        describe=lambda i: (
            f"timestamp {_q(stamps[ts_codes[i]])} has no UTC offset (add Z or +hh:mm)"
        ),
    )
    reasons.add(
        ~parsed_ok[ts_codes],
        describe=lambda i: f"timestamp {_q(stamps[ts_codes[i]])} is not an ISO 8601 date-time",
    )
    in_range = (parsed >= EARLIEST) & (parsed < LATEST)
    reasons.add(
        (parsed_ok & ~in_range.to_numpy(dtype=bool))[ts_codes],
        describe=lambda i: (
            f"timestamp {_q(stamps[ts_codes[i]])} is out of range: readings must fall between "
            f"{EARLIEST:%Y-%m-%d} and {LATEST - pd.Timedelta(days=1):%Y-%m-%d} (UTC)"
        ),
    )
    ts_us = parsed.dt.as_unit("us").astype("int64").to_numpy()

    if value_col.dtype.kind in "iuf":
        value = value_col.to_numpy(dtype="float64")
        value_text = value_col.to_numpy()
    else:
        value_text = value_col.astype(object).fillna("").to_numpy()
        # Whole numbers beyond 64 bits arrive as Python ints: their text is what was written.
        value_text = np.asarray(
            [v if isinstance(v, str) else str(v) for v in value_text], dtype=object
        )
        value = pd.to_numeric(pd.Series(value_text, dtype=object), errors="coerce").to_numpy(
            dtype="float64"
        )
        wrong = pd.Series(value_text, dtype=object).str.contains("\x01", regex=False)
        reasons.add(wrong.to_numpy(dtype=bool), "value has a value of the wrong type")
    if not for_analysis:
        reasons.add(empty_value, "value is empty")
        reasons.add(~np.isfinite(value), describe=lambda i: _value_problem(value_text[i]))

    q_known = np.asarray([u.lower() in QUALITY_CODES for u in q_values], dtype=bool)
    reasons.add(
        ~q_known[q_codes],
        describe=lambda i: f"quality {_q(q_values[q_codes[i]])} is not good/uncertain/bad",
    )
    q_map = np.asarray([QUALITY_CODES.get(u.lower(), 0) for u in q_values], dtype=np.int8)

    bad = reasons.rejected
    keep = ~reasons.done
    rejected = pd.DataFrame(
        {
            "row": row[bad],
            "reason": pd.Series(reasons.text[bad], dtype=object),
            "raw": pd.Series(_raw_rows(frame, bad), dtype=object),
        }
    )
    points = pd.DataFrame(
        {
            "row": row[keep],
            "facility_id": _categorical(fac_codes[keep], facs),
            "tag": _categorical(tag_codes[keep], tags),
            "ts": pd.to_datetime(ts_us[ts_codes[keep]], unit="us", utc=True),
            "value": value[keep],
            "unit": _categorical(unit_codes[keep], units),
            "quality": q_map[q_codes[keep]],
        }
    )
    # Parsed times, not texts, so one instant written two ways is one key.
    key = pd.DataFrame({"f": fac_codes[keep], "t": tag_codes[keep], "s": ts_us[ts_codes[keep]]})
    superseded = key.duplicated(keep="last").to_numpy()
    if for_analysis:  # keep every row; report how many repeat an earlier key
        duplicates = int(key.duplicated(keep="first").sum())
        return ParsedPoints(
            points=points, rejected=rejected, rows=int(n - blank.sum()), duplicates=duplicates
        )
    return ParsedPoints(
        points=points[~superseded].reset_index(drop=True),
        rejected=rejected,
        rows=int(n - blank.sum()) if skip_blank else n,
        duplicates=int(superseded.sum()),
    )


def _categorical(codes: np.ndarray, values: np.ndarray) -> pd.Categorical:
    used = np.unique(codes)  # drop values only seen on rejected rows
    remap = np.full(len(values), -1, dtype=np.intp)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(values[used], dtype=object))


def _q(text: Any) -> str:
    return "'" + _visible(str(text)[:60]) + "'"


def _visible(text: str) -> str:
    """Control characters written as escapes (``\\x00``): a NUL cannot even be stored."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _value_problem(text: Any) -> str:
    if str(text).strip().lower().lstrip("+-") in {"nan", "inf", "infinity"}:
        return f"value {_q(text)} is not a finite number"
    return f"value {_q(text)} is not a number"


def _raw_rows(frame: pd.DataFrame, mask: np.ndarray) -> list[str]:
    if not mask.any():
        return []
    subset = frame[mask].astype(object).fillna("").astype(str)
    joined = subset.apply(lambda r: ",".join(r.to_numpy()), axis=1, result_type="reduce")
    return [s.replace("\x01", "?").replace("\x00", "\\x00")[:500] for s in joined]
