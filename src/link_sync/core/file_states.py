"""The farm by file: where each master file is, and why not elsewhere. Pure.

A printer's files come from its last plan (`planner.make_plan`, with routing's
`not_wanted` already in it), so the states say what a sync would do, by the same
rules: `held` (nothing to do), `pending` (missing there: an upload), `stale` (an older
version there: a replace, or kept while it is printed), `not_wanted` (routing keeps it
off: sliced for another model or nozzle), `refused` (the printer cannot hold it: its
name, type or a folder in the way), `unknown` (the printer has not been read, or the
file changed since it was).

The cost stays flat for 500 printers x 1,000 files: a printer keeps only its files that
are not held, and the counts are made per group of printers planned from the same
master files, so `/api/files` touches each file once per group, not once per printer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from link_sync.core.model import LocalFile, Op
from link_sync.core.planner import UNSUPPORTED_TYPE, Plan
from link_sync.core.send_as import binary_name
from link_sync.core.targets import NO_TARGET, Target


class FileState(StrEnum):
    HELD = "held"
    PENDING = "pending"
    STALE = "stale"
    NOT_WANTED = "not_wanted"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Placement:
    """One file on one printer: its state and why (None where nothing needs saying)."""

    state: FileState
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"state": str(self.state), "reason": self.reason}


HELD = Placement(FileState.HELD)
CHANGED = Placement(FileState.UNKNOWN, "changed in the master since the printer was read")


@dataclass(frozen=True, slots=True)
class PrinterFiles:
    """What one printer holds of the master files its last plan was made from.

    `files`: those master files (the same sequence object for every printer planned from
    one master view); `other`: every one of them that is not held, by path.
    """

    files: Sequence[LocalFile]
    other: Mapping[str, Placement]

    def placement(self, file: LocalFile, planned: LocalFile | None) -> Placement:
        """`file` (as the master has it now) on this printer; `planned`: the same path in
        `files`, None if it was not there."""
        if planned != file:
            return CHANGED
        return self.other.get(file.path, HELD)

    def after(self, path: str, placement: Placement | None) -> PrinterFiles:
        """This printer once `path` changed there (None: now held)."""
        other = dict(self.other)
        if placement is None:
            other.pop(path, None)
        else:
            other[path] = placement
        return PrinterFiles(self.files, other)


def printer_files(files: Sequence[LocalFile], plan: Plan) -> PrinterFiles:
    """Each file of `files` on the printer `plan` was made for (a final plan)."""
    other: dict[str, Placement] = {}
    for action in plan.transfers:
        # a file sent as binary G-code (`send_as: bgcode`) is its master file's state
        local = action.local
        path = local.converted_from or action.path if local is not None else action.path
        if action.op == Op.UPLOAD:
            other[path] = Placement(FileState.PENDING, "missing on the printer")
        else:
            other[path] = Placement(FileState.STALE, f"older there ({action.reason})")
    master_path = _master_paths(files, plan)
    for problem in plan.kept:  # being printed: stale (a master file) or excess (not one)
        other.setdefault(master_path(problem.path), Placement(FileState.STALE, problem.reason))
    for problem in plan.refused:
        other[master_path(problem.path)] = Placement(FileState.REFUSED, problem.reason)
    for problem in plan.skipped:
        state = FileState.REFUSED if problem.reason == UNSUPPORTED_TYPE else FileState.NOT_WANTED
        other[problem.path] = Placement(state, problem.reason)
    # `kept` also names excess files being printed: only master files count here
    paths = {f.path for f in files} if plan.kept else None
    if paths is not None:
        other = {p: v for p, v in other.items() if p in paths}
    return PrinterFiles(files, other)


def _master_paths(files: Sequence[LocalFile], plan: Plan) -> Callable[[str], str]:
    """The master path of a plan's path: a `.bgcode` sent for a plain master file is
    named by that file (built only when the plan names one that is not a master file)."""
    names = [p.path for p in (*plan.kept, *plan.refused)]
    if not names or not any(n.lower().endswith(".bgcode") for n in names):
        return lambda path: path
    paths = {f.path for f in files}
    back = {b: f.path for f in files if (b := binary_name(f.path)) is not None}
    return lambda path: path if path in paths else back.get(path, path)


@dataclass(frozen=True, slots=True)
class MasterFiles:
    """One master folder as seen now: its files, and the printers that sync from it."""

    root: Path
    files: Sequence[LocalFile]
    printers: Sequence[str]


@dataclass(slots=True)
class FileEntry:
    """One master file of the files view."""

    key: str  # the path the API names it by
    file: LocalFile
    master: MasterFiles
    target: Target = NO_TARGET
    counts: dict[str, int] = field(default_factory=dict)


ThumbnailURL = Callable[[FileEntry], str | None]


def file_keys(masters: Sequence[MasterFiles]) -> list[tuple[str, LocalFile, MasterFiles]]:
    """Every master file with the path the API names it by: relative to the master, or,
    with several master folders, to the folder that holds them all. Sorted, one per key."""
    roots = [str(m.root) for m in masters]
    base = os.path.commonpath(roots) if len(set(roots)) > 1 else None
    seen: dict[str, tuple[str, LocalFile, MasterFiles]] = {}
    for master in masters:
        folder = "." if base is None else os.path.relpath(master.root, base)
        prefix = "" if folder == "." else folder.replace(os.sep, "/") + "/"
        for file in master.files:
            key = prefix + file.path
            seen.setdefault(key, (key, file, master))
    return [seen[k] for k in sorted(seen)]


def build_entries(
    masters: Sequence[MasterFiles],
    printers: Mapping[str, PrinterFiles | None],
    targets: Mapping[str, Target],
) -> list[FileEntry]:
    """Every master file with its target (`targets` by absolute path) and the count of
    its printers in each state."""
    entries = [
        FileEntry(key, file, master, targets.get(str(file.abspath), NO_TARGET), _zero())
        for key, file, master in file_keys(masters)
    ]
    by_master: dict[int, list[FileEntry]] = {}
    for entry in entries:
        by_master.setdefault(id(entry.master), []).append(entry)
    for master in masters:
        group = by_master.get(id(master), [])
        if group:
            _count(group, [printers.get(name) for name in master.printers])
    return entries


def _zero() -> dict[str, int]:
    return {str(state): 0 for state in FileState}


def _count(entries: Sequence[FileEntry], printers: Sequence[PrinterFiles | None]) -> None:
    """Add each printer's state of each entry (all from one master) to the counts."""
    by_basis: dict[int, tuple[Sequence[LocalFile], list[PrinterFiles]]] = {}
    unread = 0
    for known in printers:
        if known is None:
            unread += 1
        else:
            by_basis.setdefault(id(known.files), (known.files, []))[1].append(known)
    unknown, held = str(FileState.UNKNOWN), str(FileState.HELD)
    for entry in entries:
        entry.counts[unknown] += unread
    for files, group in by_basis.values():
        planned = {f.path: f for f in files}
        same: dict[str, FileEntry] = {}
        for entry in entries:
            if planned.get(entry.file.path) == entry.file:
                entry.counts[held] += len(group)
                same[entry.file.path] = entry
            else:
                entry.counts[unknown] += len(group)
        for known in group:
            for path, placement in known.other.items():
                hit = same.get(path)
                if hit is not None:
                    hit.counts[held] -= 1
                    hit.counts[str(placement.state)] += 1


def placements(
    entry: FileEntry,
    printers: Mapping[str, PrinterFiles | None],
    unread: Mapping[str, str],
) -> dict[str, Placement]:
    """The file on each printer of its master; `unread` says why a printer without
    files was not read (default: not yet)."""
    out: dict[str, Placement] = {}
    found: dict[int, LocalFile | None] = {}  # the file in each distinct basis, looked up once
    path = entry.file.path
    for name in entry.master.printers:
        known = printers.get(name)
        if known is None:
            out[name] = Placement(FileState.UNKNOWN, unread.get(name, "not read yet"))
            continue
        basis = id(known.files)
        if basis not in found:
            found[basis] = next((f for f in known.files if f.path == path), None)
        out[name] = known.placement(entry.file, found[basis])
    return out


def entry_json(entry: FileEntry, thumbnail: str | None) -> dict[str, Any]:
    """One file of `/api/files` (and of `status --files --json`)."""
    return {
        "path": entry.key,
        "bytes": entry.file.size,
        "model": entry.target.model,
        "nozzle": entry.target.nozzle,
        "thumbnail": thumbnail,
        "counts": dict(entry.counts),
    }


def files_json(entries: Iterable[FileEntry], thumbnail: ThumbnailURL) -> list[dict[str, Any]]:
    return [entry_json(entry, thumbnail(entry)) for entry in entries]
