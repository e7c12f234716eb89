"""A webhook receiver for the demo: verifies every request with the `standardwebhooks` package."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Inbox:
    secret: str = ""
    verified: Counter[str] = field(default_factory=Counter)  # by event type
    rejected: int = 0
    ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.verified.values())


@contextmanager
def receiving(port: int) -> Iterator[Inbox]:
    """Serve on 127.0.0.1:``port`` until the block ends; set ``inbox.secret`` before sending."""
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = Webhook(inbox.secret).verify(body, headers)
            except WebhookVerificationError:
                with inbox.lock:
                    inbox.rejected += 1
                self.send_response(400)
                self.end_headers()
                return
            with inbox.lock:
                if headers["webhook-id"] not in inbox.ids:  # a retry repeats its id
                    inbox.ids.add(headers["webhook-id"])
                    inbox.verified[payload["event"]] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()
