"""Fixtures for the web tests: a recording Control, a real server on loopback, and the
browser tests' headless Chromium (Playwright driving /usr/bin/chromium)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.sync_api import Browser, Page, sync_playwright
from web_helpers import ServerFactory

from link_sync.watch.state import Control, FarmState
from link_sync.web import bound_port, start_web


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[ServerFactory]:
    """`base_url = await serve(farm, control, token=..., read_only=...)` on 127.0.0.1."""
    runners: list[web.AppRunner] = []

    async def start(
        farm: FarmState, control: Control, listen: str = "127.0.0.1:0", **options: Any
    ) -> str:
        runner = await start_web(farm, control, listen, **options)
        runners.append(runner)
        return f"http://127.0.0.1:{bound_port(runner)}"

    yield start
    for runner in runners:
        await runner.cleanup()


CHROMIUM = os.environ.get("LINK_SYNC_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"the page threw: {errors}"
