"""The audit log: entries with their chain fields, and the chain's verification."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import HAS_MORE, NEXT, Pagination, page_example
from pipelines.audit import Entry, Verdict
from worker.storage.events import iso


class Subject(BaseModel):
    type: str = Field(description="job, report, document, facility, webhook_endpoint, ...")
    id: str


class ChainLink(BaseModel):
    prev_hash: str
    row_hash: str


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "aud_7c3v1b6n8m2k4x9q",
                    "seq": 12,
                    "created_at": "2025-10-01T12:00:03Z",
                    "action": "fuel_mappings.replaced",
                    "actor": "api_key:key_4x9q7c3v1b6n8m2k",
                    "subject": {"type": "facility", "id": "fac_3kz9q7m2x8c4v6b1"},
                    "facility_id": "fac_3kz9q7m2x8c4v6b1",
                    "details": {"mappings": 1, "sha256": "9f2c..."},
                    "chain": {"prev_hash": "41ab...", "row_hash": "c07e..."},
                }
            ]
        }
    )

    id: str
    seq: int
    created_at: str
    action: str
    actor: str
    subject: Subject
    facility_id: str | None
    details: dict[str, Any]
    chain: ChainLink

    @classmethod
    def of(cls, entry: Entry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            seq=entry.seq,
            created_at=iso(entry.created_at),
            action=entry.action,
            actor=entry.actor,
            subject=Subject(type=entry.subject_type, id=entry.subject_id),
            facility_id=entry.facility_id,
            details=entry.details,
            chain=ChainLink(prev_hash=entry.prev_hash, row_hash=entry.row_hash),
        )


class AuditEntryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                page_example(
                    AuditEntryOut,
                    total=12,
                    per_page=1,
                    has_more=True,
                    next="/v1/audit-log?order=desc&limit=1&starting_after=aud_7c3v1b6n8m2k4x9q",
                )
            ]
        }
    )

    data: list[AuditEntryOut]
    pagination: Pagination
    has_more: bool = Field(description=HAS_MORE)
    next: str | None = Field(description=NEXT)


class ChainHead(BaseModel):
    seq: int
    row_hash: str = Field(description="Record it elsewhere to anchor the log")


class ChainProblem(BaseModel):
    kind: str = Field(description="altered, reordered or deleted")
    seq: int | None = Field(description="The first entry found wrong; null: entries missing")
    entry_id: str | None
    message: str


class AuditVerdictOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "valid": True,
                    "entries": 12,
                    "head": {"seq": 12, "row_hash": "c07e..."},
                    "first_problem": None,
                }
            ]
        }
    )

    valid: bool
    entries: int
    head: ChainHead
    first_problem: ChainProblem | None

    @classmethod
    def of(cls, verdict: Verdict) -> AuditVerdictOut:
        # Verdict.to_dict is the shape `tickwork audit verify --json` prints too.
        return cls.model_validate(verdict.to_dict())
