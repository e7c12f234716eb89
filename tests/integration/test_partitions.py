"""Monthly partitions of data_point on PostgreSQL: the migration that makes them, creation on
demand and ahead of time, pruning, and retention by archival (archive, read, refuse, restore)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from pipelines.archive import PointsChecksum
from pipelines.errors import ArchivedRangeError
from pipelines.ingest import parse_csv
from tests.factories import build_report, report_facility, setup_facility
from tests.services import admin_connection, database_url
from worker.storage import archives, audit, partitions
from worker.storage.analysis import load_points
from worker.storage.db import MIGRATIONS, get_engine, session_scope, upgrade
from worker.storage.jobs import create_job
from worker.storage.models import DataPoint, Facility, Gap, RejectedRow, Tag
from worker.storage.points import store_parsed
from worker.storage.reports import create_report

TICKWORK = [sys.executable, "-m", "worker.cli.main"]

# Every point, exactly: its text form in key order, hashed; with the count.
POINTS_DIGEST = (
    "SELECT count(*), md5(coalesce(string_agg(tag_id || ',' || (extract(epoch FROM ts) * 1e6)"
    "::bigint || ',' || float8send(value)::text || ',' || quality, ';' ORDER BY tag_id, ts), ''))"
    " FROM data_point"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def digest(db: str, where: str = "") -> tuple[int, str]:
    """(count, digest) of the points; on SQLite only the count."""
    sql = POINTS_DIGEST if "postgresql" in db else "SELECT count(*), '' FROM data_point"
    with get_engine(db).connect() as conn:
        count, md5 = conn.execute(text(sql + (f" WHERE {where}" if where else ""))).one()
    return int(count), str(md5)


def ingest_csv(db: str, tenant_id: str, fac: str, rows: list[tuple[str, datetime, float]]) -> dict:
    body = "".join(f"{fac},{tag},{t.isoformat()},{v}\n" for tag, t, v in rows)
    parsed = parse_csv(("facility_id,tag,timestamp,value\n" + body).encode())
    with session_scope(db) as s:
        job = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload")
    with session_scope(db) as s:
        return store_parsed(s, job_id=job.id, tenant_id=tenant_id, upload_id=None, parsed=parsed)


def month_names(db: str) -> list[str]:
    with session_scope(db) as s:
        return [partitions.label(m) for m in sorted(partitions.partitions(s))]


# --- the migration -------------------------------------------------------------------------


@pytest.fixture
def fresh_pg() -> str:
    """An empty PostgreSQL database of this test's own (no migration applied), dropped after."""
    import uuid

    admin = admin_connection()
    name = f"tickwork_mig_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    get_engine.cache_clear()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def _state(url: str) -> dict[str, object]:
    """Every point (count and digest), gap and report of the database."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        points = tuple(conn.execute(text(POINTS_DIGEST)).one())
        gaps = [tuple(r) for r in conn.execute(text("SELECT * FROM gap ORDER BY id"))]
        reports = [tuple(r) for r in conn.execute(text("SELECT * FROM report ORDER BY id"))]
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'data_point'"))
        layout = kind.scalar_one()
    engine.dispose()
    return {"points": points, "gaps": gaps, "reports": reports, "layout": layout}


def test_migration_partitions_every_point_and_back(fresh_pg: str) -> None:
    url = fresh_pg
    upgrade(url, "0011")
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:  # the old, one-table layout: points of 3 tags over 5 months
        conn.execute(text(
            "INSERT INTO data_point (tag_id, ts, value, quality)"
            " SELECT t, ts, round((random() * 1000)::numeric, 3), (random() * 2)::int"
            " FROM generate_series(1, 3) t,"
            " generate_series('2024-10-15'::timestamptz, '2025-02-20', '37 minutes') ts"
        ))  # fmt: skip
    engine.dispose()
    with session_scope(url) as s:  # a tenant with a tag, a gap and a stored report
        tenant_id = "ten_migration"
        s.execute(text("INSERT INTO tenant (id, name, created_at) VALUES (:t, 'M', now())"),
                  {"t": tenant_id})  # fmt: skip
        fac = Facility(id="fac_migration", tenant_id=tenant_id, name="F", timezone="UTC")
        s.add(fac)
        s.flush()
        tag = Tag(tenant_id=tenant_id, facility_id=fac.id, name="flow", unit="m3/h",
                  created_at=utc(2024, 10, 1))  # fmt: skip
        s.add(tag)
        s.flush()
        s.add(Gap(tenant_id=tenant_id, facility_id=fac.id, tag_id=tag.id,
                  gap_start=utc(2024, 12, 1), gap_end=utc(2024, 12, 2), duration_minutes=1440.0,
                  missing_points=24, status="closed"))  # fmt: skip
        report, _ = create_report(s, facility=fac, year=2024, quarter=4, fmt="json")
        report.status, report.content = "generated", b'{"totals": {}}'
    before = _state(url)
    assert before["points"][0] == 3 * len(pd.date_range("2024-10-15", "2025-02-20", freq="37min"))
    assert before["layout"] == "r" and len(before["gaps"]) == 1 and len(before["reports"]) == 1

    upgrade(url)
    after = _state(url)
    assert after == {**before, "layout": "p"}  # partitioned, every point, gap and report intact
    assert month_names(url) == ["2024-10", "2024-11", "2024-12", "2025-01", "2025-02"]
    with session_scope(url) as s:  # each month's rows are in its own partition
        by_table = "SELECT tableoid::regclass::text, count(*) FROM data_point GROUP BY 1"
        per = dict(s.execute(text(by_table)).all())
        assert sum(per.values()) == before["points"][0]
        assert set(per) == {f"data_point_{m.replace('-', '_')}" for m in month_names(url)}

    command.downgrade(_alembic(url), "0011")
    assert _state(url) == before  # one plain table again
    get_engine.cache_clear()
    upgrade(url)
    assert _state(url) == after


def test_downgrade_refuses_while_a_month_is_archived(fresh_pg: str, tmp_path: Path) -> None:
    upgrade(fresh_pg)
    tenant_id, fac = setup_facility(fresh_pg)
    ingest_csv(fresh_pg, tenant_id, fac, [("flow", utc(2023, 5, 1, h), 1.0) for h in range(5)])
    with session_scope(fresh_pg) as s:
        archives.archive_month(s, month=utc(2023, 5, 1), data_dir=tmp_path)
    get_engine.cache_clear()
    with pytest.raises(RuntimeError, match=r"archived \(2023-05\).*restore"):
        command.downgrade(_alembic(fresh_pg), "0011")
    assert digest(fresh_pg)[0] == 0  # nothing changed: the month is in its file, the table empty


# --- partitions on demand and ahead --------------------------------------------------------


def test_ingest_creates_the_partition_of_a_far_past_month(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    rows = [("flow", utc(1998, 7, 4, 12, m), float(m)) for m in range(30)]
    rows += [("flow", utc(2031, 2, 1, 0, m), 2.0) for m in range(3)]
    result = ingest_csv(any_db, tenant_id, fac, rows)
    assert (result["inserted"], result["rejected"]) == (33, 0)
    assert digest(any_db)[0] == 33
    if "postgresql" in any_db:  # those months, and none of the months between
        assert {"1998-07", "2031-02"} <= set(month_names(any_db))
        assert "1998-08" not in month_names(any_db) and "2031-01" not in month_names(any_db)
    again = ingest_csv(any_db, tenant_id, fac, rows)
    assert (again["inserted"], again["duplicates"]) == (0, 33)


def test_partitions_created_at_once_by_two_writers(pg_db: str) -> None:
    """Two sessions creating the same months and two ingests into the same new month, at once,
    three times over (without the creators' lock, CREATE TABLE collides in the catalog)."""
    tenant_id, fac = setup_facility(pg_db)
    errors: list[BaseException] = []

    def ensure(start: threading.Barrier, month: datetime) -> None:
        try:
            with session_scope(pg_db) as s:
                start.wait()
                partitions.ensure_partitions(s, month, month + timedelta(days=40))
        except BaseException as exc:
            errors.append(exc)

    def ingest(start: threading.Barrier, when: datetime) -> None:
        try:
            start.wait()
            ingest_csv(pg_db, tenant_id, fac, [("flow", when, 1.0)])
        except BaseException as exc:
            errors.append(exc)

    for year in (1985, 1986, 1987):
        start, month = threading.Barrier(4), utc(year, 3, 1)
        threads = [threading.Thread(target=ensure, args=(start, month)) for _ in range(2)]
        threads += [threading.Thread(target=ingest, args=(start, utc(year, 5, 2, 0, m)))
                    for m in (1, 2)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert {f"{year}-03", f"{year}-04", f"{year}-05"} <= set(month_names(pg_db))
    assert digest(pg_db)[0] == 6


def test_beat_creates_partitions_ahead(pg_db: str, redis_url: str, configure) -> None:
    from worker.tasks.points import create_partitions

    configure(TICKWORK_DATABASE_URL=pg_db, TICKWORK_REDIS_URL=redis_url,
              TICKWORK_BROKER_URL=redis_url)  # fmt: skip
    now = "2041-11-20T10:00:00+00:00"
    ahead = ["data_point_2041_11", "data_point_2041_12", "data_point_2042_01", "data_point_2042_02"]
    assert create_partitions(now) == ahead  # this month and the 3 after it
    assert create_partitions(now) == []  # once a day
    redis.Redis.from_url(redis_url).flushdb()
    assert create_partitions(now) == []  # nothing missing
    configure(TICKWORK_POINTS_PARTITIONS_AHEAD="4")
    redis.Redis.from_url(redis_url).flushdb()
    assert create_partitions(now) == ["data_point_2042_03"]


def test_one_day_query_reads_one_partition(pg_db: str) -> None:
    tenant_id, fac = setup_facility(pg_db)
    rows = [("flow", utc(2025, m, 10) + timedelta(hours=h), 1.0) for m in (1, 2, 3) for h in
            range(48)]  # fmt: skip
    ingest_csv(pg_db, tenant_id, fac, rows)
    with session_scope(pg_db) as s:
        s.execute(text("ANALYZE data_point"))
        tag_id = s.scalar(select(Tag.id).where(Tag.facility_id == fac))
        plan = "\n".join(s.scalars(text(
            "EXPLAIN SELECT tag_id, ts, value, quality FROM data_point WHERE tag_id = :t"
            " AND ts >= :a AND ts <= :b ORDER BY ts"),
            {"t": tag_id, "a": utc(2025, 2, 10), "b": utc(2025, 2, 10, 23, 59)}))  # fmt: skip
    assert "data_point_2025_02" in plan, plan
    assert "data_point_2025_01" not in plan and "data_point_2025_03" not in plan, plan


# --- retention by archival -----------------------------------------------------------------


@pytest.fixture
def retained(pg_db: str, redis_url: str, configure, tmp_path: Path) -> dict[str, str]:
    """The LCFS facility with 2025 Q4 data (10-minute points, Los Angeles quarter), archival
    after 2 months, data in ``tmp_path``."""
    configure(TICKWORK_DATABASE_URL=pg_db, TICKWORK_REDIS_URL=redis_url,
              TICKWORK_BROKER_URL=redis_url, TICKWORK_DATA_DIR=str(tmp_path),
              TICKWORK_POINTS_ARCHIVE_AFTER_MONTHS="2")  # fmt: skip
    tenant_id, fac = report_facility(pg_db)
    return {"db": pg_db, "tenant": tenant_id, "fac": fac, "data": str(tmp_path)}


NOVEMBER = "ts >= '2025-11-01 00:00+00' AND ts < '2025-12-01 00:00+00'"


def test_archive_read_refuse_restore(retained: dict[str, str], redis_url: str) -> None:
    from api.app import create_app
    from tests.asgi import AppClient
    from tests.factories import make_tenant
    from worker.tasks.analysis import analyse
    from worker.tasks.points import archive_old

    db, fac, tenant_id = retained["db"], retained["fac"], retained["tenant"]
    everything, november = digest(db), digest(db, NOVEMBER)
    assert november[0] == 30 * 144
    with session_scope(db) as s:
        tag = s.scalar(select(Tag).where(Tag.facility_id == fac))
        tag_id, tag_name = tag.id, tag.name
        live = load_points(s, tag_ids=[tag_id], start=utc(2025, 11, 1),
                           end=utc(2025, 11, 30, 23, 59, 59))  # fmt: skip
    expected = PointsChecksum()
    expected.add(live["tag"].to_numpy(), live["ts"].astype("int64").to_numpy(),
                 live["value"].to_numpy(), live["quality"].to_numpy())  # fmt: skip

    # The beat task: every whole month ending 2 months before February 2026's.
    assert archive_old("2026-02-15T00:00:00+00:00") == ["2025-10", "2025-11"]
    assert archive_old("2026-02-15T00:00:00+00:00") == []  # once a day
    assert {"2025-12", "2026-01"} <= set(month_names(db))
    assert not {"2025-09", "2025-10", "2025-11"} & set(month_names(db))
    assert digest(db, NOVEMBER)[0] == 0
    with session_scope(db) as s:
        record = archives.get_archive(s, month=utc(2025, 11, 1))
        assert (record.status, record.rows, record.points_checksum) == (
            "archived",
            november[0],
            expected.hexdigest(),
        )
        path = Path(retained["data"]) / record.path
        assert path.name == f"{record.sha256}.parquet"  # content-addressed
        entries = [e for e in audit.entries(s, tenant_id=tenant_id)
                   if e.action == "points.archived"]  # fmt: skip
        assert [e.details["month"] for e in entries] == ["2025-10", "2025-11"]
        assert entries[1].details["points"] == november[0]
        assert entries[1].details["sha256"] == record.sha256
        assert audit.verify(s, tenant_id=tenant_id).valid
    from_file = PointsChecksum()  # the points are readable from the file, the same points
    for chunk in archives.read_archive(path):
        from_file.add(chunk.tag_id, chunk.ts_us, chunk.value, chunk.quality)
    assert (from_file.rows, from_file.hexdigest()) == (november[0], expected.hexdigest())

    # The API says which months of a request are archived; other fields as before.
    reader = make_tenant(db, "other")  # another tenant: no archived points of its own
    with AppClient(create_app(), raise_server_exceptions=False) as client:
        key = {"Authorization": f"Bearer {_key_of(db, tenant_id)}"}
        params = {"facility_id": fac, "start_date": "2025-11-20", "end_date": "2025-12-01"}
        page = client.get("/v1/data-points", headers=key, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["archived"] == [{"start": "2025-11-01T00:00:00Z",
                                     "end": "2025-12-01T00:00:00Z", "points": november[0],
                                     "restore": "tickwork points restore 2025-11"}]  # fmt: skip
        assert body["pagination"]["total"] == 144  # December 1st only
        assert body["data"][0]["timestamp"] == "2025-12-01T00:00:00Z"
        december = client.get("/v1/data-points", headers=key, params={
            **params, "start_date": "2025-12-01", "end_date": "2025-12-02"}).json()  # fmt: skip
        assert december["archived"] == []
        other_fac = client.post("/v1/facilities", headers=reader.headers,
                                json={"name": "O", "timezone": "UTC"}).json()["id"]  # fmt: skip
        theirs = client.get("/v1/data-points", headers=reader.headers,
                            params={**params, "facility_id": other_fac}).json()  # fmt: skip
        assert theirs["archived"] == []

    # Work over the archived months refuses, naming the month to restore.
    row = build_report(db, fac, fmt="json")
    assert row.status == "failed"
    assert row.error.startswith("archived_range:"), row.error
    assert "2025-10" in row.error and "tickwork points restore 2025-11" in row.error
    with session_scope(db) as s, pytest.raises(ArchivedRangeError, match="2025-11") as refused:
        analyse(s, tags=[s.get(Tag, tag_id)], ranges={tag_id: (utc(2025, 12, 1), utc(2025, 12, 1))},
                now=utc(2026, 2, 1))  # fmt: skip
    assert "gap analysis" in str(refused.value) and "restore" in str(refused.value)
    # An ingest's rows of an archived month are refused one by one, with what to do; the rest of
    # the file is stored (here a December reading sent again, unchanged).
    stored = utc(2025, 12, 5, 1, 0)
    with session_scope(db) as s:
        value = s.scalar(select(DataPoint.value).where(DataPoint.tag_id == tag_id,
                                                       DataPoint.ts == stored))  # fmt: skip
    assert value is not None
    result = ingest_csv(db, tenant_id, fac, [(tag_name, utc(2025, 11, 5, 1, 3), 1.0),
                                             (tag_name, stored, value)])  # fmt: skip
    assert (result["rejected"], result["inserted"], result["duplicates"]) == (1, 0, 1)
    with session_scope(db) as s:
        [(line, why)] = s.execute(select(RejectedRow.row_number, RejectedRow.reason)
                                  .order_by(RejectedRow.id.desc()).limit(1)).all()  # fmt: skip
    assert line == 2  # the file's first data row
    assert why == (
        "2025-11 is archived: restore it (tickwork points restore 2025-11) and send the row again"
    )
    assert digest(db, NOVEMBER)[0] == 0

    # Restore from the CLI: every point back, checked, audit-logged.
    env = {k: v for k, v in os.environ.items() if k.startswith("TICKWORK_")}
    done = subprocess.run([*TICKWORK, "points", "restore", "2025-11"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "restored 2025-11" in done.stdout
    assert digest(db, NOVEMBER) == november
    listed = subprocess.run([*TICKWORK, "points", "archives", "--json"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, **env})  # fmt: skip
    shown = {a["month"]: a for a in json.loads(listed.stdout)["archives"]}
    assert (shown["2025-10"]["status"], shown["2025-11"]["status"]) == ("archived", "restored")
    with session_scope(db) as s:
        archives.restore_month(s, month=utc(2025, 10, 1), data_dir=Path(retained["data"]))
    assert digest(db) == everything
    with session_scope(db) as s:
        restored = [e.details["month"] for e in audit.entries(s, tenant_id=tenant_id)
                    if e.action == "points.restored"]  # fmt: skip
        assert restored == ["2025-11", "2025-10"]
    assert build_report(db, fac, fmt="json").status == "generated"
    redis.Redis.from_url(redis_url).flushdb()
    assert archive_old("2026-02-15T00:00:00+00:00") == []  # restored months stay restored


def _key_of(db: str, tenant_id: str) -> str:
    from worker.storage.tenants import create_api_key

    with session_scope(db) as s:
        _, key = create_api_key(s, tenant_id=tenant_id, scope="read")
    return key


def test_a_crash_before_commit_loses_nothing_and_a_rerun_archives(retained: dict[str, str]) -> None:
    db, data = retained["db"], Path(retained["data"])
    november = digest(db, NOVEMBER)
    with pytest.raises(RuntimeError, match="crash"), session_scope(db) as s:
        archives.archive_month(s, month=utc(2025, 11, 1), data_dir=data)
        raise RuntimeError("crash after the drop, before the commit")
    assert digest(db, NOVEMBER) == november  # the partition and every point are back
    with session_scope(db) as s:
        assert archives.get_archive(s, month=utc(2025, 11, 1)) is None
    [orphan] = (data / archives.ARCHIVE_DIR).glob("*.parquet")  # the verified file, unrecorded
    with session_scope(db) as s:
        record = archives.archive_month(s, month=utc(2025, 11, 1), data_dir=data)
        assert record.path.endswith(orphan.name)  # the same points, the same file
    with session_scope(db) as s:
        again = archives.archive_month(s, month=utc(2025, 11, 1), data_dir=data)
        assert (again.id, again.status) == (record.id, "archived")  # idempotent


def test_restore_refuses_a_changed_file(retained: dict[str, str]) -> None:
    db, data = retained["db"], Path(retained["data"])
    with session_scope(db) as s:
        record = archives.archive_month(s, month=utc(2025, 11, 1), data_dir=data)
        path = data / record.path
    path.write_bytes(path.read_bytes()[:-100] + bytes(100))
    with pytest.raises(archives.ArchiveError, match="SHA-256"), session_scope(db) as s:
        archives.restore_month(s, month=utc(2025, 11, 1), data_dir=data)
    with session_scope(db) as s:
        assert archives.get_archive(s, month=utc(2025, 11, 1)).status == "archived"
        assert utc(2025, 11, 1) not in partitions.partitions(s)


def test_sqlite_archives_nothing(sqlite_db: str, configure, tmp_path: Path) -> None:
    configure(TICKWORK_DATABASE_URL=sqlite_db, TICKWORK_DATA_DIR=str(tmp_path))
    tenant_id, fac = setup_facility(sqlite_db)
    ingest_csv(sqlite_db, tenant_id, fac, [("flow", utc(2020, 1, 1, h), 1.0) for h in range(3)])
    with session_scope(sqlite_db) as s:
        assert archives.months_to_archive(s, now=utc(2026, 1, 1), after_months=1) == []
        with pytest.raises(archives.ArchiveError, match="PostgreSQL"):
            archives.archive_month(s, month=utc(2020, 1, 1), data_dir=tmp_path)
    env = {**os.environ, "TICKWORK_DATABASE_URL": sqlite_db}
    done = subprocess.run([*TICKWORK, "points", "restore", "2020-01"], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip
    assert done.returncode == 2 and "PostgreSQL only" in done.stderr
    bad = subprocess.run([*TICKWORK, "points", "restore", "2020-13"], capture_output=True,
                         text=True, timeout=120, env=env)  # fmt: skip
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr
    assert digest(sqlite_db)[0] == 3
