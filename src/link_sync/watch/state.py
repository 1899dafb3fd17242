"""The live farm state: what `watch` knows right now, for the page, the API, SSE and metrics.

`watch` owns one `FarmState` and changes it (`update_printer`, `add_progress`,
`set_master`, ...) and publishes `WatchEvent`s; readers (the web app, `watch --json`)
read views and subscribe to events. Nothing here does I/O, and nothing blocks.

Cost is kept flat for a 500-printer farm with 2 events per printer per second:
- every change is O(1) and bumps one farm-wide `version`; each view remembers the
  version of its last change, so a reader asks "what changed since version v" and gets
  only those printers (`changed_since`), however many readers there are;
- events go into one bounded ring with sequence numbers (`EventLog`); each subscriber
  keeps its own cursor, so publishing costs the same for 0 or 20 subscribers, and a
  subscriber too slow to keep up is told how many events it lost instead of holding
  memory for them;
- one `asyncio.Event` wakes every waiting reader at once.

Secrets never enter the state: a view holds no credentials, and hosts are shown
without any user:password part.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from link_sync.core.model import CHANGE_OPS, LocalFile, Op, PrinterState, SyncStatus
from link_sync.core.planner import Action, Plan
from link_sync.engine.events import Observer, PlannedBytes
from link_sync.result import ActionResult, PrinterResult, printer_snapshot_json
from link_sync.watch.files import FarmFiles
from link_sync.watch.summary import sync_summary

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

#: Seconds between two `progress` events of one transfer (the views change on every chunk).
PROGRESS_EVERY = 1.0
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


@dataclass(slots=True)
class Transfer:
    """The file being sent to a printer now."""

    path: str
    total: int
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Bytes per second since the transfer began."""
        return self.bytes / max(time.monotonic() - self.started, 1e-3)

    @property
    def eta(self) -> float | None:
        """Seconds until done at the current rate; None before the first byte."""
        rate = self.rate
        return max(self.total - self.bytes, 0) / rate if rate > 0 else None

    def to_json(self) -> dict[str, Any]:
        eta = self.eta
        return {
            "path": self.path,
            "bytes": self.bytes,
            "total": self.total,
            "rate": round(self.rate, 1),
            "eta": None if eta is None else round(eta, 1),
        }


@dataclass(frozen=True, slots=True)
class LastSync:
    """How the last sync of one printer ended."""

    time: float  # epoch seconds, when it ended
    status: str  # the contract's statuses: synced, busy, unreachable, failed, skipped
    counts: dict[str, int]  # uploaded, replaced, deleted, failed, bytes
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "status": self.status,
            "counts": dict(self.counts),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


Watching = Literal[True, "paused"]


@dataclass(slots=True)
class PrinterView:
    """Everything the page and the API show for one printer.

    The first fields are those of `status --json`; then what only a watch knows.
    """

    name: str
    host: str
    reachable: bool | None = None  # None: not asked yet
    kind: str | None = None
    model: str | None = None
    firmware: str | None = None
    state: str | None = None  # IDLE, PRINTING, ... as the printer says
    job: str | None = None
    job_progress: float | None = None
    managed_files: int | None = None
    #: master files meant for this printer, and how many it holds (not known to a watch)
    wanted_files: int | None = None
    wanted_held: int | None = None
    in_sync: bool | None = None  # None: not known (never planned, unreachable)
    #: how its files are chosen: "model", "all" or "off" (from the config until a pass says)
    routing: str = "off"
    while_printing: str | None = None  # "upload": takes files while printing; or "wait"
    free_space: int | None = None
    error: str | None = None
    pending_files: int = 0
    pending_bytes: int = 0
    #: why the printer is not in sync (busy, unreachable, failed: ..., paused), or None
    reason: str | None = None
    #: what the engine is doing on it now: connecting, listing, uploading, deleting, or None
    activity: str | None = None
    transfer: Transfer | None = None
    last_sync: LastSync | None = None
    watching: Watching = True
    #: the farm version of this view's last change (see FarmState.changed_since)
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        pending = {"files": self.pending_files, "bytes": self.pending_bytes}
        return {
            **printer_snapshot_json(self, pending),
            "summary": sync_summary(self).to_json(),
            "reason": self.reason,
            "activity": self.activity,
            "transfer": None if self.transfer is None else self.transfer.to_json(),
            "last_sync": None if self.last_sync is None else self.last_sync.to_json(),
            "watching": self.watching,
        }


#: Fields `update_printer` may set (not name, not version).
_SETTABLE = frozenset(f.name for f in fields(PrinterView)) - {"name", "version"}


@dataclass(slots=True)
class Master:
    path: str = ""
    files: int = 0
    available: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "files": self.files, "available": self.available}


class Control(Protocol):
    """What the web app may ask of the watch. Each call only asks: it returns at once.

    Each raises KeyError for a printer the watch does not know.
    """

    def sync_all(self) -> None: ...
    def sync_printer(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...


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


class FarmState:
    """The farm as the watch sees it now."""

    def __init__(
        self,
        printers: Iterable[tuple[str, str]] = (),
        master: str = "",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        ring_size: int = RING_SIZE,
    ) -> None:
        self.clock = clock
        self.monotonic = monotonic
        self.printers: dict[str, PrinterView] = {}
        self.master = Master(path=master)
        self.running = False  # set by the watch while it runs (for /healthz)
        self.events = EventLog(ring_size)
        self.version = 0
        #: printer name -> version of its last change, least recently changed first
        self._changed: dict[str, int] = {}
        self._json: dict[str, tuple[int, dict[str, Any]]] = {}
        self._removed: dict[str, int] = {}
        self._wakeup: asyncio.Event | None = None
        self._listeners: list[Listener] = []
        self._progress_sent: dict[str, float] = {}
        #: the farm by file (the files view); its changes wake readers too
        self.files = FarmFiles(self._bump)
        for name, host in printers:
            self.add_printer(name, host)

    # -- changes (the watch) ----------------------------------------------

    def add_printer(self, name: str, host: str, routing: str | None = None) -> PrinterView:
        view = self.printers.get(name)
        if view is None:
            view = self.printers[name] = PrinterView(name=name, host=public_host(host))
            self._removed.pop(name, None)
        else:
            view.host = public_host(host)
        if routing is not None:
            view.routing = routing
        self._touch(view)
        return view

    def remove_printer(self, name: str) -> None:
        if self.printers.pop(name, None) is not None:
            self._changed.pop(name, None)
            self._json.pop(name, None)
            self._bump()
            self._removed[name] = self.version
            self.files.remove_printer(name)

    def update_printer(self, name: str, **changes: Any) -> PrinterView:
        """Sets fields of one printer's view (names as in PrinterView); KeyError if unknown."""
        view = self.printers[name]
        unknown = changes.keys() - _SETTABLE
        if unknown:
            raise TypeError(f"PrinterView has no field {', '.join(sorted(unknown))}")
        if "host" in changes:
            changes["host"] = public_host(changes["host"])
        if "transfer" in changes:  # a new transfer reports its first progress at once
            self._progress_sent.pop(name, None)
        for key, value in changes.items():
            setattr(view, key, value)
        self._touch(view)
        return view

    def add_progress(self, name: str, sent: int) -> None:
        """`sent` more bytes of the current transfer (the hot path: once per chunk)."""
        view = self.printers.get(name)
        if view is None or view.transfer is None:
            return
        transfer = view.transfer
        transfer.bytes += sent
        self._touch(view)
        now = self.monotonic()
        last = self._progress_sent.get(name)
        if last is None or now - last >= PROGRESS_EVERY:
            self._progress_sent[name] = now
            self.publish(WatchEvent(self.clock(), name, "progress", transfer.path, transfer.bytes))

    def set_master(self, path: str, files: int, available: bool) -> None:
        self.master = Master(path=path, files=files, available=available)
        self._bump()

    def publish(self, event: WatchEvent) -> None:
        self.events.append(event)
        for listener in self._listeners:
            listener(event)
        self._bump()

    def event(self, printer: str | None, name: str, **fields: Any) -> WatchEvent:
        """Publishes a new event stamped with the farm's clock; returns it."""
        event = WatchEvent(self.clock(), printer, name, **fields)
        self.publish(event)
        return event

    def listen(self, listener: Listener) -> None:
        """`listener(event)` is called for every event from now on (metrics counters)."""
        self._listeners.append(listener)

    # -- reading (the web app, watch --json) --------------------------------

    def subscribe(self) -> Subscription:
        return Subscription(self)

    def changed_since(self, version: int) -> tuple[list[PrinterView], list[str]]:
        """Printers changed after `version` (oldest change first) and names removed since."""
        changed: list[PrinterView] = []
        for name in reversed(self._changed):
            if self._changed[name] <= version:
                break
            changed.append(self.printers[name])
        changed.reverse()
        removed = [name for name, v in self._removed.items() if v > version]
        return changed, removed

    def totals(self) -> dict[str, Any]:
        views = self.printers.values()
        return {
            "printers": len(self.printers),
            "in_sync": sum(1 for v in views if v.in_sync),
            "out_of_sync": sum(1 for v in views if v.in_sync is False),
            "unknown": sum(1 for v in views if v.in_sync is None),
            "unreachable": sum(1 for v in views if v.reachable is False),
            "printing": sum(1 for v in views if v.state in ("PRINTING", "PAUSED")),
            "paused": sum(1 for v in views if v.watching == "paused"),
            "transferring": sum(1 for v in views if v.transfer is not None),
            "pending_files": sum(v.pending_files for v in views),
            "pending_bytes": sum(v.pending_bytes for v in views),
            "rate": round(sum(v.transfer.rate for v in views if v.transfer is not None), 1),
        }

    def view_json(self, view: PrinterView) -> dict[str, Any]:
        """`view.to_json()`, made once per change of the view and shared by every reader."""
        known = self._json.get(view.name)
        if known is not None and known[0] == view.version:
            return known[1]
        data = view.to_json()
        self._json[view.name] = (view.version, data)
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            "master": self.master.to_json(),
            "totals": self.totals(),
            "running": self.running,
            "printers": [self.view_json(v) for v in self.printers.values()],
        }

    async def wait_changed(self, version: int, timeout: float | None = None) -> bool:
        """Waits until the farm's version passes `version`; False on timeout."""
        if self.version > version:
            return True
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        wakeup = self._wakeup
        try:
            await asyncio.wait_for(wakeup.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- internals -------------------------------------------------------

    def _bump(self) -> None:
        self.version += 1
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _touch(self, view: PrinterView) -> None:
        self._bump()
        view.version = self.version
        self._changed.pop(view.name, None)
        self._changed[view.name] = self.version


def public_host(host: str) -> str:
    """The host as shown to anyone: without a user:password part."""
    parts = urlsplit(host if "//" in host else f"//{host}")
    if parts.username is None and parts.password is None:
        return host
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    shown = urlunsplit(parts._replace(netloc=netloc))
    return shown if "//" in host else shown.removeprefix("//")


class FarmObserver(Observer):
    """Feeds a FarmState from the sync engine's callbacks (views and events)."""

    def __init__(
        self,
        farm: FarmState,
        current: Callable[[], bool] | None = None,
        files: Sequence[LocalFile] | None = None,
    ) -> None:
        self.farm = farm
        self._files = files  # the pass's master files, for the files view
        #: whether the master the pass synced from is still the newest (the watch: a
        #: newer view may have come meanwhile); a pass of an older one is not "in sync"
        self._current = current or (lambda: True)
        #: (printer, path) -> when its transfer began, monotonic
        self._started: dict[tuple[str, str], float] = {}
        #: each printer's planned bytes, corrected for files sent converted
        self._planned = PlannedBytes()

    def printer_started(self, name: str) -> None:
        self.farm.update_printer(name, activity="connecting", error=None)
        self.farm.event(name, "sync_started")

    def printer_state(self, name: str, text: str) -> None:
        self.farm.update_printer(name, activity=text)

    def printer_busy(self, name: str, state: PrinterState) -> None:
        self.farm.update_printer(name, activity=None, reason=f"busy ({state})")

    def plan_ready(self, name: str, plan: Plan) -> None:
        files = len(plan.transfers) + len(plan.deletes)
        size = self._planned.planned(name, plan)
        view = self.farm.printers[name]
        changed = (view.pending_files, view.pending_bytes) != (files, size)
        self.farm.update_printer(name, pending_files=files, pending_bytes=size)
        if changed:
            noun = "file" if files == 1 else "files"
            self.farm.event(name, "pending", bytes=size, message=f"{files} {noun}")
        if self._files is not None:
            self.farm.files.planned(name, self._files, plan)
        for problem in plan.refused:  # never sent: bad names, case collisions
            self.farm.event(name, "failed", path=problem.path, error=problem.reason)

    def transfer_started(self, name: str, action: Action) -> None:
        self._started[(name, action.path)] = time.monotonic()
        pending = self.farm.printers[name].pending_bytes + self._planned.started(name, action)
        self.farm.update_printer(
            name, transfer=Transfer(action.path, action.bytes), pending_bytes=max(pending, 0)
        )
        self.farm.event(name, "upload_started", path=action.path, bytes=action.bytes)

    def transfer_progress(self, name: str, sent: int) -> None:
        self.farm.add_progress(name, sent)

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        self.farm.update_printer(name, transfer=Transfer(action.path, action.bytes))

    def action_done(self, name: str, result: ActionResult) -> None:
        view = self.farm.printers[name]
        started = self._started.pop((name, result.path), None)
        # An upload is checked while the next file is already being sent: only the
        # transfer of this file ends here.
        ended: dict[str, Any] = {}
        if view.transfer is not None and view.transfer.path == result.path:
            ended["transfer"] = None
        if result.op in (Op.UPLOAD, Op.REPLACE):
            self.farm.files.done(name, result.path, result.ok, result.error)
        if not result.ok:
            if ended:
                self.farm.update_printer(name, **ended)
            self.farm.event(name, "failed", path=result.path, error=result.error)
            return
        if result.op not in CHANGE_OPS:
            return
        seconds = None if started is None else time.monotonic() - started
        self.farm.update_printer(
            name,
            **ended,
            pending_files=max(view.pending_files - 1, 0),
            pending_bytes=max(view.pending_bytes - result.bytes, 0),
        )
        kind = {Op.UPLOAD: "uploaded", Op.REPLACE: "replaced", Op.DELETE: "deleted"}[result.op]
        self.farm.event(name, kind, path=result.path, bytes=result.bytes, seconds=seconds)

    def printer_done(self, result: PrinterResult) -> None:
        name = result.name
        counts = {
            "uploaded": result.count(Op.UPLOAD),
            "replaced": result.count(Op.REPLACE),
            "deleted": result.count(Op.DELETE),
            "failed": result.failed,
            "bytes": result.bytes,
        }
        changes: dict[str, Any] = {
            "activity": None,
            "transfer": None,
            "error": result.error,
            "reachable": result.status != SyncStatus.UNREACHABLE,
            "last_sync": LastSync(
                self.farm.clock(), result.status, counts, result.seconds, result.error
            ),
            "routing": result.routing,
        }
        for key in ("kind", "model", "firmware", "state", "job", "job_progress", "free_space"):
            value = getattr(result, key)
            if value is not None or result.status != SyncStatus.UNREACHABLE:
                changes[key] = value
        if result.while_printing is not None:
            changes["while_printing"] = result.while_printing
        if result.managed_files is not None:
            changes["managed_files"] = result.managed_files
        if result.status == SyncStatus.SYNCED and not self._current():
            changes |= {"in_sync": False, "reason": None}  # a newer master view waits
        elif result.status == SyncStatus.SYNCED:
            changes |= {"in_sync": True, "pending_files": 0, "pending_bytes": 0, "reason": None}
        elif result.status == SyncStatus.PLANNED:
            in_sync = self.farm.printers[name].pending_files == 0 and not result.failed
            changes |= {"in_sync": in_sync, "reason": None}
        elif result.status == SyncStatus.BUSY:
            changes["reason"] = f"busy ({result.state})"
        elif result.status == SyncStatus.UNREACHABLE:
            changes |= {"in_sync": None, "reason": f"unreachable: {result.error}"}
        else:  # failed, skipped
            why = result.error or f"{result.failed} file(s) failed"
            changes |= {"in_sync": False, "reason": f"{result.status}: {why}"}
        self.farm.update_printer(name, **changes)
        routing = str(result.routing)
        if result.status == SyncStatus.SYNCED:
            self.farm.event(
                name, "synced", bytes=result.bytes, seconds=result.seconds, routing=routing
            )
        elif result.status in (SyncStatus.BUSY, SyncStatus.UNREACHABLE):
            self.farm.event(
                name, result.status, message=result.state, error=result.error, routing=routing
            )
        elif result.status in (SyncStatus.FAILED, SyncStatus.SKIPPED):
            why = result.error or f"{result.failed} file(s) failed"
            self.farm.event(name, "failed", error=why, seconds=result.seconds, routing=routing)
