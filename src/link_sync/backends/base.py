"""The interface between the sync engine and a printer API.

A backend only talks to one printer: it lists, uploads, deletes and reports
state, translating HTTP into `link_sync.core.model` values and `link_sync.errors`.
It makes no decisions: what to upload, when to retry and what is safe to
delete are the engine's (`core/planner.py`, `engine/`), the same for every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from link_sync.core.model import PRINT_EXTENSIONS, PrinterInfo, PrinterStatus, RemoteEntry

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just sent."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend's printer can do; the engine adapts to these. Fixed per backend
    class, so they are known before any call."""

    #: Names compare case-insensitively (FAT on Buddy printers).
    case_insensitive: bool = False
    #: Extensions (lower case, with dot) the printer can store and list again.
    extensions: frozenset[str] = PRINT_EXTENSIONS
    #: Listing carries a content hash ("sha1" on OctoPrint), making comparisons exact.
    content_hash: str | None = None
    #: Folders must be created before uploading into them, one level at a time.
    mkdir_before_upload: bool = False
    #: The printer's screen holds a file (Buddy firmware): an upload opens its print
    #: preview, and a finished or stopped print's screen keeps that print's file. A
    #: question on the screen turns the printer ATTENTION, and the file shown answers
    #: 409 "File is busy" until someone closes the screen (Prusa-Firmware-Buddy #3235).
    opens_preview: bool = False
    #: The printer names its own model (the Pi PrusaLink), so routing by model needs no
    #: `model:` in the config; Buddy firmware does not say it, OctoPrint and Moonraker
    #: do not know it.
    names_model: bool = False
    #: The printer prints binary G-code (`.bgcode`), so `send_as: bgcode` applies: Buddy
    #: firmware does; the Pi PrusaLink, OctoPrint and Moonraker hosts do not.
    prints_bgcode: bool = False
    #: The printer prints from a host computer's disk (OctoPrint, Moonraker, the Pi's
    #: PrusaLink): files can be uploaded, replaced and deleted during a print; only the
    #: printed file is in use. Not Buddy: its transfers during a print are slow and have
    #: paused prints ("USB drive or file error", Prusa-Firmware-Buddy #3403, #3880).
    prints_from_host_disk: bool = False
    #: ... and it takes files during a print unless told `while_printing: wait`: its own
    #: web pages upload during prints (OctoPrint, Moonraker; not a Pi Zero's PrusaLink).
    uploads_while_printing: bool = False
    #: A finished or stopped print's screen holds the print's file (an overwrite of it
    #: answers 409), and a DELETE of that file leaves the screen first (Buddy:
    #: src/common/print_utils.cpp `remove_file`), so a stale file it holds can be
    #: replaced by a delete, then an upload.
    delete_leaves_print_screen: bool = False


@dataclass(frozen=True, slots=True)
class Upload:
    """One upload, as `Backend.upload` was asked for it (`HttpBackend.send` gets it)."""

    path: str
    source: Path
    size: int
    overwrite: bool
    progress: ProgressCallback | None = None


class Backend(Protocol):
    """One printer. Paths are storage-relative, '/'-separated display paths."""

    name: str
    capabilities: Capabilities

    async def probe(self) -> PrinterInfo:
        """Connect, authenticate, detect the printer kind; raise PrinterError if not usable."""
        ...

    async def status(self) -> PrinterStatus: ...

    async def list_tree(self, folder: str) -> list[RemoteEntry]:
        """Every file and folder below `folder` ("" = storage root), recursively.

        Returns an empty list when `folder` does not exist.
        """
        ...

    async def stat(self, path: str) -> RemoteEntry | None:
        """One file with its size, or None if it is not there."""
        ...

    async def upload(
        self,
        path: str,
        source: Path,
        size: int,
        *,
        overwrite: bool,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Stream `source` to `path` (parents created as needed); never read it whole."""
        ...

    async def download(
        self, entry: RemoteEntry, target: BinaryIO, progress: ProgressCallback | None = None
    ) -> int:
        """Stream a file's content into `target`; return the number of bytes written."""
        ...

    async def delete(self, path: str) -> None: ...

    async def mkdir(self, path: str) -> None: ...

    async def rmdir(self, path: str) -> None:
        """Remove an empty folder."""
        ...

    def check_name(self, path: str) -> str | None:
        """Why `path` cannot be stored on this printer, or None if it can."""
        ...

    async def aclose(self) -> None: ...
