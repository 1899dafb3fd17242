"""An exclusive `flock` on a file in the state folder, naming its holder.

`printer_locks` gives each printer storage one such lock.

The kernel drops a flock when its process dies, however it dies, so a lock
file left by a killed run is not "held" and is simply taken over; no pid
guessing. The file itself is never deleted: removing a lock file while another
process waits on it would let two runs lock two different files.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from link_sync.errors import LockHeld, UsageError


class RunLock:
    """`with RunLock(path):` — hold the run lock, or raise LockHeld at once."""

    def __init__(self, path: Path, command: str | None = None, *, shared: bool = False) -> None:
        self.path = path
        #: which command holds it ("watch"), named to a run that finds it taken
        self.command = command
        #: a shared lock: many holders at once, none while the lock is held exclusively
        #: (it writes no holder: the file names its exclusive holder only)
        self.shared = shared
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock without waiting; LockHeld names the run that has it."""
        if self._fd is not None:
            raise RuntimeError("RunLock is not re-entrant")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # the state folder's checks passed, then it changed
            raise UsageError(
                f"cannot open the lock file {self.path} ({exc.strerror}); give this user "
                f"write access to {self.path.parent}, or set $LINK_SYNC_STATE_DIR to a "
                "folder this user can write"
            ) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"another link-sync run is in progress ({holder}; lock file {self.path}); "
                "wait for it to finish",
                holder=None if holder == UNKNOWN_HOLDER else holder,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if self.shared:
            os.ftruncate(fd, 0)  # no exclusive holder now: what the file says is stale
        else:
            _write_holder(fd, self.command)

    def release(self) -> None:
        """Let go of the lock (also done by the kernel if this process dies)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no stale holder details for the next reader
        finally:
            os.close(fd)  # closing the last descriptor releases the flock


def _write_holder(fd: int, command: str | None = None) -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime())
    info: dict[str, object] = {"pid": os.getpid(), "started": started, "host": socket.gethostname()}
    if command:
        info["command"] = command
    data = (json.dumps(info) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


UNKNOWN_HOLDER = "its pid is not known yet"


def _read_holder(fd: int) -> str:
    """'link-sync run, pid 123 on farm-pc (started 2025-01-01 02:00:00 +0100)', as known.

    A long-running holder says what it is: 'link-sync watch, pid 123 on farm-pc (...)'.
    """
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return UNKNOWN_HOLDER
    host = f" on {info['host']}" if info.get("host") else ""
    started = f" (started {info['started']})" if info.get("started") else ""
    command = info.get("command")
    what = f"link-sync {command}" if command and command != "sync" else "link-sync run"
    return f"{what}, pid {info['pid']}{host}{started}"
