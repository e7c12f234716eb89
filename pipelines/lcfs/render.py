"""Machine-readable renderings of an ``LcfsReport``: the LRT-CBTS upload CSV and canonical JSON.

Both are deterministic: the same report gives the same bytes (no clock, sorted keys, floats as
Python's shortest round-trip ``repr``, -0.0 written as 0.0). Display strings (``format_mt``
and friends) are shared with the PDF so a reader can match the two.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipelines.lcfs.report import LcfsReport

# The quarterly fuel-transactions upload: the identification fields 17 CCR §95491 requires
# (organization FEIN, reporting period, fuel pathway code, facility id) and, per line, what
# LRT-CBTS records of a transaction (type, date, business partner, fuel application, amount).
# Amounts are whole units (docs/lcfs-accounting.md). LRT-CBTS computes credits itself, so the
# calculation (CI, EER, energy, benchmark, credits) goes to the calculation CSV and the JSON.
UPLOAD_COLUMNS = (
    "Organization FEIN",
    "Reporting Period",
    "Facility ID",
    "Fuel Pathway Code",
    "Transaction Type",
    "Transaction Date",
    "Business Partner",
    "Fuel Application",
    "Fuel Amount",
    "Unit",
)
CALCULATION_COLUMNS = (
    "Line",
    "Fuel Pathway Code",
    "Transaction Type",
    "Effect",
    "Transaction Date",
    "Fuel Type",
    "Fuel Application",
    "Application Code",
    "Displaced Fuel",
    "Fuel Amount",
    "Unit",
    "Substituted Amount",
    "Carbon Intensity (gCO2e/MJ)",
    "EER",
    "Energy Density (MJ/unit)",
    "Energy (MJ)",
    "CI Benchmark (gCO2e/MJ)",
    "Credits (MT CO2e)",
    "Business Partner",
    "Source",
    "Reference",
)
CSV_COLUMNS = UPLOAD_COLUMNS


def format_mt(value: float) -> str:
    """MT CO2e for people: two decimals, thousands separators, ASCII minus (``-1,234.57``)."""
    return _fixed(value, 2)


def format_quantity(value: float) -> str:
    return _fixed(value, 2)


def format_mj(value: float) -> str:
    return _fixed(value, 0)


def format_pct(value: float) -> str:
    return f"{_fixed(value, 2)}%"


def display_totals(report: LcfsReport) -> dict[str, str]:
    """The totals as the PDF prints them (empty when the quarter has no data)."""
    if report.totals is None:
        return {}
    return {
        "credits_mt": format_mt(report.totals.credits_mt),
        "deficits_mt": format_mt(report.totals.deficits_mt),
        "net_mt": format_mt(report.totals.net_mt),
    }


def report_totals(report: LcfsReport) -> dict[str, Any]:
    """Totals at full precision plus their printed form, and the totals per pathway."""
    if report.totals is None:
        return {
            "has_data": False,
            "message": f"no meter data or transactions for "
            f"{report.period} at {report.facility_id}: no credits are claimed",
        }
    return {
        "has_data": True,
        "credits_mt": report.totals.credits_mt,
        "deficits_mt": report.totals.deficits_mt,
        "net_mt": report.totals.net_mt,
        "display": display_totals(report),
        "by_pathway": [
            {
                "fuel_pathway_code": p.fuel_pathway_code,
                "transaction_type": p.transaction_type,
                "fuel_type": p.fuel_type,
                "quantity": p.quantity,
                "unit": p.unit,
                "energy_mj": p.energy_mj,
                "credits_mt": p.credits_mt,
            }
            for p in report.totals_by_pathway
        ],
        "biomethane": [
            {
                "fuel_pathway_code": b.fuel_pathway_code,
                "injected_mj": b.injected_mj,
                "claimed_mj": b.claimed_mj,
                "excess_mj": b.excess_mj,
                "status": b.status,
            }
            for b in report.biomethane
        ],
        "warnings": list(report.warnings),
    }


def render_lcfs_csv(report: LcfsReport) -> bytes:
    """The upload CSV: one row per report line (a month of metered fuel, or one transaction)
    with exactly ``UPLOAD_COLUMNS``; amounts in whole units. UTF-8, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(UPLOAD_COLUMNS)
    for line in report.lines:
        c = line.credit
        writer.writerow(
            [
                report.organization_fein,
                f"{report.year}Q{report.quarter}",
                report.carb_facility_id,
                c.fuel_pathway_code,
                c.transaction_type,
                c.date.isoformat(),
                c.business_partner,
                c.application_name or c.application,
                _whole(c.quantity),
                c.unit,
            ]
        )
    return out.getvalue().encode("utf-8")


render_lcfs_upload_csv = render_lcfs_csv


def render_lcfs_calculation_csv(report: LcfsReport) -> bytes:
    """The calculation behind each upload row (same order, ``Line`` = its 1-based row), at
    full precision (shortest round-trip floats). UTF-8, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CALCULATION_COLUMNS)
    for number, line in enumerate(report.lines, start=1):
        c = line.credit
        writer.writerow(
            [
                number,
                c.fuel_pathway_code,
                c.transaction_type,
                c.effect,
                c.date.isoformat(),
                c.fuel_type,
                c.application_name or c.application,
                c.application,
                c.displaced,
                _num(c.quantity),
                c.unit,
                _num(line.substituted_quantity),
                _num(c.ci),
                _num(c.eer),
                _num(c.energy_density),
                _num(c.energy_mj),
                _num(c.ci_benchmark),
                _num(c.credits_mt),
                c.business_partner,
                line.source,
                c.reference,
            ]
        )
    return out.getvalue().encode("utf-8")


def render_lcfs_json(report: LcfsReport) -> bytes:
    """The whole report as canonical JSON (sorted keys, no whitespace variance, ends in LF)."""
    body = _plain(dataclasses.asdict(report))
    body["period"] = report.period
    body["display"] = display_totals(report)
    text = json.dumps(body, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number in the report: {value!r}")
        return value + 0.0  # -0.0 -> 0.0
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _num(value: float) -> str:
    return repr(float(value) + 0.0)


def _whole(value: float) -> str:
    """A whole number, halves away from zero (Python's round() would go to even)."""
    rounded = Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return str(rounded + 0)


def _fixed(value: float, places: int) -> str:
    text = f"{value + 0.0:,.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text.replace(",", "")) == 0 else text
