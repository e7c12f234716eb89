"""Pure parts of the dashboard: the report due date and where a sign-in may send the browser."""

from __future__ import annotations

from datetime import date

import pytest

from api.dashboard.common import safe_next
from api.dashboard.facilities import next_report_due


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 1, 1), None),  # Q4's report is due: its date is not confirmed here
        (date(2026, 3, 31), None),
        (date(2026, 4, 1), ("Q1 2026", date(2026, 6, 30))),
        (date(2026, 6, 30), ("Q1 2026", date(2026, 6, 30))),
        (date(2026, 7, 1), ("Q2 2026", date(2026, 9, 30))),
        (date(2026, 10, 1), ("Q3 2026", date(2026, 12, 31))),
        (date(2026, 12, 31), ("Q3 2026", date(2026, 12, 31))),
    ],
)
def test_next_report_due(today: date, expected: tuple[str, date] | None) -> None:
    assert next_report_due(today) == expected


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/app/facilities/fac_1?days=30", "/app/facilities/fac_1?days=30"),
        ("https://evil.example/app/", "/app/"),
        ("//evil.example/app/", "/app/"),
        ("/other/", "/app/"),
        ("/app\\\\evil", "/app/"),
        (None, "/app/"),
    ],
)
def test_sign_in_only_sends_the_browser_within_the_dashboard(asked: object, sent_to: str) -> None:
    assert safe_next(asked) == sent_to
