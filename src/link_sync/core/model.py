"""Plain values shared by the scanner, the planner, the backends and the reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

#: Extensions of files a printer can print, lower case, with the dot.
PRINT_EXTENSIONS: frozenset[str] = frozenset({".gcode", ".bgcode", ".g", ".gc", ".gco", ".bgc"})


def is_print_file(name: str) -> bool:
    """True for a G-code file name (any case), never for a dot file."""
    if name.startswith("."):
        return False
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in PRINT_EXTENSIONS


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One print file of the master folder.

    `path` is relative to the printer's source, '/'-separated.
    """

    path: str
    abspath: Path
    size: int
    mtime_ns: int
    #: `send_as: bgcode`: the master path of the plain G-code file this is the binary
    #: form of (`path` is then the printer's `.bgcode` name; `abspath`, `size` and
    #: `mtime_ns` are the plain file's)
    converted_from: str | None = None

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """One file or folder on a printer's storage.

    `path` is relative to the storage root, '/'-separated, with long (display) names.
    Fields a listing does not tell are None: Buddy listings carry no `size`.
    """

    path: str
    is_dir: bool
    size: int | None = None
    mtime: float | None = None  # epoch seconds, UTC
    content_hash: str | None = None  # "sha1:<hex>" where the server offers one
    short_path: str | None = None  # Buddy 8.3 path, for requests that must stay short
    read_only: bool = False
    print_file: bool = True  # False for files a printer lists but cannot print
    download_ref: str | None = None  # where the printer serves the content, if it says

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def with_path(self, path: str) -> RemoteEntry:
        """This entry under another path: `dataclasses.replace` at a fraction of its
        cost (a listing of 50,000 entries is made relative to the managed folder)."""
        return remote_entry(
            path,
            self.is_dir,
            self.size,
            self.mtime,
            self.content_hash,
            self.short_path,
            self.read_only,
            self.print_file,
            self.download_ref,
        )


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot descriptors' setters of a frozen slots dataclass, for a hand-written
    constructor: they skip the generated `__init__`'s `object.__setattr__` per field,
    half the cost of building an object (a run builds one per listed file and journal
    row: 100,000 on 50 printers of 1,000 files). `tests/test_model.py` checks that such
    a constructor sets every field, so a field added later cannot be forgotten."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_new = object.__new__
_PATH, _IS_DIR, _SIZE, _MTIME, _HASH, _SHORT, _RO, _PRINT, _DOWNLOAD = slot_setters(
    RemoteEntry,
    "path",
    "is_dir",
    "size",
    "mtime",
    "content_hash",
    "short_path",
    "read_only",
    "print_file",
    "download_ref",
)


def remote_entry(
    path: str,
    is_dir: bool,
    size: int | None,
    mtime: float | None,
    content_hash: str | None,
    short_path: str | None,
    read_only: bool,
    print_file: bool,
    download_ref: str | None,
) -> RemoteEntry:
    """`RemoteEntry(...)` with every field given, in order, for the listings' hot path."""
    entry: RemoteEntry = _new(RemoteEntry)
    _PATH(entry, path)
    _IS_DIR(entry, is_dir)
    _SIZE(entry, size)
    _MTIME(entry, mtime)
    _HASH(entry, content_hash)
    _SHORT(entry, short_path)
    _RO(entry, read_only)
    _PRINT(entry, print_file)
    _DOWNLOAD(entry, download_ref)
    return entry


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a printer is doing right now, normalised across backends."""

    state: str  # IDLE, READY, BUSY, PRINTING, PAUSED, FINISHED, STOPPED, ERROR, ATTENTION, ...
    job_path: str | None = None  # storage-relative display path of the file being printed
    job_progress: float | None = None  # 0..100


@dataclass(frozen=True, slots=True)
class PrinterInfo:
    """What a printer says about itself (for `status` and for choosing quirks)."""

    kind: str  # "buddy", "prusalink-pi", "octoprint", "moonraker"
    model: str | None = None  # as the printer says it ("PrusaLink I3MK3S", "MK4S")
    firmware: str | None = None
    storage: str = ""
    free_space: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    nozzle_diameter: float | None = None  # mm, where the API tells it (Buddy)


class PrinterState(StrEnum):
    """What a printer is doing, as `--json` shows it (`state`).

    Backends normalise their API's words to these. A state no backend knows
    (new firmware) is kept verbatim as a pseudo-member, so the report shows
    what the printer said; it never counts as idle.
    """

    IDLE = "IDLE"
    READY = "READY"
    BUSY = "BUSY"
    PRINTING = "PRINTING"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    ATTENTION = "ATTENTION"

    @classmethod
    def _missing_(cls, value: object) -> PrinterState | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def print_over(self) -> bool:
        """A print ended (done or stopped); a Buddy's screen may still hold its file."""
        return self in (PrinterState.FINISHED, PrinterState.STOPPED)

    @property
    def idle(self) -> bool:
        """Synced without --include-busy: nothing is printing or about to."""
        return self in IDLE_STATES


#: States in which a printer is synced without --include-busy.
IDLE_STATES: frozenset[PrinterState] = frozenset(
    {PrinterState.IDLE, PrinterState.READY, PrinterState.FINISHED, PrinterState.STOPPED}
)


class SyncStatus(StrEnum):
    """How one printer ended a run (`status` in `--json`)."""

    SYNCED = "synced"  # in line with the master after this run
    PLANNED = "planned"  # dry run: the actions are what would be done
    BUSY = "busy"  # printing: left alone
    UNREACHABLE = "unreachable"
    FAILED = "failed"  # reached, but something failed or was refused
    SKIPPED = "skipped"  # safety refusal for this printer


class Op(StrEnum):
    """One kind of change on a printer (`op` in `--json`)."""

    UPLOAD = "upload"
    REPLACE = "replace"
    DELETE = "delete"
    MKDIR = "mkdir"
    RMDIR = "rmdir"
    PULL = "pull"  # `link-sync pull`: a printer's file copied into the master

    @property
    def transfers(self) -> bool:
        """Sends a master file to the printer."""
        return self in (Op.UPLOAD, Op.REPLACE)


#: The changes a sync makes to a printer's files (what "pending" counts).
CHANGE_OPS: frozenset[Op] = frozenset({Op.UPLOAD, Op.REPLACE, Op.DELETE})


#: States of an active print, whatever the printer says about its job.
PRINTING_STATES: frozenset[PrinterState] = frozenset({PrinterState.PRINTING, PrinterState.PAUSED})
#: States that are part of an active print only while the printer names a job: a
#: question on the screen mid-print (ATTENTION), or busy finishing or cancelling it.
DURING_JOB_STATES: frozenset[PrinterState] = frozenset({PrinterState.ATTENTION, PrinterState.BUSY})


def printing_file(status: PrinterStatus) -> str | None:
    """The file of an active print: it is neither replaced nor deleted.

    In FINISHED, STOPPED or IDLE the last job's file is an ordinary file: Buddy
    firmware itself deletes it then (leaving the print screen first) and refuses
    only while PRINTING or PAUSED (`src/common/print_utils.cpp`, `remove_file()`).
    """
    if status.state in PRINTING_STATES or status.state in DURING_JOB_STATES:
        return status.job_path
    return None


def printed_file_unknown(status: PrinterStatus) -> bool:
    """A print runs but the printer does not (yet) name its file: then no file can be
    known safe to replace or delete. Seen on the Pi PrusaLink, whose job answer lags
    its state for a moment after a print starts."""
    return status.state in PRINTING_STATES and not status.job_path
