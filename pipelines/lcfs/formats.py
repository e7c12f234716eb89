"""One entry point for every rendering of a report, by the format a request names."""

from __future__ import annotations

from pipelines.lcfs.pdf import render_lcfs_pdf
from pipelines.lcfs.render import (
    render_lcfs_calculation_csv,
    render_lcfs_json,
    render_lcfs_upload_csv,
)
from pipelines.lcfs.report import LcfsReport

FORMATS = ("json", "csv", "calculation_csv", "pdf")


def render_report(report: LcfsReport, fmt: str) -> bytes:
    """The report in one of ``FORMATS``: canonical JSON, ``csv`` (the LRT-CBTS upload columns),
    ``calculation_csv`` (every line with its factors) or ``pdf`` (unsigned: a signature is the
    deployment's, added by ``worker.signing``)."""
    if fmt == "pdf":
        return render_lcfs_pdf(report)
    if fmt == "csv":
        return render_lcfs_upload_csv(report)
    if fmt == "calculation_csv":
        return render_lcfs_calculation_csv(report)
    if fmt == "json":
        return render_lcfs_json(report)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
