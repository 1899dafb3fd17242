"""Running watches, told to runs under another state folder.

Printer locks live in one state folder (`printer_locks`): a `sync` run with
another `$LINK_SYNC_STATE_DIR` does not see a watch's locks and would work on its
printers beside it. So a watch registers itself in the user's runtime folder
(`$XDG_RUNTIME_DIR/link-sync`, else `/tmp/link-sync-<uid>`): one small file with
its pid, its state folder and the hashed storage keys of the printers it holds,
removed when it stops. `sync`, `plan` and `status` read those files and warn about
a printer that a live watch under another state folder holds. A file whose pid is
gone (a killed watch) is ignored. Only advisory: a folder that cannot be used (not
this user's, not private) is simply not read or written, and nothing here fails a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from link_sync.config import PrinterConfig
from link_sync.engine.printer_locks import lock_name

PREFIX = "watch-"


def runtime_dir(environ: Mapping[str, str], create: bool = False) -> Path | None:
    """This user's private runtime folder for link-sync, or None if there is none usable."""
    base = environ.get("XDG_RUNTIME_DIR", "")
    # Not $TMPDIR: a run and a watch with different ones must still find each other.
    folder = Path(base) / "link-sync" if base else Path(f"/tmp/link-sync-{os.getuid()}")
    try:
        if create:
            folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    # /tmp is shared: only a real folder of this user's, closed to others, is trusted.
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    return folder if private and not info.st_mode & 0o077 else None


class WatchRegistration:
    """`with WatchRegistration(environ, states) as entry:` the running watch's file;
    `entry.update(printers)` after each change of the printers it holds."""

    def __init__(self, environ: Mapping[str, str], states: Path) -> None:
        self.states = states
        folder = runtime_dir(environ, create=True)
        self.path = None if folder is None else folder / f"{PREFIX}{os.getpid()}.json"

    def __enter__(self) -> WatchRegistration:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def update(self, printers: Iterable[PrinterConfig]) -> None:
        if self.path is None:
            return
        document = {
            "pid": os.getpid(),
            "state_dir": str(self.states),
            "storages": sorted({lock_name(printer) for printer in printers}),
        }
        temporary = self.path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            temporary.write_text(json.dumps(document))
            temporary.replace(self.path)  # a reader sees the old file or the new, whole


def other_watches(
    environ: Mapping[str, str], states: Path, printers: Iterable[PrinterConfig]
) -> list[str]:
    """A warning for each printer a live watch under another state folder holds."""
    folder = runtime_dir(environ)
    if folder is None:
        return []
    by_storage = {lock_name(printer): printer.name for printer in printers}
    warnings = []
    for path in sorted(folder.glob(f"{PREFIX}*.json")):
        entry = _read(path)
        if entry is None or _same_folder(entry[1], states) or not _alive(entry[0]):
            continue
        pid, other, storages = entry
        for name in (by_storage[key] for key in storages if key in by_storage):
            warnings.append(
                f"printer '{name}': a link-sync watch (pid {pid}) works on it under another "
                f"state folder, {other}, whose locks this run does not see; give every run "
                "the same $LINK_SYNC_STATE_DIR"
            )
    return warnings


def _read(path: Path) -> tuple[int, Path, list[str]] | None:
    try:
        document = json.loads(path.read_text())
        pid, states, storages = document["pid"], document["state_dir"], document["storages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(pid, int) or not isinstance(states, str) or not isinstance(storages, list):
        return None
    return pid, Path(states), [key for key in storages if isinstance(key, str)]


def _same_folder(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return one == other


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists (another user's pid, reused): counted, only a warning
    return True
