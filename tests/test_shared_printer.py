"""link-sync shares a Buddy printer with other clients, as on a real farm: PrusaLink's
own page open in two browser tabs polls the printer every 200 ms, and the firmware
works on at most 3 requests at a time (emulator/listener.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from link_sync.emulator import PrinterSpec
from link_sync.sample_gcode import prusaslicer_gcode

from sync_helpers import Master, SyncRunner

POLL_PATHS = ("/api/v1/status", "/api/v1/job", "/api/v1/files/usb/")


async def poll(url: str, password: str, answers: list[int], stop: asyncio.Event) -> None:
    """A browser tab on PrusaLink's page: one keep-alive connection, every 200 ms."""
    async with httpx.AsyncClient(base_url=url, headers={"X-Api-Key": password}) as http:
        i = 0
        while not stop.is_set():
            response = await http.get(POLL_PATHS[i % len(POLL_PATHS)], timeout=30)
            answers.append(response.status_code)
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def test_a_sync_succeeds_while_two_other_clients_poll_the_printer(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    for i in range(6):
        master.write(f"parts/part-{i}.gcode", prusaslicer_gcode("MK4IS", 0.4, seed=i))
    # every answer takes 50 ms, so the four connections (link-sync's two, the two tabs')
    # meet at the printer's three slots
    spec = PrinterSpec("mk4-01", rate=500_000, latency=0.05, files={"old.gcode": 1000})
    farm = await farm_factory([spec])
    p = farm["mk4-01"]
    stop = asyncio.Event()
    answers: list[list[int]] = [[], []]
    tabs = [asyncio.create_task(poll(p.url, spec.password, got, stop)) for got in answers]
    try:
        await asyncio.sleep(0.5)
        started = time.monotonic()
        result = await run_sync(farm)
        took = time.monotonic() - started
    finally:
        stop.set()
        await asyncio.gather(*tabs)
    assert result.exit_code == 0, result.to_json()
    assert set(p.files()) == {f"parts/part-{i}.gcode" for i in range(6)}
    for got in answers:  # the tabs were served all along
        assert len(got) >= 5 and set(got) <= {200, 204}, got  # 204: /api/v1/job, no job
    assert p.listener.gate.waited > 0  # requests did wait for a slot
    assert took < 30
