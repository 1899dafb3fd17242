"""A printer's backend as a long-running watch keeps it: probed once, not every pass.

A sync probes the printer first (version, storages, model: two or three requests),
which a one-shot run needs. A watch passes over the same printer again and again,
often for one new file, and with 50 printers those probes were half the requests
between a file settling and its uploads starting. What a probe learnt is kept for
`PROBE_KEPT` seconds, and forgotten as soon as any request to the printer fails (it
may have been restarted, updated or replaced), so the next pass probes again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, TypeVar

from link_sync import errors
from link_sync.backends.base import Backend, Capabilities, ProgressCallback
from link_sync.core.model import PrinterInfo, PrinterStatus, RemoteEntry

#: Seconds a probe's answer is trusted (free space in it is shown, not acted on).
PROBE_KEPT = 300.0
T = TypeVar("T")


class ProbedOnce:
    """Wraps a Backend; `probe` answers from memory while the printer keeps answering."""

    def __init__(self, inner: Backend, kept: float = PROBE_KEPT) -> None:
        self.inner = inner
        self.name = inner.name
        #: final once the backend is open (Buddy or Pi is decided before)
        self.capabilities: Capabilities = inner.capabilities
        self.kept = kept
        self._info: PrinterInfo | None = None
        self._probed_at = 0.0

    async def probe(self) -> PrinterInfo:
        if self._info is None or time.monotonic() - self._probed_at > self.kept:
            self._info = await self._call(self.inner.probe)
            self._probed_at = time.monotonic()
        return self._info

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except errors.PrinterError:
            self._info = None  # whatever changed, the next pass asks afresh
            raise

    async def status(self) -> PrinterStatus:
        return await self._call(self.inner.status)

    async def list_tree(self, folder: str) -> list[RemoteEntry]:
        return await self._call(lambda: self.inner.list_tree(folder))

    async def stat(self, path: str) -> RemoteEntry | None:
        return await self._call(lambda: self.inner.stat(path))

    async def upload(self, *args: Any, **kwargs: Any) -> None:
        """`Backend.upload`, whatever its arguments."""
        await self._call(lambda: self.inner.upload(*args, **kwargs))

    async def download(
        self, entry: RemoteEntry, target: BinaryIO, progress: ProgressCallback | None = None
    ) -> int:
        return await self._call(lambda: self.inner.download(entry, target, progress))

    async def delete(self, path: str) -> None:
        await self._call(lambda: self.inner.delete(path))

    async def mkdir(self, path: str) -> None:
        await self._call(lambda: self.inner.mkdir(path))

    async def rmdir(self, path: str) -> None:
        await self._call(lambda: self.inner.rmdir(path))

    def check_name(self, path: str) -> str | None:
        return self.inner.check_name(path)

    async def aclose(self) -> None:
        await self.inner.aclose()
