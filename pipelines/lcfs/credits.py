"""The credit engine: LCFS credits and deficits of fuel quantities (17 CCR §95486.1(a)).

    credits [MT CO2e] = (CI_benchmark x EER - CI_fuel) x E x 1e-6,   E = quantity x ED [MJ]

negative credits are deficits. This is the algebraic form of CARB's
``(CI_standard - CI/EER) x (E x EER) x C`` (reference/lcfs.md §1): the EER is counted once.
``CI_benchmark`` is the standard of the displaced fuel (gasoline, diesel or jet, chosen by the
fuel's application) in force on the transaction date, so Q1-Q2 2025 and Q3-Q4 2025 differ.
Everything keeps full float precision; only renderers round.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pipelines.lcfs.errors import InvalidTransactionsError, UnknownParameterError
from pipelines.lcfs.tables import LcfsTables
from pipelines.lcfs.units import ParameterUsed, canonical_unit, energy_per_unit

MT_PER_G = 1e-6  # C in §95486.1(a): 1.0 x 10^-6 MT/gCO2e

# Names as reference/lcfs.md §4 writes them. The last four are not in a source read there.
TRANSACTION_TYPES = (
    "Sold with Obligation",
    "Purchased with Obligation",
    "Sold without obligation",
    "Purchased without obligation",
    "Export",
    "Loss of inventory",
    "Not used for transportation",
    "Production in California",
    "Import",
    "Production for Import",
    "Gain of inventory",
)
# Meter-derived quantities are the facility's own production or dispensing (§95483(a)(1): the
# first fuel reporting entity is the producer). "Production in California" is the LRT-CBTS name
# for it, which reference/lcfs.md could not confirm from a read source.
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
)


def credits_mt(ci_benchmark: float, eer: float, ci: float, energy_mj: float) -> float:
    """Credits in MT CO2e (negative: deficits) for ``energy_mj`` MJ of fuel with CI ``ci``."""
    return (ci_benchmark * eer - ci) * energy_mj * MT_PER_G


def canonical_transaction_type(name: str) -> str:
    """The reference spelling of a transaction type, matched case- and space-insensitively."""
    key = " ".join(name.split()).lower()
    for known in TRANSACTION_TYPES:
        if known.lower() == key:
            return known
    raise UnknownParameterError("transaction_type", name, "known: " + "; ".join(TRANSACTION_TYPES))


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
    credits_mt: float  # negative: deficits
    business_partner: str
    reference: str
    parameters: tuple[ParameterUsed, ...]


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
    application = (t.application or "").strip().lower() or tables.default_application(fuel)
    eer_row = tables.eer(application, on)
    params: list[ParameterUsed] = []
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
        energy = energy_per_unit(tables, fuel, unit, on)
        density = energy.mj_per_unit
        params.extend(energy.parameters)
    if t.eer is not None:
        eer = t.eer
        params.append(ParameterUsed("EER", application, eer, "", "given with the transaction"))
    else:
        eer = eer_row.eer
        params.append(ParameterUsed("EER", application, eer, "", eer_row.source))
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
                "CI benchmark", f"{eer_row.displaced} {span}", benchmark, "gCO2e/MJ", row.source
            )
        )
    energy_mj = t.quantity * density
    return CreditLine(
        fuel_pathway_code=t.fuel_pathway_code.strip(),
        fuel_type=fuel,
        transaction_type=canonical_transaction_type(t.transaction_type),
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
        credits_mt=credits_mt(benchmark, eer, t.ci, energy_mj),
        business_partner=t.business_partner,
        reference=t.reference,
        parameters=tuple(params),
    )


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
