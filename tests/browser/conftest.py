"""Browser tests of the dashboard: Debian's Chromium, driven by Playwright, against a real
``tickwork serve`` (tests/serving.py) with its own database.

Playwright cannot download its own browsers here, so it launches the system's Chromium
(``chromium`` on PATH, or TICKWORK_TEST_CHROMIUM). Without one the tests skip locally and fail
under TICKWORK_REQUIRE_SERVICES=1, like the other services. Every page a test opens records the
requests it makes; a request to anything but the server fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.services import unavailable
from tests.serving import Server, flushed_redis, own_database, serving


def chromium_path() -> str:
    path = os.environ.get("TICKWORK_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        unavailable("Chromium", "no 'chromium' on PATH (Debian: apt-get install chromium)")
    return path


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with (
        own_database("tickwork_browser") as db,
        flushed_redis() as broker,
        serving(db, broker, tmp_path_factory.mktemp("browser-server")) as running,
    ):
        yield running


@pytest.fixture(scope="package")
def chromium() -> Iterator[object]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


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
        return [u for u in self.requested
                if u.startswith(network) and not u.startswith(self.server.url + "/")]  # fmt: skip


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


@pytest.fixture
def browser(server: Server, chromium: object) -> Iterator[Browser]:
    """Browser contexts for one test; it fails if any page requested something elsewhere."""
    opened = Browser(server, chromium)
    yield opened
    for v in opened.made:
        v.context.close()  # type: ignore[attr-defined]
    for v in opened.made:
        assert v.outside() == [], f"pages requested outside the server: {v.outside()}"
