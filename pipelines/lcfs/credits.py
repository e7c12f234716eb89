"""The credit engine: LCFS credits and deficits of fuel quantities (17 CCR §95486.1(a)).

    credits [MT CO2e] = effect x (CI_benchmark x EER - CI_fuel) x E x 1e-6,   E = quantity x ED

negative credits are deficits. ``(CI_benchmark x EER - CI) x E`` is the algebraic form of
``(CI_standard - CI/EER) x (E x EER)``: the EER is counted once (docs/lcfs-accounting.md).
``effect`` comes from the transaction type (``transaction_types.csv``): +1 for types that give
the reporting entity the obligation for the fuel (Production in California, Import, Purchased with
Obligation), -1 for types that pass it on or take the fuel out of California transportation use
(Sold with Obligation, Export, Loss of Inventory, Not Used for Transportation), 0 for transfers
without obligation. ``CI_benchmark`` is the standard of the displaced fuel (gasoline, diesel or
jet, chosen by the fuel's application) in force on the transaction date, so Q1-Q2 2025 and
Q3-Q4 2025 differ. ``E`` is on the lower-heating-value basis of Table 4: a quantity in therms or
MMBtu (higher heating value) is brought to it through the gas's measured HHV or an LHV/HHV
ratio. Everything keeps full float precision; only renderers round.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pipelines.lcfs.errors import InvalidTransactionsError, UnknownParameterError
from pipelines.lcfs.tables import LcfsTables, load_tables
from pipelines.lcfs.units import ParameterUsed, canonical_unit, energy_per_unit, unit_basis

MT_PER_G = 1e-6  # C in 17 CCR §95486.1(a): 1.0 x 10^-6 MT/gCO2e
MJ_PER_BTU = 1055.05585262e-6  # Btu(IT), NIST Special Publication 811 (2008), Appendix B

_PACKAGED = load_tables()
TRANSACTION_TYPES = tuple(t.name for t in _PACKAGED.transaction_types)
# Meter-derived quantities are the facility's own production or dispensing: the producer is the
# first fuel reporting entity and by default the credit generator (17 CCR §95483(a)(1)).
DEFAULT_METER_TRANSACTION_TYPE = "Production in California"
TRANSACTION_COLUMNS = (
    "fuel_pathway_code",
    "fuel_type",
    "quantity",
    "unit",
    "ci",
    "transaction_type",
    "date",
)
OPTIONAL_COLUMNS = (
    "energy_density",
    "eer",
    "benchmark",
    "application",
    "business_partner",
    "reference",
    "hhv_btu_per_scf",
    "lhv_hhv_ratio",
)


def credits_mt(ci_benchmark: float, eer: float, ci: float, energy_mj: float) -> float:
    """Credits in MT CO2e (negative: deficits) for ``energy_mj`` MJ of fuel with CI ``ci``."""
    return (ci_benchmark * eer - ci) * energy_mj * MT_PER_G


def canonical_transaction_type(name: str, tables: LcfsTables | None = None) -> str:
    """The table spelling of a transaction type, matched case- and space-insensitively; a type
    whose effect on the obligation is not confirmed raises ``UnknownParameterError``."""
    return (tables or _PACKAGED).transaction_type(name).name


@dataclass(frozen=True)
class Transaction:
    """A fuel transaction. ``quantity`` in ``unit``; ``ci`` in gCO2e/MJ (the FPC's certified CI).

    ``application`` picks the EER row and the displaced fuel (default: the fuel type's default
    application). ``energy_density`` (MJ/unit), ``eer`` and ``benchmark`` (gCO2e/MJ), when set,
    override the tables for this transaction.
    """

    fuel_pathway_code: str
    fuel_type: str
    quantity: float
    unit: str
    ci: float
    transaction_type: str
    date: dt.date
    application: str | None = None
    energy_density: float | None = None
    eer: float | None = None
    benchmark: float | None = None
    business_partner: str = ""
    reference: str = ""  # e.g. the PTD / invoice number
    hhv_btu_per_scf: float | None = None  # measured HHV of a gas given in therm/MMBtu
    lhv_hhv_ratio: float | None = None  # or the ratio that brings HHV energy to LHV


@dataclass(frozen=True)
class CreditLine:
    """One transaction with its energy and credits. ``parameters`` lists every figure used."""

    fuel_pathway_code: str
    fuel_type: str
    transaction_type: str  # canonical spelling
    date: dt.date
    quantity: float
    unit: str  # canonical spelling
    ci: float  # gCO2e/MJ
    application: str
    displaced: str  # gasoline | diesel | jet
    energy_density: float  # MJ per unit
    energy_mj: float
    eer: float
    ci_benchmark: float  # gCO2e/MJ
    credits_mt: float  # negative: deficits; effect x the formula
    business_partner: str
    reference: str
    parameters: tuple[ParameterUsed, ...]
    effect: int = 1  # +1 adds, -1 subtracts, 0 counts nothing (the transaction type's)
    application_name: str = ""  # the regulation's wording of the EER row


@dataclass(frozen=True)
class CreditTotals:
    """``credits_mt`` sums the positive lines, ``deficits_mt`` the negative ones as a positive
    magnitude, ``net_mt = credits_mt - deficits_mt`` (all MT CO2e)."""

    credits_mt: float
    deficits_mt: float
    net_mt: float


def credit_line(transaction: Transaction, tables: LcfsTables) -> CreditLine:
    """Energy and credits of one transaction, from the tables in force on its date."""
    t = transaction
    fuel = t.fuel_type.strip().lower()
    on = t.date
    kind = tables.transaction_type(t.transaction_type)
    application = (t.application or "").strip().lower() or tables.default_application(fuel)
    eer_row = tables.eer(application, on)
    params: list[ParameterUsed] = [
        ParameterUsed(
            "transaction type", kind.name, float(kind.effect), kind.obligation, kind.source
        ),
    ]
    if t.energy_density is not None:
        density = t.energy_density
        params.append(
            ParameterUsed(
                "energy density",
                f"{fuel} per {t.unit}",
                density,
                f"MJ/{t.unit}",
                "given with the transaction",
            )
        )
        unit = t.unit.strip()
    else:
        unit = canonical_unit(tables, t.unit)
        density = _lhv_density(t, fuel, unit, tables, params)
    if t.eer is not None:
        eer = t.eer
        params.append(ParameterUsed("EER", application, eer, "", "given with the transaction"))
    else:
        eer = eer_row.eer
        params.append(ParameterUsed("EER", application, eer, "", eer_row.source, eer_row.status))
    if t.benchmark is not None:
        benchmark = t.benchmark
        params.append(
            ParameterUsed(
                "CI benchmark",
                f"{eer_row.displaced} {on.isoformat()}",
                benchmark,
                "gCO2e/MJ",
                "given with the transaction",
            )
        )
    else:
        row = tables.benchmark(eer_row.displaced, on)
        benchmark = row.ci_benchmark
        span = f"{_iso(row.effective_from)}..{_iso(row.effective_to)}"
        params.append(
            ParameterUsed(
                "CI benchmark",
                f"{eer_row.displaced} {span}",
                benchmark,
                "gCO2e/MJ",
                row.source,
                row.status,
            )
        )
    energy_mj = t.quantity * density
    return CreditLine(
        fuel_pathway_code=t.fuel_pathway_code.strip(),
        fuel_type=fuel,
        transaction_type=kind.name,
        date=on,
        quantity=t.quantity,
        unit=unit,
        ci=t.ci,
        application=application,
        displaced=eer_row.displaced,
        energy_density=density,
        energy_mj=energy_mj,
        eer=eer,
        ci_benchmark=benchmark,
        credits_mt=kind.effect * credits_mt(benchmark, eer, t.ci, energy_mj) + 0.0,
        business_partner=t.business_partner,
        reference=t.reference,
        parameters=tuple(params),
        effect=kind.effect,
        application_name=eer_row.name or eer_row.description,
    )


def _lhv_density(
    t: Transaction, fuel: str, unit: str, tables: LcfsTables, params: list[ParameterUsed]
) -> float:
    """MJ (lower heating value) per ``unit`` of ``fuel``. A unit of higher-heating-value energy
    (therm, MMBtu) goes through the gas's measured HHV to scf and Table 4's MJ/scf, or through
    an LHV/HHV ratio (given, or the fuel's row in heating_value.csv)."""
    energy = energy_per_unit(tables, fuel, unit, t.date)
    if unit_basis(tables, fuel, unit) != "HHV":
        params.extend(energy.parameters)
        return energy.mj_per_unit
    hhv_mj = energy.mj_per_unit
    params.extend(energy.parameters)
    if t.hhv_btu_per_scf is not None:
        scf = hhv_mj / MJ_PER_BTU / t.hhv_btu_per_scf
        per_scf = energy_per_unit(tables, fuel, "scf", t.date)
        params.append(
            ParameterUsed(
                "higher heating value",
                f"{fuel} (measured)",
                t.hhv_btu_per_scf,
                "Btu/scf HHV",
                "given with the quantity",
            )
        )
        params.extend(per_scf.parameters)
        return scf * per_scf.mj_per_unit
    if t.lhv_hhv_ratio is not None:
        params.append(
            ParameterUsed("LHV/HHV ratio", fuel, t.lhv_hhv_ratio, "", "given with the quantity")
        )
        return hhv_mj * t.lhv_hhv_ratio
    row = tables.heating_value(fuel)
    if row is None:
        raise UnknownParameterError(
            "heating_value",
            f"{fuel} in {unit}",
            f"{unit} is higher-heating-value energy while LCFS energy densities (17 CCR "
            "§95486.1 Table 4) are lower heating values: give the gas's measured HHV "
            "(hhv_btu_per_scf) or an lhv_hhv_ratio with the quantity, or add the fuel's row "
            "to heating_value.csv",
        )
    params.append(ParameterUsed("LHV/HHV ratio", fuel, row.lhv_per_hhv, "", row.source, row.status))
    return hhv_mj * row.lhv_per_hhv


def credit_lines(transactions: Iterable[Transaction], tables: LcfsTables) -> tuple[CreditLine, ...]:
    return tuple(credit_line(t, tables) for t in transactions)


def credit_totals(values_mt: Iterable[float]) -> CreditTotals:
    """Credits, deficits (positive magnitude) and net of credit amounts in MT CO2e."""
    values = list(values_mt)
    credits = math.fsum(v for v in values if v > 0)
    deficits = -math.fsum(v for v in values if v < 0)
    return CreditTotals(credits_mt=credits, deficits_mt=deficits + 0.0, net_mt=credits - deficits)


def parse_transactions_csv(content: bytes) -> tuple[Transaction, ...]:
    """Transactions from CSV bytes with the header ``TRANSACTION_COLUMNS`` (any order) and any
    of ``OPTIONAL_COLUMNS``; ``date`` is YYYY-MM-DD. Raises ``InvalidTransactionsError`` with the
    line number of the first bad row."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise InvalidTransactionsError("the file is not UTF-8 text", line) from None
    if not text.strip():
        raise InvalidTransactionsError("the file is empty: it has no header and no rows")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in TRANSACTION_COLUMNS if c not in header]
    if missing:
        raise InvalidTransactionsError(
            f"missing column(s) {', '.join(missing)} (found: {', '.join(header) or 'none'}); "
            f"the header must name {','.join(TRANSACTION_COLUMNS)}",
            1,
        )
    index = {name: i for i, name in enumerate(header)}
    out: list[Transaction] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InvalidTransactionsError(
                f"{len(row)} field(s), the header has {len(header)}", line
            )

        def cell(name: str, row: Sequence[str] = row) -> str:
            return row[index[name]].strip() if name in index else ""

        for name in TRANSACTION_COLUMNS:
            if not cell(name):
                raise InvalidTransactionsError(f"{name} is empty", line)
        try:
            date = dt.date.fromisoformat(cell("date"))
        except ValueError:
            raise InvalidTransactionsError(
                f"date {cell('date')!r} is not YYYY-MM-DD", line
            ) from None
        try:
            kind = canonical_transaction_type(cell("transaction_type"))
        except UnknownParameterError as exc:
            raise InvalidTransactionsError(str(exc), line) from None
        quantity = _float(cell("quantity"), "quantity", line)
        if quantity < 0:
            raise InvalidTransactionsError(f"quantity {quantity!r} is negative", line)
        out.append(
            Transaction(
                fuel_pathway_code=cell("fuel_pathway_code"),
                fuel_type=cell("fuel_type").lower(),
                quantity=quantity,
                unit=cell("unit"),
                ci=_float(cell("ci"), "ci", line),
                transaction_type=kind,
                date=date,
                application=cell("application").lower() or None,
                energy_density=_optional(cell("energy_density"), "energy_density", line),
                eer=_optional(cell("eer"), "eer", line),
                benchmark=_optional(cell("benchmark"), "benchmark", line, positive=False),
                business_partner=cell("business_partner"),
                reference=cell("reference"),
                hhv_btu_per_scf=_optional(cell("hhv_btu_per_scf"), "hhv_btu_per_scf", line),
                lhv_hhv_ratio=_optional(cell("lhv_hhv_ratio"), "lhv_hhv_ratio", line),
            )
        )
    return tuple(out)


def check_lines(transactions: Sequence[Transaction], tables: LcfsTables) -> tuple[CreditLine, ...]:
    """``credit_lines`` that reports the failing row's CSV line (header = line 1)."""
    out = []
    for i, t in enumerate(transactions):
        try:
            out.append(credit_line(t, tables))
        except UnknownParameterError as exc:
            raise InvalidTransactionsError(str(exc), i + 2) from None
        except InvalidTransactionsError as exc:
            raise replace(exc, line=i + 2) from None
    return tuple(out)


def _float(text: str, name: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidTransactionsError(f"{name} {text!r} is not a number", line) from None
    if not math.isfinite(value):
        raise InvalidTransactionsError(f"{name} {text!r} is not a finite number", line)
    return value


def _optional(text: str, name: str, line: int, *, positive: bool = True) -> float | None:
    if not text:
        return None
    value = _float(text, name, line)
    if positive and value <= 0:
        raise InvalidTransactionsError(f"{name} {text!r} must be positive", line)
    return value


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""
