"""``Strict-Transport-Security`` on every answer sent over HTTPS.

uvicorn sets the ASGI scope's ``scheme`` to ``https`` when it serves TLS itself
(``tickwork api --ssl-certfile``), or behind a proxy it trusts (``--forwarded-allow-ips`` with
``X-Forwarded-Proto: https``). Over plain HTTP the header means nothing (RFC 6797 §7.2), so it
is left out there.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class StrictTransportSecurity:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if all(name.lower() != HEADER[0] for name, _ in headers):
                    message = {**message, "headers": [*headers, HEADER]}
            await send(message)

        await self.app(scope, receive, with_header)
