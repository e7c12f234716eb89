"""What the client library's tests record: the requests a client sent and the answers it got
(an httpx event hook), and a local webhook receiver that keeps each delivery whole."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from tests.factories import QuietHandler, http_server


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

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.deliveries.append(Delivery(headers, self.body()))
            self.answer_ok()

    with http_server(Handler) as base:
        state.url = f"{base}/hook"
        yield state
