"""Where link-sync keeps its journal and lock: private to the user."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from link_sync.errors import UsageError

STATE_DIR_ENV = "LINK_SYNC_STATE_DIR"


def state_dir(environ: Mapping[str, str]) -> Path:
    """$LINK_SYNC_STATE_DIR, else the platform's user state folder; created with mode 0700.

    Only a folder created here is made private: an existing one the user chose
    (it could be shared) keeps its mode.
    """
    chosen = environ.get(STATE_DIR_ENV, "")
    folder = Path(chosen).expanduser() if chosen else _default()
    folder = Path(os.path.abspath(folder))
    if folder.is_dir():
        return folder
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened
    except OSError as exc:
        raise UsageError(
            f"cannot create the state folder {folder} ({exc.strerror}); "
            f"set ${STATE_DIR_ENV} to a writable folder"
        ) from None
    return folder


def _default() -> Path:
    import platformdirs  # only when $LINK_SYNC_STATE_DIR does not say (~1.5 ms to import)

    return Path(platformdirs.user_state_dir("link-sync", appauthor=False))
