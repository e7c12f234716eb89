"""End-to-end fixtures: the broker under test (Redis or RabbitMQ), for the worker processes and
for the in-process API.

RabbitMQ comes from TICKWORK_TEST_RABBITMQ_URL (default ``amqp://guest:guest@127.0.0.1:5672//``).
When the server is local and ``rabbitmqctl`` works here, each test session gets a virtual host of
its own, deleted afterwards; otherwise the URL's own vhost is used as given. Either way Tickwork's
queues are purged around each test. Like PostgreSQL and Redis, an absent RabbitMQ skips its tests
locally and fails them with TICKWORK_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from kombu import Connection, pools

from tests.e2e.demo import DemoRun, run_demo
from tests.services import unavailable

RABBITMQ_URL = os.environ.get("TICKWORK_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _rabbitmqctl(*args: str) -> bool:
    """Run ``rabbitmqctl``; False when it is not installed here or cannot reach the node."""
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        return False
    try:
        done = subprocess.run([tool, *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[str]:
    """A RabbitMQ URL for this session: a fresh vhost (deleted afterwards) when possible."""
    server = Connection(RABBITMQ_URL, connect_timeout=3)
    try:
        server.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu wraps refused/reset connections in several types
        unavailable("RabbitMQ", exc)
    finally:
        server.release()
    vhost = f"tickwork_test_{uuid.uuid4().hex[:8]}"
    local = server.hostname in ("127.0.0.1", "localhost", "::1")  # rabbitmqctl's own node
    if not (local and _rabbitmqctl("add_vhost", vhost)):
        yield RABBITMQ_URL
        return
    try:
        if not _rabbitmqctl("set_permissions", "-p", vhost, server.userid, ".*", ".*", ".*"):
            pytest.fail(f"rabbitmqctl set_permissions on vhost {vhost} failed", pytrace=False)
        yield urlunsplit(urlsplit(RABBITMQ_URL)._replace(path="/" + quote(vhost, safe="")))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def purge_queues(url: str) -> None:
    """Empty Tickwork's queues on ``url`` (declaring them first: purging needs a queue)."""
    from worker.celery_app import app

    with Connection(url, connect_timeout=3) as conn:
        channel = conn.channel()
        for queue in app.conf.task_queues:
            bound = queue(channel)
            bound.declare()
            bound.purge()
        channel.close()


@pytest.fixture
def rabbitmq_url(rabbitmq_server: str) -> Iterator[str]:
    """The session's RabbitMQ, with Tickwork's queues empty before and after the test."""
    purge_queues(rabbitmq_server)
    yield rabbitmq_server
    purge_queues(rabbitmq_server)


@contextmanager
def in_process_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (the in-process API and ``dispatch`` publish through it)
    at ``url``, with that broker's transport options; restore the previous broker afterwards.

    The app reads its broker once, at import (tests/conftest.py sets a Redis URL then), so a test
    that uses another broker must switch it here, not only in the environment.
    """
    from worker.celery_app import app, transport_options
    from worker.settings import Settings

    conf = app.conf
    before = (conf.broker_url, conf.broker_transport_options)

    def switch(broker: str, options: dict[str, object]) -> None:
        pools.reset()  # close and forget every pooled connection (kombu keys its pools by URL)
        app._pool = None
        app.amqp._producer_pool = None
        conf.broker_url = broker
        conf.broker_transport_options = options

    switch(url, transport_options(Settings(broker_url=url)))
    try:
        yield
    finally:
        switch(*before)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """The broker URL under test, Redis or RabbitMQ: a test using it runs once on each.

    Redis (``redis_url``) is flushed and used either way: it holds locks and rate limits even when
    RabbitMQ is the broker.
    """
    url = redis_url if request.param == "redis" else request.getfixturevalue("rabbitmq_url")
    with in_process_broker(url):
        yield url


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], DemoRun]:
    """``demo_run("text")``: this session's demo run in that log format, run on first use (the
    tests that use it share the xdist group ``demo``, so a run serves them all)."""
    runs: dict[str, DemoRun] = {}

    def get(log_format: str) -> DemoRun:
        if log_format not in runs:
            runs[log_format] = run_demo(tmp_path_factory.mktemp(f"demo-{log_format}"), log_format)
        return runs[log_format]

    return get
