"""Master files converted to binary G-code (`send_as: bgcode`), once per content.

A conversion is kept in the state folder's `bgcode/` cache, named by the master
content's SHA-256 and the converter's version, so it is made once for every printer and
every run, and again only when the content or the writer changes. The cache is bounded
(`CACHE_LIMIT`): the least recently used files go first, never one this process is
sending. Conversions run in a worker thread (`asyncio.to_thread`), so the event loop
keeps serving uploads meanwhile. A file that does not convert is remembered (a
`.failed` note with why) and sent as it is, without trying again until it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from link_sync.backends.sent import FileChanged
from link_sync.bgcode.writer import ConversionError, convert
from link_sync.core.model import LocalFile
from link_sync.core.planner import JOURNAL_HASH
from link_sync.engine.hashes import LocalHashes
from link_sync.engine.journal import Journal

#: Raised with each change to what the writer makes: older conversions are not used.
CONVERTER_VERSION = 1
#: The cache's folder in the state folder.
CACHE_FOLDER = "bgcode"
#: At most this many bytes of conversions are kept.
CACHE_LIMIT = 1 << 30
_SUFFIX = f"-v{CONVERTER_VERSION}.bgcode"
_FAILED = f"-v{CONVERTER_VERSION}.failed"


@dataclass(frozen=True, slots=True)
class Conversion:
    """A master file's binary form, ready to send."""

    path: Path
    size: int
    #: "sha256:<hex>" of the master bytes it holds (what the journal records)
    source_hash: str


class NotConverted(Exception):
    """The file does not convert (not G-code the writer can keep exactly); why."""


class Conversions:
    """The cache of conversions under `folder` (None: a temporary folder, removed by
    `close`), shared by every printer of a session."""

    def __init__(self, folder: Path | None, limit: int = CACHE_LIMIT) -> None:
        self._folder = folder
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.limit = limit
        self._running: dict[str, asyncio.Future[Conversion]] = {}
        #: files handed out by this process: never cleaned while it runs
        self._in_use: set[Path] = set()
        #: CPU seconds spent converting (for the benchmark and `-v`)
        self.cpu_seconds = 0.0
        self.converted = 0

    @classmethod
    def for_journal(cls, journal: Journal | None) -> Conversions:
        return cls(journal.path.parent / CACHE_FOLDER if journal is not None else None)

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="link-sync-bgcode-")
            self._folder = Path(self._temporary.name)
        return self._folder

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = self._folder = None

    # -- what is known without converting ---------------------------------------------

    def known(self, file: LocalFile, journal: Journal | None) -> Conversion | None:
        """The cached conversion of `file`, if its hash is known and it is cached."""
        digest = _cached_hash(file, journal)
        if digest is None or self._folder is None:
            return None
        path = self._folder / (digest.removeprefix("sha256:") + _SUFFIX)
        try:
            return Conversion(path, path.stat().st_size, digest)
        except OSError:
            return None

    def failed(self, files: list[LocalFile], journal: Journal | None) -> set[str]:
        """Master paths of `files` known not to convert (sent as they are)."""
        if self._folder is None or journal is None:
            return set()
        try:
            notes = {n for n in os.listdir(self._folder) if n.endswith(_FAILED)}
        except OSError:
            return set()
        if not notes:
            return set()
        return {
            f.path
            for f in files
            if (digest := _cached_hash(f, journal)) is not None
            and digest.removeprefix("sha256:") + _FAILED in notes
        }

    # -- converting ---------------------------------------------------------------------

    async def get(self, file: LocalFile, hashes: LocalHashes) -> Conversion:
        """`file` as binary G-code: from the cache, or converted now (off the event loop).

        Raises NotConverted, FileChanged (rewritten since the scan or mid-conversion),
        OSError (unreadable).
        """
        digest = await hashes.get(file, JOURNAL_HASH)
        running = self._running.get(digest)
        if running is None or (running.done() and running.exception() is not None):
            running = asyncio.ensure_future(self._convert(file, digest))
            running.add_done_callback(_retrieved)
            self._running[digest] = running
        return await asyncio.shield(running)

    async def _convert(self, file: LocalFile, digest: str) -> Conversion:
        folder = self.folder
        name = digest.removeprefix("sha256:")
        path = folder / (name + _SUFFIX)
        failed = folder / (name + _FAILED)
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be cleaned
            self._in_use.add(path)
            return Conversion(path, path.stat().st_size, digest)
        with contextlib.suppress(OSError):
            raise NotConverted(failed.read_text(encoding="utf-8", errors="replace").strip())
        converted, seconds = await asyncio.to_thread(self._write, file, path, failed, digest)
        self.cpu_seconds += seconds
        self.converted += 1
        self._in_use.add(path)
        await asyncio.to_thread(self.clean)
        return Conversion(path, converted, digest)

    def _write(self, file: LocalFile, path: Path, failed: Path, digest: str) -> tuple[int, float]:
        """Convert into a temporary file, check it is of the scanned content, move it in."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        os.close(fd)
        started = time.thread_time()
        try:
            try:
                converted = convert(file.abspath, Path(temporary))
            except ConversionError as exc:
                _write_text(failed, str(exc))
                raise NotConverted(str(exc)) from exc
            stat = file.abspath.stat()
            if (
                f"sha256:{converted.source_sha256}" != digest
                or stat.st_size != file.size
                or stat.st_mtime_ns != file.mtime_ns
            ):
                raise FileChanged(
                    f"{file.abspath} changed while it was being converted; it will be sent next run"
                )
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return converted.size, time.thread_time() - started

    def clean(self) -> None:
        """Keep the cache within `limit`: the least recently used files go first (never
        one in use); leftovers of other converter versions and of interrupted
        conversions go at once."""
        if self._folder is None:
            return
        try:
            entries = list(os.scandir(self._folder))
        except OSError:
            return
        kept: list[tuple[float, int, Path]] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                stat = entry.stat()
            except OSError:
                continue
            current = entry.name.endswith((_SUFFIX, _FAILED))
            stale_part = entry.name.endswith(".part") and time.time() - stat.st_mtime > 3600
            if (not current and entry.name.endswith((".bgcode", ".failed"))) or stale_part:
                _remove(path)
            elif current and path not in self._in_use:
                kept.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in kept) + sum(
            _size(p) for p in self._in_use if p.parent == self._folder
        )
        for _, size, path in sorted(kept):
            if total <= self.limit:
                break
            _remove(path)
            total -= size


def _retrieved(future: asyncio.Future[Conversion]) -> None:
    """A conversion's failure is its waiters' to report; none may be left waiting."""
    if not future.cancelled():
        future.exception()


def _cached_hash(file: LocalFile, journal: Journal | None) -> str | None:
    if journal is None:
        return None
    return journal.cached_hash(str(file.abspath), file.size, file.mtime_ns)


def _write_text(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(text + "\n", encoding="utf-8")


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
