"""The browser the UI tests share. `tests.e2e.test_ui` holds the Chromium path and the check
that skips (or, in CI, fails) when it is missing; importing it inside the fixtures keeps
that check away from the tests that need no browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import LiveServer

if TYPE_CHECKING:
    from tests.e2e.test_ui import Tab


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from tests.e2e.test_ui import ARGS, CHROMIUM

    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield found
        found.close()


@pytest.fixture
def tab(browser: Browser, live_server: LiveServer) -> Iterator[Tab]:
    """A fresh page on the live server that records console errors."""
    from tests.e2e.test_ui import Tab

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield Tab(context.new_page(), live_server.url)
    context.close()
