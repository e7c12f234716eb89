"""Units: spellings, the energy of one unit of a fuel and every row it came from, dated rows,
fuel-specific definitions, conversions between units, and the limits of chained definitions.

Figures: 1 US gal = 3.785411784 L (NIST Handbook 44, Appendix C); 1 ft3 = 0.028316846592 m3,
1 kWh = 3.6 MJ (NIST SP 811, Appendix B); 1 GGE of CNG = 126.67 scf (California AB 1907);
the energy densities are the packaged 17 CCR §95486.1 Table 4 rows (diesel 134.47 MJ/gal, CNG
0.98 MJ/scf, CARBOB 119.53 MJ/gal).
"""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.lcfs import energy_per_unit, load_tables
from pipelines.lcfs.errors import UnknownParameterError
from pipelines.lcfs.tables import LcfsTables, parse_tables
from pipelines.lcfs.units import (
    _MAX_DEPTH,
    ParameterUsed,
    canonical_unit,
    convert_quantity,
    unit_basis,
)

TABLES = load_tables()
Q3 = dt.date(2025, 8, 15)
GAL_M3 = 0.003785411784
SCF_M3 = 0.028316846592
DENSITY_HEADER = "fuel_type,unit,energy_density,effective_from,effective_to,status,source\n"
UNITS_HEADER = "unit,factor,in_unit,fuel_type,of_fuel,aliases,basis,status,source\n"


def tables_with(**csv_text: str) -> LcfsTables:
    """The packaged tables with whole files replaced (``energy_density="..."``), as an override
    directory would."""
    files = dict(TABLES.files)
    for stem, text in csv_text.items():
        files[f"{stem}.csv"] = text.encode()
    return parse_tables(files)


def source_of(unit: str, fuel: str = "") -> str:
    return next(r.source for r in TABLES.units if r.unit == unit and r.fuel_type == fuel)


def density_source(fuel: str) -> str:
    return next(r.source for r in TABLES.energy_densities if r.fuel_type == fuel)


# --- spellings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "unit"),
    [
        ("cubic metres", "m3"),
        (" M³ ", "m3"),
        ("CBM", "m3"),
        ("Kilograms", "kg"),
        ("megajoules", "MJ"),
        ("MJ", "MJ"),
        ("US Gal", "gal"),
        ("Dekatherms", "MMBtu"),
        ("kwh", "kWh"),
    ],
)
def test_unit_spellings_and_aliases(spelling: str, unit: str) -> None:
    assert canonical_unit(TABLES, spelling) == unit


def test_an_unknown_unit_names_every_known_unit() -> None:
    with pytest.raises(UnknownParameterError) as info:
        canonical_unit(TABLES, "bushel")
    assert str(info.value) == (
        "unknown unit 'bushel'; known: DGE, GGE, GJ, L, MJ, MMBtu, gal, kWh, kg, lb, m3, scf, therm"
    )


def test_a_unit_known_only_from_an_energy_density_row() -> None:
    # No units.csv row for "bbl": the density row alone makes it a unit (any case), usable in
    # its own unit but not convertible to a volume, since nothing says what a bbl is.
    tables = tables_with(energy_density=DENSITY_HEADER + "crude,bbl,6000,,,confirmed,test row\n")
    assert canonical_unit(tables, "BBL") == "bbl"
    assert energy_per_unit(tables, "crude", "Bbl", Q3).mj_per_unit == 6000.0
    with pytest.raises(UnknownParameterError, match="energy density 'crude per m3'"):
        energy_per_unit(tables, "crude", "m3", Q3)


# --- the energy of one unit and its provenance -----------------------------------------------


def test_litres_of_diesel_go_through_the_gallon_row_with_every_figure_listed() -> None:
    energy = energy_per_unit(TABLES, "diesel", "litres", Q3)
    assert energy.mj_per_unit == pytest.approx(0.001 * 134.47 / GAL_M3, rel=1e-15)
    assert energy.parameters == (
        ParameterUsed("unit definition", "1 L", 0.001, "m3", source_of("L"), "confirmed"),
        ParameterUsed(
            "energy density",
            "diesel per gal",
            134.47,
            "MJ/gal",
            density_source("diesel"),
            "unconfirmed",
        ),
        ParameterUsed("unit definition", "1 gal", GAL_M3, "m3", source_of("gal"), "confirmed"),
    )


def test_a_fuel_specific_gge_names_its_fuel_and_keeps_its_status() -> None:
    energy = energy_per_unit(TABLES, "rng", "gge", Q3)
    assert energy.mj_per_unit == pytest.approx(126.67 * 0.98, rel=1e-15)
    assert energy.parameters == (
        ParameterUsed(
            "unit definition",
            "1 GGE (rng)",
            126.67,
            "scf",
            source_of("GGE", "rng"),
            "unconfirmed",
        ),
        ParameterUsed(
            "energy density", "rng per scf", 0.98, "MJ/scf", density_source("rng"), "unconfirmed"
        ),
    )


def test_a_generic_gge_is_a_gallon_of_gasoline_and_says_so() -> None:
    energy = energy_per_unit(TABLES, "electricity", "GGE", Q3)
    assert energy.mj_per_unit == 119.53
    assert energy.parameters == (
        ParameterUsed(
            "unit definition", "1 GGE", 1.0, "gal of gasoline", source_of("GGE"), "confirmed"
        ),
        ParameterUsed(
            "energy density",
            "gasoline per gal",
            119.53,
            "MJ/gal",
            density_source("gasoline"),
            "unconfirmed",
        ),
    )


def test_a_fuel_without_a_density_for_the_unit_is_refused_with_what_to_add() -> None:
    with pytest.raises(UnknownParameterError) as info:
        energy_per_unit(TABLES, "hydrogen", "gallons", Q3)  # hydrogen has MJ/kg only
    assert str(info.value) == (
        "unknown energy density 'hydrogen per gallons'; add a row to energy_density.csv "
        "(MJ per unit) or give energy_density"
    )
    assert info.value.kind == "energy_density"


# --- dated rows -------------------------------------------------------------------------------

DATED = tables_with(
    energy_density=DENSITY_HEADER
    + "diesel,gal,130,2025-01-01,2026-01-01,confirmed,row 2025\n"
    + "diesel,gal,120,2024-01-01,2025-01-01,confirmed,row 2024\n"
    + "diesel,gal,140,2026-01-01,,confirmed,row 2026 on\n"
)


@pytest.mark.parametrize(
    ("day", "mj_per_gal", "source"),
    [
        (dt.date(2024, 12, 31), 120.0, "row 2024"),
        (dt.date(2025, 1, 1), 130.0, "row 2025"),  # effective_from is inclusive
        (dt.date(2025, 12, 31), 130.0, "row 2025"),
        (dt.date(2026, 1, 1), 140.0, "row 2026 on"),  # effective_to is exclusive
        (dt.date(2031, 6, 1), 140.0, "row 2026 on"),
    ],
)
def test_the_row_in_force_on_the_date_is_used_directly_and_through_units(
    day: dt.date, mj_per_gal: float, source: str
) -> None:
    direct = energy_per_unit(DATED, "diesel", "gal", day)
    assert (direct.mj_per_unit, direct.parameters[0].source) == (mj_per_gal, source)
    # DGE = 1 gal of diesel: the definition is followed on the same date.
    dge = energy_per_unit(DATED, "biodiesel", "DGE", day)
    assert (dge.mj_per_unit, dge.parameters[1].source) == (mj_per_gal, source)
    # litres: through the base unit m3 and the gallon row in force on that date.
    litre = energy_per_unit(DATED, "diesel", "L", day)
    assert litre.mj_per_unit == pytest.approx(mj_per_gal * 0.001 / GAL_M3, rel=1e-15)
    assert litre.parameters[1].source == source


@pytest.mark.parametrize("unit", ["gal", "DGE", "L"])
def test_a_date_before_every_row_is_refused(unit: str) -> None:
    with pytest.raises(UnknownParameterError, match="energy density 'diesel per "):
        energy_per_unit(DATED, "diesel", unit, dt.date(2023, 12, 31))


def test_a_conversion_reads_both_units_on_its_date() -> None:
    for day in (dt.date(2024, 6, 1), dt.date(2026, 6, 1)):  # 120 and 140 MJ/gal: the same ratio
        assert convert_quantity(DATED, "diesel", 2.0, "gal", "L", day) == pytest.approx(
            2 * GAL_M3 / 0.001, rel=1e-15
        )
    with pytest.raises(UnknownParameterError, match="'diesel per gal'"):
        convert_quantity(DATED, "diesel", 2.0, "gal", "L", dt.date(2023, 12, 31))


# --- fuel-specific definitions ----------------------------------------------------------------

# A fuel with its own barrel (31 gal) and a drum of two of them; everyone else's barrel is the
# 42-gal petroleum barrel. Its energy density is given per drum.
BARRELS = tables_with(
    units=UNITS_HEADER
    + f"gal,{GAL_M3},m3,,,gallon,,confirmed,NIST gallon\n"
    + "bbl,42,gal,,,,,confirmed,petroleum barrel\n"
    + "bbl,31,gal,test_fuel,,,,unconfirmed,its own barrel\n"
    + "drum,2,bbl,test_fuel,,,,confirmed,its drum\n"
    + "therm,105.505585262,MJ,,,,HHV,confirmed,therm\n"
    + "therm,105.505585262,MJ,test_fuel,,,,confirmed,its therm on the LHV basis\n",
    energy_density=DENSITY_HEADER + "test_fuel,drum,1000,,,confirmed,its drum's energy\n",
)


def test_a_fuel_specific_definition_wins_over_the_generic_one() -> None:
    per_m3 = energy_per_unit(BARRELS, "test_fuel", "m3", Q3)
    assert per_m3.mj_per_unit == pytest.approx(1000 / (2 * 31 * GAL_M3), rel=1e-15)
    assert [(p.key, p.value, p.unit, p.status) for p in per_m3.parameters] == [
        ("test_fuel per drum", 1000.0, "MJ/drum", "confirmed"),
        ("1 drum", 2.0, "bbl", "confirmed"),
        ("1 bbl", 31.0, "gal", "unconfirmed"),
        ("1 gal", GAL_M3, "m3", "confirmed"),
    ]
    # 42 gal of test_fuel is 42/31 of its own barrels (not one petroleum barrel).
    assert convert_quantity(BARRELS, "test_fuel", 42.0, "gal", "bbl", Q3) == pytest.approx(
        42 / 31, rel=1e-15
    )
    assert unit_basis(BARRELS, "test_fuel", "therm") == ""
    assert unit_basis(BARRELS, "rng", "therm") == "HHV"


def test_energy_per_energy_equivalent_unit_is_not_read_as_a_volume() -> None:
    # A density per DGE (the energy of a gallon of diesel) says nothing about the fuel's volume.
    tables = tables_with(energy_density=DENSITY_HEADER + "test_fuel,DGE,134,,,confirmed,x\n")
    assert energy_per_unit(tables, "test_fuel", "DGE", Q3).mj_per_unit == 134.0
    with pytest.raises(UnknownParameterError, match="'test_fuel per m3'"):
        energy_per_unit(tables, "test_fuel", "m3", Q3)


@pytest.mark.parametrize(
    ("fuel", "unit", "basis"),
    [
        ("rng", "therms", "HHV"),
        ("rng", "dth", "HHV"),
        ("rng", "scf", ""),
        ("diesel", "m3", ""),
        ("hydrogen", "kg", ""),
        ("electricity", "MJ", ""),
    ],
)
def test_unit_basis(fuel: str, unit: str, basis: str) -> None:
    assert unit_basis(TABLES, fuel, unit) == basis


# --- conversions between units ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fuel", "quantity", "unit", "to_unit", "expected"),
    [
        ("rng", 126_670.0, "scf", "GGE", 1_000.0),
        ("rng", 1_000.0, "GGE", "scf", 126_670.0),
        ("diesel", 1.0, "m3", "gal", 1 / GAL_M3),
        ("cng", 1.0, "m3", "scf", 1 / SCF_M3),
        ("electricity", 119.53, "MJ", "GGE", 1.0),
        ("electricity", 1.0, "GGE", "kWh", 119.53 / 3.6),
        ("hydrogen", 2.0, "lb", "kg", 2 * 0.45359237),
    ],
)
def test_convert_quantity(
    fuel: str, quantity: float, unit: str, to_unit: str, expected: float
) -> None:
    assert convert_quantity(TABLES, fuel, quantity, unit, to_unit, Q3) == pytest.approx(
        expected, rel=1e-14
    )


def test_the_same_unit_in_two_spellings_needs_no_figure() -> None:
    # Hydrogen has no MJ/lb row of its own, and none is needed to say 5 lb is 5 pounds.
    assert convert_quantity(TABLES, "hydrogen", 5.0, "lb", "Pounds", Q3) == 5.0
    assert convert_quantity(TABLES, "no_such_fuel", 5.0, "gal", "gallons", Q3) == 5.0
    with pytest.raises(UnknownParameterError, match="'no_such_fuel per gal'"):
        convert_quantity(TABLES, "no_such_fuel", 5.0, "gal", "L", Q3)


# --- chained definitions: a cycle and the depth limit ----------------------------------------


def chain(length: int, to: str) -> str:
    """units.csv rows u0 = 2 u1, u1 = 2 u2, ..., u{length-1} = 2 ``to``."""
    rows = [f"u{k},2,u{k + 1},,,,,confirmed,chain\n" for k in range(length - 1)]
    return UNITS_HEADER + "".join(rows) + f"u{length - 1},2,{to},,,,,confirmed,chain\n"


def test_a_cycle_of_definitions_is_refused_not_followed_forever() -> None:
    tables = tables_with(
        units=UNITS_HEADER + "a,2,b,,,,,confirmed,x\nb,0.5,a,,,,,confirmed,x\n",
        energy_density=DENSITY_HEADER + "test_fuel,a,10,,,confirmed,x\n",
    )
    assert energy_per_unit(tables, "test_fuel", "b", Q3).mj_per_unit == 5.0  # half an a
    # Another fuel has no density in either unit: a = 2 b = 2 x 0.5 a = ... ends in a refusal.
    for unit in ("a", "b"):
        with pytest.raises(UnknownParameterError, match=f"'other_fuel per {unit}'"):
            energy_per_unit(tables, "other_fuel", unit, Q3)
    # Nor does reducing a (per a) to m3 go round: a is no volume.
    with pytest.raises(UnknownParameterError, match="'test_fuel per m3'"):
        energy_per_unit(tables, "test_fuel", "m3", Q3)


def test_definitions_to_energy_are_followed_to_the_depth_limit_and_no_further() -> None:
    tables = tables_with(units=chain(_MAX_DEPTH, "MJ"))  # u0 .. u5 = 2 u1 .. 2 MJ
    assert energy_per_unit(tables, "any", "u0", Q3).mj_per_unit == 2.0**_MAX_DEPTH
    assert len(energy_per_unit(tables, "any", "u0", Q3).parameters) == _MAX_DEPTH
    longer = tables_with(units=chain(_MAX_DEPTH + 1, "MJ"))
    assert energy_per_unit(longer, "any", "u1", Q3).mj_per_unit == 2.0**_MAX_DEPTH
    with pytest.raises(UnknownParameterError, match="'any per u0'"):
        energy_per_unit(longer, "any", "u0", Q3)


def test_definitions_to_a_base_unit_are_followed_to_the_depth_limit_and_no_further() -> None:
    # A density per u0 read in m3: u0 is reduced to m3 through its definitions, one more
    # step allowed than above (the base unit itself needs no row).
    density = DENSITY_HEADER + "test_fuel,u0,1000,,,confirmed,x\n"
    tables = tables_with(units=chain(_MAX_DEPTH + 1, "m3"), energy_density=density)
    per_m3 = energy_per_unit(tables, "test_fuel", "m3", Q3)
    assert per_m3.mj_per_unit == 1000 / 2.0 ** (_MAX_DEPTH + 1)
    assert len(per_m3.parameters) == _MAX_DEPTH + 2
    longer = tables_with(units=chain(_MAX_DEPTH + 2, "m3"), energy_density=density)
    with pytest.raises(UnknownParameterError, match="'test_fuel per m3'"):
        energy_per_unit(longer, "test_fuel", "m3", Q3)
