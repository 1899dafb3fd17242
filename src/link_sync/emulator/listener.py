"""The listening socket of one printer, with the firmware's connection limit.

Buddy's HTTP server has 3 connection slots (`ACTIVE_CONNS`). A connection beyond that
waits, unread, until a slot frees; an idle keep-alive connection gives its slot up to it.
The socket can be closed and reopened on the same port (a printer going offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any


def abort_with_reset(transport: asyncio.BaseTransport | None) -> None:
    """Close a connection with a TCP RST, as a printer dropping it would."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


class _Slot(asyncio.Protocol):
    """Stands in front of aiohttp's protocol and hands it the connection once admitted."""

    def __init__(self, gate: Gate, inner: Any) -> None:
        self.gate = gate
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.gate.arrive(self)

    def start(self) -> None:
        assert self.transport is not None
        self.started = True
        self.inner.connection_made(self.transport)
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.started else None

    def pause_writing(self) -> None:
        if self.started:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.started:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.started:
            self.inner.connection_lost(exc)
        self.gate.leave(self)

    @property
    def idle(self) -> bool:
        return self.started and not getattr(self.inner, "_request_in_progress", True)


class Gate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: set[_Slot] = set()
        self.waiting: deque[_Slot] = deque()

    def arrive(self, slot: _Slot) -> None:
        if len(self.active) >= self.limit:
            idle = next((s for s in self.active if s.idle), None)
            if idle is None:
                assert slot.transport is not None
                slot.transport.pause_reading()
                self.waiting.append(slot)
                return
            self.active.discard(idle)
            idle.inner.close()
            if idle.transport is not None:
                idle.transport.close()
        self.active.add(slot)
        slot.start()

    def leave(self, slot: _Slot) -> None:
        if slot in self.active:
            self.active.discard(slot)
        elif slot in self.waiting:
            self.waiting.remove(slot)
        while self.waiting and len(self.active) < self.limit:
            nxt = self.waiting.popleft()
            if nxt.transport is not None and not nxt.transport.is_closing():
                self.active.add(nxt)
                nxt.start()

    def drop_all(self) -> None:
        for slot in list(self.active) + list(self.waiting):
            abort_with_reset(slot.transport)


class Listener:
    def __init__(self, factory: Callable[[], Any], host: str, port: int, limit: int) -> None:
        self.factory = factory
        self.host = host
        self.port = port
        self.gate = Gate(limit)
        self._task: asyncio.Task[asyncio.Server] | None = None

    @property
    def online(self) -> bool:
        return self._task is not None

    def _protocol(self) -> _Slot:
        return _Slot(self.gate, self.factory())

    def open(self) -> None:
        """Bind and listen now (synchronously); accepting starts on the next loop turn."""
        if self._task is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(loop.create_server(self._protocol, sock=sock))

    async def wait_ready(self) -> None:
        if self._task is not None:
            await self._task

    def close(self, *, drop: bool = True) -> None:
        """Stop listening and drop every connection (a printer vanishing from the network)."""
        task, self._task = self._task, None
        if task is None:
            return
        if task.done() and not task.cancelled():
            task.result().close()
        else:
            task.add_done_callback(lambda t: t.result().close() if not t.cancelled() else None)
        if drop:
            self.gate.drop_all()
