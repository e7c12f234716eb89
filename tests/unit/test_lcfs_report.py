"""The quarterly report: determinism, no-data quarters, renderings (CSV, JSON, PDF), the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.lcfs import (
    DocumentCheck,
    LcfsInputs,
    TagMapping,
    Transaction,
    compute_quarter,
    format_mt,
    render_lcfs_calculation_csv,
    render_lcfs_csv,
    render_lcfs_json,
    render_lcfs_pdf,
)
from pipelines.lcfs.errors import InvalidTransactionsError, NoBenchmarkError
from pipelines.lcfs.synthetic import make_quarter
from worker.cli.lcfs import lcfs_app

TZ = "America/Los_Angeles"


@pytest.fixture(scope="module")
def inputs() -> LcfsInputs:
    points, mappings = make_quarter(2025, 3, tz=TZ, tags=4, interval="15min", seed=3)
    return LcfsInputs(
        facility_id="fac-1",
        facility_name="Central Valley RNG",
        timezone=TZ,
        year=2025,
        quarter=3,
        mappings=mappings,
        points=points,
        transactions=(
            Transaction(
                "CA-RD-7",
                "renewable_diesel",
                5_000,
                "gal",
                40.0,
                "Purchased with Obligation",
                dt.date(2025, 8, 12),
                business_partner="Acme Fuels",
                reference="PTD-881",
            ),
        ),
        documents=(
            DocumentCheck("PTD-881", dt.date(2025, 8, 12), 5_000, 4_990, 10, "pass", "gal"),
            DocumentCheck("INV-12", dt.date(2025, 9, 2), 800, 700, 100, "fail", "gal"),
        ),
        organization_fein="12-3456789",
    )


@pytest.fixture(scope="module")
def report(inputs: LcfsInputs):  # type: ignore[no-untyped-def]
    return compute_quarter(inputs)


def test_building_twice_gives_identical_bytes_and_hash(inputs: LcfsInputs, report) -> None:  # type: ignore[no-untyped-def]
    again = compute_quarter(inputs)
    assert again.input_sha256 == report.input_sha256
    assert render_lcfs_csv(again) == render_lcfs_csv(report)
    assert render_lcfs_json(again) == render_lcfs_json(report)
    assert render_lcfs_pdf(again) == render_lcfs_pdf(report)


def test_hash_covers_the_points_and_not_their_row_order(inputs: LcfsInputs, report) -> None:  # type: ignore[no-untyped-def]
    assert inputs.points is not None
    shuffled = inputs.points.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert compute_quarter(dataclasses.replace(inputs, points=shuffled)).input_sha256 == (
        report.input_sha256
    )
    changed = inputs.points.copy()
    changed.loc[5, "value"] += 0.001
    assert compute_quarter(dataclasses.replace(inputs, points=changed)).input_sha256 != (
        report.input_sha256
    )


def test_report_content(report) -> None:  # type: ignore[no-untyped-def]
    assert report.has_data and report.totals is not None
    assert [b.ci_benchmark for b in report.benchmarks] == [81.70]
    total = sum(p.credits_mt for p in report.totals_by_pathway)
    assert report.totals.net_mt == pytest.approx(total)
    assert sum(line.credit.credits_mt for line in report.lines) == pytest.approx(total)
    kinds = {p.transaction_type for p in report.totals_by_pathway}
    assert kinds == {"Production in California", "Purchased with Obligation"}
    assert {g.method for g in report.gaps} >= {"BAM", "CTR"}
    assert [c.tag for c in report.completeness] == sorted(c.tag for c in report.completeness)
    assert dict(report.documents_summary) == {"pass": 1, "warn": 0, "fail": 1}
    assert any(p.name == "CI benchmark" and "§95484" in p.source for p in report.parameters)


def test_months_follow_the_facility_time_zone() -> None:
    # 1 scf/min from 2025-07-01 00:00 PDT to 2025-10-01 00:00 PDT, readings every 10 min.
    start = pd.Timestamp("2025-07-01T07:00:00Z")
    stamps = pd.date_range(start, "2025-10-01T07:00:00Z", freq="10min", unit="us")
    points = pd.DataFrame({"tag": "FIT-1", "ts": stamps, "value": np.ones(len(stamps))})
    mapping = TagMapping("FIT-1", "RNG-1", "rng", 0.0, "scf", kind="rate", rate_per="min")
    built = compute_quarter(LcfsInputs("f", "F", TZ, 2025, 3, (mapping,), points))
    assert [m.quantity for m in built.monthly] == pytest.approx([31 * 1440, 31 * 1440, 30 * 1440])


def test_q2_and_q3_use_their_own_benchmark() -> None:
    mapping = TagMapping("FIT-1", "RNG-1", "rng", 0.0, "scf", kind="rate", rate_per="min")
    quarters = (
        (2, "2025-04-01T07:00Z", "2025-07-01T07:00Z", 86.64),
        (3, "2025-07-01T07:00Z", "2025-10-01T07:00Z", 81.70),
    )
    for quarter, start, end, benchmark in quarters:
        stamps = pd.date_range(start, end, freq="1h", unit="us")
        points = pd.DataFrame({"tag": "FIT-1", "ts": stamps, "value": np.ones(len(stamps))})
        built = compute_quarter(LcfsInputs("f", "F", TZ, 2025, quarter, (mapping,), points))
        assert built.benchmarks[0].ci_benchmark == benchmark
        (total,) = built.totals_by_pathway
        minutes = (len(stamps) - 1) * 60  # 1 scf/min; RNG 0.98 MJ/scf; HD spark ignition 0.9
        assert total.credits_mt == pytest.approx(benchmark * 0.9 * minutes * 0.98 * 1e-6)


def test_a_quarter_without_data_says_so(inputs: LcfsInputs, tmp_path: Path) -> None:
    empty = dataclasses.replace(inputs, points=None, transactions=(), documents=())
    built = compute_quarter(empty)
    assert not built.has_data and built.totals is None and built.lines == ()
    assert "No data for 2025 Q3" in built.status
    body = json.loads(render_lcfs_json(built))
    assert body["totals"] is None and body["has_data"] is False
    assert render_lcfs_csv(built).count(b"\r\n") == 1  # the header only
    assert "NO DATA FOR THIS QUARTER" in _pdftext(render_lcfs_pdf(built), tmp_path)


def test_a_quarter_without_benchmark_raises(inputs: LcfsInputs) -> None:
    with pytest.raises(NoBenchmarkError):
        compute_quarter(dataclasses.replace(inputs, year=2024, points=None, transactions=()))


def test_transactions_outside_the_quarter_are_refused(inputs: LcfsInputs) -> None:
    late = Transaction("X", "diesel", 1, "gal", 1.0, "Export", dt.date(2025, 10, 1))
    with pytest.raises(InvalidTransactionsError, match="outside 2025 Q3"):
        compute_quarter(dataclasses.replace(inputs, transactions=(late,)))


def test_csv_follows_the_upload_columns(report) -> None:  # type: ignore[no-untyped-def]
    frame = pd.read_csv(io.BytesIO(render_lcfs_csv(report)), dtype=str, keep_default_na=False)
    assert list(frame.columns) == [
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
    ]
    assert set(frame["Reporting Period"]) == {"2025Q3"}
    # Whole units, no float noise, application names rather than internal codes.
    assert all(a.lstrip("-").isdigit() for a in frame["Fuel Amount"])
    assert not any("_" in a for a in frame["Fuel Application"])
    calc = pd.read_csv(io.BytesIO(render_lcfs_calculation_csv(report)))
    assert len(calc) == len(frame)
    assert calc["Credits (MT CO2e)"].sum() == pytest.approx(report.totals.net_mt)
    assert [round(q) for q in calc["Fuel Amount"]] == [int(a) for a in frame["Fuel Amount"]]


def test_pdf_is_valid_and_carries_the_json_totals(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    pdf = render_lcfs_pdf(report)
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    if shutil.which("qpdf"):
        subprocess.run(["qpdf", "--check", str(path)], check=True, capture_output=True)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 3
    assert reader.metadata is not None and "2025 Q3" in str(reader.metadata.title)
    text = _pdftext(pdf, tmp_path)
    body = json.loads(render_lcfs_json(report))
    for key in ("credits_mt", "deficits_mt", "net_mt"):
        assert body["display"][key] == format_mt(body["totals"][key])
        assert body["display"][key] in text
    assert report.input_sha256 in text
    assert "81.70" in text and "95484" in text


def _pdftext(pdf: bytes, tmp_path: Path) -> str:
    if not shutil.which("pdftotext"):
        from pypdf import PdfReader

        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    path = tmp_path / "t.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode()


CSV = (
    "fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date,application\n"
    "CA-RD-1,renewable_diesel,10000,gal,35,sold with obligation,2025-08-01,\n"
    "EV-1,electricity,100000,kWh,80,Production in California,2025-08-01,electricity_hdv\n"
    "FOS-1,diesel,1000,gal,100,Export,2025-08-01,\n"
)


def test_cli_credits_json(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(CSV)
    result = CliRunner().invoke(lcfs_app, ["credits", "--transactions", str(path), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    first = body["rows"][0]
    assert first["transaction_type"] == "Sold with Obligation"
    # Sold with Obligation passes the credits on: the seller's line is negative.
    assert first["credits_mt"] == pytest.approx(-(81.70 - 35) * 10_000 * 129.65 * 1e-6)
    assert body["rows"][1]["credits_mt"] == pytest.approx((81.70 * 5 - 80) * 360_000 * 1e-6)
    # Exported fossil diesel takes its deficit back out of the entity's balance.
    assert body["rows"][2]["credits_mt"] == pytest.approx(18.3 * 134_470 * 1e-6)
    totals = body["totals"]
    assert totals["deficits_mt"] == pytest.approx(46.7 * 1_296_500 * 1e-6)
    assert totals["net_mt"] == pytest.approx(totals["credits_mt"] - totals["deficits_mt"])


def test_cli_credits_table_and_table_override(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(CSV.replace("2025-08-01", "2024-08-01"))
    runner = CliRunner()
    missing = runner.invoke(lcfs_app, ["credits", "--transactions", str(path), "--json"])
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["error"]["code"] == "lcfs_no_benchmark"
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "benchmarks.csv").write_text(
        "displaced,effective_from,effective_to,ci_benchmark,source\n"
        "diesel,2024-01-01,2025-01-01,87.89,deployment override\n"
    )
    shown = runner.invoke(
        lcfs_app, ["credits", "--transactions", str(path), "--tables", str(tables)]
    )
    assert shown.exit_code == 0, shown.output
    assert "CA-RD-1" in shown.stdout and "net" in shown.stdout


@pytest.mark.parametrize("as_json", [True, False])
def test_cli_bad_file(tmp_path: Path, as_json: bool) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date\n"
        "F,diesel,lots,gal,1,Export,2025-08-01\n"
    )
    args = ["credits", "--transactions", str(path)] + (["--json"] if as_json else [])
    result = CliRunner().invoke(lcfs_app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    if as_json:
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "lcfs_invalid_transactions" and "line 2" in error["message"]
    missing = CliRunner().invoke(lcfs_app, ["credits", "--transactions", str(tmp_path / "no.csv")])
    assert missing.exit_code == 2
