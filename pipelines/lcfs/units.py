"""Units: names matched case-insensitively, and the energy (MJ) of one unit of a fuel.

``energy_per_unit(tables, fuel, unit, on)`` tries, in order:

1. an energy-density row for ``(fuel, unit)`` in force on ``on`` (MJ/unit, Table 4 style);
2. a definition row of ``units.csv`` for ``unit`` (fuel-specific first, then generic):
   ``1 unit = factor x in_unit`` (of ``of_fuel`` for energy-equivalent units such as GGE/DGE),
   followed recursively; MJ is energy itself;
3. for a base unit (m3, kg), any energy-density row of the fuel whose unit reduces to that base
   (litres of diesel through the gallon row, say).

Every row used is returned as a ``ParameterUsed`` so the report can list figures and sources.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipelines.lcfs.errors import UnknownParameterError
from pipelines.lcfs.tables import LcfsTables, UnitDef, in_force

BASE_UNITS = {
    "m3": ("m3", "m³", "cubic meter", "cubic meters", "cubic metre", "cubic metres", "cbm"),
    "kg": ("kg", "kilogram", "kilograms", "kgs"),
    "MJ": ("mj", "megajoule", "megajoules"),
}
_MAX_DEPTH = 6


@dataclass(frozen=True)
class ParameterUsed:
    """One figure that went into a calculation, with where it came from."""

    name: str  # e.g. "energy density", "EER", "CI benchmark", "unit definition"
    key: str  # e.g. "diesel per gal", "electricity_hdv", "diesel 2025-07-01.."
    value: float
    unit: str
    source: str
    status: str = "confirmed"  # or "unconfirmed": not yet compared with its cited source


@dataclass(frozen=True)
class Energy:
    mj_per_unit: float
    parameters: tuple[ParameterUsed, ...]


def canonical_unit(tables: LcfsTables, unit: str) -> str:
    """The table spelling of ``unit`` (case-insensitive, aliases allowed)."""
    key = unit.strip().lower()
    for base, aliases in BASE_UNITS.items():
        if key == base.lower() or key in aliases:
            return base
    for row in tables.units:
        if key == row.unit.lower() or key in row.aliases:
            return row.unit
    for density in tables.energy_densities:
        if key == density.unit.lower():
            return density.unit
    known = sorted({*BASE_UNITS, *(r.unit for r in tables.units)})
    raise UnknownParameterError("unit", unit, "known: " + ", ".join(known))


def energy_per_unit(tables: LcfsTables, fuel_type: str, unit: str, on: dt.date) -> Energy:
    """MJ in one ``unit`` of ``fuel_type`` on date ``on``; raises ``UnknownParameterError``."""
    found = _energy(tables, fuel_type, canonical_unit(tables, unit), on, 0)
    if found is None:
        raise UnknownParameterError(
            "energy_density",
            f"{fuel_type} per {unit}",
            "add a row to energy_density.csv (MJ per unit) or give energy_density",
        )
    return found


def unit_basis(tables: LcfsTables, fuel_type: str, unit: str) -> str:
    """``HHV`` when ``unit`` (after aliases) is defined as higher-heating-value energy."""
    row = _definition(tables, canonical_unit(tables, unit), fuel_type)
    return row.basis if row is not None else ""


def convert_quantity(
    tables: LcfsTables, fuel_type: str, quantity: float, unit: str, to_unit: str, on: dt.date
) -> float:
    """``quantity`` of ``fuel_type`` in ``unit`` expressed in ``to_unit`` (through energy)."""
    if canonical_unit(tables, unit) == canonical_unit(tables, to_unit):
        return quantity
    src = energy_per_unit(tables, fuel_type, unit, on).mj_per_unit
    dst = energy_per_unit(tables, fuel_type, to_unit, on).mj_per_unit
    return quantity * src / dst


def _energy(tables: LcfsTables, fuel: str, unit: str, on: dt.date, depth: int) -> Energy | None:
    if depth > _MAX_DEPTH:
        return None
    for row in tables.energy_densities:
        if (
            row.fuel_type == fuel
            and row.unit == unit
            and in_force(row.effective_from, row.effective_to, on)
        ):
            used = ParameterUsed(
                "energy density",
                f"{fuel} per {unit}",
                row.energy_density,
                f"MJ/{unit}",
                row.source,
                row.status,
            )
            return Energy(row.energy_density, (used,))
    if unit == "MJ":
        return Energy(1.0, ())
    definition = _definition(tables, unit, fuel)
    if definition is not None:
        inner = _energy(tables, definition.of_fuel or fuel, definition.in_unit, on, depth + 1)
        if inner is None:
            return None
        of = f" of {definition.of_fuel}" if definition.of_fuel else ""
        used = ParameterUsed(
            "unit definition",
            f"1 {unit}" + (f" ({definition.fuel_type})" if definition.fuel_type else ""),
            definition.factor,
            f"{definition.in_unit}{of}",
            definition.source,
            definition.status,
        )
        return Energy(definition.factor * inner.mj_per_unit, (used, *inner.parameters))
    if unit in BASE_UNITS:  # a density row in another unit of the same kind
        for row in sorted(tables.energy_densities, key=lambda r: r.unit):
            if row.fuel_type != fuel or not in_force(row.effective_from, row.effective_to, on):
                continue
            reduced = _to_base(tables, row.unit, fuel, 0)
            if reduced is not None and reduced[0] == unit:
                factor, chain = reduced[1], reduced[2]
                used = ParameterUsed(
                    "energy density",
                    f"{fuel} per {row.unit}",
                    row.energy_density,
                    f"MJ/{row.unit}",
                    row.source,
                    row.status,
                )
                return Energy(row.energy_density / factor, (used, *chain))
    return None


def _to_base(
    tables: LcfsTables, unit: str, fuel: str, depth: int
) -> tuple[str, float, tuple[ParameterUsed, ...]] | None:
    """(base unit, units of base in one ``unit``, rows used), for same-fuel definitions only."""
    if unit in BASE_UNITS:
        return unit, 1.0, ()
    definition = _definition(tables, unit, fuel)
    if definition is None or definition.of_fuel or depth > _MAX_DEPTH:
        return None
    inner = _to_base(tables, definition.in_unit, fuel, depth + 1)
    if inner is None:
        return None
    used = ParameterUsed(
        "unit definition",
        f"1 {unit}",
        definition.factor,
        definition.in_unit,
        definition.source,
        definition.status,
    )
    return inner[0], definition.factor * inner[1], (used, *inner[2])


def _definition(tables: LcfsTables, unit: str, fuel: str) -> UnitDef | None:
    specific = [r for r in tables.units if r.unit == unit and r.fuel_type == fuel]
    generic = [r for r in tables.units if r.unit == unit and not r.fuel_type]
    found = specific or generic
    return found[0] if found else None
