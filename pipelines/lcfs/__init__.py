"""California LCFS: credit engine, meter quantities, quarterly report and its renderings.

Pure computation (no I/O besides reading the packaged/override parameter tables). See
``credits`` (formula, transactions), ``meter`` (rate/totalizer tags), ``report``
(``compute_quarter``), ``render`` (CSV/JSON), ``pdf`` (PDF) and ``tables`` (parameters).

The credit engine, tables and units are imported with the package; the modules that need pandas
or reportlab (meter, report, render, formats, pdf) when one of their names is first used
(``pipelines/_lazy.py``).
"""

from typing import TYPE_CHECKING

from pipelines._lazy import lazy_exports
from pipelines.lcfs.credits import (
    DEFAULT_METER_TRANSACTION_TYPE,
    TRANSACTION_TYPES,
    CreditLine,
    CreditTotals,
    Transaction,
    canonical_transaction_type,
    check_lines,
    credit_line,
    credit_lines,
    credit_totals,
    credits_mt,
    parse_transactions_csv,
)
from pipelines.lcfs.tables import LcfsTables, load_tables, parse_tables
from pipelines.lcfs.units import ParameterUsed, canonical_unit, energy_per_unit

if TYPE_CHECKING:  # the same names as _LAZY below, for type checkers and readers
    from pipelines.lcfs.formats import FORMATS, render_report
    from pipelines.lcfs.meter import MeterQuantities, TagMapping, meter_quantities, prepare_points
    from pipelines.lcfs.pdf import render_lcfs_pdf
    from pipelines.lcfs.render import (
        display_totals,
        format_mt,
        render_lcfs_calculation_csv,
        render_lcfs_csv,
        render_lcfs_json,
        render_lcfs_upload_csv,
        report_totals,
    )
    from pipelines.lcfs.report import (
        BiomethaneSupply,
        DailyQuality,
        DocumentCheck,
        LcfsInputs,
        LcfsReport,
        PathwayTotal,
        compute_quarter,
    )

_LAZY = {
    "formats": ("FORMATS", "render_report"),
    "meter": ("MeterQuantities", "TagMapping", "meter_quantities", "prepare_points"),
    "pdf": ("render_lcfs_pdf",),
    "render": (
        "display_totals",
        "format_mt",
        "render_lcfs_calculation_csv",
        "render_lcfs_csv",
        "render_lcfs_json",
        "render_lcfs_upload_csv",
        "report_totals",
    ),
    "report": (
        "BiomethaneSupply",
        "DailyQuality",
        "DocumentCheck",
        "LcfsInputs",
        "LcfsReport",
        "PathwayTotal",
        "compute_quarter",
    ),
}
__getattr__ = lazy_exports(globals(), _LAZY)

__all__ = [
    "DEFAULT_METER_TRANSACTION_TYPE",
    "FORMATS",
    "TRANSACTION_TYPES",
    "BiomethaneSupply",
    "CreditLine",
    "CreditTotals",
    "DailyQuality",
    "DocumentCheck",
    "LcfsInputs",
    "LcfsReport",
    "LcfsTables",
    "MeterQuantities",
    "ParameterUsed",
    "PathwayTotal",
    "TagMapping",
    "Transaction",
    "canonical_transaction_type",
    "canonical_unit",
    "check_lines",
    "compute_quarter",
    "credit_line",
    "credit_lines",
    "credit_totals",
    "credits_mt",
    "display_totals",
    "energy_per_unit",
    "format_mt",
    "load_tables",
    "meter_quantities",
    "parse_tables",
    "parse_transactions_csv",
    "prepare_points",
    "render_lcfs_calculation_csv",
    "render_lcfs_csv",
    "render_lcfs_json",
    "render_lcfs_pdf",
    "render_lcfs_upload_csv",
    "render_report",
    "report_totals",
]
