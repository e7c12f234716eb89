"""Parameter tables: CI benchmarks, EERs, energy densities, fuel types and units, with sources.

The tables ship as CSV files in ``pipelines/lcfs/data/`` and every row names its primary source
(the regulation's section and table, or the agency document with its date and address) and a
``status``: ``confirmed`` (compared with that text) or ``unconfirmed`` (the published value,
not yet compared with the cited text; reports list such figures, and
``load_tables(require_confirmed=True)`` refuses them). docs/lcfs-accounting.md explains the
accounting.

A deployment overrides them with a directory holding any of the same file
names: a file there *replaces* the packaged file of that name (no row merging, so a row can be
removed). Effective dates are ``effective_from`` (inclusive) to ``effective_to`` (exclusive);
an empty bound is open.

================  =================================================================================
file              columns
================  =================================================================================
benchmarks.csv    displaced (gasoline|diesel|jet), effective_from, effective_to, ci_benchmark
                  (gCO2e/MJ), status, source
eer.csv           application, displaced, eer (dimensionless), name (the regulation's row
                  text), description, effective_from, effective_to, status, source
energy_density    fuel_type, unit, energy_density (MJ per unit), basis (LHV), effective_from,
.csv              effective_to, status, source
fuel_types.csv    fuel_type, default_application, source
units.csv         unit, factor, in_unit, fuel_type, of_fuel, aliases, basis (HHV for therm and
                  MMBtu), status, source: ``1 unit = factor x in_unit`` (of ``of_fuel`` when set,
                  an energy-equivalent unit such as GGE); ``fuel_type`` limits a row to one fuel.
                  Base units m3, kg and MJ need no row.
transaction_      transaction_type, effect (+1 adds, -1 subtracts, 0 counts nothing), obligation
types.csv         (acquires|transfers|removes|none), source
heating_value     fuel_type, lhv_per_hhv, status, source: the default ratio used to bring
.csv              higher-heating-value quantities (therm, MMBtu) to the LHV basis
================  =================================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from pipelines.lcfs.errors import (
    BenchmarkChangesInQuarterError,
    InvalidTableError,
    NoBenchmarkError,
    UnknownParameterError,
)

TABLE_FILES = (
    "benchmarks.csv",
    "eer.csv",
    "energy_density.csv",
    "fuel_types.csv",
    "heating_value.csv",
    "transaction_types.csv",
    "units.csv",
)
STATUSES = ("confirmed", "unconfirmed")
EFFECTS = (-1, 0, 1)
DISPLACED = ("gasoline", "diesel", "jet")


@dataclass(frozen=True)
class Benchmark:
    displaced: str
    effective_from: dt.date | None
    effective_to: dt.date | None
    ci_benchmark: float  # gCO2e/MJ
    source: str
    status: str = "confirmed"


@dataclass(frozen=True)
class Eer:
    application: str
    displaced: str
    eer: float
    description: str
    effective_from: dt.date | None
    effective_to: dt.date | None
    source: str
    status: str = "confirmed"
    name: str = ""  # the regulation's wording of the row (CARB's application name)


@dataclass(frozen=True)
class EnergyDensity:
    fuel_type: str
    unit: str
    energy_density: float  # MJ per unit
    effective_from: dt.date | None
    effective_to: dt.date | None
    source: str
    status: str = "confirmed"
    basis: str = ""  # LHV for fuel energy densities


@dataclass(frozen=True)
class TransactionType:
    """How a transaction type moves the reporting entity's obligation: ``effect`` +1 adds the
    quantity's credits/deficits, -1 subtracts them, 0 counts nothing."""

    name: str
    effect: int
    obligation: str
    source: str


@dataclass(frozen=True)
class HeatingValue:
    """Default LHV/HHV ratio of a fuel (used when a quantity is given in HHV energy)."""

    fuel_type: str
    lhv_per_hhv: float
    source: str
    status: str = "confirmed"


@dataclass(frozen=True)
class FuelType:
    fuel_type: str
    default_application: str
    source: str


@dataclass(frozen=True)
class UnitDef:
    unit: str
    factor: float
    in_unit: str
    fuel_type: str  # "" = any fuel
    of_fuel: str  # "" = the same fuel
    aliases: tuple[str, ...]
    source: str
    status: str = "confirmed"
    basis: str = ""  # HHV for therm / MMBtu


@dataclass(frozen=True)
class LcfsTables:
    """All parameter tables; ``files`` keeps the raw CSV bytes each was parsed from."""

    benchmarks: tuple[Benchmark, ...]
    eers: tuple[Eer, ...]
    energy_densities: tuple[EnergyDensity, ...]
    fuel_types: tuple[FuelType, ...]
    units: tuple[UnitDef, ...]
    files: tuple[tuple[str, bytes], ...]
    transaction_types: tuple[TransactionType, ...] = ()
    heating_values: tuple[HeatingValue, ...] = ()

    def transaction_type(self, name: str) -> TransactionType:
        """The row of a transaction type, matched case- and space-insensitively."""
        key = " ".join(name.split()).lower()
        for row in self.transaction_types:
            if row.name.lower() == key:
                return row
        known = "; ".join(r.name for r in self.transaction_types)
        if key in UNCONFIRMED_TRANSACTION_TYPES:
            hint = (
                "not accepted: how it moves the reporting entity's obligation is not confirmed "
                "from the regulation; report the quantity under a confirmed type, or add a row "
                "to transaction_types.csv with its effect and source. Accepted: " + known
            )
        else:
            hint = "accepted: " + known
        raise UnknownParameterError("transaction_type", name, hint)

    def heating_value(self, fuel_type: str) -> HeatingValue | None:
        return next((r for r in self.heating_values if r.fuel_type == fuel_type), None)

    def benchmark(self, displaced: str, on: dt.date) -> Benchmark:
        """The benchmark row in force on ``on``; ``NoBenchmarkError`` when none is."""
        for row in self.benchmarks:
            if row.displaced == displaced and in_force(row.effective_from, row.effective_to, on):
                return row
        raise NoBenchmarkError(displaced, on.isoformat())

    def quarter_benchmark(self, displaced: str, year: int, quarter: int) -> Benchmark:
        """The one benchmark row in force for the whole quarter (§95484; 2025 changes in Q3)."""
        first, last = quarter_dates(year, quarter)
        period = f"{year} Q{quarter}"
        try:
            row = self.benchmark(displaced, first)
        except NoBenchmarkError:
            raise NoBenchmarkError(displaced, period) from None
        if not in_force(row.effective_from, row.effective_to, last):
            raise BenchmarkChangesInQuarterError(displaced, period)
        return row

    def eer(self, application: str, on: dt.date) -> Eer:
        known = False
        for row in self.eers:
            if row.application == application:
                known = True
                if in_force(row.effective_from, row.effective_to, on):
                    return row
        hint = (
            f"no row in force on {on.isoformat()}"
            if known
            else "known: "
            + ", ".join(sorted({r.application for r in self.eers}))
            + "; add its row to eer.csv (17 CCR §95486.1 Table 5) in the LCFS tables directory"
        )
        raise UnknownParameterError("application", application, hint)

    def default_application(self, fuel_type: str) -> str:
        for row in self.fuel_types:
            if row.fuel_type == fuel_type:
                return row.default_application
        known = ", ".join(sorted(r.fuel_type for r in self.fuel_types))
        raise UnknownParameterError(
            "fuel_type", fuel_type, f"known: {known} (or give an application)"
        )

    def fuel_type_source(self, fuel_type: str) -> str:
        return next((r.source for r in self.fuel_types if r.fuel_type == fuel_type), "")


# LRT-CBTS names whose effect on the obligation no primary text read for these tables states.
UNCONFIRMED_TRANSACTION_TYPES = ("gain of inventory", "production for import")


def quarter_dates(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    """First and last calendar day of a quarter."""
    from pipelines.lcfs.errors import InvalidPeriodError

    if quarter not in (1, 2, 3, 4):
        raise InvalidPeriodError(f"quarter must be 1, 2, 3 or 4 (got {quarter})")
    if not 2000 <= year <= 2100:
        raise InvalidPeriodError(f"year {year} is out of range (2000-2100)")
    first = dt.date(year, 3 * quarter - 2, 1)
    nxt = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def load_tables(
    override: str | Path | None = None, *, require_confirmed: bool = False
) -> LcfsTables:
    """The packaged tables, with each file found in the ``override`` directory replacing its
    packaged namesake. ``override`` may also be one CSV file named like a table file.
    ``require_confirmed`` drops every ``unconfirmed`` row, so a figure not compared with its
    source raises the usual "missing row" error naming what to add."""
    files: dict[str, bytes] = {}
    package = resources.files("pipelines.lcfs") / "data"
    for name in TABLE_FILES:
        files[name] = (package / name).read_bytes()
    if override is not None:
        where = Path(override)
        if where.is_file():
            if where.name not in TABLE_FILES:
                raise InvalidTableError(
                    where.name, "an override file must be named one of " + ", ".join(TABLE_FILES)
                )
            files[where.name] = where.read_bytes()
        elif where.is_dir():
            for name in TABLE_FILES:
                if (where / name).is_file():
                    files[name] = (where / name).read_bytes()
        else:
            raise InvalidTableError(str(where), "override directory or file not found")
    tables = parse_tables(files)
    return confirmed_only(tables) if require_confirmed else tables


def confirmed_only(tables: LcfsTables) -> LcfsTables:
    """The tables without their ``unconfirmed`` rows."""
    return replace(
        tables,
        benchmarks=tuple(r for r in tables.benchmarks if r.status == "confirmed"),
        eers=tuple(r for r in tables.eers if r.status == "confirmed"),
        energy_densities=tuple(r for r in tables.energy_densities if r.status == "confirmed"),
        units=tuple(r for r in tables.units if r.status == "confirmed"),
        heating_values=tuple(r for r in tables.heating_values if r.status == "confirmed"),
    )


def parse_tables(files: Mapping[str, bytes]) -> LcfsTables:
    """Tables from raw CSV bytes keyed by file name (all of ``TABLE_FILES``)."""
    missing = [n for n in TABLE_FILES if n not in files]
    if missing:
        raise InvalidTableError(", ".join(missing), "missing")
    bench = _rows(files, "benchmarks.csv", ("displaced", "ci_benchmark", "source"))
    eers = _rows(files, "eer.csv", ("application", "displaced", "eer", "source"))
    dens = _rows(files, "energy_density.csv", ("fuel_type", "unit", "energy_density", "source"))
    fuels = _rows(files, "fuel_types.csv", ("fuel_type", "default_application", "source"))
    units = _rows(files, "units.csv", ("unit", "factor", "in_unit", "source"))
    kinds = _rows(files, "transaction_types.csv", ("transaction_type", "effect", "source"))
    heats = _rows(files, "heating_value.csv", ("fuel_type", "lhv_per_hhv", "source"))
    tables = LcfsTables(
        benchmarks=tuple(
            Benchmark(
                displaced=_displaced("benchmarks.csv", r),
                effective_from=_date("benchmarks.csv", r, "effective_from"),
                effective_to=_date("benchmarks.csv", r, "effective_to"),
                ci_benchmark=_number("benchmarks.csv", r, "ci_benchmark"),
                source=r["source"],
                status=_status("benchmarks.csv", r),
            )
            for r in bench
        ),
        eers=tuple(
            Eer(
                application=r["application"].strip().lower(),
                displaced=_displaced("eer.csv", r),
                eer=_number("eer.csv", r, "eer", positive=True),
                description=r.get("description", ""),
                effective_from=_date("eer.csv", r, "effective_from"),
                effective_to=_date("eer.csv", r, "effective_to"),
                source=r["source"],
                status=_status("eer.csv", r),
                name=r.get("name", ""),
            )
            for r in eers
        ),
        energy_densities=tuple(
            EnergyDensity(
                fuel_type=r["fuel_type"].strip().lower(),
                unit=r["unit"].strip(),
                energy_density=_number("energy_density.csv", r, "energy_density", positive=True),
                effective_from=_date("energy_density.csv", r, "effective_from"),
                effective_to=_date("energy_density.csv", r, "effective_to"),
                source=r["source"],
                status=_status("energy_density.csv", r),
                basis=r.get("basis", "").upper(),
            )
            for r in dens
        ),
        fuel_types=tuple(
            FuelType(
                fuel_type=r["fuel_type"].strip().lower(),
                default_application=r["default_application"].strip().lower(),
                source=r["source"],
            )
            for r in fuels
        ),
        units=tuple(
            UnitDef(
                unit=r["unit"].strip(),
                factor=_number("units.csv", r, "factor", positive=True),
                in_unit=r["in_unit"].strip(),
                fuel_type=r.get("fuel_type", "").strip().lower(),
                of_fuel=r.get("of_fuel", "").strip().lower(),
                aliases=tuple(
                    a.strip().lower() for a in r.get("aliases", "").split("|") if a.strip()
                ),
                source=r["source"],
                status=_status("units.csv", r),
                basis=r.get("basis", "").upper(),
            )
            for r in units
        ),
        transaction_types=tuple(
            TransactionType(
                name=" ".join(r["transaction_type"].split()),
                effect=_effect(r),
                obligation=r.get("obligation", ""),
                source=r["source"],
            )
            for r in kinds
        ),
        heating_values=tuple(
            HeatingValue(
                fuel_type=r["fuel_type"].strip().lower(),
                lhv_per_hhv=_number("heating_value.csv", r, "lhv_per_hhv", positive=True),
                source=r["source"],
                status=_status("heating_value.csv", r),
            )
            for r in heats
        ),
        files=tuple(sorted((n, bytes(files[n])) for n in TABLE_FILES)),
    )
    _check_overlaps(tables)
    return tables


def _rows(files: Mapping[str, bytes], name: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        text = files[name].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidTableError(name, "not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    absent = [c for c in required if c not in header]
    if absent:
        raise InvalidTableError(name, f"missing column(s) {', '.join(absent)}")
    rows = []
    for row in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if any(clean.values()):
            rows.append(clean)
    return rows


def _number(name: str, row: dict[str, str], column: str, *, positive: bool = False) -> float:
    try:
        value = float(row[column])
    except ValueError:
        raise InvalidTableError(name, f"{column} {row[column]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")) or (positive and value <= 0):
        raise InvalidTableError(name, f"{column} {row[column]!r} is not a valid value")
    return value


def _date(name: str, row: dict[str, str], column: str) -> dt.date | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidTableError(name, f"{column} {text!r} is not a YYYY-MM-DD date") from None


def _status(name: str, row: dict[str, str]) -> str:
    value = row.get("status", "").strip().lower() or "confirmed"
    if value not in STATUSES:
        raise InvalidTableError(name, f"status {value!r} is not one of {', '.join(STATUSES)}")
    return value


def _effect(row: dict[str, str]) -> int:
    text = row["effect"].strip()
    if text not in ("-1", "0", "1", "+0", "+1"):  # exact: int() would raise on "++1"
        raise InvalidTableError("transaction_types.csv", f"effect {text!r} is not -1, 0 or 1")
    return int(text)


def _displaced(name: str, row: dict[str, str]) -> str:
    value = row["displaced"].strip().lower()
    if value not in DISPLACED:
        raise InvalidTableError(name, f"displaced {value!r} is not one of {', '.join(DISPLACED)}")
    return value


def in_force(start: dt.date | None, end: dt.date | None, on: dt.date) -> bool:
    return (start is None or start <= on) and (end is None or on < end)


def _check_overlaps(tables: LcfsTables) -> None:
    """Two rows in force on the same day for the same key would make a lookup ambiguous."""
    keyed: dict[tuple[str, str, str], list[tuple[dt.date | None, dt.date | None]]] = {}
    for b in tables.benchmarks:
        keyed.setdefault(("benchmarks.csv", b.displaced, ""), []).append(
            (b.effective_from, b.effective_to)
        )
    for e in tables.eers:
        keyed.setdefault(("eer.csv", e.application, ""), []).append(
            (e.effective_from, e.effective_to)
        )
    for d in tables.energy_densities:
        keyed.setdefault(("energy_density.csv", d.fuel_type, d.unit), []).append(
            (d.effective_from, d.effective_to)
        )
    low, high = dt.date.min, dt.date.max
    for (name, *key), spans in keyed.items():
        ordered = sorted((a or low, b or high) for a, b in spans)
        for (_, end), (start, _) in itertools.pairwise(ordered):
            if start < end:
                raise InvalidTableError(name, f"rows for {' '.join(k for k in key if k)} overlap")
