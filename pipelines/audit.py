"""The audit log's hash chain: canonical form, row hashes and verification.

Each entry carries ``prev_hash`` (the ``row_hash`` of the entry before it in its tenant's chain,
``GENESIS`` for the first) and ``row_hash`` = SHA-256 of the entry's canonical form, which
includes ``prev_hash``. Changing, removing or moving any entry therefore breaks the link to the
next one. The canonical form is JSON with sorted keys, no whitespace and UTF-8 text; timestamps
are ISO 8601 UTC with microseconds.

The position number (``seq``) is deliberately *not* hashed: it is how storage orders the rows,
and the chain is what proves that order. Verifying walks rows by ``seq`` and tells three kinds of
damage apart:

- **altered**: an entry's contents no longer hash to its ``row_hash``;
- **reordered**: an entry intact in itself follows the wrong predecessor, and its real
  predecessor is elsewhere in the log;
- **deleted**: an entry's predecessor is nowhere in the log, or the log ends before the
  recorded chain head.

A hash chain anyone can recompute proves integrity against accidental or partial tampering, not
against someone able to rewrite the whole tail and the head; record the head hash
(``GET /v1/audit-log/verify``) somewhere outside the database to anchor it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

GENESIS = "0" * 64
VERSION = 1


@dataclass(frozen=True)
class Entry:
    """One audit entry as stored."""

    seq: int
    id: str
    tenant_id: str
    created_at: datetime
    action: str
    actor: str
    subject_type: str
    subject_id: str
    facility_id: str | None
    details: dict[str, Any]
    prev_hash: str
    row_hash: str


@dataclass(frozen=True)
class Problem:
    kind: Literal["altered", "reordered", "deleted"]
    seq: int | None  # position of the first entry found wrong (None: entries missing at the end)
    entry_id: str | None
    message: str


@dataclass(frozen=True)
class Verdict:
    valid: bool
    entries: int
    head_seq: int
    head_hash: str
    problem: Problem | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "row_hash": self.head_hash},
            "first_problem": None
            if self.problem is None
            else {
                "kind": self.problem.kind,
                "seq": self.problem.seq,
                "entry_id": self.problem.entry_id,
                "message": self.problem.message,
            },
        }


def timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    *,
    id: str,
    tenant_id: str,
    created_at: datetime,
    action: str,
    actor: str,
    subject_type: str,
    subject_id: str,
    facility_id: str | None,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """The exact bytes an entry's ``row_hash`` is taken over."""
    document = {
        "v": VERSION,
        "id": id,
        "tenant_id": tenant_id,
        "created_at": timestamp(created_at),
        "action": action,
        "actor": actor,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "facility_id": facility_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """SHA-256 (hex) of any JSON-native value in canonical form (e.g. a set of mappings)."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_hash(**fields: Any) -> str:
    """SHA-256 (hex) of the canonical form of an entry given as keyword fields."""
    return hashlib.sha256(canonical(**fields)).hexdigest()


def entry_hash(entry: Entry) -> str:
    return row_hash(
        id=entry.id,
        tenant_id=entry.tenant_id,
        created_at=entry.created_at,
        action=entry.action,
        actor=entry.actor,
        subject_type=entry.subject_type,
        subject_id=entry.subject_id,
        facility_id=entry.facility_id,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def verify(
    entries: Iterable[Entry],
    *,
    head_seq: int,
    head_hash: str,
    locate: Callable[[str], int | None],
) -> Verdict:
    """Walk ``entries`` in ``seq`` order and report the first damage found.

    ``head_seq``/``head_hash`` are the chain head recorded at the last append (0/GENESIS for an
    empty log); ``locate(row_hash)`` returns the ``seq`` of the entry with that hash, or None, and
    is only asked when a link is broken, to tell a moved entry from a missing one.
    """
    expected, last_seq, count = GENESIS, 0, 0
    for entry in entries:
        count += 1
        where = f"entry {entry.id} (seq {entry.seq})"
        try:
            recomputed = entry_hash(entry)
        except (TypeError, ValueError) as exc:  # details no longer serialisable as stored
            recomputed = f"unhashable: {exc}"
        if recomputed != entry.row_hash:
            return _bad(
                count,
                head_seq,
                head_hash,
                Problem(
                    "altered",
                    entry.seq,
                    entry.id,
                    f"{where} was altered: its contents no longer hash to its row_hash",
                ),
            )
        if entry.prev_hash != expected:
            found = locate(entry.prev_hash) if entry.prev_hash != GENESIS else None
            if found is not None or entry.prev_hash == GENESIS:
                before = "the start of the log" if found is None else f"seq {found}"
                return _bad(
                    count,
                    head_seq,
                    head_hash,
                    Problem(
                        "reordered",
                        entry.seq,
                        entry.id,
                        f"{where} is out of order: its predecessor in the chain is {before}, "
                        f"not seq {last_seq}",
                    ),
                )
            return _bad(
                count,
                head_seq,
                head_hash,
                Problem(
                    "deleted",
                    entry.seq,
                    entry.id,
                    f"the entry before {where} was deleted: its predecessor (row_hash "
                    f"{entry.prev_hash[:16]}…) is not in the log",
                ),
            )
        expected, last_seq = entry.row_hash, entry.seq
    if last_seq != head_seq or expected != head_hash:
        if last_seq < head_seq:
            message = f"entries after seq {last_seq} were deleted: the chain head is seq {head_seq}"
            return _bad(count, head_seq, head_hash, Problem("deleted", None, None, message))
        message = (
            f"the chain head (seq {head_seq}) does not match the last entry (seq {last_seq}): "
            "the log or its head was altered"
        )
        return _bad(count, head_seq, head_hash, Problem("altered", last_seq or None, None, message))
    return Verdict(True, count, head_seq, head_hash)


def _bad(count: int, head_seq: int, head_hash: str, problem: Problem) -> Verdict:
    return Verdict(False, count, head_seq, head_hash, problem)
