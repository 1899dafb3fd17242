"""One lock per printer storage, so runs on different printers go on side by side.

What must never run twice at once is work on the same printer's storage. Each
printer gets its own `lock.RunLock` file under `<state>/locks/`, named by a hash
of what identifies that storage: host, port, storage name and the managed
destination, however the config spells them (`storage_key`). Locks live in one
state folder: a run under another one does not see them. The kernel drops a
`flock` when its process dies, so a killed run's printers are free at once. A
run that finds a printer locked reports it `skipped` ("locked by link-sync run,
pid N on host (started ...)") and syncs the others; `link-sync watch` holds the
locks of the printers it watches while it runs.

Nothing else is locked: the journal is shared by SQLite itself (WAL, busy
timeout, one short transaction per write).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from link_sync.backends.registry import PRINTER_TYPES
from link_sync.config import PrinterConfig, normalize_destination
from link_sync.engine.lock import RunLock
from link_sync.engine.statedir import LOCKS_FOLDER
from link_sync.errors import LockHeld


def storage_key(printer: PrinterConfig) -> str:
    """'10.0.0.5|80||prints/mk4': the same for every config naming that storage.

    The host as `config.normalize_host` spells it (lower case, no default port; an
    IP address in its short form; names are not resolved), the storage with its
    type's default written "" (`storage: usb` on a Buddy is its default; OctoPrint
    and Moonraker have one storage whatever the config says), and the managed
    folder below it (`/usb/prints/` = `prints`; case-folded where the storage may be
    FAT). PrusaLink's default is `usb` or `local` by firmware, not known before the
    printer is asked, so both name it: a Buddy's folder `local/x` shares a key
    with `x` (one run too few at once, never one too many).
    """
    kind = PRINTER_TYPES[printer.type]
    parts = urlsplit(printer.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    named = (printer.storage or "").strip("/").casefold() if kind.reads_storage else ""
    defaults = {name.casefold() for name in kind.default_storages}
    storage = "" if named in defaults else named
    destination = normalize_destination(printer.destination or "")
    first, _, below = destination.partition("/")
    if first.casefold() in ({storage} if storage else defaults):
        destination = below  # the original's `-d /usb/prints` form, as the engine reads it
    if kind.case_insensitive:
        destination = destination.casefold()
    return f"{_host(parts.hostname or '')}|{port}|{storage}|{destination}"


def _host(name: str) -> str:
    """An IP address in one spelling ('::1' for '0:0:0:0:0:0:0:1'); a name lower-cased."""
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name.lower()


def lock_name(printer: PrinterConfig) -> str:
    """A hash of `printer`'s storage key: no host or folder in a file name."""
    return hashlib.sha256(storage_key(printer).encode()).hexdigest()[:32]


def lock_path(states: Path, printer: PrinterConfig) -> Path:
    """The lock file of `printer`'s storage in the state folder `states`."""
    return states / LOCKS_FOLDER / f"{lock_name(printer)}.lock"


class PrinterLocks:
    """The printer locks one process holds, by printer name.

    `take(printers)` takes the locks of those not held yet, without waiting, and
    returns the refusals: printer name -> "locked by link-sync run, pid N on
    host (started ...)". `keep_only(names)` lets go of the others.
    """

    def __init__(self, states: Path, command: str) -> None:
        self.states = states
        #: what this process is, told to a run that finds its printers locked
        self.command = command
        self._held: dict[str, RunLock] = {}
        #: printer name by lock file, to find a twin without comparing every lock
        self._holder_of: dict[Path, str] = {}

    def __enter__(self) -> PrinterLocks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release_all()

    @property
    def held(self) -> frozenset[str]:
        """Names of the printers whose locks this process holds."""
        return frozenset(self._held)

    def take(self, printers: Iterable[PrinterConfig]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for printer in printers:
            name = printer.name
            path = lock_path(self.states, printer)
            held = self._held.get(name)
            if held is not None:
                if held.path == path:
                    continue
                self.release(name)  # its settings now name another storage
            twin = self._holder_of.get(path)
            if twin is not None:
                refused[name] = f"refused: the same printer storage as '{twin}' in this run"
                continue
            lock = RunLock(path, command=self.command)
            try:
                lock.acquire()
            except LockHeld as exc:
                refused[name] = f"locked by {exc.holder or 'another link-sync run'}"
                continue
            self._held[name] = lock
            self._holder_of[path] = name
        return refused

    def keep_only(self, names: Iterable[str]) -> None:
        """Let go of every lock but those of `names`."""
        kept = set(names)
        for name in [n for n in self._held if n not in kept]:
            self.release(name)

    def release(self, name: str) -> None:
        lock = self._held.pop(name, None)
        if lock is not None:
            del self._holder_of[lock.path]
            lock.release()

    def release_all(self) -> None:
        for name in list(self._held):
            self.release(name)
