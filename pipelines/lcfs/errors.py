"""Error leaves of the LCFS package: each is a ``PipelineError`` (bad input, do not retry)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import PipelineError


@dataclass
class NoBenchmarkError(PipelineError):
    """No CI benchmark row covers the period for the displaced fuel."""

    displaced: str
    period: str
    code = "lcfs_no_benchmark"
    template = (
        "no {displaced} CI benchmark for {period} in the benchmark table; "
        "add a row to benchmarks.csv in the LCFS tables override directory "
        "(values from 17 CCR §95484 Tables 1-3 in force for that period)"
    )


@dataclass
class BenchmarkChangesInQuarterError(PipelineError):
    displaced: str
    period: str
    code = "lcfs_benchmark_changes_in_quarter"
    template = (
        "the {displaced} CI benchmark changes within {period}; benchmark rows "
        "must start and end on quarter boundaries"
    )


@dataclass
class UnknownParameterError(PipelineError):
    """A fuel type, application, unit or energy density the tables do not know."""

    kind: str  # fuel_type | application | unit | energy_density | transaction_type
    value: str
    hint: str = ""
    code = "lcfs_unknown_parameter"

    def __str__(self) -> str:
        message = f"unknown {self.kind.replace('_', ' ')} {self.value!r}"
        return f"{message}; {self.hint}" if self.hint else message


@dataclass
class InvalidPeriodError(PipelineError):
    detail: str
    code = "lcfs_invalid_period"
    template = "{detail}"


@dataclass
class InvalidTableError(PipelineError):
    """A parameter table (packaged or override) that cannot be read."""

    table: str
    detail: str
    code = "lcfs_invalid_table"
    template = "LCFS table {table}: {detail}"


@dataclass
class InvalidTransactionsError(PipelineError):
    """The transactions CSV (or a transaction) is malformed; ``line`` is 1-based, 0 if none."""

    detail: str
    line: int = 0
    code = "lcfs_invalid_transactions"

    def __str__(self) -> str:
        return f"line {self.line}: {self.detail}" if self.line else self.detail


@dataclass
class InvalidMappingError(PipelineError):
    """Tag mappings or inputs that contradict each other."""

    detail: str
    code = "lcfs_invalid_mapping"
    template = "{detail}"
