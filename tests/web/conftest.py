"""Fixtures for the web tests: a recording Control and a real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp import web
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
