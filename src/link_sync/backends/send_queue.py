"""Whether a printer is still taking in an upload body that has left link-sync.

When the last chunk of a body is written, it has only reached the kernel: the socket's
send queue, which Linux autotunes up to `net.ipv4.tcp_wmem`'s maximum (4 MB), may still
hold megabytes for the printer, two minutes of them at 34 kB/s. The kernel knows how
many bytes the printer has not acknowledged yet (SIOCOUTQ, the same number as
TIOCOUTQ): while that count (plus what asyncio still buffers) shrinks, the printer is
making progress, and neither the wait for the next chunk nor the wait for the answer
may run out.

Where the count cannot be read (not Linux), `pending` says None and the wait for the
answer counts from the moment the body was written, as before.

An upload given up before its answer (a stopped watch, a failed wait, a file changed
mid-upload) must not leave that queue behind: closed normally, the socket still sends
it, the printer reads it at its pace before it sees the end, and its one transfer slot
stays taken all that while (409 "Another transfer in progress" to the next upload).
`discard_on_close` makes a close drop the queue with a reset (SO_LINGER 0), which the
printer notices at once; it holds until the answer's head is in, and also when the
process exits without closing the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

_OUTQ: int | None = None
if sys.platform == "linux":  # pragma: no branch
    with contextlib.suppress(ImportError, AttributeError):
        import fcntl
        import termios

        _OUTQ = termios.TIOCOUTQ  # == SIOCOUTQ for a TCP socket: sent, not yet acknowledged

#: Looks per wait: a wait ends between (1 - 1/POLLS) x and 1 x its length after the
#: printer acknowledged its last byte.
POLLS = 5


def pending(transport: Any) -> int | None:
    """Bytes written to `transport` that the peer has not acknowledged: asyncio's own
    buffer plus the kernel's send queue. None where the kernel cannot say."""
    if _OUTQ is None or transport is None or transport.is_closing():
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
        buffered = transport.get_write_buffer_size()
    except (OSError, ValueError, AttributeError, NotImplementedError):
        return None
    queued: int = struct.unpack("i", raw)[0]
    return queued + int(buffered)


async def watch(transport: Any, wait: float, progress: Callable[[], None]) -> None:
    """Call `progress()` each time fewer bytes are pending than at the last look, until
    cancelled (the answer is in) or the count is unknown. Looks POLLS times per
    `wait`, at most once a second: one ioctl, no system call more."""
    poll = min(1.0, wait / POLLS)
    last = pending(transport)
    while last is not None:
        await asyncio.sleep(poll)
        now = pending(transport)
        if now is not None and now < last:
            progress()
        last = now


_LINGER_RESET = struct.pack("ii", 1, 0)  # l_onoff 1, l_linger 0: close() resets
_LINGER_NORMAL = struct.pack("ii", 0, 0)


def discard_on_close(transport: Any, discard: bool) -> None:
    """Whether closing `transport`'s socket drops its send queue with a reset (True)
    or sends the queue first and then a FIN (False, the default)."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    linger = _LINGER_RESET if discard else _LINGER_NORMAL
    with contextlib.suppress(OSError, ValueError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
