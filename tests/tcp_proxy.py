"""A loopback TCP proxy in front of one printer, for faults that live in the network.

    proxy = TcpProxy(printer.port)
    await proxy.start()            # listens on 127.0.0.1, proxy.url reaches the printer
    proxy.reset_upload_at = 0.5    # RST once half of an upload body has passed
    proxy.stall_upload_at = 0.5    # half of an upload body, then silence both ways
    proxy.stall_response = lambda method, path: path.endswith("/")   # listings hang
    proxy.go_offline()             # refuse connections, drop the open ones with RST
    proxy.answer = lambda method, path: 503 if method == "DELETE" else None   # answer it here

It understands just enough HTTP/1.1 (request heads, Content-Length bodies) to know
which request a byte belongs to; it never changes a byte unless `rewrite_json` is set,
and answers a request itself (never forwarding it) only when `answer` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import json
import socket
import struct
from collections.abc import Callable
from typing import Any

StallRule = Callable[[str, str], bool]
JsonRewrite = Callable[[str, str, Any], Any]
AnswerRule = Callable[[str, str], int | None]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a dropped Wi-Fi link or a rebooting printer would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    def __init__(self, proxy: TcpProxy, client_r: Any, client_w: Any) -> None:
        self.proxy = proxy
        self.client_r: asyncio.StreamReader = client_r
        self.client_w: asyncio.StreamWriter = client_w
        self.server_w: asyncio.StreamWriter | None = None
        #: (method, path) of the requests sent upstream, oldest first (answers come in order)
        self.requests: list[tuple[str, str]] = []
        #: an upload stalled on this connection: nothing goes back to the client either
        self.hung = False

    def abort(self) -> None:
        _reset(self.client_w)
        if self.server_w is not None:
            _reset(self.server_w)

    async def run(self) -> None:
        try:
            server_r, self.server_w = await asyncio.open_connection(
                "127.0.0.1", self.proxy.target_port
            )
        except OSError:
            _reset(self.client_w)
            return
        up = asyncio.ensure_future(self.upstream())
        down = asyncio.ensure_future(self.downstream(server_r))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            self.client_w.close()
            self.server_w.close()

    async def upstream(self) -> None:
        """Client -> printer, request by request."""
        assert self.server_w is not None
        reader = self.client_r
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path = [*lines[0].split(" "), "", ""][:2]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            length = int(headers.get("content-length", "0") or 0)
            status = self.proxy.answer(method, path) if self.proxy.answer is not None else None
            if status is not None:
                if not await self.answer_here(reader, length, status):
                    return
                continue
            self.requests.append((method, path))
            self.server_w.write(head)
            upload = method == "PUT" and length > 0
            cut = self.proxy.reset_upload_at
            limit = int(length * cut) if upload and cut is not None else None
            if limit is not None:
                self.proxy.resets += 1
                if self.proxy.reset_count is not None:
                    self.proxy.reset_count -= 1
                    if self.proxy.reset_count <= 0:
                        self.proxy.reset_upload_at = None
            stall = self.proxy.stall_upload_at
            stall_after = int(length * stall) if upload and stall is not None else None
            sent = 0
            while sent < length:
                if stall_after is not None and sent >= stall_after:
                    # A hung printer: reads no more and answers nothing (not even
                    # the 408 the printer behind us sends when the body stops).
                    self.proxy.stalls += 1
                    self.hung = True
                    await asyncio.Event().wait()
                if limit is not None and sent >= limit:
                    await self.server_w.drain()
                    self.abort()
                    return
                want = length - sent if limit is None else min(length, limit) - sent
                if stall_after is not None:
                    want = min(want, max(stall_after - sent, 1))
                chunk = await reader.read(min(65536, max(want, 1)))
                if not chunk:
                    return
                sent += len(chunk)
                self.server_w.write(chunk)
                await self.server_w.drain()
            if limit is not None and limit >= length:  # 100 %: the body went through
                await self.server_w.drain()
                self.abort()
                return
            await self.server_w.drain()

    async def answer_here(self, reader: asyncio.StreamReader, length: int, status: int) -> bool:
        """Swallow the request body and answer `status` as the printer would have; the
        printer never sees the request. False if the client went away meanwhile."""
        left = length
        while left > 0:
            chunk = await reader.read(min(65536, left))
            if not chunk:
                return False
            left -= len(chunk)
        self.proxy.answered += 1
        phrase = http.HTTPStatus(status).phrase
        body = f"{status}: {phrase}\n".encode()
        head = (
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.client_w.write(head.encode("latin-1") + body)
        await self.client_w.drain()
        return True

    async def downstream(self, reader: asyncio.StreamReader) -> None:
        """Printer -> client, answer by answer (so a rule can pick one)."""
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                return
            method, path = self.requests.pop(0) if self.requests else ("", "")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            rule = self.proxy.stall_response
            if rule is not None and rule(method, path):
                # Part of the answer, then silence with the connection open.
                self.proxy.stalls += 1
                self.client_w.write((head + body)[: max(1, len(head) // 2)])
                await self.client_w.drain()
                await asyncio.Event().wait()
            rewrite = self.proxy.rewrite_json
            if rewrite is not None and body and b"application/json" in head.lower():
                head, body = _rewritten(head, body, functools.partial(rewrite, method, path))
            if self.hung:
                await asyncio.Event().wait()
            self.client_w.write(head + body)
            await self.client_w.drain()


def _rewritten(head: bytes, body: bytes, change: Callable[[Any], Any]) -> tuple[bytes, bytes]:
    try:
        doc = json.loads(body)
    except ValueError:
        return head, body
    new_body = json.dumps(change(doc)).encode()
    lines = head.decode("latin-1").split("\r\n")
    out = [
        f"Content-Length: {len(new_body)}" if ln.lower().startswith("content-length:") else ln
        for ln in lines
    ]
    return "\r\n".join(out).encode("latin-1"), new_body


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>, with network faults on demand."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        #: reset each upload (PUT with a body) after this fraction of its body; None: off
        self.reset_upload_at: float | None = None
        #: how many uploads to reset (None: every one while set)
        self.reset_count: int | None = None
        #: stall each upload (PUT with a body) after this fraction of its body; None: off
        self.stall_upload_at: float | None = None
        #: answers to stall forever after half their head: rule(method, path) -> bool
        self.stall_response: StallRule | None = None
        #: change JSON answers: rewrite(method, path, document) -> document
        self.rewrite_json: JsonRewrite | None = None
        #: answer requests here, unforwarded: answer(method, path) -> HTTP status, or None
        self.answer: AnswerRule | None = None
        self.answered = 0
        self.resets = 0
        self.stalls = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.go_offline()
        # Connections held in a stall wait for ever: end them with the proxy.
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def go_offline(self) -> None:
        """Stop listening (connections are refused) and reset every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.abort()

    async def go_online(self) -> None:
        if self._server is None:
            await self.start()

    def clear(self) -> None:
        self.reset_upload_at = None
        self.reset_count = None
        self.stall_upload_at = None
        self.stall_response = None
        self.rewrite_json = None
        self.answer = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await conn.run()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)  # type: ignore[arg-type]
