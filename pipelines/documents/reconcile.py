"""A document's quantity against what the meters recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pipelines.errors import MalformedInputError


@dataclass(frozen=True)
class Reconciliation:
    """``difference`` = document - metered (in the document's unit); ``difference_pct`` is
    ``difference / metered`` as a fraction (0.02 = 2 %)."""

    quantity: float
    metered_quantity: float
    unit: str
    date: date | str | None
    difference: float
    difference_pct: float
    status: Literal["pass", "warn", "fail"]


def reconcile(
    quantity: float,
    unit: str,
    date: date | str | None,
    metered_quantity: float,
    *,
    tolerance_warn: float = 0.02,
    tolerance_fail: float = 0.05,
) -> Reconciliation:
    """Compare a document's quantity with the metered total for the same unit and date.

    ``metered_quantity`` must already be in ``unit``. Status: ``pass`` when
    |difference| / metered <= ``tolerance_warn``, ``warn`` up to ``tolerance_fail``, else
    ``fail``. A zero metered total passes only a zero quantity.
    """
    if not 0 <= tolerance_warn <= tolerance_fail:
        raise MalformedInputError(detail="need 0 <= tolerance_warn <= tolerance_fail")
    if quantity != quantity or metered_quantity != metered_quantity:  # NaN
        raise MalformedInputError(detail="quantity and metered_quantity must be numbers")
    difference = quantity - metered_quantity
    if metered_quantity == 0:
        pct = 0.0 if quantity == 0 else float("inf") if quantity > 0 else float("-inf")
    else:
        pct = difference / abs(metered_quantity)
    size = abs(pct)
    status: Literal["pass", "warn", "fail"] = (
        "pass" if size <= tolerance_warn else "warn" if size <= tolerance_fail else "fail"
    )
    return Reconciliation(quantity, metered_quantity, unit, date, difference, pct, status)
