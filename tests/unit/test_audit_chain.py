"""The audit hash chain: canonical form, and that verification names the first damaged entry."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import audit
from tests.factories import examples

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def build(n: int, tenant: str = "ten_a") -> list[audit.Entry]:
    chain, prev = [], audit.GENESIS
    for i in range(1, n + 1):
        fields = dict(
            id=f"aud_{i:04d}",
            tenant_id=tenant,
            created_at=T0 + timedelta(seconds=i),
            action="ingest.completed",
            actor="system",
            subject_type="job",
            subject_id=f"job_{i}",
            facility_id=None,
            details={"rows": i, "upload_sha256": hashlib.sha256(str(i).encode()).hexdigest()},
            prev_hash=prev,
        )
        digest = audit.row_hash(**fields)
        chain.append(audit.Entry(seq=i, row_hash=digest, **fields))
        prev = digest
    return chain


def check(entries: list[audit.Entry], head: audit.Entry | None = None) -> audit.Verdict:
    by_hash = {e.row_hash: e.seq for e in entries}
    head_seq, head_hash = (head.seq, head.row_hash) if head else (0, audit.GENESIS)
    return audit.verify(
        sorted(entries, key=lambda e: e.seq),
        head_seq=head_seq,
        head_hash=head_hash,
        locate=by_hash.get,
    )


def test_canonical_form_is_exactly_this() -> None:
    """The bytes are pinned: sorted keys, no spaces, UTF-8, microsecond UTC timestamps."""
    raw = audit.canonical(
        id="aud_1",
        tenant_id="ten_1",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        action="report.generated",
        actor="system",
        subject_type="report",
        subject_id="rep_1",
        facility_id="fac_1",
        details={"z": 1, "a": "é"},
        prev_hash=audit.GENESIS,
    )
    expected = (
        '{"action":"report.generated","actor":"system","created_at":"2026-01-02T03:04:05.000006Z",'
        '"details":{"a":"é","z":1},"facility_id":"fac_1","id":"aud_1","prev_hash":"'
        + "0" * 64
        + '","subject_id":"rep_1","subject_type":"report","tenant_id":"ten_1","v":1}'
    )
    assert raw == expected.encode("utf-8")
    assert (
        build(1)[0].row_hash
        == hashlib.sha256(
            audit.canonical(
                **{
                    k: v
                    for k, v in dataclasses.asdict(build(1)[0]).items()
                    if k not in ("seq", "row_hash")
                }
            )
        ).hexdigest()
    )


def test_intact_chain_and_empty_log_verify() -> None:
    entries = build(5)
    verdict = check(entries, entries[-1])
    assert (verdict.valid, verdict.entries, verdict.head_seq) == (True, 5, 5)
    assert verdict.head_hash == entries[-1].row_hash
    assert check([]).valid


def test_altered_entry_is_named() -> None:
    entries = build(6)
    entries[3] = dataclasses.replace(entries[3], details={**entries[3].details, "rows": 999})
    verdict = check(entries, entries[-1])
    assert not verdict.valid
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("altered", 4)
    assert "aud_0004" in verdict.problem.message


def test_deleted_entry_is_named() -> None:
    entries = build(6)
    del entries[2]  # seq 3
    verdict = check(entries, entries[-1])
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("deleted", 4)


def test_deleted_tail_is_found_by_the_head() -> None:
    entries = build(6)
    head = entries[-1]
    verdict = check(entries[:4], head)
    assert verdict.problem is not None
    assert verdict.problem.kind == "deleted"
    assert "after seq 4" in verdict.problem.message


def test_reordered_entries_are_named() -> None:
    entries = build(6)
    a, b = entries[2], entries[3]  # swap positions 3 and 4, contents untouched
    entries[2], entries[3] = dataclasses.replace(b, seq=3), dataclasses.replace(a, seq=4)
    verdict = check(entries, entries[-1])
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("reordered", 3)
    assert "seq 3" in verdict.problem.message


def test_first_entry_moved_to_the_middle_is_reordered() -> None:
    entries = build(4)
    moved = [
        dataclasses.replace(entries[1], seq=1),
        dataclasses.replace(entries[0], seq=2),
        *entries[2:],
    ]
    verdict = check(moved, entries[-1])
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("reordered", 1)


def test_hash_rewritten_without_its_successor_is_caught() -> None:
    """Changing a row and recomputing its own hash still breaks the link to the next row."""
    entries = build(5)
    fields = dataclasses.asdict(entries[1])
    fields.pop("seq"), fields.pop("row_hash")
    fields["details"] = {"rows": 0}
    forged = audit.Entry(seq=2, row_hash=audit.row_hash(**fields), **fields)
    entries[1] = forged
    verdict = check(entries, entries[-1])
    assert verdict.problem is not None
    assert verdict.problem.seq == 3  # seq 3 no longer links to what sits at seq 2


def test_details_must_be_json_native() -> None:
    with pytest.raises(ValueError):
        audit.digest({"x": float("nan")})
    assert audit.digest({"b": 1, "a": [1, 2]}) == audit.digest({"a": [1, 2], "b": 1})


@settings(max_examples=examples(150), deadline=None)
@given(
    n=st.integers(min_value=2, max_value=12),
    data=st.data(),
    damage=st.sampled_from(["alter", "delete", "swap"]),
)
def test_any_single_damage_is_found_at_its_place(n: int, data: st.DataObject, damage: str) -> None:
    entries = build(n)
    at = data.draw(st.integers(min_value=0, max_value=n - 2), label="position")
    head = entries[-1]
    if damage == "alter":
        field = data.draw(st.sampled_from(["action", "actor", "subject_id", "created_at"]))
        value = T0 if field == "created_at" else "forged"
        entries[at] = dataclasses.replace(entries[at], **{field: value})
        expected = ("altered", at + 1)
    elif damage == "delete":
        del entries[at]
        expected = ("deleted", at + 2)
    else:
        a, b = entries[at], entries[at + 1]
        entries[at], entries[at + 1] = (
            dataclasses.replace(b, seq=a.seq),
            dataclasses.replace(a, seq=b.seq),
        )
        expected = ("reordered", at + 1)
    verdict = check(entries, head)
    assert not verdict.valid
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == expected


# --- verdicts in full: what GET /v1/audit-log/verify answers ---------------------------------


def _problem(kind: str, seq: int | None, entry_id: str | None, message: str) -> dict:
    return {"kind": kind, "seq": seq, "entry_id": entry_id, "message": message}


def _verdict(entries: int, head: audit.Entry | None, problem: dict | None) -> dict:
    return {
        "valid": problem is None,
        "entries": entries,  # how many were read before the first damage, that one included
        "head": {
            "seq": head.seq if head else 0,
            "row_hash": head.row_hash if head else audit.GENESIS,
        },
        "first_problem": problem,
    }


def test_intact_and_empty_verdicts_in_full() -> None:
    entries = build(5)
    assert check(entries, entries[-1]).to_dict() == _verdict(5, entries[-1], None)
    assert check([]).to_dict() == _verdict(0, None, None)


def test_altered_verdict_in_full() -> None:
    entries = build(6)
    entries[3] = dataclasses.replace(entries[3], details={**entries[3].details, "rows": 999})
    assert check(entries, entries[-1]).to_dict() == _verdict(
        4,
        entries[-1],
        _problem(
            "altered",
            4,
            "aud_0004",
            "entry aud_0004 (seq 4) was altered: its contents no longer hash to its row_hash",
        ),
    )


def test_deleted_verdict_in_full() -> None:
    entries = build(6)
    gone = entries.pop(2)  # seq 3
    assert check(entries, entries[-1]).to_dict() == _verdict(
        3,
        entries[-1],
        _problem(
            "deleted",
            4,
            "aud_0004",
            f"the entry before entry aud_0004 (seq 4) was deleted: its predecessor (row_hash "
            f"{gone.row_hash[:16]}…) is not in the log",
        ),
    )


def test_reordered_verdict_in_full() -> None:
    entries = build(6)
    a, b = entries[2], entries[3]
    entries[2], entries[3] = dataclasses.replace(b, seq=3), dataclasses.replace(a, seq=4)
    assert check(entries, entries[-1]).to_dict() == _verdict(
        3,
        entries[-1],
        _problem(
            "reordered",
            3,
            "aud_0004",
            "entry aud_0004 (seq 3) is out of order: its predecessor in the chain is seq 4, "
            "not seq 2",
        ),
    )


def test_a_second_first_entry_is_reordered_after_the_start_of_the_log() -> None:
    """An intact entry that claims to be first (prev_hash GENESIS) sitting at seq 2."""
    first, other = build(1)[0], build(1, tenant="ten_b")[0]
    entries = [first, dataclasses.replace(other, seq=2)]
    assert check(entries, entries[-1]).to_dict() == _verdict(
        2,
        entries[-1],
        _problem(
            "reordered",
            2,
            "aud_0001",
            "entry aud_0001 (seq 2) is out of order: its predecessor in the chain is the start "
            "of the log, not seq 1",
        ),
    )


def test_deleted_tail_verdict_in_full() -> None:
    entries = build(6)
    assert check(entries[:4], entries[-1]).to_dict() == _verdict(
        4,
        entries[-1],
        _problem(
            "deleted",
            None,
            None,
            "entries after seq 4 were deleted: the chain head is seq 6",
        ),
    )


@pytest.mark.parametrize(
    ("count", "head_seq", "head_hash", "seq"),
    [
        (6, 6, "f" * 64, 6),  # the head's hash is not the last entry's
        (6, 5, None, 6),  # the head names an earlier entry: entries after it were added unchained
        (0, 0, "f" * 64, None),
    ],  # an empty log with a head that is not the genesis
)
def test_head_that_does_not_match_the_last_entry_is_altered(
    count: int, head_seq: int, head_hash: str | None, seq: int | None
) -> None:
    entries = build(count)
    head_hash = head_hash or entries[-1].row_hash
    verdict = audit.verify(entries, head_seq=head_seq, head_hash=head_hash, locate=lambda h: None)
    assert verdict.to_dict() == {
        "valid": False,
        "entries": count,
        "head": {"seq": head_seq, "row_hash": head_hash},
        "first_problem": _problem(
            "altered",
            seq,
            None,
            f"the chain head (seq {head_seq}) does not match the last entry (seq {count}): "
            "the log or its head was altered",
        ),
    }


def test_facility_id_is_part_of_the_hash() -> None:
    entries = build(3)
    entries[1] = dataclasses.replace(entries[1], facility_id="fac_moved")
    verdict = check(entries, entries[-1])
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("altered", 2)


@pytest.mark.parametrize("details", [{"x": float("nan")}, {"x": {1, 2}}])
def test_details_no_longer_serialisable_are_altered_not_a_crash(details: dict) -> None:
    entries = build(3)
    entries[1] = dataclasses.replace(entries[1], details=details)
    verdict = check(entries, entries[-1])
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("altered", 2)


def test_canonical_form_refuses_nan_and_naive_times() -> None:
    fields = dict(
        id="aud_1",
        tenant_id="ten_1",
        created_at=T0,
        action="a",
        actor="system",
        subject_type="job",
        subject_id="job_1",
        facility_id=None,
        details={"x": float("inf")},
        prev_hash=audit.GENESIS,
    )
    with pytest.raises(ValueError, match="not JSON compliant"):
        audit.canonical(**fields)
    with pytest.raises(ValueError, match=r"^audit timestamps must be timezone-aware$"):
        audit.canonical(**{**fields, "details": {}, "created_at": T0.replace(tzinfo=None)})


def test_timestamps_are_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    paris = timezone(timedelta(hours=1))
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert audit.timestamp(datetime(2026, 1, 1, 1, 0, 0, 5, tzinfo=paris)) == (
            "2026-01-01T00:00:00.000005Z"
        )
    finally:
        monkeypatch.undo()
        time.tzset()


def test_digest_is_the_sha256_of_compact_utf8_json() -> None:
    value = {"b": "é", "a": [1, 2.5]}
    assert audit.digest(value) == hashlib.sha256('{"a":[1,2.5],"b":"é"}'.encode()).hexdigest()
