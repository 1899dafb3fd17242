"""Plain values shared by the scanner, the planner, the backends and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


#: States in which a printer is synced without --include-busy.
IDLE_STATES: frozenset[str] = frozenset({"IDLE", "READY", "FINISHED", "STOPPED"})

#: States of an active print, whatever the printer says about its job.
PRINTING_STATES: frozenset[str] = frozenset({"PRINTING", "PAUSED"})
#: States that are part of an active print only while the printer names a job: a
#: question on the screen mid-print (ATTENTION), or busy finishing or cancelling it.
DURING_JOB_STATES: frozenset[str] = frozenset({"ATTENTION", "BUSY"})


def printing_file(status: PrinterStatus) -> str | None:
    """The file of an active print: it is neither replaced nor deleted.

    In FINISHED, STOPPED or IDLE the last job's file is an ordinary file: Buddy
    firmware itself deletes it then (leaving the print screen first) and refuses
    only while PRINTING or PAUSED (`src/common/print_utils.cpp`, `remove_file()`).
    """
    if status.state in PRINTING_STATES or status.state in DURING_JOB_STATES:
        return status.job_path
    return None
