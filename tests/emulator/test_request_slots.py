"""Buddy's HTTP server works on at most 3 requests at a time, as the firmware does.

Prusa-Firmware-Buddy 818d812f, lib/WUI/nhttp/server.h and server.cpp: `ACTIVE_CONNS = 3`
request slots, taken when a request's first bytes arrive (`find_empty_slot`; none free:
`ERR_MEM`, the bytes wait); `ACTIVE_TIMEOUT` 10 s without progress drops a request (with
"408 Request Timeout" while it is being read); `IDLE_TIMEOUT` 60 s closes an idle
keep-alive connection; an upload's body moves to the one transfer slot
(`inject_transfer`), freeing its request slot.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from link_sync.emulator import PrinterSpec
from link_sync.emulator.listener import GOODBYE, SlotLimits

Factory = Any

HEAD = "GET /api/v1/status HTTP/1.1\r\nHost: printer\r\nX-Api-Key: maker-pass\r\n"


async def connect(p: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(p.host, p.port)


async def half_request(p: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A request stalled mid-headers: it holds a slot, as on the printer."""
    reader, writer = await connect(p)
    writer.write(HEAD.encode())  # no blank line: the headers never end
    await writer.drain()
    return reader, writer


async def answer(reader: asyncio.StreamReader, timeout: float) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await asyncio.wait_for(reader.readexactly(length), timeout)


async def test_the_firmwares_defaults() -> None:
    assert SlotLimits() == SlotLimits(slots=3, active_timeout=10.0, idle_timeout=60.0)
    spec = PrinterSpec("p")
    assert (spec.request_slots, spec.request_timeout, spec.idle_timeout) == (3, 10.0, 60.0)


async def test_a_4th_request_waits_while_3_are_in_progress(farm_factory: Factory) -> None:
    farm = await farm_factory([PrinterSpec("p")])
    p = farm["p"]
    busy = [await half_request(p) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, writer = await connect(p)
    writer.write((HEAD + "\r\n").encode())  # a whole request
    await writer.drain()
    try:
        await asyncio.wait_for(reader.read(1), 0.7)
        raise AssertionError("a 4th request was answered while 3 were in progress")
    except TimeoutError:
        pass
    assert not any(r.path == "/api/v1/status" for r in p.requests)  # not even read
    # one of the three ends its headers: it is answered, and its slot goes to the 4th
    first_reader, first_writer = busy[0]
    first_writer.write(b"\r\n")
    assert (await answer(first_reader, 5)).startswith(b"HTTP/1.1 200")
    assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    for _, w in (*busy, (reader, writer)):
        w.close()


async def test_idle_keep_alive_connections_take_no_slot(farm_factory: Factory) -> None:
    """Any number of idle connections stay open; the slots are for requests."""
    farm = await farm_factory([PrinterSpec("p")])
    p = farm["p"]
    idle = []
    for _ in range(6):
        reader, writer = await connect(p)
        writer.write((HEAD + "\r\n").encode())
        await writer.drain()
        assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
        idle.append((reader, writer))
    # all six kept alive: each asks again on its own connection, and is answered
    for reader, writer in idle:
        writer.write((HEAD + "\r\n").encode())
        await writer.drain()
        assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    for _, writer in idle:
        writer.close()


async def test_a_request_stalled_mid_headers_is_dropped_after_10_s(farm_factory: Factory) -> None:
    """The firmware's ACTIVE_TIMEOUT, at its default: 408, the connection closes, and the
    slot serves the request that waited for it."""
    farm = await farm_factory([PrinterSpec("p")])
    p = farm["p"]
    started = time.monotonic()
    stalled = [await half_request(p) for _ in range(3)]
    reader, writer = await connect(p)
    writer.write((HEAD + "\r\n").encode())
    await writer.drain()
    for stalled_reader, _ in stalled:
        assert await asyncio.wait_for(stalled_reader.read(), 15) == GOODBYE  # then EOF
    dropped_after = time.monotonic() - started
    assert 9.5 <= dropped_after <= 13, dropped_after
    assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    assert p.listener.gate.stalled == 3
    for _, w in (*stalled, (reader, writer)):
        w.close()


async def test_the_request_timeout_can_be_shortened_and_progress_resets_it(
    farm_factory: Factory,
) -> None:
    farm = await farm_factory([PrinterSpec("p", request_timeout=0.6)])
    p = farm["p"]
    reader, writer = await connect(p)
    # a slow client: a header line every 0.3 s is progress, never a stall
    for line in HEAD.split("\r\n")[:-1]:
        writer.write((line + "\r\n").encode())
        await writer.drain()
        await asyncio.sleep(0.3)
    writer.write(b"\r\n")
    assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    # then nothing more: an idle connection is not a stalled request
    await asyncio.sleep(1.0)
    writer.write((HEAD + "\r\n").encode())
    assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    # a request that stops mid-headers is dropped after the configured time
    started = time.monotonic()
    writer.write(b"GET /api/v1/status HTTP/1.1\r\nHost: printer\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == GOODBYE
    assert 0.5 <= time.monotonic() - started <= 2.5
    writer.close()


async def test_idle_connections_close_after_the_idle_timeout(farm_factory: Factory) -> None:
    farm = await farm_factory([PrinterSpec("p", idle_timeout=0.5)])
    reader, writer = await connect(farm["p"])
    writer.write((HEAD + "\r\n").encode())
    assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the printer
    assert 0.3 <= time.monotonic() - started <= 2.5
    writer.close()


async def test_an_uploads_body_leaves_the_request_slots_free(
    farm_factory: Factory, client: Any
) -> None:
    """While an upload's body moves (the transfer slot), 3 other requests are in
    progress; its answer then waits for one of them to end, as on the printer."""
    farm = await farm_factory([PrinterSpec("p", rate=200_000)])
    p = farm["p"]
    c = client(p)
    await c.get("/api/v1/status")  # the digest challenge, once
    body = b"G1 X1\n" * 50_000  # 300 kB: 1.5 s at 200 kB/s
    upload = asyncio.create_task(c.put("/api/v1/files/usb/big.gcode", body))
    while p.transfer is None:
        await asyncio.sleep(0.02)
    busy = [await half_request(p) for _ in range(3)]
    while "big.gcode" not in p.files():  # the body arrives and is written
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert not upload.done()  # its answer waits for a request slot
    first_reader, first_writer = busy[0]
    first_writer.write(b"\r\n")
    assert (await answer(first_reader, 5)).startswith(b"HTTP/1.1 200")
    assert (await asyncio.wait_for(upload, 5)).status_code == 201
    for _, w in busy:
        w.close()


async def test_the_pi_prusalink_has_no_such_limit(farm_factory: Factory) -> None:
    farm = await farm_factory([PrinterSpec("pi", profile="mk3", api_key="k")])
    p = farm["pi"]
    busy = [await half_request(p) for _ in range(5)]
    reader, writer = await connect(p)
    writer.write(b"GET /api/v1/status HTTP/1.1\r\nHost: printer\r\nX-Api-Key: k\r\n\r\n")
    assert (await answer(reader, 5)).startswith(b"HTTP/1.1 200")
    for _, w in (*busy, (reader, writer)):
        w.close()
