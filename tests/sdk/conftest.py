"""The client library's tests run against a real ``tickwork serve`` (API, worker and beat
processes) on the test PostgreSQL and Redis, never against a mocked server (tests/serving.py).

One server serves the whole package (starting it costs seconds); each test gets a tenant of its
own.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import tickwork_client

from tests.factories import Tenant
from tests.serving import Server, flushed_redis, own_database, serving


@pytest.fixture(scope="package")
def database() -> Iterator[str]:
    with own_database("tickwork_sdk") as url:
        yield url


@pytest.fixture(scope="package")
def broker() -> Iterator[str]:
    with flushed_redis() as url:
        yield url


@pytest.fixture(scope="package")
def server(
    database: str, broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serving(database, broker, tmp_path_factory.mktemp("sdk-server")) as running:
        yield running


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
    return server.tenant("sdk")


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
