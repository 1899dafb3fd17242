"""Receiving an upload body at the printer's speed.

The body is read in chunks; after each chunk the reader sleeps until the moment the
bytes so far are due at `rate` counted from the start of the request, so timer lag never
accumulates and a 1 MB/s printer delivers 1 MB/s whatever the chunk sizes.

A throttled Buddy printer also holds back what it has not read yet, as the firmware
does (`listener.receive_window`): the client sees the printer's pace in its own send queue.
"""

from __future__ import annotations

import asyncio

from link_sync.emulator.faults import Fault
from link_sync.emulator.http import Ctx, HttpError, stall_or_reset
from link_sync.emulator.printer import Transfer
from link_sync.emulator.storage import TempBlob

_MAX_CHUNK = 1 << 16


async def receive(ctx: Ctx, length: int, path: str, fault: Fault | None) -> TempBlob:
    """Read `length` body bytes into a temp blob; raise HttpError(408) or die on a fault.

    The printer's single transfer slot is held while reading.
    """
    p = ctx.printer
    loop = asyncio.get_running_loop()
    start = loop.time()
    rate = p.spec.rate or 0
    chunk = max(4096, min(_MAX_CHUNK, rate // 20)) if rate else _MAX_CHUNK
    limit = fault.body_limit(length) if fault is not None else length
    content = ctx.request.content
    blob = p.storage.temp()
    p.transfer = transfer = Transfer(p.next_id(), path, length, p.now())
    # Buddy: the body moves to the transfer slot, freeing the request's slot; the answer
    # needs one again (server.cpp `inject_transfer`, `TransferSlot::make_response`: the
    # server's handler takes it before it writes the answer)
    conn = p.listener.gate.connection_of(ctx.request.transport)
    if conn is not None:
        conn.to_transfer()
    try:
        got = 0
        while got < limit:
            want = chunk
            if rate:
                # behind schedule (data came late): take more at once to catch up
                want = max(chunk, min(int((loop.time() - start) * rate) - got, 4 * chunk))
            try:
                async with asyncio.timeout(p.spec.body_timeout):
                    data = await content.read(min(want, limit - got))
            except TimeoutError:
                raise HttpError(408, "Request Timeout") from None
            if not data:
                raise HttpError(400, "Truncated body")
            blob.write(data)
            got += len(data)
            transfer.transferred = got
            if rate:
                delay = start + got / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        if fault is not None:
            await stall_or_reset(ctx.request, fault)
    except BaseException:
        blob.discard()
        raise
    finally:
        if p.transfer is transfer:
            p.transfer = None
    return blob
