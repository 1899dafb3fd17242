"""One lock per printer storage, so runs on different printers go on side by side.

What must never run twice at once is work on the same printer's storage. Each
printer gets its own `lock.RunLock` file under `<state>/locks/`, named by a hash
of what identifies that storage: host, port, storage name and the managed
destination, however the config spells them (`storage_key`). A destination's
folders are one storage too: a run also takes a shared lock on each folder that
holds its destination (`prints` and the storage's root for `prints/mk4`), so a run
on `prints` (which takes that lock exclusively) and one on `prints/mk4` never run
at once, while runs on `prints/a` and `prints/b` do. Locks live in one
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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from link_sync.backends.registry import PRINTER_TYPES
from link_sync.config import PrinterConfig, normalize_destination
from link_sync.engine.lock import RunLock
from link_sync.engine.statedir import LOCKS_FOLDER
from link_sync.errors import LockHeld

#: Who holds a destination's lock when no run says so: runs on folders inside it (their
#: shared locks name no holder), or a run that has just taken it.
_NESTED_HOLDER = "another link-sync run (on this destination or a folder inside it)"


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
    return _name_of(storage_key(printer))


def _name_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def lock_path(states: Path, printer: PrinterConfig) -> Path:
    """The lock file of `printer`'s storage in the state folder `states`."""
    return _path_of(states, storage_key(printer))


def _path_of(states: Path, key: str) -> Path:
    return states / LOCKS_FOLDER / f"{_name_of(key)}.lock"


def ancestor_keys(key: str) -> list[str]:
    """The storage keys of the folders that hold a key's destination, the storage's
    root first ('h|80||' and 'h|80||prints' for 'h|80||prints/mk4')."""
    host, port, storage, destination = key.split("|", 3)
    if not destination:
        return []
    parts = destination.split("/")
    return [f"{host}|{port}|{storage}|{'/'.join(parts[:depth])}" for depth in range(len(parts))]


@dataclass(slots=True)
class _Held:
    """A printer's locks: its destination's, exclusive, and a shared one on each folder
    that holds it (so a run on any of those folders is refused while this one runs, and
    this one while such a run holds one)."""

    key: str
    own: RunLock
    around: list[RunLock]

    def release(self) -> None:
        for lock in [self.own, *self.around]:
            lock.release()


def _holding(exc: LockHeld, folder: str) -> str:
    """Who holds `folder` (a storage key), which holds the destination being locked."""
    holder = exc.holder or "another link-sync run"
    destination = folder.split("|", 3)[3]
    if not destination:
        return f"{holder}, which syncs the whole storage"
    return f"{holder}, which syncs '{destination}' (this destination is inside it)"


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
        self._held: dict[str, _Held] = {}
        #: printer name by its destination's key, and by each folder holding it: the
        #: twin or nested destination of a printer is found without comparing every lock
        self._holder_of: dict[str, str] = {}
        self._inside: dict[str, set[str]] = {}

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
            key = storage_key(printer)
            held = self._held.get(name)
            if held is not None:
                if held.key == key:
                    continue
                self.release(name)  # its settings now name another storage
            overlap = self._overlap(key)
            if overlap is not None:
                refused[name] = f"refused: {overlap}"
                continue
            try:
                self._held[name] = self._lock(key)
            except LockHeld as exc:
                refused[name] = f"locked by {exc.holder or _NESTED_HOLDER}"
                continue
            self._holder_of[key] = name
            for folder in ancestor_keys(key):
                self._inside.setdefault(folder, set()).add(name)
        return refused

    def _overlap(self, key: str) -> str | None:
        """Why a destination (by key) overlaps one of this process's printers, or None."""
        twin = self._holder_of.get(key)
        if twin is not None:
            return f"the same printer storage as '{twin}' in this run"
        around = [self._holder_of[f] for f in ancestor_keys(key) if f in self._holder_of]
        inside = sorted(self._inside.get(key, ()))
        for other in [*around, *inside]:
            return f"its destination and that of '{other}' (one inside the other) in this run"
        return None

    def _lock(self, key: str) -> _Held:
        """The locks of a destination (by storage key), all taken, or LockHeld."""
        taken: list[RunLock] = []
        try:
            own = RunLock(_path_of(self.states, key), command=self.command)
            own.acquire()
            taken.append(own)
            for folder in ancestor_keys(key):
                around = RunLock(_path_of(self.states, folder), shared=True)
                try:
                    around.acquire()
                except LockHeld as exc:
                    raise LockHeld(str(exc), holder=_holding(exc, folder)) from None
                taken.append(around)
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        return _Held(key, own, taken[1:])

    def keep_only(self, names: Iterable[str]) -> None:
        """Let go of every lock but those of `names`."""
        kept = set(names)
        for name in [n for n in self._held if n not in kept]:
            self.release(name)

    def release(self, name: str) -> None:
        held = self._held.pop(name, None)
        if held is not None:
            del self._holder_of[held.key]
            for folder in ancestor_keys(held.key):
                self._inside[folder].discard(name)
                if not self._inside[folder]:
                    del self._inside[folder]
            held.release()

    def release_all(self) -> None:
        for name in list(self._held):
            self.release(name)
