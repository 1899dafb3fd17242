"""`link-sync pull`: copy print files that exist only on printers into the master.

The reverse of a sync, and careful in the other direction: it never overwrites
a local file, never writes outside its target folder whatever names a printer
returns, downloads into a temporary file that is renamed only when complete,
fetches a file found on several printers once when the copies agree, and keeps
both (the extra one with a suffix naming the printer) when they differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from link_sync import errors
from link_sync.backends.base import Backend
from link_sync.config import Config, PrinterConfig, select_printers
from link_sync.core.model import Op, PrinterState, RemoteEntry, SyncStatus, is_print_file
from link_sync.core.planner import path_key
from link_sync.core.routing import shown_model
from link_sync.core.send_as import BGCODE, binary_name
from link_sync.engine.events import Observer
from link_sync.engine.paths import entries_below, strip_storage
from link_sync.engine.scan import scan_source
from link_sync.engine.session import Session
from link_sync.result import ActionResult, PrinterResult, RunResult

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class PullRequest:
    config: Config
    #: only these printers (`-p`), all but these (`-x`)
    printers: Sequence[str] = ()
    exclude: Sequence[str] = ()
    into: Path | None = None
    dry_run: bool = False


@dataclass(slots=True)
class Candidate:
    """One printer's copy of a file that its master folder lacks."""

    printer: PrinterConfig
    backend: Backend
    relative: str  # path relative to the managed destination
    entry: RemoteEntry  # as listed: storage-relative, for requests to the printer
    result: PrinterResult


def unsafe_name_reason(path: str) -> str | None:
    """Why a printer-supplied relative path must not be written locally, or None."""
    if not path or "\x00" in path:
        return "empty name or NUL character"
    if "\\" in path:
        return "backslash in the name"
    if path.startswith("/") or _DRIVE.match(path):
        return "absolute path"
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in path.split("/")) or not parts:
        return "'..' or '.' in the path"
    if any(part.startswith(".") for part in parts):
        return "hidden (dot) name"
    return None


def conflict_name(relative: str, printer: str) -> str:
    """'parts/clip.gcode' from mk4-02 -> 'parts/clip (from mk4-02).gcode'."""
    path = PurePosixPath(relative)
    safe_printer = re.sub(r"[^\w.-]+", "_", printer)
    return str(path.with_name(f"{path.stem} (from {safe_printer}){path.suffix}"))


async def pull_async(request: PullRequest, observer: Observer | None = None) -> RunResult:
    printers = select_printers(request.config, request.printers, request.exclude)
    masters = {p.name: _master(p, needed=request.into is None) for p in printers}
    targets = {p.name: _target(masters[p.name], request.into) for p in printers}
    observer = observer or Observer()
    results = {p.name: PrinterResult(name=p.name, host=p.base_url) for p in printers}
    backends: dict[str, Backend] = {}  # filled as each printer is reached
    # The engine's driver opens (and closes) the printers' backends, as for a sync.
    async with Session(None) as session:
        found = await asyncio.gather(
            *(
                _remote_only(p, session, backends, results[p.name], masters[p.name])
                for p in printers
            )
        )
        groups: dict[tuple[Path, str], list[Candidate]] = {}
        for printer, entries in zip(printers, found, strict=True):
            for relative, entry in entries:
                key = (targets[printer.name], relative)
                backend = backends[printer.name]
                candidate = Candidate(printer, backend, relative, entry, results[printer.name])
                groups.setdefault(key, []).append(candidate)
        for (target, relative), candidates in sorted(groups.items()):
            await _pull_one(target, relative, candidates, request.dry_run, observer)
    for result in results.values():
        if result.error is None:  # reached: the outcome is that of its pulls
            done = SyncStatus.PLANNED if request.dry_run else SyncStatus.SYNCED
            result.status = SyncStatus.FAILED if result.failed else done
        observer.printer_done(result)
    return RunResult(printers=list(results.values()), dry_run=request.dry_run)


def _master(printer: PrinterConfig, *, needed: bool) -> Path | None:
    """The printer's master folder, which says what is only on the printer (None: the
    config names none, so every print file of the printer is; only with --into)."""
    if printer.source is None:
        if not needed:
            return None
        raise errors.UsageError(
            f"printer '{printer.name}': no master folder to pull into: set 'source' or pass --into"
        )
    if not printer.source.is_dir():
        # Writing into an unmounted share's mount point would hide the files, and
        # with --into every file of the printer would look like its own.
        raise errors.SafetyRefusal(f"the master folder {printer.source} is missing (not mounted?)")
    return printer.source


def _target(master: Path | None, into: Path | None) -> Path:
    """Where the files go: --into DIR, else the master folder."""
    if into is not None:
        return into.expanduser().resolve()
    assert master is not None  # `_master` refused a printer without one
    return master


async def _remote_only(
    printer: PrinterConfig,
    session: Session,
    backends: dict[str, Backend],
    result: PrinterResult,
    master: Path | None,
) -> list[tuple[str, RemoteEntry]]:
    """Print files in the printer's managed destination that its master folder lacks
    (whether they go there or --into a folder): (destination-relative path, the entry
    as listed). Its backend goes into `backends`."""
    try:
        backend = backends[printer.name] = await session.backend(printer)
        info = await backend.probe()
        result.kind, result.firmware = info.kind, info.firmware
        result.model = shown_model(
            names_model=backend.capabilities.names_model,
            reported=info.model,
            configured=getattr(printer, "model", None),
        )
        result.state = PrinterState((await backend.status()).state)
        destination = strip_storage(printer.destination or "", info.storage)
        ci = backend.capabilities.case_insensitive
        listing = await backend.list_tree(destination)
    except errors.PrinterError as exc:
        unreachable = isinstance(exc, errors.Unreachable)
        result.status = SyncStatus.UNREACHABLE if unreachable else SyncStatus.FAILED
        result.error = str(exc)
        return []
    local: set[str] = set()
    if master is not None:
        paths = [f.path for f in scan_source(master).files]
        if printer.send_as == BGCODE and backend.capabilities.prints_bgcode:
            # `X.bgcode` sent for the master's `X.gcode` is that file, not the printer's own
            paths += [b for p in paths if (b := binary_name(p)) is not None]
        local = {path_key(path, ci) for path in paths}
    return [
        (relative, entry)
        for relative, entry in entries_below(listing, destination, ci)
        if not entry.is_dir
        and entry.print_file
        and is_print_file(entry.name)
        and path_key(relative, ci) not in local
    ]


async def _pull_one(
    target: Path,
    relative: str,
    candidates: Sequence[Candidate],
    dry_run: bool,
    observer: Observer,
) -> None:
    reason = unsafe_name_reason(relative)
    if reason is not None:
        for c in candidates:
            _report(c, observer, relative, ok=False, error=f"refused: {reason}")
        return
    # Copies with the same size (and, where the printer tells, the same hash) are
    # taken as the same file: fetched once.
    variants: list[tuple[tuple[int | None, str | None], list[Candidate]]] = []
    for candidate in candidates:
        identity = await _identity(candidate)
        for known, members in variants:
            if _same(known, identity):
                members.append(candidate)
                break
        else:
            variants.append((identity, [candidate]))
    for index, (_, members) in enumerate(variants):
        first = members[0]
        name = relative if index == 0 else conflict_name(relative, first.printer.name)
        size = first.entry.size or 0
        error = None if index == 0 else f"differs from {variants[0][1][0].printer.name}'s copy"
        if dry_run:  # listed as "would pull" when the printer is done, never as done
            _report(first, None, name, ok=True, size=size, note=error)
            continue
        await _download(first, target, name, observer, conflict=error)


async def _identity(candidate: Candidate) -> tuple[int | None, str | None]:
    entry = candidate.entry
    if entry.size is None:  # Buddy listings carry no sizes
        with contextlib.suppress(errors.PrinterError):
            stat = await candidate.backend.stat(entry.path)
            if stat is not None:
                candidate.entry = replace(entry, size=stat.size)
                return stat.size, entry.content_hash
    return entry.size, entry.content_hash


def _same(a: tuple[int | None, str | None], b: tuple[int | None, str | None]) -> bool:
    if a[1] is not None and b[1] is not None:
        return a[1] == b[1]
    return a[0] == b[0]


async def _download(
    candidate: Candidate, target: Path, name: str, observer: Observer, *, conflict: str | None
) -> None:
    final = target / name
    try:
        if not _inside(final, target):
            _report(candidate, observer, name, ok=False, error="refused: path leaves the target")
            return
        if final.exists() or final.is_symlink():
            _report(candidate, observer, name, ok=True, note="kept the local file (exists)")
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{final.name}."
        fd, part_name = tempfile.mkstemp(dir=final.parent, prefix=prefix, suffix=".part")
    except OSError as exc:
        # A name this computer cannot hold (ENAMETOOLONG), a folder it cannot write:
        # this file fails, the pull goes on. Not str(exc): it repeats the whole name.
        reason = exc.strerror or type(exc).__name__
        _report(candidate, observer, name, ok=False, error=f"cannot be written here: {reason}")
        return
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            # The printer's listed size bounds what is read (`limits.download_cap`):
            # an endless download cannot fill the disk.
            written = await candidate.backend.download(candidate.entry, handle)
            handle.flush()
            os.fsync(handle.fileno())
        expected = candidate.entry.size
        if expected is not None and written != expected:
            raise errors.ProtocolError(f"got {written} bytes, the printer listed {expected}")
        os.link(part, final)  # fails if the name appeared meanwhile: never overwrite
    except FileExistsError:
        _report(candidate, observer, name, ok=True, note="kept the local file (exists)")
    except (errors.PrinterError, OSError) as exc:
        _report(candidate, observer, name, ok=False, error=str(exc))
    else:
        _report(candidate, observer, name, ok=True, size=written, note=conflict)
    finally:
        part.unlink(missing_ok=True)


def _inside(path: Path, folder: Path) -> bool:
    return path.parent.resolve().is_relative_to(folder.resolve())


def _report(
    candidate: Candidate,
    observer: Observer | None,
    path: str,
    *,
    ok: bool,
    size: int = 0,
    error: str | None = None,
    note: str | None = None,
) -> None:
    action = ActionResult(Op.PULL, path, size if ok else 0, ok=ok, error=error, reason=note or "")
    candidate.result.actions.append(action)
    if note:
        candidate.result.notes.append(f"{path}: {note}")
    if observer is not None:
        observer.action_done(candidate.printer.name, action)
