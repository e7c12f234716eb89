"""The LCFS credit engine: formula per fuel family, benchmarks by quarter, units, parsing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.errors import PipelineError
from pipelines.lcfs import (
    LcfsTables,
    ParameterUsed,
    Transaction,
    canonical_transaction_type,
    check_lines,
    credit_line,
    credit_totals,
    credits_mt,
    energy_per_unit,
    load_tables,
    parse_tables,
    parse_transactions_csv,
)
from pipelines.lcfs.errors import (
    InvalidTableError,
    InvalidTransactionsError,
    NoBenchmarkError,
    UnknownParameterError,
)

TABLES = load_tables()
Q2 = dt.date(2025, 5, 15)
Q3 = dt.date(2025, 8, 15)


def tx(fuel: str, quantity: float, unit: str, ci: float, on: dt.date, **kw: object) -> Transaction:
    return Transaction("FPC-1", fuel, quantity, unit, ci, "Production in California", on, **kw)  # type: ignore[arg-type]


# Hand computations with the packaged figures (17 CCR §95484 benchmarks, §95486.1 Tables 4-5):
#   credits = (CI_benchmark x EER - CI) x quantity x ED x 1e-6
FAMILIES = [
    pytest.param(  # renewable diesel replaces diesel: Q3 2025 diesel 81.70, EER 1, 129.65 MJ/gal
        tx("renewable_diesel", 10_000, "gal", 35.0, Q3),
        (81.70 * 1 - 35.0) * 10_000 * 129.65 * 1e-6,  # = 46.70 x 1,296,500 MJ = 60.54655
        id="diesel-replacement",
    ),
    pytest.param(  # ethanol replaces gasoline: Q3 2025 gasoline 76.60, EER 1, 81.51 MJ/gal
        tx("ethanol", 100_000, "gal", 60.0, Q3),
        (76.60 * 1 - 60.0) * 100_000 * 81.51 * 1e-6,  # = 16.60 x 8,151,000 MJ = 135.3066
        id="gasoline-replacement",
    ),
    pytest.param(  # light-duty EV charging, Q2 2025 gasoline 85.77, EER 3.4, 3.6 MJ/kWh
        tx("electricity", 50_000, "kWh", 80.0, Q2),
        (85.77 * 3.4 - 80.0) * 50_000 * 3.6 * 1e-6,  # = 211.618 x 180,000 MJ = 38.09124
        id="electricity-ldv",
    ),
    pytest.param(  # heavy-duty EV charging, Q3 2025 diesel 81.70, EER 5.0
        tx("electricity", 100_000, "kWh", 80.0, Q3, application="electricity_hdv"),
        (81.70 * 5.0 - 80.0) * 100_000 * 3.6 * 1e-6,  # = 328.5 x 360,000 MJ = 118.26
        id="electricity-hdv",
    ),
    pytest.param(  # dairy RNG as CNG in HD spark-ignition trucks: EER 0.9, 0.98 MJ/scf
        tx("rng", 1_000_000, "scf", -150.0, Q3),
        (81.70 * 0.9 + 150.0) * 1_000_000 * 0.98 * 1e-6,  # = 223.53 x 980,000 MJ = 219.0594
        id="rng-cng-spark-ignition",
    ),
    pytest.param(  # fossil diesel above the benchmark: a deficit
        tx("diesel", 1_000, "gal", 100.0, Q3),
        (81.70 - 100.0) * 1_000 * 134.47 * 1e-6,  # = -18.3 x 134,470 MJ = -2.460801
        id="diesel-deficit",
    ),
]


@pytest.mark.parametrize(("transaction", "expected"), FAMILIES)
def test_credits_by_fuel_family(transaction: Transaction, expected: float) -> None:
    line = credit_line(transaction, TABLES)
    assert line.credits_mt == pytest.approx(expected, rel=1e-12)
    assert line.energy_mj == pytest.approx(transaction.quantity * line.energy_density)


def test_eer_is_counted_once() -> None:
    # CARB's form (CI_std - CI/EER) x (E x EER) equals (CI_std x EER - CI) x E
    # (docs/lcfs-accounting.md).
    std, ci, eer, energy = 81.70, 80.0, 5.0, 360_000.0
    carb = (std - ci / eer) * (energy * eer) * 1e-6
    assert credits_mt(std, eer, ci, energy) == pytest.approx(carb, rel=1e-12)
    assert credits_mt(std, eer, ci, energy) != pytest.approx(
        (std * eer - ci / eer) * energy * eer * 1e-6
    )


def test_benchmark_switches_between_q2_and_q3_2025() -> None:
    june = credit_line(tx("diesel", 1_000, "gal", 50.0, dt.date(2025, 6, 30)), TABLES)
    july = credit_line(tx("diesel", 1_000, "gal", 50.0, dt.date(2025, 7, 1)), TABLES)
    assert (june.ci_benchmark, july.ci_benchmark) == (86.64, 81.70)
    assert TABLES.quarter_benchmark("gasoline", 2025, 2).ci_benchmark == 85.77
    assert TABLES.quarter_benchmark("gasoline", 2025, 3).ci_benchmark == 76.60
    assert TABLES.quarter_benchmark("diesel", 2026, 1).ci_benchmark == 80.17


@pytest.mark.parametrize(("year", "quarter"), [(2024, 4), (2027, 1)])
def test_a_quarter_without_benchmark_raises(year: int, quarter: int) -> None:
    with pytest.raises(NoBenchmarkError) as info:
        TABLES.quarter_benchmark("diesel", year, quarter)
    assert isinstance(info.value, PipelineError)
    assert info.value.code == "lcfs_no_benchmark"
    assert f"{year} Q{quarter}" in str(info.value)


def test_jet_has_no_benchmark_yet() -> None:
    with pytest.raises(NoBenchmarkError):
        credit_line(tx("alternative_jet", 1_000, "gal", 40.0, Q3), TABLES)


GAL_L = 3.785411784
UNITS = [
    ("diesel", 1_000, "L", 1_000 / GAL_L * 134.47),
    ("diesel", 2, "m3", 2_000 / GAL_L * 134.47),
    ("diesel", 5, "GALLONS", 5 * 134.47),
    ("diesel", 3, "DGE", 3 * 134.47),
    ("rng", 10, "GGE", 10 * 126.67 * 0.98),  # CA AB 1907: 1 GGE = 126.67 scf of CNG
    ("rng", 100, "ft3", 100 * 0.98),
    ("rng", 10, "therms", 10 * 105.505585262),  # 100,000 Btu(IT)
    ("rng", 2, "MMBtu", 2 * 1055.05585262),
    ("electricity", 10, "GGE", 10 * 119.53),  # generic GGE: a gallon of gasoline's energy
    ("electricity", 1_000, "kwh", 3_600.0),
    ("hydrogen", 10, "kg", 1_200.0),
    ("hydrogen", 10, "lb", 10 * 0.45359237 * 120.0),
    ("cng", 1, "m3", 0.98 / 0.028316846592),
]


@pytest.mark.parametrize(("fuel", "quantity", "unit", "mj"), UNITS)
def test_unit_conversions(fuel: str, quantity: float, unit: str, mj: float) -> None:
    per_unit = energy_per_unit(TABLES, fuel, unit, Q3)
    assert quantity * per_unit.mj_per_unit == pytest.approx(mj, rel=1e-12)
    assert all(p.source for p in per_unit.parameters)


def test_unknown_unit_and_fuel_are_clear_errors() -> None:
    with pytest.raises(UnknownParameterError, match="unit 'bushel'"):
        energy_per_unit(TABLES, "diesel", "bushel", Q3)
    with pytest.raises(UnknownParameterError, match="fuel type 'kerosene'"):
        credit_line(tx("kerosene", 1, "gal", 1.0, Q3), TABLES)


def test_overrides_per_transaction() -> None:
    line = credit_line(
        tx("diesel", 100, "gal", 10.0, Q3, energy_density=130.0, eer=2.0, benchmark=90.0), TABLES
    )
    assert line.credits_mt == pytest.approx((90.0 * 2.0 - 10.0) * 100 * 130.0 * 1e-6)


def test_transaction_types_match_case_insensitively() -> None:
    assert canonical_transaction_type("SOLD  WITH obligation") == "Sold with Obligation"
    assert canonical_transaction_type("not used for transportation") == (
        "Not Used for Transportation"
    )
    with pytest.raises(UnknownParameterError):
        canonical_transaction_type("Gift")
    for unconfirmed in ("Gain of Inventory", "production for import"):
        with pytest.raises(UnknownParameterError, match="not confirmed"):
            canonical_transaction_type(unconfirmed)


def test_totals_split_credits_and_deficits() -> None:
    totals = credit_totals([10.0, -2.5, 4.0])
    assert (totals.credits_mt, totals.deficits_mt, totals.net_mt) == (14.0, 2.5, 11.5)


def test_parse_transactions_csv() -> None:
    content = (
        b"fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date,eer\n"
        b"F1,Diesel,10,gal,50,sold WITH obligation,2025-08-01,\n"
        b"F2,electricity,5,kWh,80,Production in California,2025-08-02,5\n"
    )
    rows = parse_transactions_csv(content)
    assert [r.transaction_type for r in rows] == [
        "Sold with Obligation",
        "Production in California",
    ]
    assert rows[0].fuel_type == "diesel" and rows[0].eer is None and rows[1].eer == 5.0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"a,b\n1,2\n", "missing column"),
        (
            b"fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date\n"
            b"F,diesel,ten,gal,1,Export,2025-08-01\n",
            "line 2: quantity 'ten'",
        ),
        (
            b"fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date\n"
            b"F,diesel,1,gal,1,Export,08/01/2025\n",
            "not YYYY-MM-DD",
        ),
        (
            b"fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date\n"
            b"F,diesel,1,gal,1,Swap,2025-08-01\n",
            "transaction type 'Swap'",
        ),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_parse_transactions_csv_rejects_bad_input(content: bytes, match: str) -> None:
    with pytest.raises(InvalidTransactionsError, match=match):
        parse_transactions_csv(content)


def test_override_directory_replaces_a_table(tmp_path: object) -> None:
    from pathlib import Path

    where = Path(str(tmp_path))
    (where / "benchmarks.csv").write_text(
        "displaced,effective_from,effective_to,ci_benchmark,source\n"
        "diesel,2024-01-01,2025-01-01,87.89,test override\n"
    )
    tables = load_tables(where)
    assert tables.quarter_benchmark("diesel", 2024, 3).source == "test override"
    with pytest.raises(NoBenchmarkError):
        tables.quarter_benchmark("diesel", 2025, 3)  # the file replaced the packaged one
    (where / "eer.csv").write_text("application,displaced,eer,source\nx,diesel,-1,bad\n")
    with pytest.raises(InvalidTableError):
        load_tables(where)


finite = st.floats(min_value=-500, max_value=500, allow_nan=False)


@given(
    benchmark=st.floats(min_value=1, max_value=120),
    eer=st.floats(min_value=0.1, max_value=6),
    ci=finite,
    energy=st.floats(min_value=0, max_value=1e9),
    k=st.floats(min_value=0, max_value=1e3),
)
def test_credits_are_linear_in_quantity_and_sign_follows_ci(
    benchmark: float, eer: float, ci: float, energy: float, k: float
) -> None:
    one = credits_mt(benchmark, eer, ci, energy)
    assert credits_mt(benchmark, eer, ci, k * energy) == pytest.approx(k * one, rel=1e-9, abs=1e-9)
    threshold = benchmark * eer
    # Energies below 1e-3 MJ can underflow to a zero product (e.g. 5e-324 MJ): no sign to check.
    if energy >= 1e-3 and not math.isclose(ci, threshold, rel_tol=1e-9, abs_tol=1e-9):
        assert (one > 0) == (ci < threshold)
    assert credits_mt(benchmark, eer, threshold, energy) == pytest.approx(0.0, abs=1e-9)


# --- every figure a line prints, pinned (golden file) -----------------------------------------

GOLDEN_LINES = Path(__file__).parent / "golden" / "lcfs_credit_lines.json"
# Each path through credit_line: the tables alone; an application's EER row; every figure
# given with the transaction and an obligation passed on; therms through a measured HHV;
# MMBtu through a given LHV/HHV ratio; a transfer without obligation (effect 0).
GOLDEN_CASES = {
    "tables": tx("renewable_diesel", 10_000, "gal", 35.0, Q3),
    "application": tx("electricity", 100_000, "kWh", 80.0, Q3, application=" Electricity_HDV "),
    "given": Transaction(
        "FPC-2 ",
        "Ethanol",
        5_000,
        "gal",
        55.0,
        "Sold with Obligation",
        Q2,
        energy_density=80.0,
        eer=1.1,
        benchmark=90.0,
        business_partner="Acme Fuels",
        reference="PTD-17",
    ),
    "measured-hhv": tx("rng", 1_000, "therm", 40.0, Q3, hhv_btu_per_scf=1020.0),
    "lhv-ratio": tx("rng", 10, "MMBtu", 40.0, Q2, lhv_hhv_ratio=0.9),
    "no-obligation": Transaction(
        "FPC-3", "ethanol", 100, "gal", 60.0, "Sold without Obligation", Q3
    ),
}


def _as_json(line: object) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(line), default=str))  # type: ignore[call-overload]


def test_credit_lines_match_the_golden_file() -> None:
    """Energy, credits and every parameter a report prints with its source and status, for
    each path. After an intended change: ``TICKWORK_REGENERATE_GOLDEN=1`` rewrites the file;
    review its diff."""
    got = {name: _as_json(credit_line(t, TABLES)) for name, t in GOLDEN_CASES.items()}
    if os.environ.get("TICKWORK_REGENERATE_GOLDEN") == "1":
        GOLDEN_LINES.parent.mkdir(exist_ok=True)
        GOLDEN_LINES.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(GOLDEN_LINES.read_text())
    assert math.copysign(1.0, got["no-obligation"]["credits_mt"]) == 1.0  # 0.0, never -0.0


# --- the transactions CSV: every column read, every refusal exact -----------------------------

FULL_HEADER = (
    "Fuel_Pathway_Code,fuel_type,quantity,unit,ci,transaction_type,date,application,"
    "energy_density,eer,benchmark,business_partner,reference,hhv_btu_per_scf,"
    "lhv_hhv_ratio"
)


def test_parse_transactions_csv_reads_every_column() -> None:
    content = (
        "\ufeff" + FULL_HEADER + "\r\n"
        " FPC-9 ,RNG,0,therm,40.5,purchased with obligation,2025-08-15,CNG_LNG_HD_SI,"
        "0.99,0.95,-3.5, Acme , PTD-17 ,1020,0.9\r\n"
        ",,,,,,,,,,,,,,\r\n"  # a blank row is skipped
        "FPC-1,ethanol,12.5,gal,60,Import,2025-05-01,,,,,,,,\r\n"
    ).encode()
    assert parse_transactions_csv(content) == (
        Transaction(
            fuel_pathway_code="FPC-9",
            fuel_type="rng",
            quantity=0.0,
            unit="therm",
            ci=40.5,
            transaction_type="Purchased with Obligation",
            date=dt.date(2025, 8, 15),
            application="cng_lng_hd_si",
            energy_density=0.99,
            eer=0.95,
            benchmark=-3.5,
            business_partner="Acme",
            reference="PTD-17",
            hhv_btu_per_scf=1020.0,
            lhv_hhv_ratio=0.9,
        ),
        Transaction(
            fuel_pathway_code="FPC-1",
            fuel_type="ethanol",
            quantity=12.5,
            unit="gal",
            ci=60.0,
            transaction_type="Import",
            date=dt.date(2025, 5, 1),
        ),
    )


GOOD_ROW = "FPC-1,ethanol,12.5,gal,60,Import,2025-05-01"
BASE_HEADER = "fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            f"{BASE_HEADER}\n{GOOD_ROW}\n\xff\n".encode("latin-1"),
            "line 3: the file is not UTF-8 text",
        ),
        (b" \n", "the file is empty: it has no header and no rows"),
        (
            b"fuel_type,date\n",
            "line 1: missing column(s) fuel_pathway_code, quantity, unit, ci, transaction_type "
            "(found: fuel_type, date); the header must name "
            "fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date",
        ),
        (
            f"{BASE_HEADER}\n{GOOD_ROW}\n{GOOD_ROW},x\n".encode(),
            "line 3: 8 field(s), the header has 7",
        ),
        (
            f"{BASE_HEADER}\n{GOOD_ROW}\nFPC-1,,1,gal,60,Import,2025-05-01\n".encode(),
            "line 3: fuel_type is empty",
        ),
        (
            f"{BASE_HEADER}\nFPC-1,ethanol,1,gal,60,Import,2025/05/01\n".encode(),
            "line 2: date '2025/05/01' is not YYYY-MM-DD",
        ),
        (
            f"{BASE_HEADER}\nFPC-1,ethanol,-1,gal,60,Import,2025-05-01\n".encode(),
            "line 2: quantity -1.0 is negative",
        ),
        (
            f"{BASE_HEADER}\nFPC-1,ethanol,1,gal,x,Import,2025-05-01\n".encode(),
            "line 2: ci 'x' is not a number",
        ),
        (
            f"{BASE_HEADER},eer\nFPC-1,ethanol,1,gal,60,Import,2025-05-01,0\n".encode(),
            "line 2: eer '0' must be positive",
        ),
        (
            f"{BASE_HEADER},energy_density\nFPC-1,ethanol,1,gal,60,Import,2025-05-01,nan\n".encode(),
            "line 2: energy_density 'nan' is not a finite number",
        ),
    ],
)
def test_parse_transactions_csv_refusals_are_exact(content: bytes, message: str) -> None:
    with pytest.raises(InvalidTransactionsError) as info:
        parse_transactions_csv(content)
    assert str(info.value) == message


@pytest.mark.parametrize("column", ["hhv_btu_per_scf", "lhv_hhv_ratio", "energy_density"])
def test_optional_figures_must_be_positive_but_a_benchmark_may_not(column: str) -> None:
    row = f"{BASE_HEADER},{column},benchmark\nFPC-1,ethanol,1,gal,60,Import,2025-05-01"
    with pytest.raises(InvalidTransactionsError, match=f"line 2: {column} '-1' must be positive"):
        parse_transactions_csv(f"{row},-1,1\n".encode())
    [t] = parse_transactions_csv(f"{row},1,-1\n".encode())
    assert (getattr(t, column), t.benchmark) == (1.0, -1.0)


# --- hand-made tables: the heating-value row, dated rows, open-ended benchmarks ---------------


def _with(**csv_text: str) -> LcfsTables:
    files = dict(TABLES.files)
    files.update({f"{stem}.csv": text.encode() for stem, text in csv_text.items()})
    return parse_tables(files)


def test_therms_without_a_measured_value_take_the_fuels_lhv_hhv_row() -> None:
    tables = _with(heating_value="fuel_type,lhv_per_hhv,status,source\nrng,0.9,unconfirmed,row H\n")
    line = credit_line(tx("rng", 1_000, "therms", 40.0, Q3), tables)
    assert line.energy_density == pytest.approx(105.505585262 * 0.9, rel=1e-15)  # MJ LHV/therm
    assert line.parameters[2] == ParameterUsed(
        "LHV/HHV ratio", "rng", 0.9, "", "row H", "unconfirmed"
    )
    assert [p.name for p in line.parameters] == [
        "transaction type",
        "unit definition",
        "LHV/HHV ratio",
        "EER",
        "CI benchmark",
    ]


def test_therms_without_any_lhv_figure_are_refused_naming_what_to_give() -> None:
    with pytest.raises(UnknownParameterError) as info:
        credit_line(tx("rng", 1_000, "therm", 40.0, Q3), TABLES)
    assert str(info.value) == (
        "unknown heating value 'rng in therm'; therm is higher-heating-value energy while LCFS "
        "energy densities (17 CCR §95486.1 Table 4) are lower heating values: give the gas's "
        "measured HHV (hhv_btu_per_scf) or an lhv_hhv_ratio with the quantity, or add the "
        "fuel's row to heating_value.csv"
    )


def test_every_row_is_taken_on_the_transactions_date() -> None:
    tables = _with(
        benchmarks="displaced,effective_from,effective_to,ci_benchmark,status,source\n"
        "diesel,2025-07-01,2030-01-01,80.0,,b1\ndiesel,2030-01-01,,70.0,unconfirmed,b2\n",
        eer="application,displaced,eer,effective_from,effective_to,status,source\n"
        "diesel_ci,diesel,1,,2030-01-01,,e1\ndiesel_ci,diesel,1.5,2030-01-01,,unconfirmed,e2\n",
        energy_density="fuel_type,unit,energy_density,effective_from,effective_to,source\n"
        "diesel,gal,130,,2030-01-01,d1\ndiesel,gal,140,2030-01-01,,d2\n"
        "rng,scf,0.98,,2030-01-01,r1\nrng,scf,0.99,2030-01-01,,r2\n",
    )
    later = credit_line(tx("diesel", 1_000, "gal", 50.0, dt.date(2030, 2, 1)), tables)
    assert (later.energy_density, later.eer, later.ci_benchmark) == (140.0, 1.5, 70.0)
    assert later.credits_mt == pytest.approx((70.0 * 1.5 - 50.0) * 140_000 * 1e-6)
    assert [(p.name, p.key, p.source, p.status) for p in later.parameters[1:]] == [
        ("energy density", "diesel per gal", "d2", "confirmed"),
        ("EER", "diesel_ci", "e2", "unconfirmed"),
        ("CI benchmark", "diesel 2030-01-01..", "b2", "unconfirmed"),  # open-ended row
    ]
    earlier = credit_line(tx("diesel", 1_000, "gal", 50.0, dt.date(2029, 12, 31)), tables)
    assert (earlier.energy_density, earlier.eer, earlier.ci_benchmark) == (130.0, 1.0, 80.0)
    assert earlier.parameters[-1].key == "diesel 2025-07-01..2030-01-01"
    # therms through a measured HHV: the MJ/scf row of the same date
    gas = tx(
        "rng",
        10,
        "therm",
        40.0,
        dt.date(2030, 2, 1),
        application="diesel_ci",
        hhv_btu_per_scf=1000.0,
    )
    assert credit_line(gas, tables).energy_density == pytest.approx(100.0 * 0.99)


def test_a_line_that_counts_nothing_is_zero_not_minus_zero() -> None:
    deficit = Transaction("F", "diesel", 1_000, "gal", 100.0, "Sold without Obligation", Q3)
    assert math.copysign(1.0, credit_line(deficit, TABLES).credits_mt) == 1.0
    none = credit_totals([2.5, 0.5])
    assert (none.credits_mt, none.deficits_mt, none.net_mt) == (3.0, 0.0, 3.0)
    assert math.copysign(1.0, none.deficits_mt) == 1.0
    small = credit_totals([0.25, -0.75, 0.0])  # amounts under 1 MT count too
    assert (small.credits_mt, small.deficits_mt, small.net_mt) == (0.25, 0.75, -0.5)


def test_check_lines_names_the_csv_line_of_a_row_it_cannot_compute() -> None:
    good = tx("diesel", 1_000, "gal", 50.0, Q3)
    with pytest.raises(InvalidTransactionsError) as info:
        check_lines([good, good, tx("diesel", 1, "bushel", 50.0, Q3)], TABLES)
    assert str(info.value) == (
        "line 4: unknown unit 'bushel'; known: DGE, GGE, GJ, L, MJ, MMBtu, gal, kWh, kg, lb, m3, "
        "scf, therm"
    )
    assert info.value.line == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            f"\n{GOOD_ROW}\n".encode(),
            "line 1: missing column(s) fuel_pathway_code, fuel_type, quantity, unit, ci, "
            "transaction_type, date (found: none); the header must name "
            "fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date",
        ),
        (
            f"{BASE_HEADER}\n{GOOD_ROW}\nFPC-1,ethanol,1,gal,60,Swap,2025-05-01\n".encode(),
            "line 3: unknown transaction type 'Swap'; accepted: Production in California; "
            "Import; Purchased with Obligation; Sold with Obligation; Export; Loss of Inventory; "
            "Not Used for Transportation; Sold without Obligation; Purchased without Obligation",
        ),
        (
            f"{BASE_HEADER},benchmark\n{GOOD_ROW},\n{GOOD_ROW},high\n".encode(),
            "line 3: benchmark 'high' is not a number",
        ),
    ],
)
def test_more_parse_refusals_are_exact(content: bytes, message: str) -> None:
    with pytest.raises(InvalidTransactionsError) as info:
        parse_transactions_csv(content)
    assert str(info.value) == message


def test_a_fuels_own_therm_row_decides_its_heating_value_basis() -> None:
    # A deployment's therm row for rng on the lower-heating-value basis: no HHV figure needed.
    units = dict(TABLES.files)["units.csv"].decode()
    own = units + "therm,105.505585262,MJ,rng,,,,confirmed,an LHV therm of rng (test row)\n"
    line = credit_line(tx("rng", 10, "therm", 40.0, Q3), _with(units=own))
    assert line.energy_density == 105.505585262
    assert "LHV/HHV ratio" not in [p.name for p in line.parameters]
