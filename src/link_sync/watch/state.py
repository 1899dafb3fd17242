"""The live farm state: what `watch` knows right now, for the page, the API, SSE and metrics.

`watch` owns one `FarmState` and changes it (`update_printer`, `add_progress`,
`set_master`, ...) and publishes `WatchEvent`s; readers (the web app, `watch --json`)
read views and subscribe to events. Nothing here does I/O, and nothing blocks.

Cost is kept flat for a 500-printer farm with 2 events per printer per second:
- every change is O(1) and bumps one farm-wide `version`; each view remembers the
  version of its last change, so a reader asks "what changed since version v" and gets
  only those printers (`changed_since`), however many readers there are;
- events go into one bounded ring (`watch/events.py`), each reader with its own cursor;
- one `asyncio.Event` wakes every waiting reader at once.

Secrets never enter the state: a view holds no credentials, and hosts are shown
without any user:password part. The sync engine feeds it through `watch/observer.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from link_sync.result import printer_snapshot_json
from link_sync.watch.events import RING_SIZE, EventLog, Listener, Subscription, WatchEvent
from link_sync.watch.files import FarmFiles
from link_sync.watch.summary import sync_summary

#: Seconds between two `progress` events of one transfer (the views change on every chunk).
PROGRESS_EVERY = 1.0


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
