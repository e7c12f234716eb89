"""SIGKILL a worker in the middle of a webhook batch: every event is delivered, each under one
webhook-id (the same id may arrive twice: delivery is at least once)."""

from __future__ import annotations

import time

import pytest

from tests.fault import harness as h
from tests.fault.harness import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

EVENTS = 150
BATCH = 40
DELAY = 0.1  # seconds the receiver takes per request: 4 in flight per endpoint -> ~1 s a batch


def test_sigkill_worker_mid_webhook_batch(stack: Stack) -> None:
    who = stack.tenant()
    with h.receiving(delay=DELAY) as receiver:
        h.webhook_endpoint(stack.db, tenant_id=who.id, url=receiver.url)
        keys = h.events(stack.db, tenant_id=who.id, count=EVENTS)
        stack.procs.env["TICKWORK_WEBHOOK_BATCH_SIZE"] = str(BATCH)
        first = stack.procs.worker("w1", queues="webhooks")
        stack.procs.beat("beat", schedule_app="worker.celery_app")  # the real schedule: 5 s
        h.publish(stack.broker.url, "webhooks.deliver", None, args=[], task_id="first-sweep")
        stack.procs.wait(
            lambda: len(receiver.requests) >= BATCH + BATCH // 2,
            timeout=60,
            what="the second batch to be half sent",
        )
        stack.procs.kill(first)
        killed_at = time.monotonic()
        sent_at_kill = len(receiver.requests)
        leased = h.scalar(
            stack.db,
            "SELECT count(*) FROM webhook_message WHERE status = 'pending' "
            "AND locked_until > now()",
        )
        assert 0 < sent_at_kill < EVENTS and leased > 0  # the kill landed mid-batch

        stack.procs.worker("w2", queues="webhooks")
        stack.procs.wait(
            lambda: (
                h.scalar(
                    stack.db, "SELECT count(*) FROM webhook_message WHERE status = 'succeeded'"
                )
                == EVENTS
            ),
            timeout=90,
            what="every webhook message to be delivered",
        )
        recovered = time.monotonic() - killed_at
        # Any request still being read lands before counting.
        stack.procs.wait(lambda: receiver.in_flight == 0, timeout=10, what="no request in flight")

        by_event = receiver.ids_by_event()
        expected = {f'{{"n": "{k}", "rule": "fault-test"}}' for k in keys}
        assert set(by_event) == expected  # none lost
        assert {e: len(ids) for e, ids in by_event.items() if len(ids) != 1} == {}  # one id each
        per_id = receiver.per_id()
        assert h.scalar(stack.db, "SELECT count(*) FROM webhook_message") == EVENTS
    resent = sum(n - 1 for n in per_id.values())
    h.observe(
        "SIGKILL worker mid-webhook-batch",
        f"{EVENTS} events, batches of {BATCH}, receiver {DELAY * 1000:.0f} ms/request; killed "
        "mid-batch; new worker + beat; every event delivered, one webhook-id per event",
        f"killed after {sent_at_kill} requests with {leased} messages leased; all {EVENTS} "
        f"delivered {recovered:.1f} s after the kill (lease = 3 x timeout + 30 s); "
        f"{len(per_id)} ids, each event under 1 id; {resent} re-sent under the same id",
    )
