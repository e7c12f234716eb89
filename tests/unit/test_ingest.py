"""Unit tests for pipelines/ingest.py: CSV/JSON parsing, validation, dedupe, interval inference."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from pipelines.errors import (
    EmptyInputError,
    EncodingError,
    MalformedInputError,
    MissingColumnsError,
    PipelineError,
)
from pipelines.ingest import (
    MAX_TAG_LENGTH,
    QUALITY_CODES,
    ParsedPoints,
    check_header,
    check_tags,
    first_units,
    infer_intervals,
    normalise_unit,
    parse_csv,
    parse_records,
    tag_pairs,
    with_raw,
)
from tests.factories import examples

HEADER = "facility_id,tag,timestamp,value,unit,quality"
TS = "2025-01-01T00:00:00Z"
GOOD_ROW = f"F1,OK,{TS},1.5,kW,good"
POINT_COLUMNS = ["row", "facility_id", "tag", "ts", "value", "unit", "quality"]
PROPERTY_SETTINGS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --------------------------------------------------------------------------------------- helpers


def csv_bytes(*rows: str, header: str = HEADER, eol: str = "\n") -> bytes:
    return (eol.join([header, *rows]) + eol).encode("utf-8")


def _cat(values: list[str]) -> pd.Categorical:
    return pd.Categorical(values, categories=pd.Index(sorted(set(values)), dtype=object))


def expected_points(*rows: tuple) -> pd.DataFrame:
    """rows: (row, facility_id, tag, timestamp text, value, unit, quality code)."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    ts = pd.DatetimeIndex(pd.to_datetime(list(cols[3]), utc=True, format="ISO8601"))
    return pd.DataFrame(
        {
            "row": np.asarray(cols[0], dtype=np.int64),
            "facility_id": _cat(list(cols[1])),
            "tag": _cat(list(cols[2])),
            "ts": ts.as_unit("us"),
            "value": np.asarray(cols[4], dtype=np.float64),
            "unit": _cat(list(cols[5])),
            "quality": np.asarray(cols[6], dtype=np.int8),
        }
    )


def canon(points: pd.DataFrame) -> pd.DataFrame:
    """Categories in lexical order (their order is an implementation detail)."""
    out = points.copy()
    for name in ("facility_id", "tag", "unit"):
        ordered = pd.Index(sorted(out[name].cat.categories), dtype=object)
        out[name] = out[name].cat.reorder_categories(ordered)
    return out


def assert_points(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.columns) == POINT_COLUMNS
    assert_frame_equal(canon(actual), expected)


def rejected_records(parsed: ParsedPoints) -> list[dict]:
    return [
        {"row": int(r), "reason": str(why), "raw": str(raw)}
        for r, why, raw in parsed.rejected[["row", "reason", "raw"]].itertuples(index=False)
    ]


def reasons(parsed: ParsedPoints) -> list[tuple[int, str]]:
    return [(int(r), str(why)) for r, why in parsed.rejected[["row", "reason"]].to_numpy()]


def assert_accounted(parsed: ParsedPoints) -> None:
    assert len(parsed.points) + len(parsed.rejected) + parsed.duplicates == parsed.rows
    assert set(parsed.points["row"]).isdisjoint(set(parsed.rejected["row"]))


# ------------------------------------------------------------------------- parse_csv happy path


def test_parse_csv_full_row_columns_and_dtypes() -> None:
    parsed = parse_csv(csv_bytes(f"F1,T1,{TS},1.5,kW,good", f"F1,T2,{TS},-2,m3,uncertain"))

    assert list(parsed.points.columns) == POINT_COLUMNS
    dtypes = parsed.points.dtypes
    assert dtypes["row"] == np.dtype("int64")
    assert str(dtypes["ts"]) == "datetime64[us, UTC]"
    assert dtypes["value"] == np.dtype("float64")
    assert dtypes["quality"] == np.dtype("int8")
    for name in ("facility_id", "tag", "unit"):
        assert isinstance(dtypes[name], pd.CategoricalDtype), name
        assert all(isinstance(c, str) for c in dtypes[name].categories), name
    assert_points(
        parsed.points,
        expected_points(
            (2, "F1", "T1", TS, 1.5, "kW", 0),
            (3, "F1", "T2", TS, -2.0, "m3", 1),
        ),
    )
    assert parsed.rejected.empty
    assert (parsed.rows, parsed.duplicates) == (2, 0)


@pytest.mark.parametrize(
    ("stamp", "utc"),
    [
        ("2025-01-01T01:00:00+01:00", "2025-01-01T00:00:00Z"),
        ("2024-12-31T19:00:00-05:00", "2025-01-01T00:00:00Z"),
        ("2025-01-01T05:30:00+05:30", "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00+0000", "2025-01-01T00:00:00Z"),
        ("2025-01-01T02:00:00+0200", "2025-01-01T00:00:00Z"),
        ("2025-01-01T01:00:00+01", "2025-01-01T00:00:00Z"),
        ("2025-01-01 01:00:00+01:00", "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00Z", "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00.123456Z", "2025-01-01T00:00:00.123456Z"),
        ("2025-06-30T23:59:59.5-07:00", "2025-07-01T06:59:59.5Z"),
    ],
)
def test_parse_csv_timestamps_are_converted_to_utc(stamp: str, utc: str) -> None:
    parsed = parse_csv(csv_bytes(f"F1,T1,{stamp},1.5,kW,good"))

    assert parsed.rejected.empty, rejected_records(parsed)
    assert parsed.points["ts"].tolist() == [pd.Timestamp(utc)]
    assert str(parsed.points["ts"].dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize(
    ("header", "row", "unit", "quality"),
    [
        ("facility_id,tag,timestamp,value", f"F1,T1,{TS},1.5", "", 0),
        ("facility_id,tag,timestamp,value,quality", f"F1,T1,{TS},1.5,bad", "", 2),
        ("facility_id,tag,timestamp,value,unit", f"F1,T1,{TS},1.5,kW", "kW", 0),
        ("value,timestamp,tag,facility_id", f"1.5,{TS},T1,F1", "", 0),
        ("facility_id,tag,timestamp,value,comment", f"F1,T1,{TS},1.5,hello", "", 0),
    ],
    ids=["no-unit-no-quality", "no-unit", "no-quality", "reordered", "extra-column"],
)
def test_parse_csv_optional_columns(header: str, row: str, unit: str, quality: int) -> None:
    parsed = parse_csv(csv_bytes(row, header=header))

    assert_points(parsed.points, expected_points((2, "F1", "T1", TS, 1.5, unit, quality)))
    assert parsed.rejected.empty


@pytest.mark.parametrize(
    ("text", "quality"),
    [
        ("", 0),
        ("good", 0),
        ("g", 0),
        ("ok", 0),
        ("0", 0),
        ("uncertain", 1),
        ("u", 1),
        ("questionable", 1),
        ("1", 1),
        ("bad", 2),
        ("b", 2),
        ("invalid", 2),
        ("2", 2),
        ("GOOD", 0),
        (" Uncertain ", 1),
        ("BAD", 2),
        ("Questionable", 1),
        ("Invalid", 2),
    ],
)
def test_parse_csv_quality_codes(text: str, quality: int) -> None:
    parsed = parse_csv(csv_bytes(f"F1,T1,{TS},1.5,kW,{text}"))

    assert parsed.rejected.empty, rejected_records(parsed)
    assert parsed.points["quality"].tolist() == [quality]


def test_parse_csv_utf8_bom_crlf_whitespace_and_quotes() -> None:
    data = b"\xef\xbb\xbf" + csv_bytes(
        f" F1 , T1 , {TS} , 1.5 , kW , good ",
        f'"F,2","a,b",{TS},"2.5","kg, dry",bad',
        header=" Facility_ID , tag,timestamp , Value,unit,quality",
        eol="\r\n",
    )
    parsed = parse_csv(data)

    assert_points(
        parsed.points,
        expected_points(
            (2, "F1", "T1", TS, 1.5, "kW", 0),
            (3, "F,2", "a,b", TS, 2.5, "kg, dry", 2),
        ),
    )
    assert parsed.rejected.empty
    assert parsed.rows == 2


def test_parse_csv_without_trailing_newline() -> None:
    parsed = parse_csv(f"{HEADER}\n{GOOD_ROW}".encode())

    assert parsed.points["row"].tolist() == [2]
    assert parsed.rows == 1


def test_parse_csv_tag_of_exactly_max_length_is_accepted() -> None:
    tag = "t" * MAX_TAG_LENGTH
    parsed = parse_csv(csv_bytes(f"F1,{tag},{TS},1.5,kW,good"))

    assert parsed.rejected.empty
    assert parsed.points["tag"].tolist() == [tag]


@pytest.mark.parametrize("quote", ["", '"'])  # a plain file, and one for pandas' reader
def test_parse_csv_whole_numbers_beyond_64_bits_are_readings(quote: str) -> None:
    big = "123456789012345678901234567890"
    parsed = parse_csv(csv_bytes(f"F1,a,{TS},{quote}{big}{quote},kW,good", f"F1,b,{TS},7,kW,good"))

    assert parsed.rejected.empty
    assert parsed.points["value"].tolist() == [float(big), 7.0]


def test_parse_csv_numeric_looking_text_columns_stay_text() -> None:
    parsed = parse_csv(csv_bytes(f"0042,007,{TS},1.5,1,1", f"0042,1.50,{TS},2.5,1,1"))

    assert parsed.points["facility_id"].tolist() == ["0042", "0042"]
    assert parsed.points["tag"].tolist() == ["007", "1.50"]
    assert parsed.points["unit"].tolist() == ["1", "1"]


def test_parse_csv_capitalised_header_keeps_leading_zeros() -> None:
    parsed = parse_csv(
        csv_bytes(
            f"0042,007,{TS},1",
            f"0042,008,{TS},1",
            header="Facility ID,Tag,Timestamp,Value",
        )
    )

    assert parsed.points["facility_id"].tolist() == ["0042", "0042"]
    assert parsed.points["tag"].tolist() == ["007", "008"]


# ------------------------------------------------------------------------ facility_id parameter


def test_facility_parameter_fills_missing_column() -> None:
    parsed = parse_csv(
        csv_bytes(f"T1,{TS},1.5", f"T2,{TS},2.5", header="tag,timestamp,value"),
        facility_id="FX",
    )

    assert_points(
        parsed.points,
        expected_points((2, "FX", "T1", TS, 1.5, "", 0), (3, "FX", "T2", TS, 2.5, "", 0)),
    )


def test_facility_parameter_fills_empty_fields_only() -> None:
    parsed = parse_csv(
        csv_bytes(f",T1,{TS},1.5,kW,good", f"F2,T1,{TS},2.5,kW,good", f" FX ,T2,{TS},3,kW,"),
        facility_id="FX",
    )

    assert_points(
        parsed.points,
        expected_points(
            (2, "FX", "T1", TS, 1.5, "kW", 0),
            (3, "F2", "T1", TS, 2.5, "kW", 0),
            (4, "FX", "T2", TS, 3.0, "kW", 0),
        ),
    )
    assert parsed.points["facility_id"].cat.categories.tolist().count("FX") == 1


def test_facility_parameter_default_and_explicit_same_key_are_duplicates() -> None:
    parsed = parse_csv(
        csv_bytes(f",T1,{TS},1.5,kW,good", f"FX,T1,{TS},2.5,kW,good"), facility_id="FX"
    )

    assert parsed.duplicates == 1
    assert parsed.points[["row", "value"]].to_numpy().tolist() == [[3, 2.5]]


def test_facility_column_missing_without_parameter_raises() -> None:
    with pytest.raises(MissingColumnsError) as info:
        parse_csv(csv_bytes(f"T1,{TS},1.5", header="tag,timestamp,value"))

    assert info.value.columns == ("facility_id",)


# ----------------------------------------------------------------------------------- rejections

LONG_TAG = "x" * (MAX_TAG_LENGTH + 1)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param(
            "F1,T1,2025-01-01T00:00:00,2.5,kW,good",
            "timestamp '2025-01-01T00:00:00' has no UTC offset (add Z or +hh:mm)",
            id="naive",
        ),
        pytest.param(
            "F1,T1,2025-01-01 00:00:00.250,2.5,kW,good",
            "timestamp '2025-01-01 00:00:00.250' has no UTC offset (add Z or +hh:mm)",
            id="naive-space-fraction",
        ),
        pytest.param(
            "F1,T1,01/02/2025 00:00Z,2.5,kW,good",
            "timestamp '01/02/2025 00:00Z' is not an ISO 8601 date-time",
            id="us-date",
        ),
        pytest.param(
            "F1,T1,yesterday,2.5,kW,good",
            "timestamp 'yesterday' is not an ISO 8601 date-time",
            id="word",
        ),
        pytest.param(
            "F1,T1,2025-13-01T00:00:00Z,2.5,kW,good",
            "timestamp '2025-13-01T00:00:00Z' is not an ISO 8601 date-time",
            id="month-13",
        ),
        pytest.param(
            "F1,T1,2025-02-30T00:00:00+01:00,2.5,kW,good",
            "timestamp '2025-02-30T00:00:00+01:00' is not an ISO 8601 date-time",
            id="feb-30",
        ),
        pytest.param("F1,T1,,2.5,kW,good", "timestamp is empty", id="empty-ts"),
        pytest.param("F1,T1,   ,2.5,kW,good", "timestamp is empty", id="blank-ts"),
        pytest.param(f"F1,T1,{TS},abc,kW,good", "value 'abc' is not a number", id="word-value"),
        pytest.param(f"F1,T1,{TS},1.2.3,kW,good", "value '1.2.3' is not a number", id="dots"),
        pytest.param(f"F1,T1,{TS},,kW,good", "value is empty", id="empty-value"),
        pytest.param(f"F1,T1,{TS},NaN,kW,good", "value 'NaN' is not a finite number", id="NaN"),
        pytest.param(f"F1,T1,{TS},nan,kW,good", "value 'nan' is not a finite number", id="nan"),
        pytest.param(f"F1,T1,{TS},inf,kW,good", "value 'inf' is not a finite number", id="inf"),
        pytest.param(
            f"F1,T1,{TS},-Infinity,kW,good",
            "value '-Infinity' is not a finite number",
            id="-Infinity",
        ),
        pytest.param(
            f"F1,T1,{TS},2.5,kW,weird",
            "quality 'weird' is not good/uncertain/bad",
            id="quality",
        ),
        pytest.param(f"F1,,{TS},2.5,kW,good", "tag is empty", id="empty-tag"),
        pytest.param(f"F1,  ,{TS},2.5,kW,good", "tag is empty", id="blank-tag"),
        pytest.param(f",T1,{TS},2.5,kW,good", "facility_id is empty", id="empty-facility"),
        pytest.param(
            f"F1,{LONG_TAG},{TS},2.5,kW,good",
            f"tag is longer than {MAX_TAG_LENGTH} characters",
            id="long-tag",
        ),
        pytest.param(
            "F1,,2025-01-01T00:00:00,abc,kW,weird", "tag is empty", id="priority-tag-first"
        ),
        pytest.param(
            f",,{TS},2.5,kW,good", "facility_id is empty", id="priority-facility-before-tag"
        ),
        pytest.param(
            "F1,T1,,abc,kW,weird", "timestamp is empty", id="priority-timestamp-before-value"
        ),
        pytest.param(
            f"F1,T1,{TS},abc,kW,weird",
            "value 'abc' is not a number",
            id="priority-value-before-quality",
        ),
    ],
)
def test_parse_csv_rejects_with_exact_reason(row: str, reason: str) -> None:
    parsed = parse_csv(csv_bytes(GOOD_ROW, row))

    assert rejected_records(parsed) == [{"row": 3, "reason": reason, "raw": row}]
    assert parsed.points["row"].tolist() == [2]
    assert (parsed.rows, parsed.duplicates) == (2, 0)


def test_parse_csv_rejected_frame_columns_and_dtypes() -> None:
    parsed = parse_csv(csv_bytes(f"F1,T1,{TS},abc,kW,good"))

    assert list(parsed.rejected.columns) == ["row", "reason", "raw"]
    assert parsed.rejected["row"].dtype == np.dtype("int64")
    assert pd.api.types.is_string_dtype(parsed.rejected["reason"])
    assert pd.api.types.is_string_dtype(parsed.rejected["raw"])


def test_parse_csv_rejected_frame_dtypes_when_nothing_is_rejected() -> None:
    parsed = parse_csv(csv_bytes(GOOD_ROW))

    assert parsed.rejected.empty
    assert pd.api.types.is_string_dtype(parsed.rejected["reason"])
    assert pd.api.types.is_string_dtype(parsed.rejected["raw"])


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("2025-01-01", id="date"),
        pytest.param("2025-01", id="year-month"),
    ],
)
def test_parse_csv_rejects_naive_date_only_timestamp(stamp: str) -> None:
    parsed = parse_csv(csv_bytes(GOOD_ROW, f"F1,T1,{stamp},2.5,kW,good"))

    assert reasons(parsed) == [
        (3, f"timestamp '{stamp}' has no UTC offset (add Z or +hh:mm)"),
    ]


def test_parse_csv_accepts_lowercase_z() -> None:
    parsed = parse_csv(csv_bytes("F1,T1,2025-01-01T00:00:00z,2.5,kW,good"))

    assert parsed.rejected.empty, rejected_records(parsed)
    assert parsed.points["ts"].tolist() == [pd.Timestamp(TS)]


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(["true", "false"], id="all-booleans"),
        pytest.param(["TRUE", "False"], id="mixed-case"),
    ],
)
def test_parse_csv_boolean_values_are_rejected_whatever_the_other_rows(rows: list[str]) -> None:
    parsed = parse_csv(csv_bytes(*(f"F1,T{i},{TS},{v},kW,good" for i, v in enumerate(rows))))

    assert parsed.points.empty
    assert [why for _, why in reasons(parsed)] == [f"value '{v}' is not a number" for v in rows]


def test_parse_csv_boolean_value_next_to_a_number_is_rejected() -> None:
    parsed = parse_csv(csv_bytes(GOOD_ROW, f"F1,T1,{TS},true,kW,good"))

    assert reasons(parsed) == [(3, "value 'true' is not a number")]


@pytest.mark.parametrize("value", ["1.50", "1e3", "+2", "0.10"])
def test_parse_csv_raw_keeps_value_text_as_received(value: str) -> None:
    row = f"F1,T1,2025-01-01T00:00:00,{value},kW,good"
    parsed = parse_csv(csv_bytes(GOOD_ROW, row))

    assert [r["raw"] for r in rejected_records(parsed)] == [row]


def test_parse_csv_raw_is_truncated_to_500_characters() -> None:
    row = f"F1,T1,{TS},abc,kW," + "q" * 600
    parsed = parse_csv(csv_bytes(row))

    assert [r["raw"] for r in rejected_records(parsed)] == [row[:500]]


# ------------------------------------------------------------------------- ragged (slow) path


def test_parse_csv_ragged_rows_keep_row_numbers_and_reasons() -> None:
    data = csv_bytes(
        f"F1,T1,{TS},1.5,kW,good",
        f"F1,T2,{TS},2.5,kW,good,extra",
        f"F1,T3,{TS},3.5,kW,good,,",  # trailing empty fields are tolerated
        "",
        f"F1,T4,{TS}",  # short rows are padded with empty fields
        "F1,T5,2025-01-01T00:00:00,5,kW,good",
        f"F1,T6,{TS},6,kW,good,x,y",
    )
    parsed = parse_csv(data)

    assert reasons(parsed) == [
        (3, "row has more fields than the header"),
        (6, "value is empty"),
        (7, "timestamp '2025-01-01T00:00:00' has no UTC offset (add Z or +hh:mm)"),
        (8, "row has more fields than the header"),
    ]
    assert_points(
        parsed.points,
        expected_points((2, "F1", "T1", TS, 1.5, "kW", 0), (4, "F1", "T3", TS, 3.5, "kW", 0)),
    )
    assert parsed.rows == 6
    assert_accounted(parsed)


def test_parse_csv_ragged_row_takes_precedence_over_other_problems() -> None:
    parsed = parse_csv(csv_bytes(GOOD_ROW, "F1,,yesterday,abc,kW,weird,extra"))

    assert reasons(parsed) == [(3, "row has more fields than the header")]


def test_parse_csv_ragged_row_raw_includes_extra_fields() -> None:
    row = f"F1,T2,{TS},2.5,kW,good,extra"
    parsed = parse_csv(csv_bytes(GOOD_ROW, row))

    assert rejected_records(parsed) == [
        {"row": 3, "reason": "row has more fields than the header", "raw": row}
    ]


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        pytest.param(f"F1,T1,{TS},1.5,kW,good,", [], id="trailing-comma"),
        pytest.param(
            f"F1,T1,{TS},1.5,kW,good,extra",
            [(2, "row has more fields than the header")],
            id="extra-field",
        ),
    ],
)
def test_parse_csv_extra_field_on_first_data_row(
    first: str, expected: list[tuple[int, str]]
) -> None:
    parsed = parse_csv(csv_bytes(first, f"F1,T2,{TS},2.5,kW,good"))

    assert reasons(parsed) == expected
    assert "T2" in parsed.points["tag"].tolist()


def test_parse_csv_cr_line_endings_with_ragged_row() -> None:
    data = csv_bytes(GOOD_ROW, f"F1,T2,{TS},2.5,kW,good,extra", eol="\r")
    parsed = parse_csv(data)  # old Mac line endings: the ragged row is rejected, not the file
    assert reasons(parsed) == [(3, "row has more fields than the header")]
    assert len(parsed.points) == 1


def test_parse_csv_cr_line_endings_fast_path() -> None:
    parsed = parse_csv(csv_bytes(GOOD_ROW, f"F1,T2,{TS},2.5,kW,good", eol="\r"))

    assert parsed.points["row"].tolist() == [2, 3]
    assert parsed.rejected.empty


# ------------------------------------------------------------------------------- blank lines


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_blank_lines_are_skipped_but_numbering_stays_exact(eol: str) -> None:
    data = csv_bytes(
        f"F1,T1,{TS},1.5,kW,good",
        "",
        "",
        f"F1,T2,{TS},2.5,kW,good",
        "",
        "F1,T3,bad-time,3.5,kW,good",
        f"F1,T4,{TS},4.5,kW,good",
        "",
        eol=eol,
    )
    parsed = parse_csv(data)

    assert parsed.points["row"].tolist() == [2, 5, 8]
    assert reasons(parsed) == [(7, "timestamp 'bad-time' is not an ISO 8601 date-time")]
    assert parsed.rows == 4
    assert_accounted(parsed)


def test_empty_fields_row_is_treated_as_blank() -> None:
    parsed = parse_csv(csv_bytes(",,,,,", GOOD_ROW))

    assert parsed.rejected.empty
    assert parsed.points["row"].tolist() == [3]
    assert parsed.rows == 1


# -------------------------------------------------------------------------------- duplicates


def test_duplicate_key_last_row_wins() -> None:
    parsed = parse_csv(
        csv_bytes(
            f"F1,T1,{TS},1,kW,good",
            f"F1,T2,{TS},2,kW,good",
            f"F1,T1,{TS},3,kW,bad",
            f"F2,T1,{TS},4,kW,good",
            f" F1 , T1 ,{TS},5,kW,uncertain",
        )
    )

    assert_points(
        parsed.points,
        expected_points(
            (3, "F1", "T2", TS, 2.0, "kW", 0),
            (5, "F2", "T1", TS, 4.0, "kW", 0),
            (6, "F1", "T1", TS, 5.0, "kW", 1),
        ),
    )
    assert parsed.duplicates == 2
    assert parsed.rows == 5
    assert_accounted(parsed)


def test_duplicate_same_instant_written_two_ways_is_one_key() -> None:
    parsed = parse_csv(
        csv_bytes(
            "F1,T1,2025-01-01T00:00:00Z,1,kW,good",
            "F1,T1,2025-01-01T01:00:00+01:00,2,kW,good",
            "F1,T1,2024-12-31T19:00:00-0500,3,kW,good",
        )
    )

    assert_points(parsed.points, expected_points((4, "F1", "T1", TS, 3.0, "kW", 0)))
    assert parsed.duplicates == 2


def test_rejected_row_does_not_supersede_an_earlier_good_row() -> None:
    parsed = parse_csv(csv_bytes(f"F1,T1,{TS},1,kW,good", f"F1,T1,{TS},abc,kW,good"))

    assert parsed.points[["row", "value"]].to_numpy().tolist() == [[2, 1.0]]
    assert parsed.duplicates == 0
    assert reasons(parsed) == [(3, "value 'abc' is not a number")]


def test_same_tag_different_facility_or_time_is_not_a_duplicate() -> None:
    parsed = parse_csv(
        csv_bytes(
            f"F1,T1,{TS},1,kW,good",
            f"F2,T1,{TS},2,kW,good",
            "F1,T1,2025-01-01T00:00:00.000001Z,3,kW,good",
        )
    )

    assert parsed.duplicates == 0
    assert len(parsed.points) == 3


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "data", [b"", b"   ", b"\n\n", b"\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"]
)
def test_parse_csv_empty_input(data: bytes) -> None:
    with pytest.raises(EmptyInputError) as info:
        parse_csv(data)

    assert info.value.code == "empty_file"


@pytest.mark.parametrize(
    "data",
    [f"{HEADER}\n".encode(), HEADER.encode(), f"{HEADER}\r\n".encode(), f"{HEADER}\n\n\n".encode()],
)
def test_parse_csv_header_only(data: bytes) -> None:
    parsed = parse_csv(data)

    assert_points(parsed.points, expected_points())
    assert parsed.rejected.empty
    assert list(parsed.rejected.columns) == ["row", "reason", "raw"]
    assert (parsed.rows, parsed.duplicates) == (0, 0)


@pytest.mark.parametrize(
    ("data", "line", "byte"),
    [
        (f"{HEADER}\nF1,Caf".encode() + b"\xe9" + f",{TS},1,kW,good\n".encode(), 2, 0xE9),
        (csv_bytes(GOOD_ROW, GOOD_ROW) + b"F1,\xff\n", 4, 0xFF),
        (b"facility_id,t\xe9g,timestamp,value\n", 1, 0xE9),
        (csv_bytes(GOOD_ROW, eol="\r\n") + b"\x80", 3, 0x80),
    ],
    ids=["latin1-e-acute", "line-4", "header", "crlf-continuation-byte"],
)
@pytest.mark.parametrize("func", ["parse_csv", "check_header"])
def test_non_utf8_raises_encoding_error(func: str, data: bytes, line: int, byte: int) -> None:
    with pytest.raises(EncodingError) as info:
        parse_csv(data) if func == "parse_csv" else check_header(data)

    assert (info.value.line, info.value.byte) == (line, byte)
    assert info.value.code == "invalid_encoding"
    assert f"byte 0x{byte:02x} on line {line}" in str(info.value)


def test_encoding_error_position_with_bom() -> None:
    data = b"\xef\xbb\xbfa,b\n\xe9\n"

    with pytest.raises(EncodingError) as info:
        parse_csv(data)

    assert (info.value.line, info.value.byte) == (2, 0xE9)


MISSING_COLUMNS = [
    ("tag,timestamp", False, ("facility_id", "value"), ("tag", "timestamp")),
    ("facility_id,tag", False, ("timestamp", "value"), ("facility_id", "tag")),
    ("a,b,c", False, ("facility_id", "tag", "timestamp", "value"), ("a", "b", "c")),
    ("a,b,c", True, ("tag", "timestamp", "value"), ("a", "b", "c")),
    (" Facility ID , TAG ,Time Stamp,value", False, ("timestamp",), None),
    ("facility_id,timestamp,value", True, ("tag",), ("facility_id", "timestamp", "value")),
]


@pytest.mark.parametrize(("header", "facility_given", "missing", "found"), MISSING_COLUMNS)
def test_parse_csv_missing_columns(
    header: str, facility_given: bool, missing: tuple, found: tuple | None
) -> None:
    with pytest.raises(MissingColumnsError) as info:
        parse_csv(csv_bytes("x,y,z", header=header), facility_id="FX" if facility_given else None)

    assert info.value.columns == missing
    assert info.value.code == "missing_columns"
    for name in missing:
        assert name in str(info.value)
    if found is not None:
        assert info.value.found == found


@pytest.mark.parametrize(("header", "facility_given", "missing", "found"), MISSING_COLUMNS)
def test_check_header_missing_columns(
    header: str, facility_given: bool, missing: tuple, found: tuple | None
) -> None:
    with pytest.raises(MissingColumnsError) as info:
        check_header(csv_bytes("x,y,z", header=header), facility_given=facility_given)

    assert info.value.columns == missing
    if found is not None:
        assert info.value.found == found


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n", b" , ,\n"])
def test_check_header_empty_input(data: bytes) -> None:
    with pytest.raises(EmptyInputError):
        check_header(data)


@pytest.mark.parametrize(
    ("data", "facility_given", "columns"),
    [
        (csv_bytes(GOOD_ROW), False, tuple(HEADER.split(","))),
        (
            b"\xef\xbb\xbf Facility ID ,Tag,timestamp,Value\r\n",
            False,
            ("facility_id", "tag", "timestamp", "value"),
        ),
        (b"tag,timestamp,value\n", True, ("tag", "timestamp", "value")),
        (b"facility_id,tag,timestamp,value\n", True, ("facility_id", "tag", "timestamp", "value")),
    ],
)
def test_check_header_returns_normalised_columns(
    data: bytes, facility_given: bool, columns: tuple[str, ...]
) -> None:
    assert check_header(data, facility_given=facility_given) == columns


def test_check_header_without_facility_requires_facility_given() -> None:
    data = b"tag,timestamp,value\n"

    assert check_header(data, facility_given=True) == ("tag", "timestamp", "value")
    with pytest.raises(MissingColumnsError) as info:
        check_header(data)
    assert info.value.columns == ("facility_id",)


def test_check_header_only_reads_the_header() -> None:
    # A bad row past the header is parse_csv's business, not check_header's.
    assert check_header(csv_bytes("F1,T1,not-a-time,abc,??,weird,extra")) == tuple(
        HEADER.split(",")
    )


# ----------------------------------------------------------------------------- parse_records

ITEM = {"facility_id": "F1", "tag": "T1", "timestamp": TS, "value": 1.5}


def test_parse_records_happy_path() -> None:
    items = [
        {**ITEM, "unit": "kW", "quality": "good"},
        {**ITEM, "tag": "T2", "value": 3},
        {**ITEM, "tag": "T3", "value": "2.25", "timestamp": "2025-01-01T01:00:00+01:00"},
        {**ITEM, "tag": "T4", "value": -1e300, "quality": 1},
    ]
    parsed = parse_records(items)

    assert_points(
        parsed.points,
        expected_points(
            (1, "F1", "T1", TS, 1.5, "kW", 0),
            (2, "F1", "T2", TS, 3.0, "", 0),
            (3, "F1", "T3", TS, 2.25, "", 0),
            (4, "F1", "T4", TS, -1e300, "", 1),
        ),
    )
    assert parsed.rejected.empty
    assert (parsed.rows, parsed.duplicates) == (4, 0)


def test_parse_records_facility_parameter() -> None:
    items = [{k: v for k, v in ITEM.items() if k != "facility_id"}, {**ITEM, "facility_id": ""}]
    parsed = parse_records(items, facility_id="FX")

    assert parsed.points["facility_id"].tolist() == ["FX"]
    assert parsed.duplicates == 1
    assert parsed.points["row"].tolist() == [2]


def test_parse_records_duplicates_last_wins() -> None:
    items = [ITEM, {**ITEM, "value": 9, "timestamp": "2025-01-01T02:00:00+02:00"}]
    parsed = parse_records(items)

    assert parsed.points[["row", "value"]].to_numpy().tolist() == [[2, 9.0]]
    assert parsed.duplicates == 1


def test_parse_records_non_objects_are_rejected_in_order() -> None:
    items = [5, ITEM, "x", None, [1, 2], {**ITEM, "value": "abc"}, 2.5]
    parsed = parse_records(items)

    assert rejected_records(parsed) == [
        {"row": 1, "reason": "item is not a JSON object", "raw": "5"},
        {"row": 3, "reason": "item is not a JSON object", "raw": '"x"'},
        {"row": 4, "reason": "item is not a JSON object", "raw": "null"},
        {"row": 5, "reason": "item is not a JSON object", "raw": "[1, 2]"},
        {"row": 6, "reason": "value 'abc' is not a number", "raw": json.dumps(items[5])},
        {"row": 7, "reason": "item is not a JSON object", "raw": "2.5"},
    ]
    assert parsed.points["row"].tolist() == [2]
    assert parsed.rows == 7
    assert_accounted(parsed)


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        (column, bad)
        for column in ("facility_id", "tag", "unit", "quality")
        for bad in (True, False, ["a"], {"a": 1})
    ],
)
def test_parse_records_wrong_type_in_text_column(column: str, bad: object) -> None:
    item = {**ITEM, column: bad}
    parsed = parse_records([item])

    assert rejected_records(parsed) == [
        {"row": 1, "reason": f"{column} has a value of the wrong type", "raw": json.dumps(item)}
    ]
    assert parsed.points.empty


@pytest.mark.parametrize(
    ("column", "bad"),
    [(c, b) for c in ("timestamp", "value") for b in (True, False, [1], {"a": 1})],
)
def test_parse_records_wrong_type_in_timestamp_or_value_is_rejected(
    column: str, bad: object
) -> None:
    item = {**ITEM, column: bad}
    parsed = parse_records([item, {**ITEM, "tag": "T2"}])

    assert [r["row"] for r in rejected_records(parsed)] == [1]
    assert [r["raw"] for r in rejected_records(parsed)] == [json.dumps(item)]
    assert parsed.points["row"].tolist() == [2]


@pytest.mark.parametrize(
    ("column", "bad"),
    [(c, b) for c in ("timestamp", "value") for b in (True, [1])],
)
def test_parse_records_wrong_type_reason_is_readable(column: str, bad: object) -> None:
    parsed = parse_records([{**ITEM, column: bad}])

    (reason,) = parsed.rejected["reason"].tolist()
    assert "\x01" not in reason
    assert reason.startswith(column)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "value 'nan' is not a finite number"),
        (float("inf"), "value 'inf' is not a finite number"),
        (float("-inf"), "value '-inf' is not a finite number"),
        ("", "value is empty"),
        (None, "value is empty"),
    ],
)
def test_parse_records_bad_values(value: object, reason: str) -> None:
    parsed = parse_records([{**ITEM, "value": value}])

    assert reasons(parsed) == [(1, reason)]


def test_parse_records_missing_required_key() -> None:
    parsed = parse_records([{"facility_id": "F1", "tag": "T1", "value": 1}])

    assert reasons(parsed) == [(1, "timestamp is empty")]


def test_parse_records_raw_is_truncated_json() -> None:
    item = {**ITEM, "value": "x" * 1000}
    parsed = parse_records([item])

    assert parsed.rejected["raw"].tolist() == [json.dumps(item)[:500]]


def test_parse_records_nothing_to_parse() -> None:
    parsed = parse_records([])

    assert_points(parsed.points, expected_points())
    assert parsed.rejected.empty
    assert (parsed.rows, parsed.duplicates) == (0, 0)


def test_parse_records_empty_object_is_rejected() -> None:
    parsed = parse_records([{}, 1])

    assert_accounted(parsed)
    assert reasons(parsed) == [
        (1, "item has none of the fields facility_id, tag, timestamp, value"),
        (2, "item is not a JSON object"),
    ]


# ---------------------------------------------------------------------------- infer_intervals


def _points(*rows: tuple[str, str, str]) -> pd.DataFrame:
    body = [f"{f},{t},{ts},1,kW,good" for f, t, ts in rows]
    parsed = parse_csv(csv_bytes(*body))
    assert parsed.rejected.empty
    return parsed.points


def _as_dict(series: pd.Series) -> dict[tuple[str, str], float]:
    return {(str(f), str(t)): float(v) for (f, t), v in series.items()}


def test_infer_intervals_median_per_facility_and_tag() -> None:
    points = _points(
        ("F1", "A", "2025-01-01T00:00:00Z"),
        ("F1", "A", "2025-01-01T00:01:00Z"),
        ("F1", "A", "2025-01-01T00:02:00Z"),
        ("F1", "B", "2025-01-01T00:00:00Z"),
        ("F2", "A", "2025-01-01T00:00:00Z"),
        ("F2", "A", "2025-01-01T00:00:10Z"),
        ("F2", "A", "2025-01-01T00:00:40Z"),  # steps 10, 30, 20, 10 -> median 15
        ("F2", "A", "2025-01-01T00:01:00Z"),
        ("F2", "A", "2025-01-01T00:01:10Z"),
        ("F1", "C", "2025-01-01T00:00:00.5Z"),
        ("F1", "C", "2025-01-01T00:00:00Z"),  # out of order; 0.5 s
    )
    result = infer_intervals(points)

    assert result.dtype == np.dtype("float64")
    assert list(result.index.names) == ["facility_id", "tag"]
    assert _as_dict(result) == pytest.approx(
        {
            ("F1", "A"): 60.0,
            ("F1", "B"): float("nan"),
            ("F2", "A"): 15.0,
            ("F1", "C"): 0.5,
        },
        nan_ok=True,
    )
    assert len(result) == 4


def test_infer_intervals_does_not_depend_on_row_order() -> None:
    points = _points(
        ("F1", "A", "2025-01-01T00:00:00Z"),
        ("F1", "A", "2025-01-01T00:05:00Z"),
        ("F1", "A", "2025-01-01T00:15:00Z"),
        ("F1", "B", "2025-01-01T00:00:00Z"),
        ("F1", "B", "2025-01-01T01:00:00Z"),
    )
    shuffled = points.sample(frac=1, random_state=3).reset_index(drop=True)

    expected = {("F1", "A"): 450.0, ("F1", "B"): 3600.0}
    assert _as_dict(infer_intervals(points)) == expected
    assert _as_dict(infer_intervals(shuffled)) == expected


def test_infer_intervals_single_point_is_nan() -> None:
    result = infer_intervals(_points(("F1", "A", TS)))

    assert len(result) == 1
    assert np.isnan(result.loc[("F1", "A")])


def test_infer_intervals_empty() -> None:
    result = infer_intervals(parse_csv(csv_bytes()).points)

    assert result.empty
    assert result.dtype == np.dtype("float64")


# ------------------------------------------------------------------------- hypothesis: parsers

FIELD_SAFE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=',"\r\n\x00'), max_size=12
)
CSV_PIECES = st.sampled_from(
    [
        f"{HEADER}\n",
        "facility_id,tag,timestamp,value\n",
        f"{GOOD_ROW}\n",
        f"{TS}",
        "2025-01-01",
        "\n",
        "\r\n",
        ",",
        '"',
        " ",
        "nan",
        "true",
        "1.5",
        "good",
        "\ufeff",
        "é",
        "Tag",
    ]
)
ARBITRARY = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(str.encode),
    st.lists(st.one_of(CSV_PIECES, FIELD_SAFE), max_size=40).map(lambda p: "".join(p).encode()),
)


# What parse_csv may refuse a whole file for; anything wrong in a row is a rejected row instead.
FILE_ERRORS = (EmptyInputError, EncodingError, MissingColumnsError, MalformedInputError)


def _utf8(data: bytes) -> bool:
    try:
        data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _well_formed(data: bytes, facility: str | None) -> bool:
    """UTF-8, its first line exactly a header with every required column, and no quote
    anywhere: a file the parser must accept as a whole (its rows may still be rejected)."""
    if not _utf8(data):
        return False
    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    headers = [HEADER, "facility_id,tag,timestamp,value"]
    if facility is not None:
        headers.append("tag,timestamp,value")
    return '"' not in text and any(text.startswith(f"{h}\n") for h in headers)


@PROPERTY_SETTINGS
@given(data=ARBITRARY, facility=st.sampled_from([None, "FX"]))
@example(data=b"\xef\xbb\xbf", facility=None)
@example(data=b"facility_id,tag,timestamp,value\nF,T,x,1,2,3\n", facility=None)
@example(data=b"tag,timestamp,value\nT,2025-01-01T00:00:00Z,1\n", facility="FX")
@example(data=b"tag,timestamp,value\n\xff\n", facility="FX")
def test_property_parse_csv_raises_only_pipeline_errors(data: bytes, facility: str | None) -> None:
    """Any bytes: parsed with every row accounted for, or refused as a whole with an error
    that names what is wrong, and only when something is (a refusal alone proves nothing)."""
    try:
        parsed = parse_csv(data, facility_id=facility)
    except PipelineError as exc:
        assert isinstance(exc, FILE_ERRORS), repr(exc)
        assert exc.code != PipelineError.code and str(exc)
        assert not _well_formed(data, facility), f"a well-formed file was refused: {exc!r}"
        assert isinstance(exc, EncodingError) == (not _utf8(data)), repr(exc)
        if isinstance(exc, MissingColumnsError):
            assert exc.columns and not set(exc.columns) & set(exc.found), repr(exc)
        return
    assert _utf8(data)
    assert_accounted(parsed)
    assert parsed.points["value"].map(np.isfinite).all()


# Valid rows: the parts are drawn separately so the expected result is known exactly.
OFFSETS = st.integers(min_value=-14 * 4, max_value=14 * 4).map(lambda q: q * 15)


def _offset_text(minutes: int, style: str) -> str:
    if minutes == 0 and style == "Z":
        return "Z"
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}{mm:02d}" if style == "hhmm" else f"{sign}{hh:02d}:{mm:02d}"


@st.composite
def instants(draw: st.DrawFn) -> tuple[str, pd.Timestamp]:
    utc = draw(
        st.datetimes(  # the accepted range: 1900 to the end of 2199
            min_value=datetime(1970, 1, 1), max_value=datetime(2199, 12, 31, 23, 59, 59, 999999)
        )
    ).replace(tzinfo=UTC)
    minutes = draw(OFFSETS)
    style = draw(st.sampled_from(["Z", "hh:mm", "hhmm"]))
    if style == "Z":
        minutes = 0
    local = (utc + timedelta(minutes=minutes)).replace(tzinfo=None)
    sep = draw(st.sampled_from(["T", " "]))
    fmt = "%Y-%m-%d" + sep + ("%H:%M:%S.%f" if local.microsecond else "%H:%M:%S")
    return local.strftime(fmt) + _offset_text(minutes, style), pd.Timestamp(utc)


FACILITIES = st.sampled_from(["F1", "F2", "plant 7", "0042"])
TAGS = st.text(alphabet="abcxyzABC0123456789_-./:", min_size=1, max_size=MAX_TAG_LENGTH).filter(
    lambda t: t.strip() != ""
)
VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**15), max_value=10**15).map(float),
)
UNITS = st.sampled_from(["", "kW", "m3", "kg CO2e"])
QUALITIES = st.sampled_from([*QUALITY_CODES, "GOOD", "Bad"])


@st.composite
def valid_rows(draw: st.DrawFn, tags: st.SearchStrategy[str] = TAGS) -> dict:
    stamp, ts = draw(instants())
    quality = draw(QUALITIES)
    return {
        "facility_id": draw(FACILITIES),
        "tag": draw(tags),
        "stamp": stamp,
        "ts": ts,
        "value": draw(VALUES),
        "unit": draw(UNITS),
        "quality_text": quality,
        "quality": QUALITY_CODES[quality.lower()],
    }


def row_text(r: dict) -> str:
    return (
        f"{r['facility_id']},{r['tag']},{r['stamp']},{r['value']!r},{r['unit']},{r['quality_text']}"
    )


BAD_ROWS = st.sampled_from(
    [
        "F1,T1,2025-01-01T00:00:00,1,kW,good",
        "F1,,2025-01-01T00:00:00Z,1,kW,good",
        "F1,T1,2025-01-01T00:00:00Z,abc,kW,good",
        "F1,T1,2025-01-01T00:00:00Z,NaN,kW,good",
        "F1,T1,2025-01-01T00:00:00Z,1,kW,weird",
        "F1,T1,2025-01-01T00:00:00Z,1,kW,good,extra",
        ",T1,2025-01-01T00:00:00Z,1,kW,good",
        "",
    ]
)
SMALL_KEYS = valid_rows(tags=st.sampled_from(["T1", "T2"]))


@PROPERTY_SETTINGS
@given(
    lines=st.lists(
        st.one_of(valid_rows().map(row_text), SMALL_KEYS.map(row_text), BAD_ROWS), max_size=25
    )
)
def test_property_every_row_is_accounted_for(lines: list[str]) -> None:
    parsed = parse_csv(csv_bytes(*lines))

    assert parsed.rows == sum(1 for line in lines if line != "")
    assert_accounted(parsed)
    data_rows = {i + 2 for i, line in enumerate(lines) if line != ""}
    assert set(parsed.points["row"]) | set(parsed.rejected["row"]) <= data_rows
    assert parsed.rejected["row"].is_unique and parsed.points["row"].is_unique


@PROPERTY_SETTINGS
@given(
    rows=st.lists(
        valid_rows(),
        min_size=1,
        max_size=20,
        unique_by=lambda r: (r["facility_id"], r["tag"].strip(), r["ts"]),
    ),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_property_result_does_not_depend_on_row_order(rows: list[dict], seed: int) -> None:
    shuffled = rows.copy()
    random.Random(seed).shuffle(shuffled)

    first = parse_csv(csv_bytes(*map(row_text, rows)))
    second = parse_csv(csv_bytes(*map(row_text, shuffled)))

    def ordered(points: pd.DataFrame) -> pd.DataFrame:
        frame = canon(points).drop(columns="row")
        keys = frame.assign(f=frame["facility_id"].astype(str), t=frame["tag"].astype(str))
        return frame.loc[keys.sort_values(["f", "t", "ts"]).index].reset_index(drop=True)

    assert first.rejected.empty and second.rejected.empty
    assert first.duplicates == second.duplicates == 0
    assert_frame_equal(ordered(first.points), ordered(second.points))


@PROPERTY_SETTINGS
@given(row=valid_rows(), text_value_column=st.booleans())
def test_property_valid_row_round_trips(row: dict, text_value_column: bool) -> None:
    # A second, rejected row with a non-numeric value sends the value column down the text path.
    lines = [row_text(row)] + ([f"F9,T9,{TS},abc,,"] if text_value_column else [])
    parsed = parse_csv(csv_bytes(*lines))

    assert len(parsed.points) == 1, rejected_records(parsed)
    got = parsed.points.iloc[0]
    assert got["row"] == 2
    assert got["ts"] == row["ts"]
    assert got["value"] == row["value"]
    assert np.signbit(got["value"]) == np.signbit(row["value"])
    assert got["facility_id"] == row["facility_id"]
    assert got["tag"] == row["tag"].strip()
    assert got["unit"] == row["unit"]
    assert got["quality"] == row["quality"]


@PROPERTY_SETTINGS
@given(row=valid_rows())
def test_property_records_and_csv_agree(row: dict) -> None:
    item = {
        "facility_id": row["facility_id"],
        "tag": row["tag"],
        "timestamp": row["stamp"],
        "value": row["value"],
        "unit": row["unit"],
        "quality": row["quality_text"],
    }
    from_json = parse_records([item]).points.drop(columns="row")
    from_csv = parse_csv(csv_bytes(row_text(row))).points.drop(columns="row")

    assert_frame_equal(canon(from_json), canon(from_csv))


# --- values no later step can hold: rejected row by row, the good rows kept ---------------------


@pytest.mark.parametrize(
    "stamp",
    [
        "0000-01-01T00:00:00Z",  # year 0: no calendar has it
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC
        "1677-09-21T00:00:00Z",
        "2262-04-12T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_out_of_range_timestamps_are_rejected_rows(stamp: str) -> None:
    data = (
        "facility_id,tag,timestamp,value\n"
        "F,flow,2025-01-01T00:00:00Z,1\n"
        f"F,flow,{stamp},2\n"
        "F,flow,2025-01-01T00:01:00Z,3\n"
    ).encode()
    items = [
        {"facility_id": "F", "tag": "flow", "timestamp": t, "value": v}
        for t, v in (("2025-01-01T00:00:00Z", 1), (stamp, 2), ("2025-01-01T00:01:00Z", 3))
    ]
    for parsed, row in ((parse_csv(data), 3), (parse_records(items), 2)):  # CSV header: row 1
        assert parsed.points["value"].tolist() == [1.0, 3.0]
        [reason] = parsed.rejected["reason"]
        assert "out of range" in reason and stamp in reason
        assert parsed.rejected["row"].tolist() == [row]


def test_timestamp_range_edges() -> None:
    data = (
        b"facility_id,tag,timestamp,value\n"
        b"F,t,1900-01-01T00:00:00Z,1\n"
        b"F,t,2199-12-31T23:59:59.999999Z,2\n"
        b"F,t,1899-12-31T23:59:59Z,3\n"
        b"F,t,2200-01-01T00:00:00Z,4\n"
    )
    parsed = parse_csv(data)
    assert parsed.points["value"].tolist() == [1.0, 2.0]
    assert parsed.rejected["row"].tolist() == [4, 5]


@pytest.mark.parametrize("column", ["facility_id", "tag", "unit", "quality"])
@pytest.mark.parametrize("char", ["\x00", "\r", "\n", "\x1b", "\x7f", "\x85"])
def test_control_characters_in_names_are_rejected_rows(column: str, char: str) -> None:
    good = {
        "facility_id": "F",
        "tag": "flow",
        "timestamp": "2025-01-01T00:00:00Z",
        "value": 1.0,
        "unit": "m3",
        "quality": "good",
    }
    bad = {**good, "timestamp": "2025-01-01T00:01:00Z", column: f"a{char}b"}
    parsed = parse_records([good, bad])
    assert parsed.points["row"].tolist() == [1]
    [reason] = parsed.rejected["reason"]
    assert reason.startswith(f"{column} 'a\\x{ord(char):02x}b'"), reason
    assert "control character" in reason
    assert "\x00" not in reason and "\x00" not in "".join(parsed.rejected["raw"])


def test_nul_in_a_csv_row_is_a_rejected_row_stored_printable() -> None:
    data = (
        b"facility_id,tag,timestamp,value,unit\n"
        b"F,fl\x00ow,2025-01-01T00:00:00Z,1,m3\n"
        b"F,flow,2025-01-01T00:00:00Z,2,m\x00\n"
        b"F,flow,2025-01-01T00:01:00Z,3,m3\n"
    )
    parsed = parse_csv(data)
    assert parsed.points["value"].tolist() == [3.0]
    assert parsed.rejected["row"].tolist() == [2, 3]
    assert parsed.rejected["raw"].tolist() == [
        "F,fl\\x00ow,2025-01-01T00:00:00Z,1,m3",
        "F,flow,2025-01-01T00:00:00Z,2,m\\x00",
    ]


def test_long_unit_is_a_rejected_row() -> None:
    rows = [
        {
            "facility_id": "F",
            "tag": "t",
            "timestamp": "2025-01-01T00:00:00Z",
            "value": 1,
            "unit": "u" * 41,
        }
    ]
    assert "unit is longer than 40" in parse_records(rows).rejected["reason"][0]


# ----------------------------------------------------------------- points meet the stored tags


def readings(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """Parsed points of (facility_id, tag, unit), a minute apart."""
    body = "".join(
        f"{f},{t},2025-01-01T00:{i:02d}:00Z,{i}.5,{u}\n" for i, (f, t, u) in enumerate(rows)
    )
    parsed = parse_csv(f"facility_id,tag,timestamp,value,unit\n{body}".encode())
    assert parsed.rejected.empty
    return parsed.points


def test_tag_pairs_are_distinct_in_order_of_first_appearance() -> None:
    points = readings(("F2", "b", ""), ("F1", "a", ""), ("F2", "b", ""), ("F1", "b", ""))
    pairs = tag_pairs(points)
    assert pairs.pairs == [("F2", "b"), ("F1", "a"), ("F1", "b")]
    assert pairs.code.tolist() == [0, 1, 0, 2]


@pytest.mark.parametrize(
    ("tag_id", "tag_unit", "known", "reason"),
    [
        (5, "m3/h", True, None),
        (5, "M3 / h", True, None),  # units compare without case and spaces
        (5, "", True, None),  # the tag has no unit: any goes
        (5, "kW", True, "unit 'm3/h' does not match the tag's unit 'kW'"),
        (-1, "", True, "unknown tag 'flow': the facility is strict, create the tag first"),
        (-1, "kW", False, "unknown facility_id 'F'"),  # the facility outranks the rest
    ],
)
def test_check_tags_refuses_unknown_facilities_tags_and_contradicting_units(
    tag_id: int, tag_unit: str, known: bool, reason: str | None
) -> None:
    points = readings(("F", "flow", "m3/h"), ("F", "flow", ""))  # no unit given: never checked
    checked = check_tags(
        points,
        tag_pairs(points),
        tag_id=np.array([tag_id]),
        tag_unit=[tag_unit],
        facility_known=np.array([known]),
    )
    unit_only = reason is not None and reason.startswith("unit")
    expected = [] if reason is None else [(2, reason)] if unit_only else [(2, reason), (3, reason)]
    assert list(checked.rejected.itertuples(index=False, name=None)) == expected
    assert checked.keep.tolist() == [reason is None, reason is None or unit_only]
    assert checked.tag_id.tolist() == [tag_id] * int(checked.keep.sum())


def test_check_tags_maps_each_kept_point_to_its_tag() -> None:
    points = readings(("F", "a", ""), ("G", "x", ""), ("F", "b", ""), ("F", "a", ""))
    checked = check_tags(
        points,
        tag_pairs(points),
        tag_id=np.array([10, 20, -1]),
        tag_unit=["", None, ""],
        facility_known=np.array([True, False, True]),
    )
    assert checked.keep.tolist() == [True, False, False, True]
    assert checked.tag_id.tolist() == [10, 10]
    assert checked.rejected["row"].tolist() == [3, 4]
    assert str(checked.rejected["row"].dtype) == "int64"


def test_check_tags_of_no_points() -> None:
    points = readings()
    checked = check_tags(
        points,
        tag_pairs(points),
        tag_id=np.array([], dtype=np.int64),
        tag_unit=[],
        facility_known=np.array([], dtype=bool),
    )
    assert (len(checked.keep), len(checked.tag_id), len(checked.rejected)) == (0, 0, 0)


def test_first_units_and_unit_comparison() -> None:
    points = readings(("F", "a", ""), ("F", "a", "kW"), ("F", "a", "MW"), ("G", "b", ""))
    assert first_units(points) == {("F", "a"): "kW"}
    assert normalise_unit(" m3 / H ") == normalise_unit("M3/h") == "m3/h"


def test_with_raw_rebuilds_the_rows_text_from_the_points() -> None:
    points = readings(("F", "a", "kW"), ("F", "b", ""))
    rejected = pd.DataFrame({"row": np.array([3], dtype=np.int64), "reason": ["no"]})
    assert with_raw(rejected, points)["raw"].tolist() == ["F,b,2025-01-01T00:01:00+00:00,1.5,"]
    empty = with_raw(rejected.iloc[:0], points)
    assert list(empty.columns) == ["row", "reason", "raw"] and empty.empty
