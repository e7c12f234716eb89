"""The quarterly LCFS report: meter quantities + fuel transactions -> credits, with provenance.

``compute_quarter(inputs)`` is pure: the same ``LcfsInputs`` give the same ``LcfsReport`` and
the same ``input_sha256`` (a SHA-256 over a canonical serialisation of every input, the points
included, and of the parameter tables used). Quarter and month boundaries are local midnights
in the facility's time zone. A quarter without a usable reading or a transaction has
``has_data`` False and ``totals`` None: it says so instead of claiming zero credits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from pipelines.lcfs.credits import (
    CreditLine,
    CreditTotals,
    Transaction,
    canonical_transaction_type,
    credit_line,
    credit_totals,
)
from pipelines.lcfs.errors import InvalidMappingError, InvalidPeriodError, InvalidTransactionsError
from pipelines.lcfs.meter import (
    MeterQuantities,
    TagMapping,
    meter_quantities,
    points_digest,
    prepare_points,
)
from pipelines.lcfs.tables import LcfsTables, load_tables, quarter_dates
from pipelines.lcfs.units import ParameterUsed, convert_quantity
from pipelines.substitution import METHODS
from pipelines.substitution import SOURCES as SUBSTITUTION_SOURCES
from pipelines.timeseries import US


@dataclass(frozen=True)
class DocumentCheck:
    """One reconciliation of a document (PTD, invoice, bill of lading) against metered data.
    Quantities in ``unit``; ``difference = quantity - metered_quantity``."""

    document_number: str
    date: dt.date
    quantity: float
    metered_quantity: float
    difference: float
    status: Literal["pass", "warn", "fail"]
    unit: str = ""
    fuel_pathway_code: str = ""
    note: str = ""
    resolution_note: str = ""  # how a failed or warned check was resolved (reviewer's words)


@dataclass(frozen=True)
class DailyQuality:
    """One mapped tag's stored quality metrics for one facility-local day."""

    tag: str
    day: str  # YYYY-MM-DD, facility time zone
    score: float  # 0-100
    completeness_pct: float
    flatline_minutes: float
    spikes: int
    out_of_range: int  # received points not usable: outside the tag's limits or bad quality


@dataclass(frozen=True)
class BiomethaneSupply:
    """Biomethane attested as injected elsewhere (another facility's meter, or a producer's
    attestation), available to this facility's book-and-claim for ``fuel_pathway_code``."""

    fuel_pathway_code: str
    energy_mj: float
    source: str


@dataclass(frozen=True, eq=False)
class LcfsInputs:
    """Everything a quarterly report is built from.

    ``points``: tag (str), ts (datetime64[us, UTC]), value (float64, the tag's unit per its
    time base, or a counter), optional quality (int8: 0 good, 1 uncertain, 2 bad). ``gaps``:
    ``pipelines.gaps.GAP_COLUMNS``; None: found here over the quarter. ``tables``: None: the
    packaged tables. ``substitution_method``: a key of ``pipelines.substitution.METHODS``.
    """

    facility_id: str
    facility_name: str
    timezone: str
    year: int
    quarter: int
    mappings: tuple[TagMapping, ...] = ()
    points: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    transactions: tuple[Transaction, ...] = ()
    documents: tuple[DocumentCheck, ...] = ()
    tables: LcfsTables | None = None
    substitution_method: str = "before_after_mean"
    organization_fein: str = ""
    organization_name: str = ""
    carb_facility_id: str = ""  # the facility / FSE id registered in LRT-CBTS
    preparer: str = ""
    reviewer: str = ""
    generated_at: dt.datetime | None = None  # build time printed in the PDF (UTC)
    software_version: str = ""
    audit_head: str = ""  # the tenant's audit-chain head hash when the report was requested
    daily_quality: tuple[DailyQuality, ...] = ()
    attested_supply: tuple[BiomethaneSupply, ...] = ()


@dataclass(frozen=True)
class ReportLine:
    """A row of the fuel-transactions upload: meter quantity of one month, or one transaction."""

    source: Literal["meter", "transaction"]
    substituted_quantity: float  # part of credit.quantity that came from substitution
    credit: CreditLine


@dataclass(frozen=True)
class PathwayTotal:
    fuel_pathway_code: str
    transaction_type: str
    application: str
    fuel_type: str
    displaced: str
    quantity: float
    substituted_quantity: float
    unit: str
    energy_mj: float
    ci: float  # energy-weighted when lines differ
    eer: float  # energy-weighted when lines differ
    ci_benchmark: float
    credits_mt: float


@dataclass(frozen=True)
class MonthlyVolume:
    month: str  # YYYY-MM, facility time zone
    fuel_pathway_code: str
    transaction_type: str
    application: str
    quantity: float
    substituted_quantity: float
    unit: str
    energy_mj: float


@dataclass(frozen=True)
class TagCompleteness:
    tag: str
    fuel_pathway_code: str
    kind: str
    unit: str
    usable_points: int
    covered_hours: float
    window_hours: float
    completeness_pct: float
    quantity: float
    substituted_quantity: float


@dataclass(frozen=True)
class GapRow:
    tag: str
    gap_start: str  # ISO 8601 UTC
    gap_end: str
    duration_minutes: float
    missing_points: int
    open: bool
    method: str  # substitution code, CTR (counter bridges it) or NONE (not filled)
    substituted_points: int
    substituted_quantity: float
    unit: str


@dataclass(frozen=True)
class CounterEvent:
    tag: str
    ts: str
    kind: str  # rollover | reset
    before: float
    after: float
    increment: float


@dataclass(frozen=True)
class DailyMeter:
    """One mapped tag's quantity for one facility-local day (for the trend charts)."""

    tag: str
    fuel_pathway_code: str
    role: str  # fuel | injection
    day: str  # YYYY-MM-DD, facility time zone
    measured: float  # in the tag's unit
    substituted: float
    unit: str


@dataclass(frozen=True)
class BiomethaneBalance:
    """Book-and-claim for one biomethane pathway over the quarter (MJ, LHV basis).

    ``injected_mj``: this facility's injection meters plus attested supply; ``claimed_mj``: the
    biomethane its lines claim (net of their transaction types' effects); ``excess_mj`` the part
    of the claim no injection covers (0 when covered)."""

    fuel_pathway_code: str
    injected_mj: float
    claimed_mj: float
    excess_mj: float
    status: Literal["covered", "excess", "no_claim"]


@dataclass(frozen=True)
class BenchmarkUsed:
    displaced: str
    ci_benchmark: float
    effective_from: str
    effective_to: str
    source: str


@dataclass(frozen=True)
class LcfsReport:
    facility_id: str
    facility_name: str
    organization_fein: str
    timezone: str  # the facility's IANA zone; people-facing times are shown in it
    year: int
    quarter: int
    period_start: dt.date
    period_end: dt.date
    has_data: bool
    status: str
    benchmarks: tuple[BenchmarkUsed, ...]
    lines: tuple[ReportLine, ...]
    totals_by_pathway: tuple[PathwayTotal, ...]
    totals: CreditTotals | None  # None: no data this quarter
    monthly: tuple[MonthlyVolume, ...]
    completeness: tuple[TagCompleteness, ...]
    gaps: tuple[GapRow, ...]
    counter_events: tuple[CounterEvent, ...]
    documents: tuple[DocumentCheck, ...]
    documents_summary: tuple[tuple[str, int], ...]  # (status, count) for pass, warn, fail
    parameters: tuple[ParameterUsed, ...]
    substitution_method: str
    substitution_code: str
    input_sha256: str
    organization_name: str = ""
    carb_facility_id: str = ""
    preparer: str = ""
    reviewer: str = ""
    generated_at: str = ""  # ISO 8601 UTC, "" when not given
    software_version: str = ""
    audit_head: str = ""
    warnings: tuple[str, ...] = ()  # things a reviewer must look at before filing
    biomethane: tuple[BiomethaneBalance, ...] = ()
    daily: tuple[DailyMeter, ...] = ()
    daily_quality: tuple[DailyQuality, ...] = ()
    unconfirmed: tuple[ParameterUsed, ...] = ()  # used figures not yet checked at their source
    # Points of uncertain quality are counted as measured; bad ones are not (and their time is a
    # gap, filled by the substitution method).
    suspect_values_counted: bool = True

    @property
    def period(self) -> str:
        return f"{self.year} Q{self.quarter}"


def compute_quarter(inputs: LcfsInputs) -> LcfsReport:
    """Build the quarterly report (see the module docstring)."""
    tables = inputs.tables or load_tables()
    first, last = quarter_dates(inputs.year, inputs.quarter)
    tz = _zone(inputs.timezone)
    month_starts = [dt.date(first.year, first.month + k, 1) for k in range(3)]
    edges = [_local_midnight_us(d, tz) for d in month_starts]
    edges.append(_local_midnight_us(last + dt.timedelta(days=1), tz))
    months = [d.strftime("%Y-%m") for d in month_starts]
    month_ends = [*(d - dt.timedelta(days=1) for d in month_starts[1:]), last]
    if inputs.substitution_method not in METHODS:
        raise InvalidMappingError(
            f"unknown substitution method {inputs.substitution_method!r}; "
            f"choose one of: {', '.join(sorted(METHODS))}"
        )

    mappings = tuple(sorted(inputs.mappings, key=lambda m: m.tag))
    fuel_mappings = tuple(m for m in mappings if m.role != "injection")
    series = prepare_points(inputs.points, mappings)
    meter = meter_quantities(
        series, mappings, edges, gaps=inputs.gaps, method=inputs.substitution_method
    )
    days = [first + dt.timedelta(days=k) for k in range((last - first).days + 2)]
    daily = (
        meter_quantities(
            series,
            mappings,
            [_local_midnight_us(d, tz) for d in days],
            gaps=inputs.gaps,
            method=inputs.substitution_method,
        )
        if mappings
        else None
    )
    for t in inputs.transactions:
        if not first <= t.date <= last:
            raise InvalidTransactionsError(
                f"transaction {t.fuel_pathway_code} dated {t.date.isoformat()} is outside "
                f"{inputs.year} Q{inputs.quarter}"
            )
    injected = _injected(meter.monthly, mappings, tables, last)
    fuel_monthly = meter.monthly[
        ~meter.monthly["tag"].isin([m.tag for m in mappings if m.role == "injection"])
    ]
    has_data = bool(fuel_monthly[["measured", "substituted"]].to_numpy().any()) or bool(
        inputs.transactions
    )

    lines = [
        *_meter_lines(meter.monthly, fuel_mappings, tables, month_ends),
        *(ReportLine("transaction", 0.0, credit_line(t, tables)) for t in inputs.transactions),
    ]
    lines.sort(
        key=lambda r: (
            r.credit.date,
            r.credit.fuel_pathway_code,
            r.credit.transaction_type,
            r.source,
            r.credit.reference,
        )
    )
    displaced = sorted(
        {r.credit.displaced for r in lines} | _displaced_of(fuel_mappings, tables, first)
    )
    benchmarks = []
    for d in displaced or ["gasoline", "diesel"]:
        row = tables.quarter_benchmark(d, inputs.year, inputs.quarter)
        benchmarks.append(
            BenchmarkUsed(
                d, row.ci_benchmark, _iso(row.effective_from), _iso(row.effective_to), row.source
            )
        )

    totals = _pathway_totals(lines)
    unit_of = {(p.fuel_pathway_code, p.transaction_type, p.application): p.unit for p in totals}
    params: dict[tuple[str, str], ParameterUsed] = {}
    for r in lines:
        for p in r.credit.parameters:
            params.setdefault((p.name, p.key), p)
    for m in mappings:
        params.setdefault(
            ("CI", m.fuel_pathway_code),
            ParameterUsed("CI", m.fuel_pathway_code, m.ci, "gCO2e/MJ", f"tag mapping ({m.tag})"),
        )
    for t in inputs.transactions:
        params.setdefault(
            ("CI", t.fuel_pathway_code),
            ParameterUsed("CI", t.fuel_pathway_code, t.ci, "gCO2e/MJ", "fuel transaction"),
        )
    code = METHODS[inputs.substitution_method]
    params[("substitution", code)] = ParameterUsed(
        "substitution method",
        inputs.substitution_method,
        0.0,
        code,
        SUBSTITUTION_SOURCES[inputs.substitution_method],
    )

    by_tag = {m.tag: m for m in mappings}
    per_tag = meter.monthly.groupby("tag", sort=True)[["measured", "substituted"]].sum()
    totals_by_tag: dict[str, tuple[float, float]] = {
        str(tag): (float(m), float(sub))
        for tag, m, sub in zip(
            per_tag.index, per_tag["measured"], per_tag["substituted"], strict=True
        )
    }
    completeness = tuple(
        TagCompleteness(
            tag=str(row.tag),
            fuel_pathway_code=by_tag[str(row.tag)].fuel_pathway_code,
            kind=by_tag[str(row.tag)].kind,
            unit=by_tag[str(row.tag)].unit,
            usable_points=int(row.usable_points),
            covered_hours=float(row.covered_hours),
            window_hours=float(row.window_hours),
            completeness_pct=float(row.completeness_pct),
            quantity=totals_by_tag[str(row.tag)][0] + totals_by_tag[str(row.tag)][1],
            substituted_quantity=totals_by_tag[str(row.tag)][1],
        )
        for row in _rows(meter.completeness)
    )
    gaps = tuple(
        GapRow(
            str(g.tag),
            _stamp(g.gap_start),
            _stamp(g.gap_end),
            float(g.duration_minutes),
            int(g.missing_points),
            bool(g.open),
            str(g.method),
            int(g.substituted_points),
            float(g.substituted_quantity),
            by_tag[str(g.tag)].unit,
        )
        for g in _rows(meter.gaps)
    )
    events = tuple(
        CounterEvent(
            str(e.tag),
            _stamp(e.ts),
            str(e.kind),
            float(e.before),
            float(e.after),
            float(e.increment),
        )
        for e in _rows(meter.events)
    )
    summary = tuple(
        (s, sum(1 for d in inputs.documents if d.status == s)) for s in ("pass", "warn", "fail")
    )
    period = f"{inputs.year} Q{inputs.quarter}"
    biomethane = _biomethane(lines, injected, inputs.attested_supply)
    unconfirmed = tuple(
        p
        for p in sorted(params.values(), key=lambda p: (p.name, p.key))
        if p.status == "unconfirmed"
    )
    warnings = _warnings(lines, biomethane, unconfirmed, gaps)
    status = (
        f"{len(lines)} fuel transaction line(s) for {period}"
        if has_data
        else f"No data for {period}: no usable meter reading and no fuel transaction in the "
        "quarter, so no credits or deficits are claimed."
    )
    return LcfsReport(
        facility_id=inputs.facility_id,
        facility_name=inputs.facility_name,
        organization_fein=inputs.organization_fein,
        timezone=inputs.timezone,
        year=inputs.year,
        quarter=inputs.quarter,
        period_start=first,
        period_end=last,
        has_data=has_data,
        status=status,
        benchmarks=tuple(benchmarks),
        lines=tuple(lines) if has_data else (),
        totals_by_pathway=totals if has_data else (),
        totals=credit_totals(r.credit.credits_mt for r in lines) if has_data else None,
        monthly=_monthly(lines, months, unit_of, tables) if has_data else (),
        completeness=completeness,
        gaps=gaps,
        counter_events=events,
        documents=tuple(inputs.documents),
        documents_summary=summary,
        parameters=tuple(sorted(params.values(), key=lambda p: (p.name, p.key))),
        substitution_method=inputs.substitution_method,
        substitution_code=code,
        input_sha256=input_sha256(inputs, tables, points_digest(series)),
        organization_name=inputs.organization_name,
        carb_facility_id=inputs.carb_facility_id,
        preparer=inputs.preparer,
        reviewer=inputs.reviewer,
        generated_at=_utc(inputs.generated_at),
        software_version=inputs.software_version,
        audit_head=inputs.audit_head,
        warnings=warnings,
        biomethane=biomethane,
        daily=_daily(daily, mappings, days) if daily is not None else (),
        daily_quality=tuple(sorted(inputs.daily_quality, key=lambda q: (q.tag, q.day))),
        unconfirmed=unconfirmed,
    )


BIOMETHANE_FUELS = ("rng",)  # biomethane claimed as CNG/LNG/L-CNG through book-and-claim


def _injected(
    monthly: pd.DataFrame, mappings: Sequence[TagMapping], tables: LcfsTables, on: dt.date
) -> dict[str, float]:
    """MJ (LHV) of biomethane injected per pathway code by the injection meters."""
    out: dict[str, float] = {}
    grouped = monthly.groupby("tag", sort=True)[["measured", "substituted"]].sum()
    sums = {
        str(t): float(a) + float(b)
        for t, a, b in zip(grouped.index, grouped["measured"], grouped["substituted"], strict=True)
    }
    for m in mappings:
        if m.role != "injection" or m.tag not in sums:
            continue
        quantity = sums[m.tag]
        probe = Transaction(
            m.fuel_pathway_code,
            m.fuel_type,
            1.0,
            m.unit,
            m.ci,
            "Production in California",
            on,
            application=m.application,
            hhv_btu_per_scf=m.hhv_btu_per_scf,
            lhv_hhv_ratio=m.lhv_hhv_ratio,
        )
        energy = credit_line(probe, tables).energy_density * quantity
        out[m.fuel_pathway_code] = out.get(m.fuel_pathway_code, 0.0) + energy
    return out


def _biomethane(
    lines: Sequence[ReportLine],
    injected: dict[str, float],
    supply: Sequence[BiomethaneSupply],
) -> tuple[BiomethaneBalance, ...]:
    available = dict(injected)
    for s in supply:
        available[s.fuel_pathway_code] = available.get(s.fuel_pathway_code, 0.0) + s.energy_mj
    claimed: dict[str, float] = {}
    for r in lines:
        c = r.credit
        if c.fuel_type in BIOMETHANE_FUELS:
            claimed[c.fuel_pathway_code] = claimed.get(c.fuel_pathway_code, 0.0) + (
                c.effect * c.energy_mj
            )
    out = []
    for fpc in sorted(set(available) | set(claimed)):
        have, want = available.get(fpc, 0.0), max(claimed.get(fpc, 0.0), 0.0)
        excess = max(want - have, 0.0)
        status: Literal["covered", "excess", "no_claim"] = (
            "no_claim" if want == 0 else "excess" if excess > 1e-9 * max(want, 1.0) else "covered"
        )
        out.append(
            BiomethaneBalance(fpc, have, want, excess if status == "excess" else 0.0, status)
        )
    return tuple(out)


def _warnings(
    lines: Sequence[ReportLine],
    biomethane: Sequence[BiomethaneBalance],
    unconfirmed: Sequence[ParameterUsed],
    gaps: Sequence[GapRow],
) -> tuple[str, ...]:
    out = []
    missing = sorted(
        {
            (r.credit.fuel_pathway_code, r.credit.date.isoformat())
            for r in lines
            if r.credit.transaction_type == "Sold with Obligation"
            and not r.credit.business_partner.strip()
        }
    )
    for fpc, day in missing:
        out.append(
            f"Sold with Obligation of {fpc} on {day} names no business partner: the sale "
            "must be reconciled with the buyer (17 CCR §95486(a)(1)(B))."
        )
    for b in biomethane:
        if b.status == "excess":
            out.append(
                f"Biomethane claimed under {b.fuel_pathway_code} ({b.claimed_mj:,.0f} MJ) exceeds "
                f"the injected, attested quantity ({b.injected_mj:,.0f} MJ) by "
                f"{b.excess_mj:,.0f} MJ: book-and-claim cannot claim more than was injected."
            )
    if unconfirmed:
        names = "; ".join(f"{p.name} {p.key}" for p in unconfirmed)
        out.append(
            f"{len(unconfirmed)} figure(s) used are not yet compared with the regulation "
            f"text they cite: {names}. Check each before filing."
        )
    unfilled = [g for g in gaps if g.method == "NONE"]
    if unfilled:
        out.append(
            f"{len(unfilled)} gap(s) in the metered data are not filled (the meter stopped "
            "reporting): the quantity for that time is not claimed."
        )
    return tuple(out)


def _daily(
    daily: MeterQuantities, mappings: Sequence[TagMapping], days: Sequence[dt.date]
) -> tuple[DailyMeter, ...]:
    by_tag = {m.tag: m for m in mappings}
    return tuple(
        DailyMeter(
            tag=str(r.tag),
            fuel_pathway_code=by_tag[str(r.tag)].fuel_pathway_code,
            role=by_tag[str(r.tag)].role,
            day=days[int(r.month)].isoformat(),
            measured=float(r.measured),
            substituted=float(r.substituted),
            unit=by_tag[str(r.tag)].unit,
        )
        for r in _rows(daily.monthly.sort_values(["tag", "month"], kind="stable"))
    )


def _utc(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        raise InvalidPeriodError("generated_at must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def input_sha256(inputs: LcfsInputs, tables: LcfsTables, points_sha256: str) -> str:
    """SHA-256 of the canonical JSON of the inputs (points by their own digest)."""
    gaps: list[dict[str, Any]] = []
    if inputs.gaps is not None:
        for g in inputs.gaps.sort_values(["tag", "gap_start"], kind="stable").itertuples():
            gaps.append(
                {"tag": str(g.tag), "gap_start": _stamp(g.gap_start), "gap_end": _stamp(g.gap_end)}
            )
    document = {
        "facility": [inputs.facility_id, inputs.facility_name, inputs.timezone],
        "fein": inputs.organization_fein,
        # The data's identity; not the sign-off names, build time or audit head of a request.
        "identity": [inputs.organization_name, inputs.carb_facility_id],
        "quality": [asdict(q) for q in inputs.daily_quality],
        "supply": [asdict(x) for x in inputs.attested_supply],
        "period": [inputs.year, inputs.quarter],
        "mappings": [asdict(m) for m in sorted(inputs.mappings, key=lambda m: m.tag)],
        "points_sha256": points_sha256,
        "gaps": gaps if inputs.gaps is not None else None,
        "transactions": [asdict(t) for t in inputs.transactions],
        "documents": [asdict(d) for d in inputs.documents],
        "tables": {name: hashlib.sha256(raw).hexdigest() for name, raw in tables.files},
        "substitution_method": inputs.substitution_method,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()


def _meter_lines(
    monthly: pd.DataFrame,
    mappings: Sequence[TagMapping],
    tables: LcfsTables,
    month_ends: Sequence[dt.date],
) -> list[ReportLine]:
    """One line per (FPC, transaction type, application) and month, summing its tags."""
    groups: dict[tuple[str, str, str], list[TagMapping]] = {}
    for m in mappings:
        app = (m.application or "").strip().lower() or tables.default_application(
            m.fuel_type.strip().lower()
        )
        key = (m.fuel_pathway_code, canonical_transaction_type(m.transaction_type), app)
        groups.setdefault(key, []).append(m)
    values: dict[tuple[str, int], tuple[float, float]] = {
        (str(t), int(mo)): (float(a), float(b))
        for t, mo, a, b in zip(
            monthly["tag"],
            monthly["month"],
            monthly["measured"],
            monthly["substituted"],
            strict=True,
        )
    }
    out: list[ReportLine] = []
    for (fpc, kind, app), members in sorted(groups.items()):
        head = members[0]
        for m in members[1:]:
            if (m.fuel_type.lower(), m.ci, m.eer) != (head.fuel_type.lower(), head.ci, head.eer):
                raise InvalidMappingError(
                    f"tags {head.tag!r} and {m.tag!r} map to {fpc} ({kind}, {app}) with a "
                    "different fuel type, CI or EER"
                )
        for month, end in enumerate(month_ends):
            quantity = substituted = 0.0
            for m in members:
                measured, subst = values[(m.tag, month)]
                quantity += convert_quantity(
                    tables, m.fuel_type, measured + subst, m.unit, head.unit, end
                )
                substituted += convert_quantity(tables, m.fuel_type, subst, m.unit, head.unit, end)
            if quantity == 0.0:
                continue
            t = Transaction(
                fpc,
                head.fuel_type,
                quantity,
                head.unit,
                head.ci,
                kind,
                end,
                application=app,
                eer=head.eer,
                business_partner=head.business_partner,
                hhv_btu_per_scf=head.hhv_btu_per_scf,
                lhv_hhv_ratio=head.lhv_hhv_ratio,
            )
            out.append(ReportLine("meter", substituted, credit_line(t, tables)))
    return out


def _pathway_totals(lines: Sequence[ReportLine]) -> tuple[PathwayTotal, ...]:
    groups: dict[tuple[str, str, str], list[ReportLine]] = {}
    for r in lines:
        c = r.credit
        groups.setdefault((c.fuel_pathway_code, c.transaction_type, c.application), []).append(r)
    out = []
    for (fpc, kind, app), members in sorted(groups.items()):
        head = members[0].credit
        energy = math.fsum(r.credit.energy_mj for r in members)

        def weighted(
            attr: str, members: list[ReportLine] = members, energy: float = energy
        ) -> float:
            if energy == 0:
                return float(getattr(members[0].credit, attr))
            return math.fsum(getattr(r.credit, attr) * r.credit.energy_mj for r in members) / energy

        def in_head_unit(r: ReportLine, q: float, head: CreditLine = head) -> float:
            same = r.credit.unit == head.unit and r.credit.energy_density == head.energy_density
            return q if same else q * r.credit.energy_density / head.energy_density

        out.append(
            PathwayTotal(
                fuel_pathway_code=fpc,
                transaction_type=kind,
                application=app,
                fuel_type=head.fuel_type,
                displaced=head.displaced,
                quantity=math.fsum(in_head_unit(r, r.credit.quantity) for r in members),
                substituted_quantity=math.fsum(
                    in_head_unit(r, r.substituted_quantity) for r in members
                ),
                unit=head.unit,
                energy_mj=energy,
                ci=weighted("ci"),
                eer=weighted("eer"),
                ci_benchmark=weighted("ci_benchmark"),
                credits_mt=math.fsum(r.credit.credits_mt for r in members),
            )
        )
    return tuple(out)


def _monthly(
    lines: Sequence[ReportLine],
    months: Sequence[str],
    unit_of: dict[tuple[str, str, str], str],
    tables: LcfsTables,
) -> tuple[MonthlyVolume, ...]:
    acc: dict[tuple[str, str, str, str], list[float]] = {}
    for r in lines:
        c = r.credit
        group = (c.fuel_pathway_code, c.transaction_type, c.application)
        key = (c.date.strftime("%Y-%m"), *group)
        unit = unit_of[group]
        factor = 1.0 if c.unit == unit else c.energy_density / _density(c, unit, tables)
        cell = acc.setdefault(key, [0.0, 0.0, 0.0])
        cell[0] += c.quantity * factor
        cell[1] += r.substituted_quantity * factor
        cell[2] += c.energy_mj
    out = []
    for fpc, kind, app in sorted({k[1:] for k in acc}):
        for month in months:
            quantity, substituted, energy = acc.get((month, fpc, kind, app), [0.0, 0.0, 0.0])
            unit = unit_of[(fpc, kind, app)]
            out.append(MonthlyVolume(month, fpc, kind, app, quantity, substituted, unit, energy))
    return tuple(out)


def _density(line: CreditLine, unit: str, tables: LcfsTables) -> float:
    return line.energy_density * convert_quantity(
        tables, line.fuel_type, 1.0, unit, line.unit, line.date
    )


def _displaced_of(mappings: Sequence[TagMapping], tables: LcfsTables, on: dt.date) -> set[str]:
    out = set()
    for m in mappings:
        app = (m.application or "").strip().lower() or tables.default_application(
            m.fuel_type.strip().lower()
        )
        out.add(tables.eer(app, on).displaced)
    return out


class _Row:
    """Attribute access to one frame row (values typed Any, as pandas-stubs cannot know them)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _rows(frame: pd.DataFrame) -> list[Any]:
    return [_Row({str(k): v for k, v in r.items()}) for r in frame.to_dict(orient="records")]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidPeriodError(f"unknown time zone {name!r}") from None


def _local_midnight_us(day: dt.date, tz: ZoneInfo) -> int:
    local = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return int(local.timestamp()) * US


def _stamp(value: object) -> str:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def _jsonable(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not serialisable: {type(value).__name__}")
