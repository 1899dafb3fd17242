"""Fixtures for the emulator tests; the hand-written client lives in emu_client.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from emu_client import HandClient  # type: ignore[import-not-found]

from link_sync.emulator import EmulatedPrinter
from link_sync.emulator.testing import farm_factory  # noqa: F401  (fixture)


@pytest_asyncio.fixture
async def client() -> AsyncIterator[Callable[..., HandClient]]:
    made: list[HandClient] = []

    def make(printer: EmulatedPrinter, **kw: Any) -> HandClient:
        c = HandClient(printer, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
def api_key_headers() -> Callable[[EmulatedPrinter], dict[str, str]]:
    return lambda p: {"X-Api-Key": p.spec.password}
