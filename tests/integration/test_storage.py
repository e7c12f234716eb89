"""Storage on both backends: migrations, idempotent upserts, tag resolution, job bookkeeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import redis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from pipelines.ingest import ParsedPoints, parse_csv
from tests.factories import make_tenant, setup_facility
from worker.storage.db import get_engine, session_scope
from worker.storage.jobs import create_job
from worker.storage.models import Base, DataPoint, Job, RejectedRow, Tag
from worker.storage.partitions import ensure_partitions, is_partition
from worker.storage.points import store_parsed


def test_migrations_match_models(any_db: str) -> None:
    with get_engine(any_db).connect() as conn:
        if conn.dialect.name == "postgresql":  # a partition, as the ingest path makes them
            ensure_partitions(
                Session(conn), datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 3, 1, tzinfo=UTC)
            )
            conn.commit()
        # data_point's monthly partitions are data, not model (as in migrations/env.py)
        opts = {"include_name": lambda name, kind, _p: kind != "table" or not is_partition(name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []


def _facility(db: str, *, strict: bool = False) -> tuple[str, str]:
    return setup_facility(db, strict=strict)


def _csv(fac: str, rows: list[tuple[str, str, str, str]]) -> bytes:
    body = "".join(f"{fac},{tag},{ts},{value},{unit}\n" for tag, ts, value, unit in rows)
    return ("facility_id,tag,timestamp,value,unit\n" + body).encode()


def _store(db: str, tenant_id: str, content: bytes) -> dict:
    parsed = parse_csv(content)
    with session_scope(db) as s:
        job = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload")
    with session_scope(db) as s:
        result = store_parsed(s, job_id=job.id, tenant_id=tenant_id, upload_id=None, parsed=parsed)
    result.pop("ranges")  # the follow-up analysis's input, tested with the analysis
    return result


def _points(db: str) -> list[tuple[str, datetime, float, int]]:
    with session_scope(db) as s:
        rows = s.execute(
            select(Tag.name, DataPoint.ts, DataPoint.value, DataPoint.quality)
            .join(Tag, Tag.id == DataPoint.tag_id)
            .order_by(Tag.name, DataPoint.ts)
        )
        return [tuple(r) for r in rows]


MINUTES = [f"2025-03-09T{h:02d}:{m:02d}:00Z" for h in range(2) for m in range(0, 60, 15)]


def test_reingest_is_idempotent(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    content = _csv(fac, [("flow", t, str(i * 1.5), "scfm") for i, t in enumerate(MINUTES)])
    first = _store(any_db, tenant_id, content)
    assert first == {
        "rows": 8,
        "accepted": 8,
        "inserted": 8,
        "updated": 0,
        "duplicates": 0,
        "rejected": 0,
        "tags_created": [f"{fac}/flow"],
    }
    before = _points(any_db)
    second = _store(any_db, tenant_id, content)
    assert second == {**first, "inserted": 0, "duplicates": 8, "tags_created": []}
    assert _points(any_db) == before
    assert before[1] == ("flow", datetime(2025, 3, 9, 0, 15, tzinfo=UTC), 1.5, 0)


def test_changed_values_are_rewritten(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    _store(any_db, tenant_id, _csv(fac, [("flow", t, "1", "") for t in MINUTES]))
    changed = _csv(fac, [("flow", t, "2" if i < 3 else "1", "") for i, t in enumerate(MINUTES)])
    result = _store(any_db, tenant_id, changed)
    assert (result["inserted"], result["updated"], result["duplicates"]) == (0, 3, 5)
    assert [p[2] for p in _points(any_db)] == [2.0] * 3 + [1.0] * 5


def test_tag_created_with_inferred_interval_and_unit(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    _store(any_db, tenant_id, _csv(fac, [("flow", t, "1", "scfm") for t in MINUTES]))
    with session_scope(any_db) as s:
        tag = s.scalar(select(Tag).where(Tag.facility_id == fac))
        assert (tag.name, tag.unit, tag.expected_interval_s, tag.interval_inferred) == (
            "flow",
            "scfm",
            900.0,
            True,
        )


def test_rejections_when_resolving_tags(any_db: str) -> None:
    tenant_id, fac = _facility(any_db, strict=True)
    with session_scope(any_db) as s:
        s.add(
            Tag(
                tenant_id=tenant_id,
                facility_id=fac,
                name="ch4",
                unit="%",
                created_at=datetime.now(UTC),
            )
        )
    other_tenant, other_fac = _facility(any_db)
    content = (
        "facility_id,tag,timestamp,value,unit\n"
        f"{fac},ch4,2025-01-01T00:00:00Z,58,%\n"
        f"{fac},ch4,2025-01-01T00:01:00Z,58,ppm\n"
        f"{fac},ch4,2025-01-01T00:02:00Z,58, % \n"
        f"{fac},new_tag,2025-01-01T00:00:00Z,1,\n"
        f"{other_fac},ch4,2025-01-01T00:00:00Z,1,%\n"
        "fac_missing,ch4,2025-01-01T00:00:00Z,1,%\n"
    ).encode()
    result = _store(any_db, tenant_id, content)
    assert (result["accepted"], result["rejected"], result["inserted"]) == (2, 4, 2)
    with session_scope(any_db) as s:
        rows = s.execute(
            select(RejectedRow.row_number, RejectedRow.reason).order_by(RejectedRow.row_number)
        ).all()
    assert [tuple(r) for r in rows] == [
        (3, "unit 'ppm' does not match the tag's unit '%'"),
        (5, "unknown tag 'new_tag': the facility is strict, create the tag first"),
        (6, f"unknown facility_id '{other_fac}'"),
        (7, "unknown facility_id 'fac_missing'"),
    ]
    assert other_tenant != tenant_id


def test_rerun_replaces_rejected_rows(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    parsed = parse_csv(_csv(fac, [("flow", "2025-01-01T00:00:00", "1", "")]))
    with session_scope(any_db) as s:
        job = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload")
    for _ in range(2):  # a redelivered message runs the same job again
        with session_scope(any_db) as s:
            store_parsed(s, job_id=job.id, tenant_id=tenant_id, upload_id=None, parsed=parsed)
    with session_scope(any_db) as s:
        assert s.scalar(select(func.count()).select_from(RejectedRow)) == 1


def test_concurrent_ingests_of_one_file_count_each_point_once(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    stamps = [(start + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3000)]
    content = _csv(fac, [("flow", t, "1", "") for t in stamps])
    _store(any_db, tenant_id, _csv(fac, [("flow", stamps[0], "1", "")]))  # tag exists first
    results: list[dict] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(_store(any_db, tenant_id, content))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r["inserted"] for r in results) == [0, 2999]
    assert len(_points(any_db)) == 3000


def _scalar_now(conn: Connection, sql: str) -> object:
    value = conn.execute(text(sql)).scalar()
    conn.rollback()
    return value


def _race(
    db: str, tenant_id: str, first: ParsedPoints, second: ParsedPoints
) -> tuple[dict, dict, object]:
    """Store ``first`` and, before committing it, start storing ``second`` in another thread;
    commit once the second waits on a lock (or after 30 s). Returns both results and how many
    sessions were seen waiting on a lock."""
    with session_scope(db) as s:
        jobs = [create_job(s, tenant_id=tenant_id, kind="ingest.process_upload").id for _ in "ab"]
    results: list[dict] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with session_scope(db) as s:
                results.append(
                    store_parsed(
                        s, job_id=jobs[1], tenant_id=tenant_id, upload_id=None, parsed=second
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    racer = threading.Thread(target=run)
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    waiting += " AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock(t)%'"
    with session_scope(db) as s:
        done = store_parsed(s, job_id=jobs[0], tenant_id=tenant_id, upload_id=None, parsed=first)
        racer.start()
        deadline = time.monotonic() + 30
        with get_engine(db).connect() as probe:
            # One transaction per look: pg_stat_activity is a snapshot per transaction.
            while not (blocked := _scalar_now(probe, waiting)) and time.monotonic() < deadline:
                time.sleep(0.05)
    racer.join(timeout=60)
    assert errors == []
    (result,) = results
    return done, result, blocked


def test_an_ingest_racing_a_first_ingest_by_copy_waits_then_upserts(pg_db: str) -> None:
    """The first ingest goes by COPY straight into data_point and has not committed when a
    second, overlapping ingest starts: the second waits for the first's tag lock, then finds the
    first's points stored, stages and upserts: every point is stored once and both report what
    they did."""
    tenant_id, fac = _facility(pg_db)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    stamps = [(start + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3000)]
    _store(pg_db, tenant_id, _csv(fac, [("flow", "2024-06-01T00:00:00Z", "1", "")]))  # the tag
    with session_scope(pg_db) as s:
        # The month's partition exists, as beat creates it ahead: otherwise the second ingest
        # would wait on the first's creation of it, not on its tag lock.
        ensure_partitions(s, start.to_pydatetime(), start.to_pydatetime())
    first = parse_csv(_csv(fac, [("flow", t, "1", "") for t in stamps[:2000]]))
    second = parse_csv(
        _csv(
            fac,
            [("flow", t, "2", "") for t in stamps[1000:1500]]  # changed
            + [("flow", t, "1", "") for t in stamps[1500:]],  # unchanged, then new
        )
    )
    done, result, blocked = _race(pg_db, tenant_id, first, second)
    assert blocked == 1  # the second ingest waited for the first
    assert (done["inserted"], done["updated"], done["duplicates"]) == (2000, 0, 0)
    assert (result["inserted"], result["updated"], result["duplicates"]) == (1000, 500, 500)
    points = _points(pg_db)
    assert len(points) == 3001
    assert len({p[1] for p in points}) == 3001
    assert [p[2] for p in points[1:]] == [1.0] * 1000 + [2.0] * 500 + [1.0] * 1500


@pytest.mark.parametrize(
    ("first_from", "first_counts", "second_counts"),
    [(1, (2999, 0, 0), (0, 2999, 1)), (0, (2999, 1, 0), (0, 3000, 0))],
    ids=["first-by-copy", "first-by-upsert"],
)
def test_an_upsert_racing_an_uncommitted_ingest_counts_only_what_it_wrote(
    pg_db: str, first_from: int, first_counts: tuple, second_counts: tuple
) -> None:
    """One point is stored. The first ingest writes other values for the points after it (by
    COPY: nothing of its range is stored) or for all of them (by upsert), and has not committed
    when the second, overlapping the stored point, upserts. The second waits for the first,
    then rewrites the first's points: the two end as if run one after the other (every point
    the second's), and the second reports them as updated, not inserted."""
    tenant_id, fac = _facility(pg_db)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    stamps = [(start + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3000)]
    _store(pg_db, tenant_id, _csv(fac, [("flow", stamps[0], "1", "")]))
    with session_scope(pg_db) as s:  # the month's partition exists, as beat creates it ahead
        ensure_partitions(s, start.to_pydatetime(), start.to_pydatetime())
    first = parse_csv(_csv(fac, [("flow", t, "2", "") for t in stamps[first_from:]]))
    second = parse_csv(_csv(fac, [("flow", t, "1", "") for t in stamps]))
    done, result, blocked = _race(pg_db, tenant_id, first, second)
    assert blocked == 1  # the second waited for the first
    assert (done["inserted"], done["updated"], done["duplicates"]) == first_counts
    assert (result["inserted"], result["updated"], result["duplicates"]) == second_counts
    assert [p[2] for p in _points(pg_db)] == [1.0] * 3000


def test_timestamps_round_trip_in_utc(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    _store(
        any_db,
        tenant_id,
        _csv(
            fac,
            [
                ("t", "2025-11-02T01:30:00-07:00", "1", ""),
                ("t", "2025-11-02T01:30:00.123456-08:00", "2", ""),
            ],
        ),
    )
    assert [p[1] for p in _points(any_db)] == [
        datetime(2025, 11, 2, 8, 30, tzinfo=UTC),
        datetime(2025, 11, 2, 9, 30, 0, 123456, tzinfo=UTC),
    ]


@pytest.mark.redis
def test_requeue_stale_publishes_unsent_jobs(pg_db: str, redis_url: str, configure) -> None:
    configure(
        TICKWORK_DATABASE_URL=pg_db,
        TICKWORK_BROKER_URL=redis_url,
        TICKWORK_REDIS_URL=redis_url,
        TICKWORK_STALE_JOB_SECONDS="1",
    )
    from worker.tasks.jobs import requeue_stale

    tenant = make_tenant(pg_db, "T")
    with session_scope(pg_db) as s:
        old = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload")
        old.created_at = datetime.now(UTC) - timedelta(minutes=5)
        create_job(s, tenant_id=tenant.id, kind="ingest.process_upload")  # too fresh
    assert requeue_stale() == 1
    assert requeue_stale() == 0  # sent once
    assert redis.Redis.from_url(redis_url).llen("ingest") == 1
    with session_scope(pg_db) as s:
        assert s.get(Job, old.id).enqueued_at is not None


@pytest.mark.redis
def test_beat_lock_is_exclusive(redis_url: str) -> None:
    from worker.locks import beat_lock

    client = redis.Redis.from_url(redis_url)
    with (
        beat_lock("x", ttl_seconds=5, client=client) as first,
        beat_lock("x", ttl_seconds=5, client=client) as second,
    ):
        assert (first, second) == (True, False)
    with beat_lock("x", ttl_seconds=5, client=client) as again:
        assert again is True


def test_partly_overlapping_ingest(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    stamps = [f"2025-03-09T00:{m:02d}:00Z" for m in range(12)]
    _store(any_db, tenant_id, _csv(fac, [("flow", t, "1", "") for t in stamps[:8]]))
    later = [("flow", t, "2" if i in (4, 5) else "1", "") for i, t in enumerate(stamps)][4:]
    result = _store(any_db, tenant_id, _csv(fac, later))
    assert (result["inserted"], result["updated"], result["duplicates"]) == (4, 2, 2)
    assert [p[2] for p in _points(any_db)] == [1.0] * 4 + [2.0] * 2 + [1.0] * 6


def test_new_data_beside_stored_data_takes_the_insert_path(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    _store(any_db, tenant_id, _csv(fac, [("flow", t, "1", "") for t in MINUTES[:4]]))
    result = _store(any_db, tenant_id, _csv(fac, [("flow", t, "1", "") for t in MINUTES[4:]]))
    assert (result["inserted"], result["updated"], result["duplicates"]) == (4, 0, 0)
    assert len(_points(any_db)) == 8


def test_delete_points_of_a_tag(any_db: str) -> None:
    from worker.storage.points import delete_points

    tenant_id, fac = _facility(any_db)
    _store(any_db, tenant_id, _csv(fac, [(tag, t, "1", "") for tag in ("a", "b") for t in MINUTES]))
    with session_scope(any_db) as s:
        a = s.scalar(select(Tag.id).where(Tag.name == "a"))
        assert delete_points(s, tag_ids=[a]) == 8
    assert {p[0] for p in _points(any_db)} == {"b"}


def test_a_forked_process_opens_its_own_database_connections(pg_db: str) -> None:
    """A Celery pool process forked from a worker whose main process already talks to the
    database must not reuse the parent's pooled connection: the two would share one socket."""
    import os

    from worker.storage.db import make_engine

    engine = make_engine(pg_db)  # this test's own pool: its one connection is the parent's
    with engine.connect() as conn:
        parent_backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            with engine.connect() as conn:
                backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            os.write(write, str(backend).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    child_backend = int(os.read(read, 32).decode() or 0)
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend and child_backend != parent_backend
    with engine.connect() as conn:  # the parent's connection is still in good order
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == parent_backend
    engine.dispose()


def test_emptying_between_tests_reaches_every_table(pg_db: str) -> None:
    """The ``pg_db`` fixture empties the database before each test (``empty_database``, DELETE
    and TRUNCATE): it must reach every table the migrations create, audit log included."""
    from tests.services import empty_database
    from worker.storage import audit

    tenant_id, fac = _facility(pg_db)
    _store(pg_db, tenant_id, _csv(fac, [("a", t, "1", "") for t in MINUTES]))
    with session_scope(pg_db) as s:
        audit.record(
            s,
            tenant_id=tenant_id,
            action="ingest.completed",
            subject_type="facility",
            subject_id=fac,
        )
    with get_engine(pg_db).begin() as conn:
        tables = conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "AND c.relname <> 'alembic_version'"
            )
        ).all()
        filled = {t for t in tables if conn.scalar(text(f'SELECT count(*) FROM "{t}"'))}
        assert {"tenant", "facility", "tag", "data_point", "job", "audit_entry"} <= filled
        empty_database(conn)
        left = {t: n for t in tables if (n := conn.scalar(text(f'SELECT count(*) FROM "{t}"')))}
    assert set(tables) == set(Base.metadata.tables)  # a table outside the models is not emptied
    assert left == {}
