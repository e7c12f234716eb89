"""Browser tests of the dashboard: Debian's Chromium, driven by Playwright, against a real
``tickwork serve`` (tests/serving.py) with its own database.

Playwright cannot download its own browsers here, so it launches the system's Chromium
(``chromium`` on PATH, or TICKWORK_TEST_CHROMIUM). Without one the tests skip locally and fail
under TICKWORK_REQUIRE_SERVICES=1, like the other services. Every page a test opens records the
requests it makes; a request to anything but the server fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.browsing import Browser, chromium_path
from tests.serving import Server, flushed_redis, own_database, serving


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


@pytest.fixture
def browser(server: Server, chromium: object) -> Iterator[Browser]:
    """Browser contexts for one test; it fails if any page requested something elsewhere."""
    opened = Browser(server, chromium)
    yield opened
    for v in opened.made:
        v.context.close()  # type: ignore[attr-defined]
    for v in opened.made:
        assert v.outside() == [], f"pages requested outside the server: {v.outside()}"
