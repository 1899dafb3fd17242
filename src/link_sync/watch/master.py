"""The master folder as `watch` sees it: settled views, published when they change.

A view holds only files that have *settled*: their size and mtime unchanged for
`settle` seconds, so a slicer or a copy still writing a file never has it sent
half-written. A file still being written is `unsettled`: it is not sent, and
nothing at its path is deleted from printers (an older copy stays until the new
one is complete). Temporary names (`*.part`, `*.tmp`, `~*`, dot files) are not
print files here.

Changes are noticed through filesystem events (`watchfiles`), or by polling
when told to or when the folder is on a network filesystem (whose changes made
by other machines raise no events). A full rescan every `rescan_interval`
seconds is the safety net either way. A missing or empty master makes the view
unusable; the scheduler then pauses every printer and deletes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from link_sync.core.model import LocalFile
from link_sync.engine.scan import no_print_files, scan_source
from link_sync.errors import SourceMissing
from link_sync.watch.netfs import is_network_fs

log = logging.getLogger("link_sync.watch")

#: How often a polled (or missing) master is scanned, in seconds, at the least...
POLL_PERIOD = 1.0
#: ...and at most this share of the time goes to scanning: a 10,000-file master takes
#: ~0.1 s of CPU to scan, so polling it every second would cost 10 % of a core.
POLL_SHARE = 0.05
#: watchfiles: changes are gathered until none came for STEP ms, or for at most DEBOUNCE ms.
WATCH_STEP_MS = 50
WATCH_DEBOUNCE_MS = 400
#: An mtime this far in the future (seconds) is a skewed clock (a NAS): trust our own eyes.
CLOCK_SKEW = 1.0


def is_temporary(relative: str) -> bool:
    """Names of files being written or left by editors and copy tools."""
    for part in relative.split("/"):
        if part.startswith((".", "~")):
            return True
    lower = relative.lower()
    return lower.endswith((".part", ".tmp"))


@dataclass(frozen=True, slots=True)
class MasterView:
    """One look at a master folder."""

    root: Path
    #: settled print files, sorted by path
    files: tuple[LocalFile, ...] = ()
    #: paths still being written: neither sent nor deleted yet
    unsettled: tuple[str, ...] = ()
    #: paths that could not be read: nothing at or below them is deleted
    incomplete: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    #: why the master cannot be synced from (missing, unreadable, empty); None if it can
    unusable: str | None = None
    taken_at: float = field(default_factory=time.time, compare=False)

    @property
    def usable(self) -> bool:
        return self.unusable is None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def same_as(self, other: MasterView | None) -> bool:
        """Whether nothing changed since `other` (files still being written included)."""
        return self.same_sync_as(other) and other is not None and self.unsettled == other.unsettled

    def same_sync_as(self, other: MasterView | None) -> bool:
        """Whether a sync from this view would do the same as from `other`.

        A file that starts or goes on being written changes nothing on printers until
        it settles (it is neither sent nor deleted meanwhile).
        """
        if other is None:
            return False
        return (
            self.unusable == other.unusable
            and self.incomplete == other.incomplete
            and self.files == other.files
        )


class SettleClock:
    """Decides which files have settled. Pure apart from what it remembers between looks.

    A file has settled when its mtime is at least `settle` seconds old: every write
    moves the mtime, so an old mtime means no write since. A file whose mtime lies
    in the future (the clock of a NAS ahead of ours) is timed from when we first saw
    it with that size and mtime instead.
    """

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._first_seen: dict[str, tuple[int, int, float]] = {}

    def split(
        self, files: Sequence[LocalFile], now: float
    ) -> tuple[list[LocalFile], list[str], float | None]:
        """(settled files, unsettled paths, wall time the next one settles or None)."""
        settled: list[LocalFile] = []
        unsettled: list[str] = []
        next_due: float | None = None
        seen: dict[str, tuple[int, int, float]] = {}
        for file in files:
            previous = self._first_seen.get(file.path)
            same = previous is not None and previous[:2] == (file.size, file.mtime_ns)
            first = previous[2] if same and previous is not None else now
            seen[file.path] = (file.size, file.mtime_ns, first)
            changed = file.mtime if file.mtime <= now + CLOCK_SKEW else first
            due = changed + self.settle
            if now >= due:
                settled.append(file)
            else:
                unsettled.append(file.path)
                next_due = due if next_due is None else min(next_due, due)
        self._first_seen = seen
        return settled, unsettled, next_due


def look(root: Path, clock: SettleClock, allow_empty: bool) -> tuple[MasterView, float | None]:
    """Scan `root` once: its view and when the next unsettled file settles (wall time)."""
    try:
        scan = scan_source(root)
    except SourceMissing as exc:
        reason = str(exc).removesuffix("; nothing was synced")
        return MasterView(root, unusable=reason), None
    files = [f for f in scan.files if not is_temporary(f.path)]
    settled, unsettled, due = clock.split(files, time.time())
    view = MasterView(
        root,
        files=tuple(settled),
        unsettled=tuple(unsettled),
        incomplete=tuple(scan.incomplete),
        problems=tuple(scan.problems),
    )
    if not settled and not unsettled and not allow_empty:
        view = MasterView(
            root,
            incomplete=view.incomplete,
            problems=view.problems,
            unusable=no_print_files(root, scan),
        )
    return view, due


ViewCallback = Callable[[MasterView, bool], None]
"""Called with a new view and whether it comes from a periodic full rescan."""


class MasterWatcher:
    """Watches one master folder and calls `on_view` when its settled view changes."""

    def __init__(
        self,
        root: Path,
        on_view: ViewCallback,
        *,
        settle: float,
        rescan_interval: float,
        poll: bool,
        allow_empty: bool,
    ) -> None:
        self.root = root
        self.on_view = on_view
        self.rescan_interval = rescan_interval
        self.allow_empty = allow_empty
        self.clock = SettleClock(settle)
        self.polling = poll or is_network_fs(root)
        self.view: MasterView | None = None
        self.scans = 0
        #: seconds between two scans when polling (grows with the time a scan takes)
        self.poll_period = POLL_PERIOD
        self._due: float | None = None
        self._wake = asyncio.Event()
        self._events_task: asyncio.Task[None] | None = None

    def first_look(self) -> MasterView:
        """A synchronous first scan, for the start checks."""
        self.view, self._due = look(self.root, self.clock, self.allow_empty)
        self.scans += 1
        return self.view

    def reconfigure(self, *, settle: float, rescan_interval: float, allow_empty: bool) -> None:
        self.clock.settle = settle
        self.rescan_interval = rescan_interval
        self.allow_empty = allow_empty
        self.wake()

    def wake(self) -> None:
        """Look again now (a change was reported)."""
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self.view is None:
            await self._look(full=False)
        last_full = loop.time()
        try:
            while True:
                self._ensure_events()
                deadline = last_full + self.rescan_interval
                if self.polling or (self.view is not None and not self.view.usable):
                    deadline = min(deadline, loop.time() + self.poll_period)
                if self._due is not None:
                    deadline = min(deadline, loop.time() + max(0.0, self._due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - loop.time()))
                self._wake.clear()
                full = loop.time() >= last_full + self.rescan_interval
                if full:
                    last_full = loop.time()
                await self._look(full)
        finally:
            await self._stop_events()

    async def _look(self, full: bool) -> None:
        before = self.view
        started = time.monotonic()
        view, self._due = await asyncio.to_thread(look, self.root, self.clock, self.allow_empty)
        self.poll_period = max(POLL_PERIOD, (time.monotonic() - started) / POLL_SHARE)
        self.scans += 1
        self.view = view
        if before is not None and not before.usable and view.usable:
            await self._stop_events()  # the folder may be a new one: watch it afresh
        if full or not view.same_as(before):
            self.on_view(view, full)

    # -- filesystem events -------------------------------------------------------------

    def _ensure_events(self) -> None:
        if self.polling or self.view is None or not self.view.usable:
            return
        if self._events_task is None or self._events_task.done():
            self._events_task = asyncio.create_task(self._events(), name=f"watch {self.root}")

    async def _stop_events(self) -> None:
        task, self._events_task = self._events_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _events(self) -> None:
        from watchfiles import awatch  # a Rust extension: loaded only by `watch`

        try:
            async for _changes in awatch(
                self.root,
                watch_filter=_relevant,
                debounce=WATCH_DEBOUNCE_MS,
                step=WATCH_STEP_MS,
                rust_timeout=1000,
                ignore_permission_denied=True,
            ):
                self.wake()
        except (OSError, RuntimeError) as exc:
            # The folder went away or cannot be watched: polling takes over until it is back.
            log.debug("watching %s failed: %s", self.root, exc)
            await asyncio.sleep(POLL_PERIOD)
            self.wake()


def _relevant(change: object, path: str) -> bool:
    name = os.path.basename(path)
    return not (name.startswith((".", "~")) or name.lower().endswith((".part", ".tmp")))
