"""Parameter tables: every column of every file read, every refusal exact (naming its file),
overrides, confirmed-only tables, look-ups by date, quarter bounds and overlapping rows.

The tables here are hand-made ("test row" sources) unless they say packaged: what is checked is
how a row is read and found, not the published figures (tests/unit/test_lcfs_credits.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipelines.lcfs import load_tables, parse_tables
from pipelines.lcfs.errors import (
    BenchmarkChangesInQuarterError,
    InvalidPeriodError,
    InvalidTableError,
    NoBenchmarkError,
    UnknownParameterError,
)
from pipelines.lcfs.tables import (
    TABLE_FILES,
    Benchmark,
    Eer,
    EnergyDensity,
    FuelType,
    HeatingValue,
    LcfsTables,
    TransactionType,
    UnitDef,
    confirmed_only,
    quarter_dates,
)

PACKAGED = load_tables()

# One small set of files: mixed case, padding, a BOM, optional columns filled in or left out.
FILES = {
    "benchmarks.csv": "\ufeffdisplaced,effective_from,effective_to,ci_benchmark,status,source\n"
    " Diesel ,2025-07-01,2026-01-01,81.70,Unconfirmed,test row D\n"
    "gasoline,,,-3.5,,test row G\n",
    "eer.csv": "application,displaced,eer,name,description,effective_from,effective_to,status,"
    "source\n"
    " Electricity_HDV ,DIESEL,5.0,Heavy-Duty: Electricity,HD electricity,2025-01-01,2027-01-01,"
    "confirmed,test row E1\n"
    "electricity_hdv,diesel,4.0,,,2027-01-01,,unconfirmed,test row E2\n",
    "energy_density.csv": "fuel_type,unit,energy_density,basis,effective_from,effective_to,"
    "status,source\n"
    " RNG , scf ,0.98,lhv,2025-01-01,2026-01-01,unconfirmed,test row R\n"
    "rng,scf,0.97,,2026-01-01,,confirmed,test row R2\n",
    "fuel_types.csv": "fuel_type,default_application,source\n RNG , CNG_LNG_HD_SI ,test row F\n",
    "heating_value.csv": "fuel_type,lhv_per_hhv,status,source\n"
    " RNG ,0.9017,unconfirmed,test row H\ncng,0.9,,test row H2\n",
    "transaction_types.csv": "transaction_type,effect,obligation,source\n"
    "  Sold   with Obligation ,-1,transfers,test row T1\n"
    "Import,+1,acquires,test row T2\n"
    "Sold without Obligation,0,,test row T3\n",
    "units.csv": "unit,factor,in_unit,fuel_type,of_fuel,aliases,basis,status,source\n"
    " GGE ,126.67, scf , RNG ,, Gge | gas gallon ||,,unconfirmed,test row U1\n"
    "DGE,1,gal,,Diesel,dge,,,test row U2\n"
    "therm,105.505585262,MJ,,,,hhv,confirmed,test row U3\n",
}


def parse(**replaced: str) -> LcfsTables:
    files = {name: text.encode() for name, text in FILES.items()}
    files.update({f"{stem}.csv": text.encode() for stem, text in replaced.items()})
    return parse_tables(files)


def test_every_column_of_every_table_is_read() -> None:
    tables = parse()
    d = dt.date
    assert tables.benchmarks == (
        Benchmark("diesel", d(2025, 7, 1), d(2026, 1, 1), 81.70, "test row D", "unconfirmed"),
        Benchmark("gasoline", None, None, -3.5, "test row G", "confirmed"),  # any finite figure
    )
    assert tables.eers == (
        Eer(
            "electricity_hdv",
            "diesel",
            5.0,
            "HD electricity",
            d(2025, 1, 1),
            d(2027, 1, 1),
            "test row E1",
            "confirmed",
            "Heavy-Duty: Electricity",
        ),
        Eer(
            "electricity_hdv",
            "diesel",
            4.0,
            "",
            d(2027, 1, 1),
            None,
            "test row E2",
            "unconfirmed",
            "",
        ),
    )
    assert tables.energy_densities == (
        EnergyDensity(
            "rng", "scf", 0.98, d(2025, 1, 1), d(2026, 1, 1), "test row R", "unconfirmed", "LHV"
        ),
        EnergyDensity("rng", "scf", 0.97, d(2026, 1, 1), None, "test row R2", "confirmed", ""),
    )
    assert tables.fuel_types == (FuelType("rng", "cng_lng_hd_si", "test row F"),)
    assert tables.heating_values == (
        HeatingValue("rng", 0.9017, "test row H", "unconfirmed"),
        HeatingValue("cng", 0.9, "test row H2", "confirmed"),
    )
    assert tables.transaction_types == (
        TransactionType("Sold with Obligation", -1, "transfers", "test row T1"),
        TransactionType("Import", 1, "acquires", "test row T2"),
        TransactionType("Sold without Obligation", 0, "", "test row T3"),
    )
    assert tables.units == (
        UnitDef(
            "GGE", 126.67, "scf", "rng", "", ("gge", "gas gallon"), "test row U1", "unconfirmed", ""
        ),
        UnitDef("DGE", 1.0, "gal", "", "diesel", ("dge",), "test row U2", "confirmed", ""),
        UnitDef("therm", 105.505585262, "MJ", "", "", (), "test row U3", "confirmed", "HHV"),
    )
    # The raw bytes each table came from, by file name, for the report's table digest.
    assert tables.files == tuple(sorted((n, FILES[n].encode()) for n in TABLE_FILES))


def test_optional_columns_may_be_left_out() -> None:
    tables = parse(
        benchmarks="displaced,ci_benchmark,source\ndiesel,81.7,s\n",
        eer="application,displaced,eer,source\ndiesel_ci,diesel,1,s\n",
        energy_density="fuel_type,unit,energy_density,source\ndiesel,gal,134.47,s\n",
        units="unit,factor,in_unit,source\ngal,0.003785411784,m3,s\n",
        heating_value="fuel_type,lhv_per_hhv,source\nrng,0.9,s\n",
        transaction_types="transaction_type,effect,source\nExport,-1,s\n",
    )
    assert tables.benchmarks == (Benchmark("diesel", None, None, 81.7, "s", "confirmed"),)
    assert tables.eers == (Eer("diesel_ci", "diesel", 1.0, "", None, None, "s", "confirmed", ""),)
    assert tables.energy_densities == (
        EnergyDensity("diesel", "gal", 134.47, None, None, "s", "confirmed", ""),
    )
    assert tables.units == (UnitDef("gal", 0.003785411784, "m3", "", "", (), "s", "confirmed"),)
    assert tables.heating_values == (HeatingValue("rng", 0.9, "s", "confirmed"),)
    assert tables.transaction_types == (TransactionType("Export", -1, "", "s"),)


# --- refusals: each names its file and what is wrong -------------------------------------------


def _bad(stem: str, header: str, row: str) -> tuple[str, str]:
    return stem, f"{header}\n{row}\n"


BENCH = "displaced,effective_from,effective_to,ci_benchmark,status,source"
EER = "application,displaced,eer,effective_from,effective_to,status,source"
DENS = "fuel_type,unit,energy_density,effective_from,effective_to,status,source"
UNITS = "unit,factor,in_unit,status,source"
HEAT = "fuel_type,lhv_per_hhv,status,source"
KINDS = "transaction_type,effect,source"


@pytest.mark.parametrize(
    ("stem", "text", "message"),
    [
        (
            *_bad("benchmarks", BENCH, "kerosene,,,80,,s"),
            "benchmarks.csv: displaced 'kerosene' is not one of gasoline, diesel, jet",
        ),
        (
            *_bad("benchmarks", BENCH, "diesel,2025/07/01,,80,,s"),
            "benchmarks.csv: effective_from '2025/07/01' is not a YYYY-MM-DD date",
        ),
        (
            *_bad("benchmarks", BENCH, "diesel,,July 2026,80,,s"),
            "benchmarks.csv: effective_to 'July 2026' is not a YYYY-MM-DD date",
        ),
        (
            *_bad("benchmarks", BENCH, "diesel,,,eighty,,s"),
            "benchmarks.csv: ci_benchmark 'eighty' is not a number",
        ),
        (
            *_bad("benchmarks", BENCH, "diesel,,,nan,,s"),
            "benchmarks.csv: ci_benchmark 'nan' is not a valid value",
        ),
        (
            *_bad("benchmarks", BENCH, "diesel,,,-inf,,s"),
            "benchmarks.csv: ci_benchmark '-inf' is not a valid value",
        ),
        (
            *_bad("benchmarks", BENCH, "diesel,,,80,draft,s"),
            "benchmarks.csv: status 'draft' is not one of confirmed, unconfirmed",
        ),
        (
            *_bad("eer", EER, "x,petrol,1,,,,s"),
            "eer.csv: displaced 'petrol' is not one of gasoline, diesel, jet",
        ),
        (*_bad("eer", EER, "x,diesel,0,,,,s"), "eer.csv: eer '0' is not a valid value"),
        (*_bad("eer", EER, "x,diesel,inf,,,,s"), "eer.csv: eer 'inf' is not a valid value"),
        (*_bad("eer", EER, "x,diesel,nan,,,,s"), "eer.csv: eer 'nan' is not a valid value"),
        (*_bad("eer", EER, "x,diesel,one,,,,s"), "eer.csv: eer 'one' is not a number"),
        (
            *_bad("eer", EER, "x,diesel,1,2025-13-01,,,s"),
            "eer.csv: effective_from '2025-13-01' is not a YYYY-MM-DD date",
        ),
        (
            *_bad("eer", EER, "x,diesel,1,,2025-02-30,,s"),
            "eer.csv: effective_to '2025-02-30' is not a YYYY-MM-DD date",
        ),
        (
            *_bad("eer", EER, "x,diesel,1,,,final,s"),
            "eer.csv: status 'final' is not one of confirmed, unconfirmed",
        ),
        (
            *_bad("energy_density", DENS, "rng,scf,0,,,,s"),
            "energy_density.csv: energy_density '0' is not a valid value",
        ),
        (
            *_bad("energy_density", DENS, "rng,scf,-0.98,,,,s"),
            "energy_density.csv: energy_density '-0.98' is not a valid value",
        ),
        (
            *_bad("energy_density", DENS, "rng,scf,?,,,,s"),
            "energy_density.csv: energy_density '?' is not a number",
        ),
        (
            *_bad("energy_density", DENS, "rng,scf,1,01/01/2025,,,s"),
            "energy_density.csv: effective_from '01/01/2025' is not a YYYY-MM-DD date",
        ),
        (
            *_bad("energy_density", DENS, "rng,scf,1,,2026,,s"),
            "energy_density.csv: effective_to '2026' is not a YYYY-MM-DD date",
        ),
        (
            *_bad("energy_density", DENS, "rng,scf,1,,,ok,s"),
            "energy_density.csv: status 'ok' is not one of confirmed, unconfirmed",
        ),
        (*_bad("units", UNITS, "bbl,0,gal,,s"), "units.csv: factor '0' is not a valid value"),
        (*_bad("units", UNITS, "bbl,-42,gal,,s"), "units.csv: factor '-42' is not a valid value"),
        (*_bad("units", UNITS, "bbl,42x,gal,,s"), "units.csv: factor '42x' is not a number"),
        (
            *_bad("units", UNITS, "bbl,42,gal,yes,s"),
            "units.csv: status 'yes' is not one of confirmed, unconfirmed",
        ),
        (
            *_bad("heating_value", HEAT, "rng,0,,s"),
            "heating_value.csv: lhv_per_hhv '0' is not a valid value",
        ),
        (
            *_bad("heating_value", HEAT, "rng,90%,,s"),
            "heating_value.csv: lhv_per_hhv '90%' is not a number",
        ),
        (
            *_bad("heating_value", HEAT, "rng,0.9,maybe,s"),
            "heating_value.csv: status 'maybe' is not one of confirmed, unconfirmed",
        ),
        (
            *_bad("transaction_types", KINDS, "Swap,2,s"),
            "transaction_types.csv: effect '2' is not -1, 0 or 1",
        ),
        (
            *_bad("transaction_types", KINDS, "Swap,++1,s"),
            "transaction_types.csv: effect '++1' is not -1, 0 or 1",
        ),
        (
            *_bad("transaction_types", KINDS, "Swap,+-1,s"),
            "transaction_types.csv: effect '+-1' is not -1, 0 or 1",
        ),
        (
            *_bad("transaction_types", KINDS, "Swap,1+,s"),
            "transaction_types.csv: effect '1+' is not -1, 0 or 1",
        ),
        (
            *_bad("transaction_types", KINDS, "Swap,X1,s"),
            "transaction_types.csv: effect 'X1' is not -1, 0 or 1",
        ),
        (
            *_bad("transaction_types", KINDS, "Swap,,s"),
            "transaction_types.csv: effect '' is not -1, 0 or 1",
        ),
        ("units", "unit,in_unit,source\nbbl,gal,s\n", "units.csv: missing column(s) factor"),
        ("eer", "application,source\n", "eer.csv: missing column(s) displaced, eer"),
    ],
)
def test_a_bad_table_is_refused_naming_its_file_and_value(
    stem: str, text: str, message: str
) -> None:
    with pytest.raises(InvalidTableError) as info:
        parse(**{stem: text})
    assert str(info.value) == f"LCFS table {message}"
    assert info.value.code == "lcfs_invalid_table"


@pytest.mark.parametrize(("effect", "value"), [("1", 1), ("+1", 1), (" -1 ", -1), ("+0", 0)])
def test_transaction_effect_spellings(effect: str, value: int) -> None:
    (row,) = parse(transaction_types=f"{KINDS}\nSwap,{effect},s\n").transaction_types
    assert row.effect == value


def test_a_table_that_is_not_utf8_or_missing_is_refused() -> None:
    files = {name: text.encode() for name, text in FILES.items()}
    with pytest.raises(InvalidTableError) as info:
        parse_tables(
            {**files, "eer.csv": "application,displaced,eer,source\nä,x,1,s\n".encode("latin-1")}
        )
    assert str(info.value) == "LCFS table eer.csv: not UTF-8"
    for gone in ("eer.csv", "units.csv"):
        del files[gone]
    with pytest.raises(InvalidTableError) as info:
        parse_tables(files)
    assert str(info.value) == "LCFS table eer.csv, units.csv: missing"


# --- overrides --------------------------------------------------------------------------------


def test_one_override_file_replaces_its_namesake(tmp_path: Path) -> None:
    bench = tmp_path / "benchmarks.csv"
    bench.write_text(f"{BENCH}\ndiesel,2030-01-01,2031-01-01,70.0,confirmed,test row\n")
    tables = load_tables(bench)
    assert tables.benchmarks == (
        Benchmark("diesel", dt.date(2030, 1, 1), dt.date(2031, 1, 1), 70.0, "test row"),
    )
    assert dict(tables.files)["benchmarks.csv"] == bench.read_bytes()
    assert tables.eers == PACKAGED.eers  # the other files stay packaged


def test_an_override_that_is_no_table_or_missing_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "benchmark.csv"
    other.write_text(BENCH + "\n")
    with pytest.raises(InvalidTableError) as info:
        load_tables(other)
    assert str(info.value) == (
        "LCFS table benchmark.csv: an override file must be named one of benchmarks.csv, "
        "eer.csv, energy_density.csv, fuel_types.csv, heating_value.csv, "
        "transaction_types.csv, units.csv"
    )
    gone = tmp_path / "nowhere"
    with pytest.raises(InvalidTableError) as info:
        load_tables(gone)
    assert str(info.value) == f"LCFS table {gone}: override directory or file not found"


def test_confirmed_only_drops_every_unconfirmed_row() -> None:
    full = parse()
    kept = confirmed_only(full)
    assert [b.source for b in kept.benchmarks] == ["test row G"]
    assert [e.source for e in kept.eers] == ["test row E1"]
    assert [d.source for d in kept.energy_densities] == ["test row R2"]
    assert [u.source for u in kept.units] == ["test row U2", "test row U3"]
    assert [h.source for h in kept.heating_values] == ["test row H2"]
    assert (kept.fuel_types, kept.transaction_types) == (full.fuel_types, full.transaction_types)
    assert kept.files == full.files
    # The packaged benchmarks are all unconfirmed so far: none is left to use.
    assert load_tables(require_confirmed=True).benchmarks == ()


# --- look-ups ---------------------------------------------------------------------------------


def test_heating_value_by_fuel() -> None:
    tables = parse()
    assert tables.heating_value("cng") == HeatingValue("cng", 0.9, "test row H2", "confirmed")
    assert tables.heating_value("rng") == HeatingValue("rng", 0.9017, "test row H", "unconfirmed")
    assert tables.heating_value("lng") is None


@pytest.mark.parametrize(
    ("day", "eer"),
    [
        (dt.date(2025, 1, 1), 5.0),
        (dt.date(2026, 12, 31), 5.0),
        (dt.date(2027, 1, 1), 4.0),
        (dt.date(2040, 1, 1), 4.0),
    ],
)
def test_the_eer_row_in_force_on_the_date(day: dt.date, eer: float) -> None:
    assert parse().eer("electricity_hdv", day).eer == eer


def test_an_eer_before_its_first_row_or_of_an_unknown_application_is_refused() -> None:
    tables = parse()
    with pytest.raises(UnknownParameterError) as info:
        tables.eer("electricity_hdv", dt.date(2024, 12, 31))
    assert str(info.value) == "unknown application 'electricity_hdv'; no row in force on 2024-12-31"
    with pytest.raises(UnknownParameterError) as info:
        PACKAGED.eer("hydrogen_ldv", dt.date(2025, 8, 15))
    assert str(info.value) == (
        "unknown application 'hydrogen_ldv'; known: alternative_jet, cng_ldv_ice, cng_lng_hd_ci, "
        "cng_lng_hd_si, diesel_ci, electricity_hdv, electricity_ldv, gasoline_ice; add its row "
        "to eer.csv (17 CCR §95486.1 Table 5) in the LCFS tables directory"
    )
    assert info.value.kind == "application"


def test_an_unknown_fuel_type_lists_the_known_ones() -> None:
    with pytest.raises(UnknownParameterError) as info:
        PACKAGED.default_application("kerosene")
    assert str(info.value) == (
        "unknown fuel type 'kerosene'; known: alternative_jet, biodiesel, cng, diesel, "
        "electricity, ethanol, gasoline, hydrogen, lng, renewable_diesel, rng "
        "(or give an application)"
    )


def test_unknown_and_unconfirmed_transaction_types_name_the_accepted_ones() -> None:
    accepted = (
        "Production in California; Import; Purchased with Obligation; Sold with Obligation; "
        "Export; Loss of Inventory; Not Used for Transportation; Sold without Obligation; "
        "Purchased without Obligation"
    )
    with pytest.raises(UnknownParameterError) as info:
        PACKAGED.transaction_type("Gift")
    assert str(info.value) == f"unknown transaction type 'Gift'; accepted: {accepted}"
    with pytest.raises(UnknownParameterError) as info:
        PACKAGED.transaction_type(" Gain  of INVENTORY ")
    assert str(info.value) == (
        "unknown transaction type ' Gain  of INVENTORY '; not accepted: how it moves the "
        "reporting entity's obligation is not confirmed from the regulation; report the "
        "quantity under a confirmed type, or add a row to transaction_types.csv with its effect "
        f"and source. Accepted: {accepted}"
    )


def test_no_benchmark_names_the_fuel_and_the_date_or_quarter() -> None:
    with pytest.raises(NoBenchmarkError) as info:
        PACKAGED.benchmark("diesel", dt.date(2024, 12, 31))
    assert str(info.value) == (
        "no diesel CI benchmark for 2024-12-31 in the benchmark table; add a row to "
        "benchmarks.csv in the LCFS tables override directory (values from 17 CCR §95484 "
        "Tables 1-3 in force for that period)"
    )
    with pytest.raises(NoBenchmarkError) as info:
        PACKAGED.quarter_benchmark("jet", 2025, 3)
    assert (info.value.displaced, info.value.period) == ("jet", "2025 Q3")


def test_a_benchmark_that_changes_within_a_quarter_is_refused() -> None:
    tables = parse(
        benchmarks=f"{BENCH}\ndiesel,2025-07-01,2025-08-15,81.7,,a\n"
        "diesel,2025-08-15,2026-01-01,80.0,,b\n"
    )
    assert tables.benchmark("diesel", dt.date(2025, 8, 15)).ci_benchmark == 80.0
    with pytest.raises(BenchmarkChangesInQuarterError) as info:
        tables.quarter_benchmark("diesel", 2025, 3)
    assert str(info.value) == (
        "the diesel CI benchmark changes within 2025 Q3; benchmark rows must start and end on "
        "quarter boundaries"
    )
    assert tables.quarter_benchmark("diesel", 2025, 4).source == "b"


@pytest.mark.parametrize(
    ("year", "quarter", "first", "last"),
    [
        (2000, 1, dt.date(2000, 1, 1), dt.date(2000, 3, 31)),
        (2024, 1, dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        (2024, 2, dt.date(2024, 4, 1), dt.date(2024, 6, 30)),
        (2025, 3, dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
        (2025, 4, dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
        (2100, 4, dt.date(2100, 10, 1), dt.date(2100, 12, 31)),
    ],
)
def test_quarter_dates(year: int, quarter: int, first: dt.date, last: dt.date) -> None:
    assert quarter_dates(year, quarter) == (first, last)


@pytest.mark.parametrize(
    ("year", "quarter", "message"),
    [
        (2025, 0, "quarter must be 1, 2, 3 or 4 (got 0)"),
        (2025, 5, "quarter must be 1, 2, 3 or 4 (got 5)"),
        (1999, 4, "year 1999 is out of range (2000-2100)"),
        (2101, 1, "year 2101 is out of range (2000-2100)"),
    ],
)
def test_quarter_dates_out_of_range(year: int, quarter: int, message: str) -> None:
    with pytest.raises(InvalidPeriodError) as info:
        quarter_dates(year, quarter)
    assert str(info.value) == message


# --- overlapping rows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "text", "message"),
    [
        (
            "benchmarks",
            f"{BENCH}\ndiesel,2025-01-01,2025-07-02,1,,a\ndiesel,2025-07-01,,2,,b\n",
            "benchmarks.csv: rows for diesel overlap",
        ),
        (
            "benchmarks",
            f"{BENCH}\ngasoline,,,1,,a\ngasoline,2030-01-01,,2,,b\n",
            "benchmarks.csv: rows for gasoline overlap",
        ),
        (
            "eer",
            f"{EER}\nx_app,diesel,1,,2026-01-01,,a\nx_app,diesel,2,2025-12-31,,,b\n",
            "eer.csv: rows for x_app overlap",
        ),
        (
            "energy_density",
            f"{DENS}\nrng,scf,1,,,,a\nrng,scf,2,,,,b\n",
            "energy_density.csv: rows for rng scf overlap",
        ),
    ],
)
def test_overlapping_rows_are_refused(stem: str, text: str, message: str) -> None:
    with pytest.raises(InvalidTableError) as info:
        parse(**{stem: text})
    assert str(info.value) == f"LCFS table {message}"


def test_rows_that_meet_or_differ_in_key_do_not_overlap() -> None:
    tables = parse(
        benchmarks=f"{BENCH}\ndiesel,,2025-07-01,1,,a\ndiesel,2025-07-01,,2,,b\ngasoline,,,3,,c\n",
        eer=f"{EER}\nx_app,diesel,1,,,,a\ny_app,diesel,2,,,,b\n",
        energy_density=f"{DENS}\nrng,scf,1,,,,a\nrng,GGE,2,,,,b\ncng,scf,3,,,,c\n",
    )
    assert [b.source for b in tables.benchmarks] == ["a", "b", "c"]
    assert len(tables.eers) == 2 and len(tables.energy_densities) == 3
