"""The listening socket of one printer, with the firmware's request slots.

Buddy's HTTP server (lib/WUI/nhttp/server.h, server.cpp) keeps any number of idle
connections but works on at most 3 requests at a time (`ACTIVE_CONNS`): a connection
takes a slot when its request's first bytes arrive and gives it back once the answer
is out; a request arriving while all 3 are taken is not read (`find_empty_slot` finds
none: `ERR_MEM`) until one frees. A request that makes no progress for 10 s
(`ACTIVE_TIMEOUT`) is dropped, with "408 Request Timeout" while the server still reads
it; idle keep-alive connections close after 60 s (`IDLE_TIMEOUT`, aiohttp's keep-alive
timer here). An upload's body moves to the one transfer slot, freeing its request slot
(`inject_transfer`), and needs a request slot again to answer.
The socket can be closed and reopened on the same port (a printer going offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: What the firmware writes before it closes a request that stalled while being read
#: (server.cpp `idle_conn_wrap`).
GOODBYE = b"HTTP/1.1 408 Request Timeout\r\n\r\n"

#: Buddy's lwIP stack advertises a TCP window of 8 KB (lwipopts.h: `TCP_WND` = 8 x a
#: 1024-byte `TCP_MSS`): a real Buddy never holds megabytes it has not read.
_BUDDY_WINDOW = 8 * 1024
#: Above ~32 kB/s the window grows with the rate (a quarter second of it), so the
#: emulator's reads, which a busy event loop delays, still keep up with the rate.
_MAX_WINDOW = 256 * 1024


def receive_window(rate: int | None, pi: bool) -> int | None:
    """Bytes a throttled Buddy printer takes in ahead of reading them: its sockets'
    SO_RCVBUF and its HTTP server's read buffer. None (the system's default, which
    grows to megabytes on loopback): unthrottled, or the Raspberry Pi's Linux stack.

    Without it, a 1.25 MB upload to a 34 kB/s printer sat whole in the emulator's
    buffers at once and the client waited 37 s for an answer, which no real Buddy
    makes it do (docs/sync.md, "Waits")."""
    if not rate or pi:
        return None
    return min(max(rate // 4, _BUDDY_WINDOW), _MAX_WINDOW)


@dataclass(frozen=True, slots=True)
class SlotLimits:
    """The firmware's defaults; tests may shorten the timeouts. `slots` None: no limit
    (the Raspberry-Pi PrusaLink's threaded server has none)."""

    slots: int | None = 3  # ACTIVE_CONNS
    active_timeout: float = 10.0  # ACTIVE_TIMEOUT: a request making no progress
    idle_timeout: float = 60.0  # IDLE_TIMEOUT: an idle keep-alive connection


def abort_with_reset(transport: asyncio.BaseTransport | None) -> None:
    """Close a connection with a TCP RST, as a printer dropping it would."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


class Connection(asyncio.Protocol):
    """Stands in front of aiohttp's protocol: holds back a request's bytes until it has a
    slot, and drops a request that stalls while it is read."""

    def __init__(self, gate: Gate, inner: Any) -> None:
        self.gate = gate
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.held = False  # has a request slot
        self.serving = False  # a handler works on its request (the printer's turn)
        self.transferring = False  # an upload body moves through the transfer slot
        self.pending: list[bytes] | None = None  # bytes held back while waiting for a slot
        self.eof = False
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.gate.connections[transport] = self
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.pending is not None:  # still waiting for a slot
            self.pending.append(data)
            return
        idle = not (self.held or self.serving or self.transferring)
        if idle and not self.gate.take(self):  # a new request, every slot taken
            assert self.transport is not None
            self.transport.pause_reading()
            self.pending = [data]
            return
        if self.held and not self.serving:
            self._arm(self.gate.limits.active_timeout, self._stalled)  # progress
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.pending is not None:
            self.eof = True
            return True  # keep the transport open: the request is answered later
        return self.inner.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self.inner.pause_writing()
        if self.held:  # the client takes no more of the answer: no progress
            self._arm(self.gate.limits.active_timeout, self._drop)

    def resume_writing(self) -> None:
        self.inner.resume_writing()
        if self.held and self.serving:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.gate.leave(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()
        self.inner.connection_lost(exc)

    # -- slots ----------------------------------------------------------------------------

    def admit(self) -> None:
        """A slot is ours now: the request held back is read."""
        self.held = True
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_result(None)
            return
        pending, self.pending = self.pending or [], None
        if not self.serving:
            self._arm(self.gate.limits.active_timeout, self._stalled)
        for data in pending:
            self.inner.data_received(data)
        if self.eof:
            self.inner.eof_received()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    async def acquire(self) -> None:
        """Wait for a slot (a request read while the connection had none)."""
        if self.held:
            return
        if self.gate.take(self):
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def release(self) -> None:
        self._disarm()
        if self.held:
            self.held = False
            self.gate.free(self)

    async def begin(self) -> None:
        """A handler starts on this connection's request: the printer works now."""
        self.serving = True
        self._disarm()
        await self.acquire()

    def end(self) -> None:
        """The answer is out: the slot goes to the next request."""
        self.serving = False
        self.transferring = False
        self.release()

    def to_transfer(self) -> None:
        """An upload's body moves to the transfer slot; its request slot frees."""
        self.transferring = True
        self.release()

    # -- timeouts -------------------------------------------------------------------------

    def _arm(self, seconds: float, action: Callable[[], None]) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, action)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stalled(self) -> None:
        """No byte of the request for ACTIVE_TIMEOUT while it is read: 408, then close."""
        self._timer = None
        transport = self.transport
        if transport is None or transport.is_closing() or self.serving:
            return
        self.gate.stalled += 1
        transport.write(GOODBYE)
        transport.close()

    def _drop(self) -> None:
        self._timer = None
        self.gate.stalled += 1
        abort_with_reset(self.transport)


class Gate:
    """The request slots of one printer."""

    def __init__(self, limits: SlotLimits) -> None:
        self.limits = limits
        self.connections: dict[asyncio.BaseTransport, Connection] = {}
        self.active: set[Connection] = set()
        self.waiting: deque[Connection] = deque()
        self.stalled = 0  # requests dropped for making no progress
        self.waited = 0  # requests that found every slot taken and waited

    def take(self, conn: Connection) -> bool:
        limit = self.limits.slots
        if limit is not None and len(self.active) >= limit:
            if conn not in self.waiting:
                self.waiting.append(conn)
                self.waited += 1
            return False
        self.active.add(conn)
        conn.held = True
        return True

    def free(self, conn: Connection) -> None:
        self.active.discard(conn)
        limit = self.limits.slots
        while self.waiting and (limit is None or len(self.active) < limit):
            nxt = self.waiting.popleft()
            if nxt.transport is None or nxt.transport.is_closing():
                continue
            self.active.add(nxt)
            nxt.admit()

    def leave(self, conn: Connection) -> None:
        if conn.transport is not None:
            self.connections.pop(conn.transport, None)
        with contextlib.suppress(ValueError):
            self.waiting.remove(conn)
        if conn in self.active:
            conn.held = False
            self.free(conn)

    def connection_of(self, transport: asyncio.BaseTransport | None) -> Connection | None:
        return self.connections.get(transport) if transport is not None else None

    def drop_all(self) -> None:
        for conn in list(self.connections.values()):
            abort_with_reset(conn.transport)


class Listener:
    def __init__(
        self,
        factory: Callable[[], Any],
        host: str,
        port: int,
        limits: SlotLimits,
        receive_buffer: int | None = None,
    ) -> None:
        self.factory = factory
        self.host = host
        self.port = port
        #: SO_RCVBUF of the listening socket, which its connections inherit (None: the
        #: system's default, autotuned)
        self.receive_buffer = receive_buffer
        self.gate = Gate(limits)
        self._task: asyncio.Task[asyncio.Server] | None = None

    @property
    def online(self) -> bool:
        return self._task is not None

    def _protocol(self) -> Connection:
        return Connection(self.gate, self.factory())

    def open(self) -> None:
        """Bind and listen now (synchronously); accepting starts on the next loop turn."""
        if self._task is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.receive_buffer is not None:
            # before listen(): the window scale is agreed in the handshake
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
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
