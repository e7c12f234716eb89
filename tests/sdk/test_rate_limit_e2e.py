"""A 429 retried: ``tickwork api`` started with a per-minute limit of 3 requests per key, on the
package's server database and Redis. The client's first POST after the budget is used up is
answered 429 with ``Retry-After``; the client waits what it says and sends the same request (the
same ``Idempotency-Key``) again, which succeeds. What decides is what went over the wire and the
server's own count of 429 answers, never a timing."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import httpx
import pytest
import tickwork_client

from tests.sdk.recording import Recorder
from tests.serving import Server, tickwork_command
from worker import processes
from worker.broker import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

PER_MINUTE = 3


@pytest.fixture(scope="module")
def limited_api(server: Server) -> Iterator[str]:
    port = free_port()
    env = {**server.env, "TICKWORK_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE)}
    log = server.log.with_name("limited-api.log")
    proc = processes.start([*tickwork_command(), "api", "--port", str(port)], env=env, log_file=log)
    url = f"http://127.0.0.1:{port}"
    with processes.running(proc):
        processes.wait_http(f"{url}/healthz", proc=proc, timeout=60)
        yield url


def _answered_429(url: str) -> float:
    """The server's own count of 429 answers (its Prometheus counter)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r'^tickwork_http_requests_total\{[^}]*status="429"[^}]*\} ([0-9.e+]+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def test_a_429_is_retried_after_retry_after(
    limited_api: str, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    key = server.tenant().key
    recorder = Recorder()
    caplog.set_level(logging.INFO, logger="tickwork_client")
    with (
        tickwork_client.Client(key, base_url=limited_api, max_retries=0) as burner,
        httpx.Client(event_hooks=recorder.hooks()) as http,  # type: ignore[arg-type]
        tickwork_client.Client(key, base_url=limited_api, http_client=http) as client,
    ):
        for _ in range(3):  # the minute may roll over between using it up and the POST
            before = _answered_429(limited_api)
            with pytest.raises(tickwork_client.RateLimitError) as refused:
                for _ in range(PER_MINUTE + 1):
                    burner.request("GET", "/v1/facilities")
            assert refused.value.retry_after is not None and refused.value.remaining == 0
            assert refused.value.limit == PER_MINUTE and refused.value.code == "rate_limited"
            recorder.clear()
            caplog.clear()
            facility = client.facilities.create(name="after a 429")
            if recorder.statuses[0][2] == 429:
                break
        else:
            pytest.fail("the POST was never refused: the rate limit is not in force")

    statuses = [status for _, _, status in recorder.statuses]
    assert statuses[-1] == 201 and set(statuses[:-1]) == {429}, statuses
    assert facility.name == "after a 429"
    keys = {r.headers["idempotency-key"] for r in recorder.requests}
    assert len(recorder.requests) == len(statuses) and len(keys) == 1  # one call, one key
    # the client waited what each 429 said (Retry-After), nothing else
    asked = [float(h) for h in recorder.retry_after]
    waited = [r.retry_wait for r in caplog.records if hasattr(r, "retry_wait")]
    assert waited == asked and all(w >= 1 for w in waited)
    print(f"answers {statuses}; Retry-After {asked}; client waited {waited}")
    # and the server says it answered those 429s (plus the one that stopped the burner)
    assert _answered_429(limited_api) - before == len(asked) + 1
