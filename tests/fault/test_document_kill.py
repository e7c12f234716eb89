"""SIGKILL a worker in the middle of a document's processing: the job is redelivered and runs
again, and the document is processed once, with one fuel transaction and one
``document.processed`` event.

The document is a two-page supplier invoice (tests/documents_corpus.py) that names a fuel pathway
code and a carbon intensity. Extraction takes ~0.1 s, so the kill lands at a pause point
(tests/fault/sabotage.py, ``document_extracted``): the fields are extracted, nothing is stored.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fault import harness as h
from tests.fault.harness import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TASK = "documents.process"


def _request(stack: Stack) -> tuple[str, str, str, dict[str, Any]]:
    """An invoice uploaded for a facility, as the API stores and queues it. Returns (facility,
    document id, job id, the fields the invoice should give)."""
    who = stack.tenant()
    fac = h.facility(stack.db, tenant_id=who.id, name="Depot")
    content, expected = h.invoice_pdf()
    doc_id, job_id = h.document_job(stack.db, tenant_id=who.id, facility_id=fac,
                                    content=content)  # fmt: skip
    h.publish(stack.broker.url, TASK, job_id)
    h.mark_enqueued(stack.db, job_id)
    return fac, doc_id, job_id, expected


def _check_mid_processing(stack: Stack, doc_id: str, job_id: str) -> None:
    """The kill landed inside the task: the job is running, the document is not stored (what a
    defect may have stored early, e.g. a transaction, is for ``_check_once`` to count)."""
    assert h.jobs(stack.db, [job_id])[job_id]["status"] == "running"
    assert h.rows(stack.db, "SELECT status FROM document WHERE id = :d", d=doc_id) == [("queued",)]
    assert h.scalar(stack.db, "SELECT count(*) FROM event WHERE type LIKE 'document.%'") == 0


def _processed(stack: Stack, doc_id: str) -> bool:
    status = h.scalar(stack.db, "SELECT status FROM document WHERE id = :d", d=doc_id)
    assert status != "failed", h.rows(
        stack.db, "SELECT error_code, error_message FROM document WHERE id = :d", d=doc_id
    )
    return bool(status == "processed")


def _check_once(stack: Stack, fac: str, doc_id: str, job_id: str, expected: dict) -> dict:
    """One document, processed, with the invoice's fields; one fuel transaction from it; one
    ``document.processed`` event; the job's result naming that transaction."""
    docs = h.rows(
        stack.db,
        "SELECT id, status, job_id, pages, fields->'document_number'->>'value' FROM document",
    )
    assert docs == [(doc_id, "processed", job_id, 2, expected["document_number"])]
    txs = h.rows(
        stack.db,
        "SELECT id, facility_id, document_id, source, fuel_pathway_code, quantity, ci, date, "
        "reference FROM fuel_transaction",
    )
    assert len(txs) == 1, f"{len(txs)} fuel transactions from one document: {txs}"
    tx_id, *tx = txs[0]
    assert tx == [fac, doc_id, "document", expected["fuel_pathway_code"], expected["quantity"],
                  expected["carbon_intensity"], expected["document_date"],
                  expected["document_number"]]  # fmt: skip
    announced = h.rows(
        stack.db,
        "SELECT type, payload->'data'->>'document_id' FROM event WHERE type LIKE 'document.%'",
    )
    assert announced == [("document.processed", doc_id)]
    job_view = h.jobs(stack.db, [job_id])[job_id]
    assert job_view["status"] == "succeeded", job_view
    assert job_view["result"]["fuel_transaction_id"] == tx_id
    return {"attempts": job_view["attempts"]}


def test_sigkill_whole_worker_mid_document_then_new_worker(stack: Stack) -> None:
    """The worker and its pool die at once: the document's message comes back after the
    visibility timeout and a new worker processes it."""
    marker = h.pause_at(stack.procs, "document_extracted")
    first = stack.procs.worker("w1", queues="documents")
    fac, doc_id, job_id, expected = _request(stack)
    h.wait_paused(stack.procs, marker)
    stack.procs.kill(first)
    killed_at = time.monotonic()
    _check_mid_processing(stack, doc_id, job_id)

    h.wait_visible_again(stack.procs, stack.broker)
    stack.procs.worker("w2", queues="documents")
    stack.procs.wait(lambda: _processed(stack, doc_id), timeout=60,
                     what="the document to be processed after the restart")  # fmt: skip
    recovered = time.monotonic() - killed_at
    seen = _check_once(stack, fac, doc_id, job_id, expected)
    assert seen["attempts"] == 2
    assert h.outcomes(stack.procs, "w1", TASK, job_id) == []
    assert len(h.outcomes(stack.procs, "w2", TASK, job_id)) == 1
    h.observe(
        "SIGKILL whole worker mid-document",
        "a 2-page invoice naming a fuel pathway and CI; killed after extraction, before "
        "storing; new worker; document status and fields, fuel transactions, events",
        f"processed {recovered:.1f} s after the kill (visibility timeout {h.VISIBILITY} s); "
        f"attempts={seen['attempts']}; 1 document processed, 1 fuel transaction, "
        "1 document.processed",
    )


def test_sigkill_pool_process_mid_document(stack: Stack) -> None:
    """Only the pool process dies: the worker requeues the message at once and a fresh pool
    process handles it."""
    marker = h.pause_at(stack.procs, "document_extracted")
    worker = stack.procs.worker("w1", queues="documents", concurrency=1)
    fac, doc_id, job_id, expected = _request(stack)
    killed_at = h.kill_paused_child(stack.procs, marker, worker)
    _check_mid_processing(stack, doc_id, job_id)
    stack.procs.wait(lambda: _processed(stack, doc_id), timeout=60,
                     what="the document to be processed after the pool process died")  # fmt: skip
    recovered = time.monotonic() - killed_at
    seen = _check_once(stack, fac, doc_id, job_id, expected)
    assert seen["attempts"] == 2
    assert worker.poll() is None
    h.observe(
        "SIGKILL pool process mid-document",
        "a 2-page invoice, concurrency 1; the pool process killed after extraction; document, "
        "fuel transactions, events",
        f"processed {recovered:.1f} s after the kill on the same worker; "
        f"attempts={seen['attempts']}; 1 document processed, 1 fuel transaction, "
        "1 document.processed",
    )
