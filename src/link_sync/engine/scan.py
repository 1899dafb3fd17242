"""The master folder → its print files. Reads only; never writes, moves or deletes.

What a scan cannot see matters as much as what it sees: a file missing from
`files` is one the planner may delete from printers. So everything that could
hide files (an unreadable folder, a broken symlink, say to an unmounted NAS
share) is reported in `problems` and its path in `incomplete`, and the planner
must not delete anything at or below an `incomplete` path.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from link_sync.core.model import LocalFile, is_print_file
from link_sync.errors import SourceMissing

HASH_CHUNK = 1024 * 1024

#: A real folder is listed under at most this many paths. Symlinks may show one folder
#: at several places (`a -> shared`, `b -> shared`: both listed), but folders that link
#: twice to the next level make 2**depth paths (19 files and 36 symlinks planned 524,287
#: uploads); past this bound a further path is skipped, said once per folder, and marked
#: incomplete (nothing below it is deleted from printers).
MAX_PATHS_PER_FOLDER = 8


@dataclass(slots=True)
class ScanResult:
    """The print files of a master folder, sorted by path, and what got in the way."""

    files: list[LocalFile]
    #: One plain line per thing that could not be read; the scan went on.
    problems: list[str] = field(default_factory=list)
    #: Relative paths ('/'-separated) whose content is unknown: never delete below them.
    incomplete: list[str] = field(default_factory=list)


def scan_source(root: Path) -> ScanResult:
    """Every print file below `root` (recursively, symlinks followed, dot names skipped).

    Raises SourceMissing when `root` is missing, not a folder, or unreadable.
    """
    root = Path(os.path.abspath(root))
    _check_root(root)
    # The garbage collector is left as it is: a library call never changes it (the
    # console script spaces its passes for a whole run, see link_sync._process).
    return _Scanner(root).run()


def hash_file(path: Path, algorithm: str = "sha256") -> str:
    """'<algorithm>:<hex>' of a file's content, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            digest.update(view[:count])
    return f"{algorithm}:{digest.hexdigest()}"


def no_print_files(root: Path, scan: ScanResult) -> str:
    """Why a master with no print files is refused: what could not be read, if anything
    (the real reason), else that it may not be mounted."""
    if not scan.problems:
        return f"the master folder {root} has no print files (is it mounted?)"
    more = len(scan.problems) - 1
    return f"the master folder {root} has no print files it could read: {scan.problems[0]}" + (
        f" (and {more} more)" if more else ""
    )


def _check_root(root: Path) -> None:
    try:
        info = root.stat()
    except FileNotFoundError:
        raise SourceMissing(
            f"the master folder {root} is missing (not mounted?); nothing was synced"
        ) from None
    except OSError as exc:
        raise SourceMissing(
            f"the master folder {root} cannot be read ({exc.strerror}); nothing was synced"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise SourceMissing(f"the master folder {root} is not a folder; nothing was synced")
    if not os.access(root, os.R_OK | os.X_OK):
        raise SourceMissing(
            f"the master folder {root} cannot be read (permission denied); nothing was synced"
        )


_Stack = list[tuple[Path, str, frozenset[tuple[int, int]]]]


class _Scanner:
    """An iterative depth-first walk; a folder's ancestors guard against symlink loops,
    and a count of the paths each real folder was entered by bounds symlink fan-out."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[LocalFile] = []
        self.problems: list[str] = []
        self.incomplete: list[str] = []
        #: (dev, ino) of a folder -> how many paths it was entered by
        self.entered: dict[tuple[int, int], int] = {}
        #: (dev, ino) of a folder -> the first path not entered, and how many were not
        self.too_many: dict[tuple[int, int], tuple[str, int]] = {}

    def run(self) -> ScanResult:
        info = os.stat(self.root)
        # (folder, relative prefix ending in '/', (dev, ino) of it and its ancestors)
        stack: _Stack = [(self.root, "", frozenset({(info.st_dev, info.st_ino)}))]
        while stack:
            self._scan_folder(*stack.pop(), stack)
        for first, count in self.too_many.values():
            self.problems.append(
                f"{first}: this folder is reached through symlinks by more than "
                f"{MAX_PATHS_PER_FOLDER} paths; {count} of them skipped (this one first), "
                "nothing below them deleted from printers"
            )
        self.files.sort(key=lambda item: item.path)
        self.problems.sort()
        self.incomplete.sort()
        return ScanResult(self.files, self.problems, self.incomplete)

    def _scan_folder(
        self, folder: Path, prefix: str, ancestors: frozenset[tuple[int, int]], stack: _Stack
    ) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            if not prefix:
                # The master itself (out of file descriptors, EMFILE; an I/O error): the
                # real reason, never "no print files", and nothing is synced.
                raise SourceMissing(
                    f"the master folder {self.root} cannot be read "
                    f"({exc.strerror or exc}); nothing was synced"
                ) from None
            self._unknown(prefix.rstrip("/"), f"folder cannot be read ({exc.strerror})")
            return
        child = _child_maker(folder)
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            # The common case first: a plain file, known from d_type without a system call.
            if entry.is_file(follow_symlinks=False):
                if is_print_file(name):
                    self._add_file(entry, prefix + name, child)
            else:
                self._visit_other(entry, prefix + name, child, ancestors, stack)

    def _visit_other(
        self,
        entry: os.DirEntry[str],
        relative: str,
        child: Callable[[str], Path],
        ancestors: frozenset[tuple[int, int]],
        stack: _Stack,
    ) -> None:
        """A folder, a symlink (followed) or something special."""
        try:
            info = entry.stat()  # follows a symlink; raises if it is broken
        except OSError as exc:
            self._unknown(relative, _symlink_problem(entry, exc))
            return
        if stat.S_ISDIR(info.st_mode):
            self._enter(child(entry.name), relative, info, ancestors, stack)
        elif is_print_file(entry.name):
            self._add_file(entry, relative, child)

    def _enter(
        self,
        folder: Path,
        relative: str,
        info: os.stat_result,
        ancestors: frozenset[tuple[int, int]],
        stack: _Stack,
    ) -> None:
        key = (info.st_dev, info.st_ino)
        if key in ancestors:
            self.problems.append(f"{relative}: symlink loop (points to a folder above it), skipped")
            return
        if not _encodable(relative):
            self._unknown(relative, "folder name is not valid UTF-8, skipped")
            return
        times = self.entered.get(key, 0)
        if times >= MAX_PATHS_PER_FOLDER:
            first, count = self.too_many.get(key, (relative, 0))
            self.too_many[key] = (first, count + 1)
            self.incomplete.append(relative)
            return
        self.entered[key] = times + 1
        stack.append((folder, relative + "/", ancestors | {key}))

    def _add_file(
        self, entry: os.DirEntry[str], relative: str, child: Callable[[str], Path]
    ) -> None:
        if not _encodable(relative):
            self._unknown(relative, "file name is not valid UTF-8, skipped")
            return
        try:
            info = entry.stat()
        except OSError as exc:
            self._unknown(relative, f"cannot be read ({exc.strerror})")
            return
        if not stat.S_ISREG(info.st_mode):
            return  # a FIFO or device named like G-code is not a print file
        if not _readable(entry.path, info.st_mode):
            # Still listed, so printers keep their copy; its upload will fail and say why.
            self.problems.append(f"{relative}: file cannot be read (permission denied)")
        self.files.append(LocalFile(relative, child(entry.name), info.st_size, info.st_mtime_ns))

    def _unknown(self, relative: str, why: str) -> None:
        self.problems.append(f"{relative or '.'}: {why}")
        self.incomplete.append(relative)


def _child_maker(folder: Path) -> Callable[[str], Path]:
    """folder / name, fast: pathlib's private helper (3.11-3.13) skips re-parsing."""
    make = getattr(folder, "_make_child_relpath", None)
    return cast("Callable[[str], Path]", make) if callable(make) else folder.joinpath


def _readable(path: str, mode: int) -> bool:
    # World-readable files skip the system call; 100,000 of them add up.
    return mode & _READ_ALL == _READ_ALL or os.access(path, os.R_OK)


_READ_ALL = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def _symlink_problem(entry: os.DirEntry[str], exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError) and entry.is_symlink():
        try:
            target = os.readlink(entry.path)
        except OSError:
            target = "?"
        return f"broken symlink (to {target}), skipped"
    return f"cannot be read ({exc.strerror})"


def _encodable(text: str) -> bool:
    """False for names with bytes that are not UTF-8 (kept as surrogates by os)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
