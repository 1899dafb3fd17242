"""The interface between the sync engine and a printer API.

A backend only talks to one printer: it lists, uploads, deletes and reports
state, translating HTTP into `link_sync.model` values and `link_sync.errors`.
It makes no decisions: what to upload, when to retry and what is safe to
delete are the engine's (`plan.py`, `execute.py`), the same for every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from link_sync.model import PRINT_EXTENSIONS, PrinterInfo, PrinterStatus, RemoteEntry

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just sent."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend's printer can do; the engine adapts to these."""

    #: Uploads the printer accepts at once (Buddy: one transfer at a time).
    max_parallel_uploads: int = 1
    #: Names compare case-insensitively (FAT on Buddy printers).
    case_insensitive: bool = False
    #: Extensions (lower case, with dot) the printer can store and list again.
    extensions: frozenset[str] = PRINT_EXTENSIONS
    #: Listing carries file sizes (Buddy's does not: a per-file GET is needed).
    listing_has_size: bool = True
    #: Listing carries a content hash ("sha1" on OctoPrint), making comparisons exact.
    content_hash: str | None = None
    #: Folders must be created before uploading into them, one level at a time.
    mkdir_before_upload: bool = False
    #: Deleting a folder also needs it to be empty (else delete its files first).
    rmdir_needs_empty: bool = True


@dataclass(frozen=True, slots=True)
class NameProblem:
    """Why a remote path cannot exist on this printer."""

    path: str
    reason: str


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


@dataclass(slots=True)
class BackendOptions:
    """Connection settings for one printer, from the config."""

    name: str
    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    storage: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: False: no certificate checks; a text: a CA bundle (same as `ca_file`).
    verify: bool | str = True
    #: Trust only this CA bundle for an https:// printer.
    ca_file: Path | None = None
    #: SHA-256 of the printer's certificate (hex); pins it, replacing CA checks.
    fingerprint: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
