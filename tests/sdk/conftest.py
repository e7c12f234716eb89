"""The client library's tests run against a real ``tickwork serve`` (API, worker and beat
processes) on the test PostgreSQL and Redis, never against a mocked server.

One server serves the whole package (starting it costs seconds); each test gets a tenant of its
own. The server runs in a database of its own on TICKWORK_TEST_DATABASE_URL's server (created
here, dropped afterwards), so beat's schedules never see other tests' data, and uses
TICKWORK_TEST_REDIS_URL as broker and for rate limits (flushed before and after).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
import tickwork_client
from sqlalchemy import make_url

from tests.factories import Tenant, make_tenant, stack_env
from tests.services import PG_SERVER, REDIS_URL, libpq, unavailable
from worker import processes
from worker.broker import free_port


@dataclass
class Server:
    """A running ``tickwork serve``: its URL, database, environment and log."""

    url: str
    db: str
    env: dict[str, str]
    log: Path

    def tenant(self) -> Tenant:
        return make_tenant(self.db, f"sdk-{uuid.uuid4().hex[:6]}")


def _tickwork() -> list[str]:
    script = Path(sys.executable).with_name("tickwork")
    return [str(script)] if script.exists() else [sys.executable, "-m", "worker.cli.main"]


@pytest.fixture(scope="package")
def database() -> Iterator[str]:
    try:
        admin = psycopg.connect(libpq(PG_SERVER), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    name = f"tickwork_sdk_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        from worker.storage.db import get_engine

        get_engine.cache_clear()  # make_tenant's engine holds connections to it
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="package")
def broker() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def server_env(db: str, broker: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The settings of the test server's processes: the e2e stack's, plus local webhook
    receivers allowed (127.0.0.1 over http) and short webhook timeouts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env.update(stack_env(db, broker, broker, data_dir))
    env.update(
        TICKWORK_API_HOST="127.0.0.1",
        TICKWORK_API_PORT=str(free_port()),
        TICKWORK_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
        TICKWORK_WEBHOOK_ALLOW_HTTP="true",
        TICKWORK_WEBHOOK_CONNECT_TIMEOUT="1",
        TICKWORK_WEBHOOK_TIMEOUT="2",
        TICKWORK_LOG_FORMAT="text",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="package")
def server(
    database: str, broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("sdk-server")
    env = server_env(database, broker, data_dir)
    log = data_dir / "serve.log"
    proc = processes.start([*_tickwork(), "serve"], env=env, log_file=log)
    url = f"http://127.0.0.1:{env['TICKWORK_API_PORT']}"
    with processes.running(proc):
        try:
            processes.wait_http(f"{url}/readyz", proc=proc, timeout=120)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text(errors='replace')[-3000:]}") from exc
        yield Server(url=url, db=database, env=env, log=log)


@dataclass
class Recorder:
    """Every request an httpx client sent and every answer it got, in order (an event hook:
    what went over the wire, not a stand-in for the server)."""

    requests: list[httpx.Request] = field(default_factory=list)
    statuses: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    retry_after: list[str] = field(default_factory=list)  # of each answer that had one

    def on_request(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def on_response(self, response: httpx.Response) -> None:
        request = response.request
        self.statuses.append((request.method, request.url.path, response.status_code))
        if "retry-after" in response.headers:
            self.retry_after.append(response.headers["retry-after"])

    def clear(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.retry_after.clear()

    def hooks(self) -> dict[str, list[object]]:
        return {"request": [self.on_request], "response": [self.on_response]}


@pytest.fixture
def tenant(server: Server) -> Tenant:
    return server.tenant()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(server: Server, tenant: Tenant, recorder: Recorder) -> Iterator[tickwork_client.Client]:
    http = httpx.Client(event_hooks=recorder.hooks())  # type: ignore[arg-type]
    with http, tickwork_client.Client(tenant.key, base_url=server.url, http_client=http) as c:
        yield c


# --- a webhook receiver that keeps each delivery whole ----------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, object]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_event(self, event: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.payload.get("event") == event]


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """A local HTTP server recording each delivery's headers and exact body; answers 200."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with state.lock:
                state.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()},
                                                 body))  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
