"""What the regulation lists against what the parameter tables hold.

``coverage(tables)`` walks the figures 17 CCR §95484 and §95486.1 define (CI benchmarks per
displaced fuel and year, Table 4 energy densities, Table 5 EERs) and says, for each, whether a
row covers it and in what status, or what to add and where in the regulation to read it.
``tickwork lcfs tables`` prints it. A missing figure is never filled in: a report that needs it
fails with an error naming the same row to add.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipelines.lcfs.tables import Benchmark, Eer, EnergyDensity, LcfsTables, in_force

FIRST_YEAR = 2011  # the first compliance period (17 CCR §95485(b)(1))
LAST_YEAR = 2045  # the amended benchmarks run to a 90 % reduction in 2045
AMENDED_FROM = dt.date(2025, 7, 1)  # the 2025 amendment's benchmarks apply from Q3 2025

# 17 CCR §95486.1 Table 4 fuels, by the fuel_type names the tables use, with their usual unit.
TABLE4_FUELS = (
    ("gasoline", "gal", "CARBOB"),
    ("diesel", "gal", "ULSD"),
    ("ethanol", "gal", "denatured ethanol"),
    ("undenatured_ethanol", "gal", "undenatured ethanol"),
    ("biodiesel", "gal", "biodiesel"),
    ("renewable_diesel", "gal", "renewable diesel"),
    ("conventional_jet", "gal", "conventional (fossil) jet fuel"),
    ("alternative_jet", "gal", "alternative jet fuel"),
    ("cng", "scf", "CNG"),
    ("lng", "gal", "LNG"),
    ("propane", "gal", "propane"),
    ("electricity", "kWh", "electricity"),
    ("hydrogen", "kg", "hydrogen"),
)

# 17 CCR §95486.1 Table 5 rows, by application code.
TABLE5_APPLICATIONS = (
    ("gasoline_ice", "light/medium-duty gasoline and ethanol blends"),
    ("cng_ldv_ice", "light/medium-duty CNG"),
    ("electricity_ldv", "light/medium-duty battery-electric or plug-in hybrid"),
    ("hydrogen_ldv", "light/medium-duty hydrogen fuel-cell vehicle"),
    ("diesel_ci", "heavy-duty diesel and biomass-based diesel blends"),
    ("cng_lng_hd_si", "heavy-duty CNG or LNG, spark-ignition engines"),
    ("cng_lng_hd_ci", "heavy-duty CNG or LNG, compression-ignition engines"),
    ("electricity_hdv", "heavy-duty battery-electric or plug-in hybrid truck or bus"),
    ("hydrogen_hdv", "heavy-duty hydrogen fuel-cell vehicle"),
    ("fixed_guideway_heavy_rail", "electricity, fixed guideway: heavy rail"),
    ("fixed_guideway_light_rail", "electricity, fixed guideway: light rail"),
    ("trolley_bus_cable_car_street_car", "electricity: trolley bus, cable car, street car"),
    ("electric_forklift", "electricity: forklifts"),
    ("hydrogen_forklift", "hydrogen: fuel-cell forklifts"),
    ("transport_refrigeration", "electricity: transport refrigeration units"),
    ("cargo_handling", "electricity: cargo handling equipment"),
    ("shore_power", "electricity: ocean-going vessels at berth (shore power)"),
    ("alternative_jet", "aviation: alternative jet fuel"),
)


@dataclass(frozen=True)
class CoverageItem:
    """One figure the regulation defines: ``status`` is the covering row's status, or
    ``missing`` with ``add`` saying which row to add and where to read its value."""

    table: str  # benchmarks.csv | energy_density.csv | eer.csv
    key: str
    status: str  # confirmed | unconfirmed | missing
    source: str
    add: str = ""


def coverage(tables: LcfsTables) -> tuple[CoverageItem, ...]:
    """Every figure of §95484 Tables 1-3 and §95486.1 Tables 4-5, covered or not."""
    return (*_benchmarks(tables), *_densities(tables), *_eers(tables))


def _benchmarks(tables: LcfsTables) -> list[CoverageItem]:
    out = []
    for displaced, table in (("gasoline", "Table 1"), ("diesel", "Table 2"), ("jet", "Table 3")):
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            halves = [dt.date(year, 1, 1)]
            if year == AMENDED_FROM.year:
                halves.append(AMENDED_FROM)
            for on in halves:
                if displaced == "jet" and on < AMENDED_FROM:
                    continue  # the jet table comes with the 2025 amendment
                key = f"{displaced} {year}" + (" (from Q3)" if on == AMENDED_FROM else "")
                if year == AMENDED_FROM.year and on != AMENDED_FROM and displaced != "jet":
                    key += " (Q1-Q2)"
                row = next(
                    (
                        b
                        for b in tables.benchmarks
                        if b.displaced == displaced
                        and in_force(b.effective_from, b.effective_to, on)
                    ),
                    None,
                )
                where = f"17 CCR §95484 {table}, {year} row"
                add = f'{displaced},{on.isoformat()},<end>,<value>,confirmed,"{where}"'
                out.append(_item("benchmarks.csv", key, row, add))
    return out


def _densities(tables: LcfsTables) -> list[CoverageItem]:
    out = []
    for fuel, unit, name in TABLE4_FUELS:
        row = next((d for d in tables.energy_densities if d.fuel_type == fuel), None)
        where = f"17 CCR §95486.1 Table 4, {name}"
        add = f'{fuel},{unit},<MJ per {unit}>,LHV,,,confirmed,"{where}"'
        out.append(_item("energy_density.csv", f"{fuel} per {row.unit if row else unit}", row, add))
    return out


def _eers(tables: LcfsTables) -> list[CoverageItem]:
    out = []
    for application, name in TABLE5_APPLICATIONS:
        row = next((e for e in tables.eers if e.application == application), None)
        where = f"17 CCR §95486.1 Table 5, {name}"
        add = f'{application},<gasoline|diesel|jet>,<EER>,<row name>,{name},,,confirmed,"{where}"'
        out.append(_item("eer.csv", application, row, add))
    return out


def _item(
    table: str, key: str, row: Benchmark | EnergyDensity | Eer | None, add: str
) -> CoverageItem:
    """The figure as covered by ``row``, or missing with the CSV row ``add`` to add."""
    if row is None:
        return CoverageItem(table, key, "missing", "", add)
    return CoverageItem(table, key, row.status, row.source)
