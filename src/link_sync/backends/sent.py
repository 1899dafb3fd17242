"""What an upload actually sent, so only that is ever recorded as on the printer.

The engine opens a `recording_sent()` around a backend's `upload`; the body streamed
from disk (`http.file_body`) fills the record in with the SHA-256 of the bytes that
went out. A context variable carries the record because every backend builds its
body from `file_body` (directly or inside a multipart body): no backend changes its
signature, and a backend that streams otherwise leaves the record empty.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

#: the algorithm of `SentFile.content_hash` (the journal's)
HASH = "sha256"


class FileChanged(OSError):
    """A master file is not what the scan saw, or changed while it was being sent."""


@dataclass(slots=True)
class SentFile:
    """One upload's body as it went out."""

    #: '<algorithm>:<hex>' of every byte sent (as `scan.hash_file` gives), once all went out
    content_hash: str | None = None


_RECORDING: ContextVar[SentFile | None] = ContextVar("link_sync_sent_file", default=None)


@contextlib.contextmanager
def recording_sent() -> Iterator[SentFile]:
    """A record that the file bodies streamed inside this block fill in."""
    record = SentFile()
    token = _RECORDING.set(record)
    try:
        yield record
    finally:
        _RECORDING.reset(token)


def current_record() -> SentFile | None:
    """The record the body being streamed now belongs to, if the caller asked for one."""
    return _RECORDING.get()


def version(info: os.stat_result) -> tuple[int, int, int]:
    """What changes when a file is written: size, mtime and ctime (which no one can set back)."""
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def changed_while_sent(source: Path) -> FileChanged:
    # Raised before the last chunk goes out: the printer gets no whole file.
    return FileChanged(f"{source} changed while it was being uploaded; it will be sent next run")
