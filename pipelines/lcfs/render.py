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
from typing import Any

from pipelines.lcfs.report import LcfsReport

# LRT-CBTS quarterly fuel-transactions columns as far as reference/lcfs.md §4 knows them:
# FEIN, reporting period, FPC and Facility ID are quoted from §95491(c)(2); fuel amount,
# transaction type and date, business partner and fuel application come from a secondary,
# unverified list. The computed columns after "Unit" are for the verifier's cross-check
# (LRT-CBTS computes credits itself); drop them if the upload template refuses extra columns.
CSV_COLUMNS = (
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
    "Carbon Intensity (gCO2e/MJ)",
    "EER",
    "Energy Density (MJ/unit)",
    "Energy (MJ)",
    "CI Benchmark (gCO2e/MJ)",
    "Credits (MT CO2e)",
    "Substituted Amount",
    "Source",
    "Reference",
)


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


def render_lcfs_csv(report: LcfsReport) -> bytes:
    """One row per report line (a month of metered fuel, or one transaction), UTF-8, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in report.lines:
        c = line.credit
        writer.writerow(
            [
                report.organization_fein,
                f"{report.year}Q{report.quarter}",
                report.facility_id,
                c.fuel_pathway_code,
                c.transaction_type,
                c.date.isoformat(),
                c.business_partner,
                c.application,
                _num(c.quantity),
                c.unit,
                _num(c.ci),
                _num(c.eer),
                _num(c.energy_density),
                _num(c.energy_mj),
                _num(c.ci_benchmark),
                _num(c.credits_mt),
                _num(line.substituted_quantity),
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


def _fixed(value: float, places: int) -> str:
    text = f"{value + 0.0:,.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text.replace(",", "")) == 0 else text
