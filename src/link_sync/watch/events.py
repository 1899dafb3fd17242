"""The watch's events: their names, the event record, and the bounded ring readers follow.

Events go into one bounded ring with sequence numbers (`EventLog`); each subscriber
keeps its own cursor (`Subscription`), so publishing costs the same for 0 or 20
subscribers, and a subscriber too slow to keep up is told how many events it lost
instead of holding memory for them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from link_sync.watch.state import FarmState

#: Event names, and what each means. `watch --json` and `GET /api/events` print the same.
EVENTS: dict[str, str] = {
    "started": "the watch started (printer: null)",
    "http": "the page, API and metrics are served (path: their URL)",
    "warning": "a warning about the config or the journal (message)",
    "stats": "SIGUSR1: the watch's tasks, threads, open files and memory (message)",
    "stopping": "the watch is stopping (printer: null)",
    "stopped": "the watch stopped; journal and locks are closed",
    "config_reloaded": "SIGHUP: the config was read again (printer: null)",
    "config_error": "SIGHUP: the new config is invalid, the old one stays (error)",
    "master_missing": "the master folder is missing or empty; nothing is synced (error)",
    "master_back": "the master folder is back",
    "state": "a printer's state changed (message: e.g. 'now PRINTING')",
    "reachable": "a printer answers again",
    "unreachable": "a printer stopped answering (error)",
    "busy": "a printer is printing; its sync waits (message: its state)",
    "pending": "a printer's pending work changed (bytes: pending bytes; message: 'N files')",
    "sync_started": "a sync of one printer began",
    "upload_started": "a transfer began (path, bytes: its size)",
    "progress": "a transfer moved on (path, bytes: sent so far); at most one a second",
    "uploaded": "a file was uploaded and verified (path, bytes)",
    "replaced": "a stale file was overwritten and verified (path, bytes)",
    "deleted": "an excess file was deleted (path)",
    "failed": "with path: that file failed; without: the printer's sync failed (error)",
    "synced": "a printer's sync ended in line with the master (bytes: bytes sent)",
    "paused": "watching one printer was paused (API or operator)",
    "resumed": "watching one printer was resumed",
}

#: Events kept for subscribers that fall behind; older ones are dropped and counted.
RING_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One thing that happened. `to_json` always has the six contract keys."""

    time: float  # epoch seconds
    printer: str | None
    event: str
    path: str | None = None
    bytes: int | None = None
    error: str | None = None
    message: str | None = None
    #: for `synced` / `failed` (no path): the sync's duration; for `uploaded` /
    #: `replaced`: the transfer's (so metrics can tell the upload rate)
    seconds: float | None = None
    #: for the events that end a printer's pass: how its files were chosen
    routing: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "time": self.time,
            "printer": self.printer,
            "event": self.event,
            "path": self.path,
            "bytes": self.bytes,
            "error": self.error,
        }
        if self.message is not None:
            data["message"] = self.message
        if self.seconds is not None:
            data["seconds"] = round(self.seconds, 3)
        if self.routing is not None:
            data["routing"] = self.routing
        return data


class EventLog:
    """A bounded ring of events with sequence numbers; readers keep their own cursor."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._ring: deque[WatchEvent] = deque(maxlen=size)
        self.last = 0  # sequence number of the newest event (0: none yet)

    def append(self, event: WatchEvent) -> None:
        self._ring.append(event)
        self.last += 1

    def since(self, cursor: int) -> tuple[list[WatchEvent], int]:
        """Events after `cursor`, and how many of those were already dropped."""
        wanted = self.last - cursor
        if wanted <= 0:
            return [], 0
        kept = min(wanted, len(self._ring))
        start = len(self._ring) - kept
        return [self._ring[i] for i in range(start, len(self._ring))], wanted - kept

    def recent(self, count: int) -> list[WatchEvent]:
        """The newest `count` events kept, oldest first (what a new reader starts with)."""
        return list(self._ring)[-count:] if count > 0 else []


class Subscription:
    """One reader's position in the farm's event stream, from the moment it subscribed."""

    def __init__(self, farm: FarmState) -> None:
        self._farm = farm
        self.cursor = farm.events.last
        self.lost = 0  # events dropped because this reader fell behind

    def take(self) -> list[WatchEvent]:
        """Events published since the last call (never waits)."""
        events, lost = self._farm.events.since(self.cursor)
        self.cursor = self._farm.events.last
        self.lost += lost
        return events

    async def next(self, timeout: float | None = None) -> list[WatchEvent]:
        """Waits for at least one event (or the timeout: then []), and returns all there are."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._farm.events.last == self.cursor:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return []
            await self._farm.wait_changed(self._farm.version, left)
        return self.take()


Listener = Callable[[WatchEvent], None]
