"""Fuzzing the CSV/JSON ingest (pipelines/ingest.py) with mutated inputs.

Valid files and batches are built, then damaged: bytes flipped, inserted, deleted or cut off;
fields replaced by wrong types, NaN/inf, huge or tiny numbers, bad dates, control characters;
columns dropped, repeated, reordered; BOMs, UTF-16, Latin-1, CR line ends, binary. Whatever
comes in, a parser either raises a ``PipelineError`` leaf or returns every row accounted for
(accepted + rejected + superseded duplicates = rows), and every row that was not damaged comes
out accepted, unchanged. test_ingest.py holds the parsers' exact behaviour; this file only
throws things at them.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines import ingest
from pipelines.errors import PipelineError
from pipelines.ingest import (
    QUALITY_CODES,
    ParsedPoints,
    check_header,
    parse_batch,
    parse_csv,
    parse_records,
)
from tests.factories import (
    BYTE_EDITS,
    COLUMNS,
    ENVELOPES,
    ODD_JSON_VALUES,
    csv_bytes,
    csv_line,
    examples,
    item,
    mutate_bytes,
    valid_rows,
)

FUZZ = settings(
    max_examples=examples(200),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------------- valid input


# -------------------------------------------------------------------------------- the mutations

# Field values a damaged row may carry: wrong types, non-finite and huge numbers, bad instants,
# control and odd Unicode characters. None holds a comma, quote or line break (those change the
# row structure, which test_byte_mutations covers), and none is a valid reading of another row.
# fmt: off
BAD_FIELDS = {
    "value": [
        "", " ", "NaN", "nan", "-Infinity", "inf", "1e400", "-1e999", "9" * 400, "0x1A",
        "1_000", "1.5.5", "--1", "true", "False", "null", "None", "\x00", "\x01",
        "\uff11\uff12", "\u0663", "1e", ".", "+", "\u00bd", "1 2", "\u00a01", "\u216b",
    ],
    "timestamp": [
        "", "2025-01-01", "2025-01-01T00:00:00", "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z", "2025-01-01T24:00:01Z", "0000-01-01T00:00:00Z",
        "-2025-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "2025-01-01T00:00:00+25:00",
        "1735689600", "yesterday", "2025-01-01T00:00:00Zjunk", "\x00", "\x01", "T",
        "2025-01-01 00:00:00 UTC",
    ],
    "tag": ["", " ", "\t", "x" * 201, "\x01"],
    "facility_id": ["", "  ", "\x01"],
    "quality": ["excellent", "3", "-1", "good!", "\x01", "ok ok"],
}
# fmt: on
@st.composite
def damaged_rows(draw: st.DrawFn) -> tuple[list[str], set[int]]:
    """CSV data lines (header excluded) and the indexes of those that were damaged."""
    rows = draw(valid_rows(max_size=15))
    lines = [csv_line(r) for r in rows]
    damaged = draw(st.sets(st.integers(0, len(rows) - 1), max_size=len(rows)))
    for i in sorted(damaged):
        fields = lines[i].split(",")
        how = draw(st.sampled_from(["field", "field", "field", "extra", "short", "wrong type"]))
        if how == "field":
            column = draw(st.sampled_from(sorted(BAD_FIELDS)))
            fields[COLUMNS.index(column)] = draw(st.sampled_from(BAD_FIELDS[column]))
        elif how == "extra":  # a field past the header's width
            fields.append(draw(st.sampled_from(["x", "1", "good"])))
        elif how == "short":  # value (and what follows) missing
            fields = fields[: COLUMNS.index("value")]
        else:  # a number where text belongs and text where a number belongs, at once
            fields[COLUMNS.index("value")], fields[COLUMNS.index("tag")] = "abc", "12"
            fields[COLUMNS.index("quality")] = "7"
        lines[i] = ",".join(fields)
    return lines, damaged


# ----------------------------------------------------------------------------------- the checks


def assert_sound(parsed: ParsedPoints, *, for_analysis: bool = False) -> None:
    """Every row accounted for once, and what was accepted is well-formed. (For an analysis,
    repeated keys stay among the points, ``duplicates`` only counts them.)"""
    points, rejected = parsed.points, parsed.rejected
    superseded = 0 if for_analysis else parsed.duplicates
    assert len(points) + len(rejected) + superseded == parsed.rows
    assert points["row"].is_unique and rejected["row"].is_unique
    assert set(points["row"]).isdisjoint(set(rejected["row"]))
    if not for_analysis:  # an analysis keeps unusable readings as NaN
        assert np.isfinite(points["value"].to_numpy()).all()
    assert str(points["ts"].dtype) == "datetime64[us, UTC]"
    assert set(points["quality"].unique()) <= {0, 1, 2}
    for name in ("facility_id", "tag"):
        assert all(isinstance(v, str) and v.strip() == v and v for v in points[name].cat.categories)
    assert all(isinstance(r, str) and r for r in rejected["reason"])
    assert all(isinstance(r, str) and len(r) <= 500 for r in rejected["raw"])


def parse_or_pipeline_error(parse, *args, **kwargs) -> ParsedPoints | None:
    try:
        parsed = parse(*args, **kwargs)
    except PipelineError as exc:
        assert str(exc) and exc.code  # a message and a code for the API and the job record
        return None
    assert_sound(parsed, for_analysis=kwargs.get("for_analysis", False))
    return parsed


# ------------------------------------------------------------------------------------------- CSV


@FUZZ
@given(damage=damaged_rows(), facility=st.sampled_from([None, "FX"]))
@example(damage=(["F1,flow,2025-01-01T00:00:00Z,1e400,,"], {0}), facility=None)
@example(damage=(["F1,flow,2025-01-01T00:00:00Z,\x00,,"], {0}), facility=None)
def test_undamaged_rows_are_never_lost(damage: tuple[list[str], set[int]], facility) -> None:
    lines, damaged = damage
    data = ("\n".join([",".join(COLUMNS), *lines]) + "\n").encode()
    parsed = parse_csv(data, facility_id=facility)

    assert_sound(parsed)
    assert parsed.rows == len(lines)
    accepted = parsed.points.set_index("row")
    for i, line in enumerate(lines):
        row = i + 2
        if i in damaged:
            assert row in accepted.index or row in set(parsed.rejected["row"])
            continue
        assert row in accepted.index, (line, parsed.rejected.to_dict("records"))
        fields = line.split(",")
        got = accepted.loc[row]
        assert got["value"] == float(fields[3])
        assert got["ts"] == pd.Timestamp(fields[2])
        assert got["tag"] == fields[1] and got["facility_id"] == fields[0]
        assert got["quality"] == QUALITY_CODES[fields[5].lower()]


@FUZZ
@given(rows=valid_rows(), edits=BYTE_EDITS, facility=st.sampled_from([None, "FX"]))
@example(rows=None, edits=[("insert", 0, b"\xff\xfe")], facility=None)
@example(rows=None, edits=[("flip", 40, b"\x80")], facility=None)
def test_byte_mutations_raise_only_pipeline_errors(rows, edits, facility) -> None:
    valid = (
        csv_bytes(rows) if rows else b"facility_id,tag,timestamp,value\nF,t,2025-01-01T00:00Z,1\n"
    )
    data = mutate_bytes(valid, edits)
    parse_or_pipeline_error(parse_csv, data, facility_id=facility)
    parse_or_pipeline_error(parse_csv, data, facility_id=facility, for_analysis=True)
    with contextlib.suppress(PipelineError):
        check_header(data, facility_given=facility is not None)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252"]


@FUZZ
@given(
    rows=valid_rows(),
    encoding=st.sampled_from(ENCODINGS),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    accent=st.booleans(),
)
def test_other_encodings_and_line_ends(rows, encoding: str, eol: str, accent: bool) -> None:
    if accent:
        rows[0]["tag"] = "débit"  # a non-ASCII character, differently encoded per codec
    text = eol.join([",".join(COLUMNS), *map(csv_line, rows)]) + eol
    data = text.encode(encoding)
    parsed = parse_or_pipeline_error(parse_csv, data)
    utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    if utf8 or (not accent and encoding in ("latin-1", "cp1252")):  # ASCII is UTF-8
        assert parsed is not None and len(parsed.points) == len(rows)
    elif encoding.startswith(("utf-16", "utf-32")):
        assert parsed is None  # NUL-filled "UTF-8" never yields a point silently
    else:
        assert parsed is None  # Latin-1 "é" is not UTF-8: refused with the line


@FUZZ
@given(
    rows=valid_rows(),
    order=st.permutations(list(COLUMNS)),
    drop=st.sets(st.sampled_from(COLUMNS), max_size=3),
    repeat=st.sampled_from([None, *COLUMNS]),
    case=st.sampled_from([str, str.upper, str.title, lambda c: f" {c} "]),
)
def test_column_shuffles_drops_and_repeats(rows, order, drop, repeat, case) -> None:
    header = [c for c in order if c not in drop] + ([repeat] if repeat else [])
    lines = [",".join(case(c) for c in header)]
    for r in rows:
        lines.append(",".join(csv_line(r).split(",")[COLUMNS.index(c)] for c in header))
    parsed = parse_or_pipeline_error(parse_csv, ("\n".join(lines) + "\n").encode())
    if parsed is not None and not {"tag", "timestamp", "value", "facility_id"} & drop:
        assert len(parsed.points) == len(rows)  # any order, any case, padded with blanks


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"")
@example(data=b"\x00" * 64)
@example(data=b"\xef\xbb\xbf\n\n\n")
@example(data=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
@example(data=b'facility_id,tag,timestamp,value\n"unterminated,t,2025-01-01T00:00:00Z,1\n')
def test_binary_garbage(data: bytes) -> None:
    parse_or_pipeline_error(parse_csv, data)
    parse_or_pipeline_error(parse_csv, b"facility_id,tag,timestamp,value\n" + data)


# ------------------------------------------------------------------------------------------ JSON


@st.composite
def damaged_items(draw: st.DrawFn) -> tuple[list, set[int]]:
    rows = draw(valid_rows(max_size=15))
    items: list = [item(r) for r in rows]
    damaged = draw(st.sets(st.integers(0, len(rows) - 1), max_size=len(rows)))
    for i in sorted(damaged):
        how = draw(st.sampled_from(["retype", "retype", "drop", "extra", "replace"]))
        if how == "retype":
            key = draw(st.sampled_from(["value", "timestamp", "tag", "facility_id", "quality"]))
            items[i][key] = draw(ODD_JSON_VALUES)
        elif how == "drop":
            del items[i][draw(st.sampled_from(["value", "timestamp", "tag"]))]
        elif how == "extra":
            items[i][draw(st.text(max_size=8))] = draw(ODD_JSON_VALUES)
        else:  # the item is not an object at all
            items[i] = draw(ODD_JSON_VALUES)
    return items, damaged


@FUZZ
@given(damage=damaged_items(), facility=st.sampled_from([None, "FX"]))
@example(
    damage=(
        [{"facility_id": "F", "tag": "t", "timestamp": "2025-01-01T00:00:00Z", "value": 10**400}],
        {0},
    ),
    facility=None,
)
@example(
    damage=(
        [{"facility_id": "F", "tag": "t", "timestamp": "2025-01-01T00:00:00Z", "value": math.nan}],
        {0},
    ),
    facility=None,
)
def test_undamaged_items_are_never_lost(damage: tuple[list, set[int]], facility) -> None:
    items, damaged = damage
    body = json.dumps({"data": items}).encode()
    parsed = parse_batch(body, facility_id=facility)

    assert_sound(parsed)
    assert parsed.rows == len(items)
    accepted = parsed.points.set_index("row")
    for i, it in enumerate(items):
        if i in damaged:
            assert i + 1 in accepted.index or i + 1 in set(parsed.rejected["row"])
            continue
        got = accepted.loc[i + 1]
        assert got["value"] == it["value"] and got["tag"] == it["tag"]
        assert got["ts"] == pd.Timestamp(it["timestamp"])
    # The same items straight to parse_records (the batch without its envelope) agree.
    direct = parse_records(json.loads(body)["data"], facility_id=facility)
    pd.testing.assert_frame_equal(direct.points, parsed.points)


@FUZZ
@given(body=ENVELOPES, encoding=st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"]))
def test_any_json_document(body, encoding: str) -> None:
    data = json.dumps(body).encode(encoding)
    parse_or_pipeline_error(parse_batch, data)


@FUZZ
@given(rows=valid_rows(), edits=BYTE_EDITS)
@example(rows=None, edits=[("insert", 8, b"[" * 100_000)])  # deeper than the parser's stack
@example(rows=None, edits=[("insert", 0, b"\xef\xbb\xbf")])
def test_json_byte_mutations(rows, edits) -> None:
    valid = json.dumps({"data": [item(r) for r in rows or []]}).encode()
    parse_or_pipeline_error(parse_batch, mutate_bytes(valid, edits))


@pytest.mark.parametrize("depth", [10, 900, 5_000, 200_000])
def test_deeply_nested_batches(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    for text in (nested, f'{{"data": {nested}}}', f'{{"data": [{{"value": {nested}}}]}}'):
        parse_or_pipeline_error(parse_batch, text.encode())


# ----------------------------------------------------------------- the two CSV readers agree
# parse_csv reads a plain file (no quote, no NUL, every row as wide as the header, every value a
# finite number) with pyarrow's reader and anything else with pandas' reader. Whatever the file,
# both readers must give the same points, the same rejected rows and the same errors.

# Values both readers must parse alike, written the many ways a plain number can be written.
# fmt: off
PLAIN_ODD = [
    "+1.5", ".5", "5.", "-.5e-3", "1E+05", "1e-400", "0e0", "-0", "00012", " 1.5", "2 ", "\t3",
    "1.5e0001", "123456789012345678901234567890", "9007199254740993",
]
# fmt: on
PLAIN_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(PLAIN_ODD),
    st.integers(0, 20).flatmap(
        lambda p: st.decimals(allow_nan=False, allow_infinity=False, places=p).map(str)
    ),
)


def _parse_both(data: bytes, **kwargs) -> tuple[ParsedPoints | tuple, ParsedPoints | tuple]:
    outcomes: list[ParsedPoints | tuple] = []
    for fast in (True, False):
        try:
            outcomes.append(ingest._parse_csv(data, fast=fast, **kwargs))
        except PipelineError as exc:
            outcomes.append((type(exc), str(exc)))
    return outcomes[0], outcomes[1]


def assert_readers_agree(data: bytes, *, facility: str | None = None) -> ParsedPoints | None:
    """Both readers, for an ingest and for an analysis; returns the ingest's parse, if any."""
    for for_analysis in (False, True):
        fast, general = _parse_both(data, facility_id=facility, for_analysis=for_analysis)
        if isinstance(fast, tuple) or isinstance(general, tuple):
            assert fast == general
            continue
        pd.testing.assert_frame_equal(fast.points, general.points)
        pd.testing.assert_frame_equal(fast.rejected, general.rejected)
        assert (fast.rows, fast.duplicates) == (general.rows, general.duplicates)
        if not for_analysis:
            kept = fast
    return None if isinstance(fast, tuple) else kept


@FUZZ
@given(
    rows=valid_rows(max_size=30),
    values=st.lists(PLAIN_VALUES, min_size=30, max_size=30),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    last_eol=st.booleans(),
    repeat=st.integers(0, 3),
    facility=st.sampled_from([None, "FX"]),
)
@example(rows=None, values=["-0"] * 30, eol="\n", last_eol=True, repeat=0, facility=None)
def test_plain_files_take_the_fast_reader_and_agree(
    rows, values, eol: str, last_eol: bool, repeat: int, facility
) -> None:
    rows = rows or [
        {
            "facility_id": "F1",
            "tag": "t",
            "timestamp": "2024-01-01T00:00:00Z",
            "value": 0.0,
            "unit": "",
            "quality": "",
        }
    ]
    lines = [",".join(COLUMNS)]
    for r, value in zip(rows, values, strict=False):
        fields = csv_line(r).split(",")
        fields[COLUMNS.index("value")] = value
        lines.append(",".join(fields))
    lines += lines[1 : 1 + repeat]  # repeated keys: the last one wins
    data = (eol.join(lines) + (eol if last_eol else "")).encode()
    names = list(COLUMNS)

    assert ingest._read_plain(data, 0, names) is not None  # the fast reader took it
    parsed = assert_readers_agree(data, facility=facility)
    assert parsed is not None and parsed.rejected.empty
    assert parsed.rows == len(lines) - 1


@FUZZ
@given(
    damage=damaged_rows(),
    facility=st.sampled_from([None, "FX"]),
    eol=st.sampled_from(["\n", "\r\n"]),
)
@example(damage=(["F1,flow,2025-01-01T00:00:00Z,1e400,,"], {0}), facility=None, eol="\n")
@example(
    damage=(["F1,flow,2025-01-01T00:00:00Z,nan,,", "F1,flow,2025-01-01T00:01:00Z,1,,"], {0}),
    facility=None,
    eol="\n",
)
@example(damage=(["", "F1,flow,2025-01-01T00:01:00Z,1,,", ""], set()), facility=None, eol="\n")
def test_readers_agree_on_damaged_rows(damage, facility, eol: str) -> None:
    lines, _ = damage
    assert_readers_agree((eol.join([",".join(COLUMNS), *lines]) + eol).encode(), facility=facility)


@FUZZ
@given(rows=valid_rows(), edits=BYTE_EDITS, facility=st.sampled_from([None, "FX"]))
@example(rows=None, edits=[("insert", 40, b"\n\n")], facility=None)
@example(rows=None, edits=[("insert", 0, b"\n \n")], facility=None)
@example(rows=None, edits=[("insert", 0, b"\xef\xbb\xbf")], facility=None)
def test_readers_agree_on_byte_mutations(rows, edits, facility) -> None:
    valid = (
        csv_bytes(rows) if rows else b"facility_id,tag,timestamp,value\nF,t,2025-01-01T00:00Z,1\n"
    )
    assert_readers_agree(mutate_bytes(valid, edits), facility=facility)
