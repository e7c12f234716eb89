"""pipelines.documents.review: what a reviewer may enter per field kind, and the fields that then
count."""

from __future__ import annotations

import pytest

from pipelines.documents import (
    FIELD_NAMES,
    InvalidFieldValueError,
    UnknownFieldError,
    check_review,
    effective_fields,
)
from pipelines.errors import MalformedInputError


@pytest.mark.parametrize(
    ("name", "raw", "stored"),
    [
        ("quantity", 970, 970.0),
        ("quantity", 962.5, 962.5),
        ("quantity", " 1e3 ", 1000.0),
        ("carbon_intensity", -12.5, -12.5),
        ("total_amount", -40.0, -40.0),  # a credit note
        ("document_date", "2025-03-10", "2025-03-10"),
        ("transaction_date", "2024-02-29", "2024-02-29"),
        ("unit", "Gallons", "gal"),
        ("unit", "M3", "m3"),
        ("unit", "mmbtu", "MMBtu"),
        ("currency", "eur", "EUR"),
        ("compliance_obligation", "Recipient", "recipient"),
        ("transaction_type", "sold   WITH obligation", "Sold with Obligation"),
        ("seller", "  Valley \n Biofuels Co ", "Valley Biofuels Co"),
        ("document_number", "VB-00042", "VB-00042"),
        ("fuel_pathway_code", "CARD1234", "CARD1234"),
    ],
)
def test_accepted_values_are_stored_in_their_field_spelling(name: str, raw, stored) -> None:
    assert check_review({name: raw}) == {name: stored}


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("quantity", "lots", "not a number"),
        ("quantity", "1,000", "not a number"),  # no separators: 1,000 is 1000 or 1.0
        ("quantity", "1_000", "not a number"),
        ("quantity", True, "not bool"),
        ("quantity", [1], "not list"),
        ("quantity", 0, "plausible"),
        ("quantity", 2e9, "plausible"),
        ("quantity", float("nan"), "finite"),
        ("quantity", 10**400, "finite"),
        ("carbon_intensity", 900, "plausible"),
        ("quantity", None, "null"),
        ("document_date", "03/10/2025", "ISO date"),
        ("document_date", "20250310", "ISO date"),
        ("document_date", "2025-02-30", "calendar date"),
        ("document_date", "0999-01-01", "years"),
        ("document_date", 20250310, "string"),
        ("unit", "furlongs", "unknown unit"),
        ("currency", "US$", "ISO 4217"),
        ("compliance_obligation", "both", "transferor or recipient"),
        ("transaction_type", "Stolen", "unknown transaction type"),
        ("seller", "", "empty"),
        ("seller", "   ", "empty"),
        ("seller", "a\x00b", "control"),
        ("seller", "x" * 201, "at most 200"),
        ("document_number", "x" * 61, "at most 60"),
        ("seller", 12, "string"),
    ],
)
def test_refused_values_name_their_field(name: str, raw, words: str) -> None:
    with pytest.raises(InvalidFieldValueError) as refused:
        check_review({"quantity": 970.0, name: raw} if name != "quantity" else {name: raw})
    assert (refused.value.field, refused.value.code) == (name, "invalid_field_value")
    assert str(refused.value).startswith(f"{name}: ") and words in str(refused.value)


def test_unknown_names_and_nothing_to_review() -> None:
    with pytest.raises(UnknownFieldError) as unknown:
        check_review({"quantity": 970.0, "colour": "red"})
    assert (unknown.value.field, unknown.value.code) == ("colour", "unknown_field")
    assert "quantity" in str(unknown.value)  # lists the names it knows
    with pytest.raises(MalformedInputError):
        check_review({})


def test_effective_fields_put_reviewed_values_in_place() -> None:
    extracted = {
        "quantity": {"value": 1100.0, "confidence": 0.5, "source": "1,100.00 gal"},
        "unit": {"value": "gal", "confidence": 0.9, "source": "gal"},
    }
    by = {"reviewed_by": "operator", "reviewed_at": "2025-10-02T09:15:00Z"}
    reviewed = {
        "quantity": {"value": 970.0, **by, "extracted": 1100.0},
        "document_date": {"value": "2025-03-10", **by, "extracted": None},
    }
    fields = effective_fields(extracted, reviewed)
    assert list(fields) == [n for n in FIELD_NAMES if n in ("quantity", "unit", "document_date")]
    assert (fields["quantity"].value, fields["quantity"].confidence) == (970.0, 1.0)
    assert fields["quantity"].source == "reviewed by operator at 2025-10-02T09:15:00Z"
    assert fields["document_date"].value == "2025-03-10"
    assert (fields["unit"].value, fields["unit"].confidence, fields["unit"].source) == (
        "gal",
        0.9,
        "gal",
    )
    assert effective_fields(extracted, None) == effective_fields(extracted, {})
    assert effective_fields(extracted, None)["quantity"].value == 1100.0
