"""Retention by archival: whole months of ``data_point`` moved to Parquet files, and back.

PostgreSQL only (the months are partitions; SQLite keeps one table and archives nothing).
Archiving a month happens in one transaction that holds the month's exclusive lock
(``storage.partitions.lock_months``, so no ingest writes into it meanwhile), in this order:

1. stream the partition's rows (binary COPY, in key order) into a Parquet file under
   ``<data dir>/archive/points/``, computing their count, per-tag counts and
   ``pipelines.archive.PointsChecksum``;
2. flush the file to disk and name it by its SHA-256 (the same points give the same file);
3. read the file back and check its SHA-256, row count and checksum against step 1, and the
   count against the partition's own;
4. record the month in ``point_archive`` (with its tags in ``point_archive_tag``) and an audit
   entry for every tenant whose points it holds;
5. detach and drop the partition; commit.

A crash before the commit leaves the partition and every point where they were, plus at most a
file no record names (the next run writes the same bytes to the same name); after it, the record
and the verified file. Running it again on an archived month does nothing.

Restoring reverses it: the file is checked against its record (SHA-256, count, checksum), its
rows are copied into a new partition, the partition's checksum is compared with the record's, the
partition attached and the record marked ``restored``; automatic archival leaves a restored month
alone (``tickwork points archive`` moves it to a file again on purpose).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from pipelines.archive import PointsChecksum
from pipelines.errors import ArchivedRangeError
from worker.storage import audit
from worker.storage.db import new_id
from worker.storage.models import PointArchive, PointArchiveTag, Tag
from worker.storage.partitions import (
    PARENT,
    add_months,
    create_partition,
    is_postgres,
    label,
    lock_months,
    month_start,
    next_month,
    partition_name,
    partitions,
)
from worker.storage.points import PG_EPOCH_US, PG_POINT_ROW, pg_binary_copy

ARCHIVE_DIR = Path("archive") / "points"  # under the data directory
ROW_GROUP = 1_000_000  # points per Parquet row group (and per chunk read from the database)


class ArchiveError(RuntimeError):
    """An archive cannot be made or restored as asked; the message says why, in one line."""


@dataclass(frozen=True)
class Chunk:
    tag_id: np.ndarray
    ts_us: np.ndarray
    value: np.ndarray
    quality: np.ndarray


@dataclass
class Tally:
    """What a pass over a month's points found: count, checksum, points per tag."""

    checksum: PointsChecksum
    per_tag: dict[int, int]

    @classmethod
    def new(cls) -> Tally:
        return cls(checksum=PointsChecksum(), per_tag={})

    def add(self, chunk: Chunk) -> None:
        self.checksum.add(chunk.tag_id, chunk.ts_us, chunk.value, chunk.quality)
        tags, counts = np.unique(chunk.tag_id, return_counts=True)
        for tag, count in zip(tags.tolist(), counts.tolist(), strict=True):
            self.per_tag[tag] = self.per_tag.get(tag, 0) + count


# --- reading what is archived ---------------------------------------------------------------


def archived_overlapping(
    session: Session, *, tag_ids: list[int], start: datetime, end: datetime
) -> list[PointArchive]:
    """Archived months that hold points of these tags and overlap ``[start, end]``, in order."""
    if not tag_ids:
        return []
    holds = (
        select(PointArchiveTag.archive_id)
        .where(PointArchiveTag.archive_id == PointArchive.id, PointArchiveTag.tag_id.in_(tag_ids))
        .exists()
    )
    return list(
        session.scalars(
            select(PointArchive)
            .where(
                PointArchive.status == "archived",
                PointArchive.range_start <= end,
                PointArchive.range_end > start,
                holds,
            )
            .order_by(PointArchive.range_start)
        )
    )


def archived_points_of(
    session: Session, *, archive_ids: list[str], tag_ids: list[int]
) -> dict[str, int]:
    """Points of these tags in each of these archives, by archive id."""
    if not archive_ids or not tag_ids:
        return {}
    rows = session.execute(
        select(PointArchiveTag.archive_id, func.sum(PointArchiveTag.rows))
        .where(PointArchiveTag.archive_id.in_(archive_ids), PointArchiveTag.tag_id.in_(tag_ids))
        .group_by(PointArchiveTag.archive_id)
    )
    return {archive_id: int(n) for archive_id, n in rows}


def require_live(
    session: Session, *, tag_ids: list[int], start: datetime, end: datetime, what: str
) -> None:
    """Raise ``ArchivedRangeError`` when points of these tags in ``[start, end]`` are archived:
    ``what`` would otherwise be computed from missing data."""
    found = archived_overlapping(session, tag_ids=tag_ids, start=start, end=end)
    if found:
        raise ArchivedRangeError(tuple(label(a.range_start) for a in found), what=what)


def archive_listing(session: Session) -> list[PointArchive]:
    return list(session.scalars(select(PointArchive).order_by(PointArchive.range_start)))


def get_archive(session: Session, *, month: datetime) -> PointArchive | None:
    return session.scalar(select(PointArchive).where(PointArchive.range_start == month))


def months_to_archive(session: Session, *, now: datetime, after_months: int) -> list[datetime]:
    """Months whose partition is older than ``after_months`` whole months before ``now``'s month
    and that were never restored on purpose."""
    if not is_postgres(session):
        return []
    cutoff = add_months(month_start(now), -after_months)
    restored = set(
        session.scalars(select(PointArchive.range_start).where(PointArchive.status == "restored"))
    )
    return [m for m in sorted(partitions(session)) if next_month(m) <= cutoff and m not in restored]


# --- archiving -------------------------------------------------------------------------------


def archive_month(
    session: Session, *, month: datetime, data_dir: Path, actor: str = audit.SYSTEM
) -> PointArchive | None:
    """Move one month of points to a verified Parquet file and drop its partition (see the
    module's docstring for the order); the caller commits. Returns the archive record, the
    existing one when the month is archived already, or None when the month has no points (its
    partition, if any, is dropped: nothing is recorded)."""
    if not is_postgres(session):
        raise ArchiveError("archiving needs PostgreSQL: SQLite keeps every point in one table")
    month = month_start(month)
    lock_months(session, [month], exclusive=True)
    record = get_archive(session, month=month)
    if record is not None and record.status == "archived":
        return record
    if month not in partitions(session):
        return None
    table = partition_name(month)
    session.execute(text(f"LOCK TABLE {table} IN SHARE MODE"))  # any other writer waits
    if session.scalar(text(f"SELECT NOT EXISTS (SELECT 1 FROM {table})")):
        # Nothing to keep: the partition goes, and comes back if points of the month arrive.
        session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {table}"))
        session.execute(text(f"DROP TABLE {table}"))
        return None
    folder = data_dir / ARCHIVE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = Tally.new()
    partial = folder / f".{table}.{os.getpid()}.partial"
    try:
        _write_parquet(partial, _copy_out(session, table), written)
        sha256, size = _sha256(partial), partial.stat().st_size
        final = folder / f"{sha256}.parquet"
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(folder)
    stored = int(session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    read = _verify_file(final, sha256=sha256)
    if not (
        read.checksum.rows == written.checksum.rows == stored
        and read.checksum.hexdigest() == written.checksum.hexdigest()
    ):
        raise ArchiveError(
            f"the archive file of {label(month)} does not match the partition "
            f"({read.checksum.rows} points read back, {stored} stored); nothing was dropped"
        )
    if record is None:
        record = PointArchive(id=new_id("arc"), range_start=month)
        session.add(record)
    record.range_end = next_month(month)
    record.status = "archived"
    record.path = str(ARCHIVE_DIR / final.name)
    record.sha256 = sha256
    record.size = size
    record.rows = stored
    record.points_checksum = written.checksum.hexdigest()
    record.archived_at = datetime.now(UTC)
    record.restored_at = None
    session.flush()
    session.execute(delete(PointArchiveTag).where(PointArchiveTag.archive_id == record.id))
    if written.per_tag:
        session.add_all(
            PointArchiveTag(archive_id=record.id, tag_id=t, rows=n)
            for t, n in written.per_tag.items()
        )
    _audit(session, record, per_tag=written.per_tag, action="points.archived", actor=actor)
    session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {table}"))
    session.execute(text(f"DROP TABLE {table}"))
    return record


def restore_month(
    session: Session, *, month: datetime, data_dir: Path, actor: str = audit.OPERATOR
) -> PointArchive:
    """Copy an archived month back into ``data_point`` from its file, checked against its
    record before and after; the caller commits. Raises ``ArchiveError`` when there is no such
    archive or its file is missing or does not match."""
    if not is_postgres(session):
        raise ArchiveError("archives exist only on PostgreSQL")
    month = month_start(month)
    lock_months(session, [month], exclusive=True)
    record = get_archive(session, month=month)
    if record is None:
        raise ArchiveError(f"{label(month)} is not archived")
    if record.status == "restored":
        return record
    path = data_dir / record.path
    if not path.is_file():
        raise ArchiveError(f"the archive file of {label(month)} is missing: {path}")
    read = _verify_file(path, sha256=record.sha256)
    if read.checksum.rows != record.rows or read.checksum.hexdigest() != record.points_checksum:
        raise ArchiveError(
            f"the archive file of {label(month)} holds {read.checksum.rows} points whose "
            f"checksum is {read.checksum.hexdigest()}; its record says {record.rows} and "
            f"{record.points_checksum}: nothing was restored"
        )
    table = partition_name(month)

    def fill(name: str) -> None:
        raw = session.connection().connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {name} FROM STDIN (FORMAT BINARY)") as copy:
            for chunk in _read_parquet(path):
                copy.write(pg_binary_copy(chunk.tag_id, chunk.ts_us, chunk.value, chunk.quality))

    if month in partitions(session):  # not expected: writes into an archived month are refused
        raise ArchiveError(f"{label(month)} has a partition already: {table}")
    create_partition(session, month, fill=fill)
    back = Tally.new()
    for chunk in _copy_out(session, table):
        back.add(chunk)
    if back.checksum.rows != record.rows or back.checksum.hexdigest() != record.points_checksum:
        raise ArchiveError(
            f"{label(month)} restored {back.checksum.rows} points whose checksum differs from "
            "its record; nothing was restored"
        )
    record.status = "restored"
    record.restored_at = datetime.now(UTC)
    _audit(session, record, per_tag=back.per_tag, action="points.restored", actor=actor)
    session.execute(text(f"ANALYZE {table}"))
    return record


def _audit(
    session: Session, record: PointArchive, *, per_tag: dict[int, int], action: str, actor: str
) -> None:
    """One entry per tenant whose points the month holds, with that tenant's count."""
    by_tenant: dict[str, int] = {}
    for start in range(0, len(per_tag), 1000):
        ids = list(per_tag)[start : start + 1000]
        for tag_id, tenant_id in session.execute(
            select(Tag.id, Tag.tenant_id).where(Tag.id.in_(ids))
        ):
            by_tenant[tenant_id] = by_tenant.get(tenant_id, 0) + per_tag[tag_id]
    for tenant_id in sorted(by_tenant):
        audit.record(
            session,
            tenant_id=tenant_id,
            action=action,
            actor=actor,
            subject_type="point_archive",
            subject_id=record.id,
            details={
                "month": label(record.range_start),
                "range_start": _iso(record.range_start),
                "range_end": _iso(record.range_end),
                "points": by_tenant[tenant_id],
                "file": record.path,
                "sha256": record.sha256,
            },
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- files and streams -----------------------------------------------------------------------


def _copy_out(session: Session, table: str) -> Iterator[Chunk]:
    """A table's points in key order, ``ROW_GROUP`` at a time, by binary COPY."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    width = PG_POINT_ROW.itemsize
    buf = bytearray()
    header_left = 19  # signature, flags and header extension length
    query = (
        f"COPY (SELECT tag_id, ts, value, quality FROM {table} ORDER BY tag_id, ts) "
        "TO STDOUT (FORMAT BINARY)"
    )
    with raw.cursor() as cur, cur.copy(query) as copy:
        for block in copy:
            buf += bytes(block)
            if header_left:
                cut = min(header_left, len(buf))
                del buf[:cut]
                header_left -= cut
            whole = (len(buf) // width) * width
            if whole >= ROW_GROUP * width:
                yield _chunk(bytes(buf[:whole]))
                del buf[:whole]
    if buf[-2:] == b"\xff\xff":  # the trailer
        del buf[-2:]
    if len(buf) % width:
        raise ArchiveError(f"unexpected COPY output from {table} ({len(buf)} bytes left)")
    if buf:
        yield _chunk(bytes(buf))


def _chunk(body: bytes) -> Chunk:
    rows = np.frombuffer(body, dtype=PG_POINT_ROW)
    return Chunk(
        tag_id=rows["tag"].astype(np.int64),
        ts_us=rows["ts"].astype(np.int64) + PG_EPOCH_US,
        value=rows["value"].astype(np.float64),
        quality=rows["quality"].astype(np.int16),
    )


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("tag_id", pa.int64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("value", pa.float64()),
            ("quality", pa.int16()),
        ]
    )


def _write_parquet(path: Path, chunks: Iterator[Chunk], tally: Tally) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for chunk in chunks:
            tally.add(chunk)
            writer.write_table(
                pa.table(
                    [
                        pa.array(chunk.tag_id),
                        pa.array(chunk.ts_us).cast(pa.timestamp("us", tz="UTC")),
                        pa.array(chunk.value),
                        pa.array(chunk.quality),
                    ],
                    schema=schema,
                ),
                row_group_size=ROW_GROUP,
            )
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _read_parquet(path: Path) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if not parquet.schema_arrow.equals(_schema()):
        raise ArchiveError(f"{path} is not a data point archive (schema {parquet.schema_arrow})")
    for i in range(parquet.num_row_groups):
        group = parquet.read_row_group(i)
        yield Chunk(
            tag_id=group.column("tag_id").to_numpy(),
            ts_us=group.column("ts").cast("int64").to_numpy(),
            value=group.column("value").to_numpy(),
            quality=group.column("quality").to_numpy(),
        )


def read_archive(path: Path) -> Iterator[Chunk]:
    """The points of an archive file, a row group at a time."""
    return _read_parquet(path)


def _verify_file(path: Path, *, sha256: str) -> Tally:
    """Check the file's SHA-256, then read every point back; returns what was read."""
    actual = _sha256(path)
    if actual != sha256:
        raise ArchiveError(f"{path} has SHA-256 {actual}, not {sha256}: the file was changed")
    read = Tally.new()
    for chunk in _read_parquet(path):
        read.add(chunk)
    return read


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archived_points(session: Session) -> int:
    """Points held only in archive files."""
    total = session.scalar(
        select(func.coalesce(func.sum(PointArchive.rows), 0)).where(
            PointArchive.status == "archived"
        )
    )
    return int(total or 0)


__all__ = [
    "ArchiveError",
    "archive_listing",
    "archive_month",
    "archived_overlapping",
    "archived_points",
    "archived_points_of",
    "get_archive",
    "months_to_archive",
    "read_archive",
    "require_live",
    "restore_month",
]
