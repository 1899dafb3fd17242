"""The farm by file, as a watch knows it now: for `/files`, `/api/files` and the thumbnails.

The watch puts in each master view (with its files' targets and which files have a
thumbnail to show, found in a worker thread: `locate`) and each printer's plan, and the
outcome of each upload; readers get the entries, made once per change (`version`).
Only files inside their master folder (their real path too) have a thumbnail URL or a
detail: a symlink leading out is synced like any master file but never read by the
web server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from link_sync.core.file_states import (
    FileEntry,
    FileState,
    MasterFiles,
    Placement,
    PrinterFiles,
    build_entries,
    entry_json,
    printer_files,
)
from link_sync.core.model import LocalFile
from link_sync.core.planner import Plan
from link_sync.core.targets import Target
from link_sync.engine.events import Observer
from link_sync.thumbnail_image import ThumbnailCache


@dataclass(frozen=True, slots=True)
class Located:
    """What the web server may read of a master's files: by absolute path, whether the
    file is inside the master (real path too) and whether it has a thumbnail to show."""

    inside: frozenset[str]
    thumbnailed: frozenset[str]


def locate(root: Path, files: Sequence[LocalFile], thumbnails: ThumbnailCache) -> Located:
    """Which files the web may serve and which have a thumbnail (reads file heads; a
    worker thread's job). Unchanged files cost a dict lookup (`ThumbnailCache.ref`)."""
    real_root = os.path.realpath(root)
    inside: set[str] = set()
    thumbnailed: set[str] = set()
    for file in files:
        key = str(file.abspath)
        if not _within(os.path.realpath(file.abspath), real_root):
            continue
        inside.add(key)
        if thumbnails.ref(file.abspath, file.size, file.mtime_ns) is not None:
            thumbnailed.add(key)
    thumbnails.forget_except(inside)
    return Located(frozenset(inside), frozenset(thumbnailed))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class FarmFiles:
    """Master views, targets, thumbnails and each printer's files; `on_change` is called
    after every change (the farm's readers wake)."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.thumbnails = ThumbnailCache()
        self.version = 0
        self._on_change = on_change
        self._masters: dict[Path, MasterFiles] = {}
        self._targets: dict[str, Target] = {}
        self._located: dict[Path, Located] = {}
        self._printers: dict[str, PrinterFiles] = {}
        self._built: tuple[int, list[FileEntry], dict[str, FileEntry]] | None = None
        self._document: tuple[int, dict[str, Any]] | None = None

    # -- changes (the watch) ---------------------------------------------------------

    def set_master(
        self,
        root: Path,
        files: Sequence[LocalFile],
        printers: Sequence[str],
        targets: Mapping[str, Target],
        located: Located,
    ) -> None:
        old = self._masters.get(root)
        if (
            old is not None
            and old.files == files
            and tuple(old.printers) == tuple(printers)
            and self._located.get(root) == located
            and all(self._targets.get(k) == t for k, t in targets.items())
        ):
            return  # a rescan that found nothing new
        if old is not None:
            for file in old.files:
                self._targets.pop(str(file.abspath), None)
        self._masters[root] = MasterFiles(root, files, tuple(printers))
        self._targets.update(targets)
        self._located[root] = located
        self._changed()

    def set_printers(self, root: Path, printers: Sequence[str]) -> None:
        old = self._masters.get(root)
        if old is not None and tuple(old.printers) != tuple(printers):
            self._masters[root] = MasterFiles(root, old.files, tuple(printers))
            self._changed()

    def drop_master(self, root: Path) -> None:
        if self._masters.pop(root, None) is not None:
            self._located.pop(root, None)
            self._changed()

    def planned(self, name: str, files: Sequence[LocalFile], plan: Plan) -> None:
        self._printers[name] = printer_files(files, plan)
        self._changed()

    def done(self, name: str, path: str, ok: bool, error: str | None) -> None:
        """An upload or replace of `path` to printer `name` ended."""
        known = self._printers.get(name)
        if known is None:
            return
        placement = None if ok else Placement(FileState.PENDING, f"failed: {error}")
        self._printers[name] = known.after(path, placement)
        self._changed()

    def remove_printer(self, name: str) -> None:
        if self._printers.pop(name, None) is not None:
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._on_change()

    # -- reading (the web app) -------------------------------------------------------

    @property
    def printers(self) -> Mapping[str, PrinterFiles]:
        return self._printers

    def entries(self) -> tuple[list[FileEntry], dict[str, FileEntry]]:
        """Every master file (sorted by key) and the same by key; made once per version."""
        if self._built is None or self._built[0] != self.version:
            masters = list(self._masters.values())
            printers: dict[str, PrinterFiles | None] = {
                name: self._printers.get(name) for m in masters for name in m.printers
            }
            entries = build_entries(masters, printers, self._targets)
            self._built = (self.version, entries, {e.key: e for e in entries})
        return self._built[1], self._built[2]

    def find(self, key: str) -> FileEntry | None:
        """The entry of a file the web may read (inside its master), else None."""
        entry = self.entries()[1].get(key)
        if entry is None:
            return None
        located = self._located.get(entry.master.root)
        if located is None or str(entry.file.abspath) not in located.inside:
            return None
        return entry

    def thumbnail_url(self, entry: FileEntry) -> str | None:
        located = self._located.get(entry.master.root)
        if located is None or str(entry.file.abspath) not in located.thumbnailed:
            return None
        return f"/thumbnails/{quote(entry.key)}?v={entry.file.size}-{entry.file.mtime_ns}"

    def document(self) -> dict[str, Any]:
        """The `/api/files` document's data (made once per version)."""
        if self._document is None or self._document[0] != self.version:
            entries, _ = self.entries()
            files = [entry_json(e, self.thumbnail_url(e)) for e in entries]
            names = sorted({n for m in self._masters.values() for n in m.printers})
            self._document = (self.version, {"files": files, "printers": names})
        return self._document[1]


def detail_json(
    entry: FileEntry, thumbnail: str | None, placements: Mapping[str, Placement]
) -> dict[str, Any]:
    """`/api/files/{path}`: the file's entry plus each printer's state and reason."""
    return {
        **entry_json(entry, thumbnail),
        "printers": {name: p.to_json() for name, p in sorted(placements.items())},
    }


class PlanRecorder(Observer):
    """Records each plan of a run into the files view (a busy printer's dry run)."""

    def __init__(self, files: FarmFiles, master: Sequence[LocalFile]) -> None:
        self.files = files
        self.master = master

    def plan_ready(self, name: str, plan: Plan) -> None:
        self.files.planned(name, self.master, plan)
