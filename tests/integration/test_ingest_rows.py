"""One bad row never costs a file its good rows, and a job's error never shows internals."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy.exc
from sqlalchemy import select

from pipelines.ingest import parse_csv, parse_records
from tests.factories import make_tenant
from worker.storage.db import session_scope
from worker.storage.jobs import create_job, job_view
from worker.storage.models import DataPoint, Facility, Job, RejectedRow, Tag
from worker.storage.points import store_parsed
from worker.tasks.base import job_attempt

BAD = {
    "0000-01-01T00:00:00Z": "out of range",
    "9999-12-31T23:59:59-14:00": "out of range",
    "9999-12-31T23:59:59Z": "out of range",
}


def _facility(db: str) -> tuple[str, str]:
    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        s.add(
            Facility(
                id=f"fac_{tenant.id[-8:]}",
                tenant_id=tenant.id,
                name="F",
                timezone="UTC",
                strict_tags=False,
                created_at=datetime.now(UTC),
            )
        )
    return tenant.id, f"fac_{tenant.id[-8:]}"


def _store(db: str, tenant_id: str, parsed) -> tuple[str, dict]:
    with session_scope(db) as s:
        job = create_job(s, tenant_id=tenant_id, kind="ingest.process_upload")
    with session_scope(db) as s:
        result = store_parsed(s, job_id=job.id, tenant_id=tenant_id, upload_id=None, parsed=parsed)
    return job.id, result


def test_bad_rows_of_a_csv_are_rejected_and_its_good_rows_stored(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    rows = [f"{fac},flow,2025-01-01T00:00:00Z,1,m3"]
    rows += [f"{fac},flow,{stamp},2,m3" for stamp in BAD]
    rows += [
        f"{fac},fl\x00ow,2025-01-01T00:01:00Z,3,m3",
        f"{fac},flow,2025-01-01T00:02:00Z,4,m\x00",
    ]
    rows += [f"{fac},flow,2025-01-01T00:03:00Z,5,m3"]
    content = ("facility_id,tag,timestamp,value,unit\n" + "\n".join(rows) + "\n").encode()
    job_id, result = _store(any_db, tenant_id, parse_csv(content))
    assert (result["rows"], result["inserted"], result["rejected"]) == (7, 2, 5)
    with session_scope(any_db) as s:
        values = s.scalars(select(DataPoint.value).order_by(DataPoint.ts)).all()
        assert values == [1.0, 5.0]
        assert s.scalars(select(Tag.name)).all() == ["flow"]
        rejected = s.execute(
            select(RejectedRow.row_number, RejectedRow.reason, RejectedRow.raw)
            .where(RejectedRow.job_id == job_id)
            .order_by(RejectedRow.row_number)
        ).all()
    assert [r for r, _, _ in rejected] == [3, 4, 5, 6, 7]
    assert all("out of range" in why for _, why, _ in rejected[:3])
    assert all("control character" in why for _, why, _ in rejected[3:])
    assert "fl\\x00ow" in rejected[3][2]


def test_bad_items_of_a_json_batch_are_rejected_and_its_good_items_stored(any_db: str) -> None:
    tenant_id, fac = _facility(any_db)
    items = [{"facility_id": fac, "tag": "flow", "timestamp": "2025-01-01T00:00:00Z", "value": 1}]
    items += [{"facility_id": fac, "tag": "flow", "timestamp": t, "value": 2} for t in BAD]
    items += [
        {
            "facility_id": fac,
            "tag": "flow\r\nX-Evil: 1",
            "value": 3,
            "timestamp": "2025-01-01T00:01:00Z",
        }
    ]
    _, result = _store(any_db, tenant_id, parse_records(items))
    assert (result["rows"], result["inserted"], result["rejected"]) == (5, 1, 4)


class _Task(SimpleNamespace):
    def __init__(self) -> None:
        super().__init__(request=SimpleNamespace(retries=0), max_retries=3)


def _finished(db: str, job_id: str) -> dict:
    with session_scope(db) as s:
        return job_view(s.get(Job, job_id))


@pytest.mark.parametrize(
    "error",
    [
        sqlalchemy.exc.DataError(
            "INSERT INTO tag (name) VALUES (%(name)s)",
            {"name": "a\x00b"},
            ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        ),
        OverflowError("date value out of range"),
        KeyError("secret_column"),
    ],
    ids=["DataError", "OverflowError", "KeyError"],
)
def test_an_unexpected_error_shows_the_caller_only_an_error_id(
    pg_db: str, configure, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    configure(TICKWORK_DATABASE_URL=pg_db)
    tenant = make_tenant(pg_db, "T")
    with session_scope(pg_db) as s:
        job_id = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload").id
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(type(error)),
        job_attempt(_Task(), job_id) as run,
    ):
        assert run is not None
        raise error
    view = _finished(pg_db, job_id)
    assert view["status"] == "failed"
    shown = view["error"] + " ".join(line["message"] for line in view["logs"])
    for internal in (
        "INSERT",
        "NUL",
        "out of range",
        "secret_column",
        type(error).__name__,
        "Traceback",
        "0x00",
    ):
        assert internal not in shown, shown
    error_id = view["error"].split("error id ")[1].split(")")[0]
    assert error_id.startswith("err_")
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the operator gets it all, under that id
