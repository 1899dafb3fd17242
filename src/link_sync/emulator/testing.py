"""pytest plugin: `farm_factory` starts emulated farms inside a test and stops them after.

pytest_plugins = ["link_sync.emulator.testing"]

async def test_x(farm_factory):
    farm = await farm_factory([PrinterSpec("mk4-1")])

`BackgroundFarm` runs a farm on an event loop of its own, in a thread, for tests that
are not async themselves (a CLI run as a subprocess, a hypothesis state machine).

Both turn the Buddy print preview OFF unless told `preview=True` (or a spec says
`preview=True`): with it on, the first file uploaded to an idle printer is open on its
screen and refuses to be replaced or deleted, which only tests about the preview want.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest_asyncio

from link_sync.emulator.farm import Farm
from link_sync.emulator.spec import PrinterSpec

T = TypeVar("T")

FarmFactory = Callable[..., Awaitable[Farm]]


@pytest_asyncio.fixture
async def farm_factory() -> AsyncIterator[FarmFactory]:
    farms: list[Farm] = []

    async def make(specs: Sequence[PrinterSpec], **kwargs: Any) -> Farm:
        kwargs.setdefault("preview", False)
        farm = Farm(specs, **kwargs)
        await farm.start()
        farms.append(farm)
        return farm

    yield make
    for farm in reversed(farms):
        await farm.stop()


class BackgroundFarm:
    """An emulated farm on its own event loop in a thread; a context manager."""

    def __init__(self, specs: Sequence[PrinterSpec], *, preview: bool = False) -> None:
        self.farm = Farm(specs, preview=preview)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Farm:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.farm.start(), self.loop).result(10)
        return self.farm

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.farm.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the farm's loop, so a test never touches the farm mid-request."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(10)
