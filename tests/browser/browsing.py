"""The browser side of the dashboard's tests: Debian's Chromium (Playwright cannot download its
own browsers here), a browser context per person, and every URL its pages requested."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field

from tests.services import unavailable
from tests.serving import Server


def chromium_path() -> str:
    path = os.environ.get("TICKWORK_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        unavailable("Chromium", "no 'chromium' on PATH (Debian: apt-get install chromium)")
    return path


@dataclass
class Visit:
    """A browser context (its own cookies) on the server, and every URL its pages requested."""

    server: Server
    context: object
    page: object
    requested: list[str] = field(default_factory=list)

    def go(self, path: str) -> object:
        response = self.page.goto(self.server.url + path)  # type: ignore[attr-defined]
        return response

    def follow(self, target: str | object) -> None:
        """Click a link or button (a selector or a locator) and wait for the page it leads to,
        so what the test reads next is the new page, not the old one still on screen."""
        page = self.page
        with page.expect_navigation():  # type: ignore[attr-defined]
            if isinstance(target, str):
                page.click(target)  # type: ignore[attr-defined]
            else:
                target.click()  # type: ignore[attr-defined]

    def sign_in(self, key: str) -> None:
        self.go("/app/sign-in")
        self.page.fill("#api_key", key)  # type: ignore[attr-defined]
        self.page.click("button[type=submit]")  # type: ignore[attr-defined]
        self.page.wait_for_url(re.compile(r".*/app/$"))  # type: ignore[attr-defined]

    def csrf(self) -> str:
        return self.page.get_attribute("input[name=csrf]", "value")  # type: ignore[attr-defined,no-any-return]

    def outside(self) -> list[str]:
        # Anything fetched over the network from elsewhere; the browser's own pages (its PDF
        # viewer is a built-in chrome-extension:// page) and data: URLs fetch nothing.
        network = ("http:", "https:", "ws:", "wss:", "ftp:")
        return [
            u
            for u in self.requested
            if u.startswith(network) and not u.startswith(self.server.url + "/")
        ]


class Browser:
    """Opens browser contexts on the server (each with its own cookies, as separate people)."""

    def __init__(self, server: Server, chromium: object) -> None:
        self.server, self.chromium, self.made = server, chromium, []  # type: list[Visit]

    def visit(self) -> Visit:
        context = self.chromium.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        v = Visit(server=self.server, context=context, page=page)
        page.on("request", lambda request: v.requested.append(request.url))
        self.made.append(v)
        return v
