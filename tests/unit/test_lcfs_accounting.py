"""LCFS accounting: transaction types set the sign, biomethane book-and-claim, heating-value basis,
and the parameter tables' sources.

Hand computations use the credit formula of 17 CCR §95486.1(a),
    credits = (CI_benchmark x EER - CI) x quantity x energy density x 1e-6,
with the packaged Q3 2025 diesel benchmark (81.70), EER 1 and 129.65 MJ/gal renewable diesel:
1,000 gal at CI 35 is (81.70 - 35) x 129,650 MJ x 1e-6 = 6.054655 MT for the entity that holds
the obligation for it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.lcfs import (
    LcfsInputs,
    TagMapping,
    Transaction,
    compute_quarter,
    credit_line,
    load_tables,
    render_lcfs_calculation_csv,
    render_lcfs_csv,
    render_lcfs_json,
)
from pipelines.lcfs.coverage import coverage
from pipelines.lcfs.errors import UnknownParameterError
from pipelines.lcfs.report import BiomethaneSupply
from pipelines.lcfs.tables import TABLE_FILES
from worker.cli.lcfs import lcfs_app

TABLES = load_tables()
DAY = dt.date(2025, 8, 15)
ONE_THOUSAND_GAL = (81.70 - 35.0) * 1_000 * 129.65 * 1e-6  # 6.054655 MT


def rd(kind: str, gallons: float = 1_000, **kw: object) -> Transaction:
    return Transaction("CA-RD-1", "renewable_diesel", gallons, "gal", 35.0, kind, DAY, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "sign"),
    [
        ("Production in California", 1),
        ("Import", 1),
        ("Purchased with Obligation", 1),
        ("Sold with Obligation", -1),
        ("Export", -1),
        ("Loss of Inventory", -1),
        ("Not Used for Transportation", -1),
        ("Sold without Obligation", 0),
        ("Purchased without Obligation", 0),
    ],
)
def test_each_transaction_type_by_hand(kind: str, sign: int) -> None:
    line = credit_line(rd(kind), TABLES)
    assert line.effect == sign
    assert line.credits_mt == pytest.approx(sign * ONE_THOUSAND_GAL, rel=1e-12, abs=1e-15)
    assert line.energy_mj == pytest.approx(129_650.0)  # the energy is reported either way


def test_a_deficit_fuel_sold_with_obligation_passes_the_deficit_on() -> None:
    fossil = Transaction("CA-ULSD", "diesel", 1_000, "gal", 100.0, "Sold with Obligation", DAY)
    # (81.70 - 100) x 134,470 MJ x 1e-6 = -2.460801 as produced; selling it removes it.
    assert credit_line(fossil, TABLES).credits_mt == pytest.approx(18.3 * 134_470 * 1e-6)


def test_production_then_sale_with_obligation_nets_zero() -> None:
    report = compute_quarter(
        _inputs(rd("Production in California"), rd("Sold with Obligation", business_partner="B"))
    )
    assert report.totals is not None
    assert report.totals.net_mt == pytest.approx(0.0, abs=1e-12)


def test_a_mixed_quarter_nets_as_computed_by_hand() -> None:
    transactions = (
        rd("Production in California", 10_000),
        rd("Sold with Obligation", 4_000, business_partner="Buyer A"),
        rd("Sold without Obligation", 1_000, business_partner="Buyer B"),
        rd("Export", 2_000),
        rd("Loss of Inventory", 100),
    )
    report = compute_quarter(_inputs(*transactions))
    assert report.totals is not None
    # 10,000 - 4,000 - 2,000 - 100 = 3,900 gal held with the obligation; the sale without
    # obligation keeps the obligation here and counts nothing.
    assert report.totals.net_mt == pytest.approx(3_900 * ONE_THOUSAND_GAL / 1_000, rel=1e-12)
    calculation = list(csv.DictReader(io.StringIO(render_lcfs_calculation_csv(report).decode())))
    assert sorted(int(r["Effect"]) for r in calculation) == [-1, -1, -1, 0, 1]
    assert not report.warnings or "business partner" not in " ".join(report.warnings)


def test_sale_with_obligation_without_business_partner_is_a_warning() -> None:
    report = compute_quarter(_inputs(rd("Production in California"), rd("Sold with Obligation")))
    assert any("names no business partner" in w for w in report.warnings)


@pytest.mark.parametrize("name", ["Gain of Inventory", "Production for Import", "Swap"])
def test_types_whose_effect_is_not_confirmed_are_refused(name: str) -> None:
    with pytest.raises(UnknownParameterError, match="transaction type"):
        credit_line(rd(name), TABLES)


# --- book-and-claim ---------------------------------------------------------------------------

HOURS = 92 * 24  # 2025 Q3 in UTC


def _pipeline_points(injected_per_h: float, dispensed_per_h: float) -> pd.DataFrame:
    ts = pd.date_range("2025-07-01", "2025-10-01", freq="h", tz="UTC", unit="us")
    hours = np.arange(len(ts), dtype=np.float64)
    return pd.concat(
        [
            pd.DataFrame({"tag": "FT-INJ", "ts": ts, "value": injected_per_h}),
            pd.DataFrame({"tag": "FQ-DISP", "ts": ts, "value": dispensed_per_h * hours}),
        ],
        ignore_index=True,
    )


MAPPINGS = (
    TagMapping("FT-INJ", "CA-RNG-1", "rng", -150.0, "scf", role="injection"),
    TagMapping(
        "FQ-DISP", "CA-RNG-1", "rng", -150.0, "scf", kind="totalizer", application="cng_lng_hd_ci"
    ),
)


def test_an_injection_meter_is_supply_not_credit_and_a_covered_claim_passes() -> None:
    report = compute_quarter(_inputs(points=_pipeline_points(1_000, 800), mappings=MAPPINGS))
    (balance,) = report.biomethane
    assert balance.injected_mj == pytest.approx(1_000 * HOURS * 0.98)
    assert balance.claimed_mj == pytest.approx(800 * HOURS * 0.98)
    assert (balance.status, balance.excess_mj) == ("covered", 0.0)
    # Credits come from the dispensing meter alone: (81.70 x 1 + 150) x MJ x 1e-6.
    assert report.totals is not None
    assert report.totals.net_mt == pytest.approx((81.70 + 150.0) * 800 * HOURS * 0.98 * 1e-6)
    assert {line.credit.fuel_pathway_code for line in report.lines} == {"CA-RNG-1"}
    assert all(line.credit.energy_mj <= 800 * HOURS * 0.98 for line in report.lines)


def test_a_claim_beyond_the_injected_quantity_is_flagged() -> None:
    report = compute_quarter(_inputs(points=_pipeline_points(1_000, 1_200), mappings=MAPPINGS))
    (balance,) = report.biomethane
    assert balance.status == "excess"
    assert balance.excess_mj == pytest.approx(200 * HOURS * 0.98)
    assert any("exceeds the injected" in w for w in report.warnings)
    # Supply attested elsewhere (another facility, a producer's attestation) covers it.
    supplied = compute_quarter(
        _inputs(
            points=_pipeline_points(1_000, 1_200),
            mappings=MAPPINGS,
            attested_supply=(BiomethaneSupply("CA-RNG-1", 300 * HOURS * 0.98, "attestation 7"),),
        )
    )
    assert supplied.biomethane[0].status == "covered"


# --- heating-value basis ----------------------------------------------------------------------


def test_therms_are_brought_from_hhv_to_lhv_through_the_measured_heating_value() -> None:
    gas = Transaction(
        "CA-RNG-1",
        "rng",
        1_000,
        "therm",
        -150.0,
        "Production in California",
        DAY,
        application="cng_lng_hd_ci",
        hhv_btu_per_scf=1_020.0,
    )
    line = credit_line(gas, TABLES)
    # 1,000 therm = 1e8 Btu (HHV) / 1,020 Btu/scf = 98,039.2 scf x 0.98 MJ/scf (Table 4, LHV)
    assert line.energy_mj == pytest.approx(1e8 / 1_020 * 0.98)
    face_value = 1_000 * 105.505585262
    assert line.energy_mj / face_value == pytest.approx(0.9106, abs=1e-4)  # 9 % less than face
    assert any(p.name == "higher heating value" for p in line.parameters)
    ratio = credit_line(
        Transaction(**{**gas.__dict__, "hhv_btu_per_scf": None, "lhv_hhv_ratio": 0.9}), TABLES
    )
    assert ratio.energy_mj == pytest.approx(face_value * 0.9)


def test_therms_without_a_stated_basis_are_refused() -> None:
    gas = Transaction("F", "rng", 10, "MMBtu", -150.0, "Production in California", DAY)
    with pytest.raises(UnknownParameterError, match="higher-heating-value"):
        credit_line(gas, TABLES)


# --- the tables and their sources -------------------------------------------------------------

PRIMARY = re.compile(r"17 CCR §9548\d|NIST|Assembly Bill|CARB, |SI|definition|Tickwork default")
INTERNAL = re.compile(
    r"(?<!docs/)lcfs\.md|reference/|\[2nd\]|\[REG\]|\[ANALOG\]|NOT FOUND|VERIFY|"
    r"justia excerpt|Tricord|Trinity|DESIGN\.md|shared/",
    re.IGNORECASE,
)


def _packaged_rows() -> list[tuple[str, dict[str, str]]]:
    folder = resources.files("pipelines.lcfs") / "data"
    rows = []
    for name in TABLE_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        rows += [(name, row) for row in csv.DictReader(io.StringIO(text))]
    return rows


def test_every_packaged_row_cites_a_primary_source_and_no_internal_note() -> None:
    rows = _packaged_rows()
    assert len(rows) > 30
    for name, row in rows:
        assert PRIMARY.search(row["source"]), (name, row)
        assert not INTERNAL.search(",".join(row.values())), (name, row)
        assert row.get("status", "confirmed") in ("confirmed", "unconfirmed"), (name, row)


def test_report_outputs_cite_no_file_outside_the_repository() -> None:
    report = compute_quarter(
        _inputs(
            rd("Production in California"), points=_pipeline_points(1_000, 800), mappings=MAPPINGS
        )
    )
    for rendered in (
        render_lcfs_csv(report),
        render_lcfs_calculation_csv(report),
        render_lcfs_json(report),
    ):
        assert not INTERNAL.search(rendered.decode())


def test_unconfirmed_figures_are_listed_and_refused_when_confirmation_is_required() -> None:
    report = compute_quarter(_inputs(rd("Production in California")))
    assert {p.name for p in report.unconfirmed} >= {"CI benchmark", "energy density"}
    assert any("not yet compared" in w for w in report.warnings)
    strict = load_tables(require_confirmed=True)
    with pytest.raises(UnknownParameterError, match="energy density"):
        credit_line(rd("Production in California"), strict)


def test_coverage_names_what_to_add_for_every_missing_figure() -> None:
    items = coverage(TABLES)
    keys = {(i.table, i.key) for i in items}
    assert ("benchmarks.csv", "gasoline 2011") in keys and ("benchmarks.csv", "jet 2045") in keys
    assert ("eer.csv", "shore_power") in keys and ("energy_density.csv", "propane per gal") in keys
    for item in items:
        if item.status == "missing":
            assert "17 CCR §9548" in item.add and item.key.split()[0] in item.add
        else:
            assert PRIMARY.search(item.source)


@pytest.mark.xfail(
    strict=True,
    reason="the packaged tables hold only the figures compared with or traced to their source "
    "so far (2025-2026 benchmarks, eight Table 5 rows, nine Table 4 fuels); the rest of "
    "§95484 Tables 1-3 and §95486.1 Tables 4-5 are to be added from the regulation text",
)
def test_every_figure_the_regulation_lists_is_present() -> None:
    assert all(i.status != "missing" for i in coverage(TABLES))


def test_cli_help_lists_the_accepted_fuel_and_transaction_types() -> None:
    result = CliRunner().invoke(lcfs_app, ["credits", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for kind in ("Sold with Obligation", "Production in California", "Not Used for Transportation"):
        assert kind in text
    for fuel in ("renewable_diesel", "electricity", "rng"):
        assert fuel in text


def _inputs(
    *transactions: Transaction,
    points: pd.DataFrame | None = None,
    mappings: tuple[TagMapping, ...] = (),
    attested_supply: tuple[BiomethaneSupply, ...] = (),
) -> LcfsInputs:
    return LcfsInputs(
        facility_id="fac-1",
        facility_name="Test plant",
        timezone="UTC",
        year=2025,
        quarter=3,
        mappings=mappings,
        points=points,
        transactions=transactions,
        attested_supply=attested_supply,
    )
