"""The waits of a request in flight that aiohttp's own (connecting, reading) do not
cover: `Deadline`, and the streamed upload body (`WatchedBody`, sent as an
`UploadPayload`) that pushes it forward as the printer takes the body in.

`client.PrinterClient.request` makes one `Deadline` per request and tells it where
the request is (sent, answering, bytes received); `WIRE_TRACE` tells it when the
request is on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import AsyncIterablePayload

from link_sync.backends import limits, send_queue


class Deadline:
    """The waits aiohttp's own (connecting, reading) do not cover.

    A streamed upload (`total` None): the wait ends when no chunk has gone out for
    `inactivity` seconds, then when the printer has acknowledged no byte of the body
    and sent none of its answer for `wait` (`WatchedBody`). Any other request: the
    whole answer must be in within `total` seconds of the request going out, plus a
    second per `limits.ANSWER_RATE` bytes received, however slowly the bytes trickle in.
    """

    def __init__(self, total: float | None = None) -> None:
        self._scope: asyncio.Timeout | None = None
        self.total = total
        self._since: float | None = None
        #: bytes of the answer in so far
        self.got = 0
        #: the wait last set by `extend` (what "no answer in ..." names)
        self.wait: float | None = None
        self._watch: asyncio.Task[None] | None = None

    def scope(self) -> asyncio.Timeout:
        self._scope = asyncio.timeout(None)
        return self._scope

    def extend(self, seconds: float | None) -> None:
        if self._scope is not None and not self._scope.expired():
            self.wait = seconds
            when = None if seconds is None else asyncio.get_running_loop().time() + seconds
            with contextlib.suppress(RuntimeError):  # the request is over already
                self._scope.reschedule(when)

    def watch_send_queue(self, transport: asyncio.BaseTransport | None, wait: float) -> None:
        """The body goes out on `transport`: each time the printer is seen to take in
        more of it (`send_queue`), the current wait starts again."""
        if transport is not None and self._watch is None:
            watch = send_queue.watch(transport, wait, self._progress)
            self._watch = asyncio.create_task(watch)

    def _progress(self) -> None:
        if self.wait is not None:
            self.extend(self.wait)

    def answering(self) -> None:
        """The answer's head is in: progress, and the send queue says no more."""
        self.stop_watching()
        if self.total is None:
            self.extend(self.wait)

    def stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def sent(self) -> None:
        """The request went out (it had waited its turn for a connection until now)."""
        if self.total is not None and self._since is None and self._scope is not None:
            self._since = asyncio.get_running_loop().time()
            self._scope.reschedule(self._since + self.total)

    def received(self, count: int) -> None:
        """`count` bytes of the answer are in."""
        self.got = count
        if self.total is None:  # an upload's answer: a wait per chunk, like its body's
            self.extend(self.wait)
        elif self._since is not None and self._scope is not None:
            self._scope.reschedule(self._since + self.total + count / limits.ANSWER_RATE)

    def fired(self) -> bool:
        return self._scope is not None and self._scope.expired()

    def trickled(self) -> bool:
        """The answer began but was not in whole before the deadline."""
        return self._since is not None and self.got > 0 and self.fired()


async def _on_request_sent(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    deadline = context.trace_request_ctx
    if isinstance(deadline, Deadline):
        deadline.sent()


#: Starts a request's whole-answer deadline once it is on the wire, not while it
#: waits for one of the printer's connections.
WIRE_TRACE = aiohttp.TraceConfig()
WIRE_TRACE.on_request_headers_sent.append(_on_request_sent)
WIRE_TRACE.freeze()


class WatchedBody:
    """An upload body that pushes the deadline forward with every chunk, and keeps an
    error reading the local file apart from the printer's failures.

    A chunk handed to aiohttp is a coarse sign of progress: the socket's send queue
    (megabytes) lies between it and the printer. Once the last chunk is written, the
    printer may still be taking megabytes in (at 34 kB/s a 1.25 MB body outlasted the
    30 s wait for the answer while the printer read steadily), and while the queue is
    full, the kernel takes the next chunk only once a third of it has drained. So each
    time the printer acknowledges more of the body (`send_queue.watch`), the current
    wait starts again: `wait` (`timeout`) while chunks go out, then `answer_wait`
    (`timeout`, or `connect_timeout` before the printer's first answer). A printer
    that stops reading still fails that wait after its last acknowledged byte.

    Bounding the send queue instead (a small SO_SNDBUF) caps the throughput of any
    link whose bandwidth x delay exceeds it, and does not remove the gaps between
    chunks: with 256 kB of queue, the 34 kB/s test (tests/test_slow_link.py) still
    failed. The send queue's count needs no size per link.
    """

    def __init__(
        self,
        source: AsyncIterable[bytes],
        deadline: Deadline,
        wait: float,
        answer_wait: float | None,
    ) -> None:
        self._source = source
        self._deadline = deadline
        self._wait = wait
        self._answer_wait = wait if answer_wait is None else answer_wait
        self.local_error: OSError | None = None
        self._transport: asyncio.BaseTransport | None = None

    def watch(self, transport: asyncio.BaseTransport | None) -> None:
        """The body goes out on `transport` (told by `UploadPayload`). Until the
        answer's head is in, closing the connection drops what the send queue still
        holds for the printer (`send_queue.discard_on_close`): an upload given up
        frees the printer's transfer slot at once."""
        self._transport = transport
        send_queue.discard_on_close(transport, True)
        self._deadline.watch_send_queue(transport, min(self._wait, self._answer_wait))

    def answered(self) -> None:
        """The answer's head is in: the printer is done with the body, and the
        connection closes normally again."""
        send_queue.discard_on_close(self._transport, False)
        self._transport = None

    async def chunks(self) -> AsyncIterator[bytes]:
        iterator = aiter(self._source)
        while True:
            self._deadline.extend(self._wait)
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except OSError as exc:
                self.local_error = exc
                raise
            yield chunk
        # All written: the printer may still be reading it from the send queue.
        self._deadline.extend(self._answer_wait)


class UploadPayload(AsyncIterablePayload):
    """A `WatchedBody` as aiohttp sends it; tells the body its connection."""

    def __init__(self, body: WatchedBody) -> None:
        super().__init__(body.chunks())
        self._body = body

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        self._body.watch(writer.transport)
        await super().write_with_length(writer, content_length)
