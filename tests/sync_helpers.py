"""Helpers shared by the sync tests (imported by conftest and test modules)."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from link_sync.emulator import PrinterSpec
from link_sync.engine.options import RetryPolicy
from link_sync.result import RunResult

#: Fast retries for tests: the behaviour is the same, the pauses are shorter.
FAST_RETRY = RetryPolicy(attempts=4, first_delay=0.02, max_delay=0.1)

SyncRunner = Callable[..., Awaitable[RunResult]]


class Master:
    """A master folder on disk that tests fill and change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, relative: str, data: bytes | str, mtime: float | None = None) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink()

    def files(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.parts)
        }


def spec(name: str, profile: str = "mk4", **kw: Any) -> PrinterSpec:
    """An emulated printer; the Pi profile gets an API key, as its server requires."""
    if profile == "mk3":
        kw.setdefault("api_key", "pi-key-123")
    return PrinterSpec(name, profile=profile, **kw)


def fill(master: Master, files: dict[str, bytes], age: float = 3600) -> None:
    """Master files written `age` seconds ago (older than the printers' copies)."""
    for path, data in files.items():
        master.write(path, data, mtime=time.time() - age)
