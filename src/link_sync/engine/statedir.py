"""Where link-sync keeps its journal and locks: private to the user, checked usable.

Every run (`sync`, `plan`, `status`, `watch`) opens the journal there and a run that
changes printers takes locks there, so a folder this user cannot write, a `locks`
that is a file or an unreadable journal is found here, before any printer is
contacted, and is one `UsageError` (exit 2) naming the folder and what to do.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from link_sync.errors import UsageError

STATE_DIR_ENV = "LINK_SYNC_STATE_DIR"
#: the journal's file in the state folder (SQLite adds "-wal" and "-shm" beside it)
JOURNAL_NAME = "journal.sqlite3"
#: the folder of the printer locks in the state folder (`printer_locks`)
LOCKS_FOLDER = "locks"


def state_dir(environ: Mapping[str, str]) -> Path:
    """$LINK_SYNC_STATE_DIR, else the platform's user state folder; created with mode 0700.

    Only a folder created here is made private: an existing one the user chose
    (it could be shared) keeps its mode. Raises `UsageError` if it cannot be used.
    """
    chosen = environ.get(STATE_DIR_ENV, "")
    folder = Path(chosen).expanduser() if chosen else _default()
    folder = Path(os.path.abspath(folder))
    if not os.path.lexists(folder):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened
        except OSError as exc:
            raise unusable(folder, f"cannot be created ({exc.strerror})", fix="create it") from None
    check_usable(folder)
    return folder


def journal_path(states: Path) -> Path:
    """The journal's file in the state folder `states`."""
    return states / JOURNAL_NAME


def check_usable(folder: Path) -> None:
    """Raise `UsageError` unless this user can keep the journal and the locks in `folder`."""
    if not folder.is_dir():
        what = "is not a folder" if os.path.lexists(folder) else "does not exist"
        raise unusable(folder, what, fix="remove it" if what == "is not a folder" else "create it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise unusable(folder, "is not writable by this user")
    locks = folder / LOCKS_FOLDER
    if os.path.lexists(locks):
        if not locks.is_dir():
            raise unusable(
                folder, f"holds a '{LOCKS_FOLDER}' that is not a folder", fix="remove it"
            )
        if not os.access(locks, os.W_OK | os.X_OK):
            raise unusable(folder, f"holds a '{LOCKS_FOLDER}' folder this user cannot write")
    for name in (JOURNAL_NAME, JOURNAL_NAME + "-wal", JOURNAL_NAME + "-shm"):
        _check_journal_file(folder, folder / name)


def _check_journal_file(folder: Path, path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise unusable(
            folder, f"holds {path.name}, which cannot be read ({exc.strerror})"
        ) from None
    if not stat.S_ISREG(mode):
        raise unusable(folder, f"holds {path.name}, which is not a file", fix="remove it")
    if not os.access(path, os.R_OK | os.W_OK):
        raise unusable(folder, f"holds {path.name}, which this user cannot read and write")


_GIVE_ACCESS = "give this user write access to it (chown or chmod)"


def unusable(folder: Path, what: str, fix: str = _GIVE_ACCESS) -> UsageError:
    """The one message for a state folder this run cannot use: which, why, what to do."""
    return UsageError(
        f"the state folder {folder} (journal and printer locks) {what}; "
        f"{fix}, or set ${STATE_DIR_ENV} to a folder this user can write"
    )


def _default() -> Path:
    import platformdirs  # only when $LINK_SYNC_STATE_DIR does not say (~1.5 ms to import)

    return Path(platformdirs.user_state_dir("link-sync", appauthor=False))
