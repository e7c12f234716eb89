"""The audit hash chain: canonical form, and that verification names the first damaged entry."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

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
            id=f"aud_{i:04d}", tenant_id=tenant, created_at=T0 + timedelta(seconds=i),
            action="ingest.completed", actor="system", subject_type="job",
            subject_id=f"job_{i}", facility_id=None,
            details={"rows": i, "upload_sha256": hashlib.sha256(str(i).encode()).hexdigest()},
            prev_hash=prev,
        )  # fmt: skip
        digest = audit.row_hash(**fields)
        chain.append(audit.Entry(seq=i, row_hash=digest, **fields))
        prev = digest
    return chain


def check(entries: list[audit.Entry], head: audit.Entry | None = None) -> audit.Verdict:
    by_hash = {e.row_hash: e.seq for e in entries}
    head_seq, head_hash = (head.seq, head.row_hash) if head else (0, audit.GENESIS)
    return audit.verify(
        sorted(entries, key=lambda e: e.seq), head_seq=head_seq, head_hash=head_hash,
        locate=by_hash.get,
    )  # fmt: skip


def test_canonical_form_is_exactly_this() -> None:
    """The bytes are pinned: sorted keys, no spaces, UTF-8, microsecond UTC timestamps."""
    raw = audit.canonical(
        id="aud_1", tenant_id="ten_1", created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        action="report.generated", actor="system", subject_type="report", subject_id="rep_1",
        facility_id="fac_1", details={"z": 1, "a": "é"}, prev_hash=audit.GENESIS,
    )  # fmt: skip
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
    moved = [dataclasses.replace(entries[1], seq=1), dataclasses.replace(entries[0], seq=2),
             *entries[2:]]  # fmt: skip
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
        entries[at], entries[at + 1] = (dataclasses.replace(b, seq=a.seq),
                                        dataclasses.replace(a, seq=b.seq))  # fmt: skip
        expected = ("reordered", at + 1)
    verdict = check(entries, head)
    assert not verdict.valid
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == expected
