"""pytest plugin: `farm_factory` starts emulated farms inside a test and stops them after.

pytest_plugins = ["link_sync.emulator.testing"]

async def test_x(farm_factory):
    farm = await farm_factory([PrinterSpec("mk4-1")])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest_asyncio

from link_sync.emulator.farm import Farm
from link_sync.emulator.spec import PrinterSpec

FarmFactory = Callable[..., Awaitable[Farm]]


@pytest_asyncio.fixture
async def farm_factory() -> AsyncIterator[FarmFactory]:
    farms: list[Farm] = []

    async def make(specs: Sequence[PrinterSpec], **kwargs: Any) -> Farm:
        farm = Farm(specs, **kwargs)
        await farm.start()
        farms.append(farm)
        return farm

    yield make
    for farm in reversed(farms):
        await farm.stop()
