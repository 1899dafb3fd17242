"""The run lock: one sync at a time, and a killed run's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from link_sync.engine.lock import RunLock
from link_sync.errors import LockHeld, SafetyRefusal

HOLDER = """
import sys, time
from pathlib import Path
from link_sync.engine.lock import RunLock
with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def hold_in_subprocess(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


def test_lock_writes_holder_details(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sync.lock"
    with RunLock(path):
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid()
        assert info["host"] == socket.gethostname()
        assert info["started"][:2] == "20"
        assert path.stat().st_mode & 0o777 == 0o600
    assert path.exists()  # never deleted (see lock.py)
    assert path.read_text() == ""


def test_second_lock_in_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sync.lock"
    with RunLock(path), pytest.raises(LockHeld) as info:
        RunLock(path).acquire()
    assert isinstance(info.value, SafetyRefusal)
    assert f"pid {os.getpid()}" in str(info.value)


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    path = tmp_path / "sync.lock"
    with RunLock(path):
        pass
    with RunLock(path):
        pass
    lock = RunLock(path)
    lock.acquire()
    lock.release()
    lock.release()  # twice is fine
    with RunLock(path):
        pass


def test_lock_released_when_the_body_raises(tmp_path: Path) -> None:
    path = tmp_path / "sync.lock"
    with pytest.raises(KeyError), RunLock(path):
        raise KeyError("boom")
    with RunLock(path):
        pass


def test_held_by_another_process_names_pid_and_start(tmp_path: Path) -> None:
    path = tmp_path / "sync.lock"
    holder = hold_in_subprocess(path)
    try:
        with pytest.raises(LockHeld) as info, RunLock(path):
            pytest.fail("the lock must not be taken twice")
        message = str(info.value)
        assert f"pid {holder.pid}" in message
        assert "started 20" in message
        assert socket.gethostname() in message
        assert "another link-sync run is in progress" in message
        assert "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "sync.lock"
    holder = hold_in_subprocess(path)
    with pytest.raises(LockHeld):
        RunLock(path).acquire()
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(10) == -signal.SIGKILL
    assert str(holder.pid) in path.read_text()  # the dead run's details are still there

    with RunLock(path):
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid()


def test_unknown_holder_details(tmp_path: Path) -> None:
    """A holder that has not written its details yet is still reported clearly."""
    import fcntl

    path = tmp_path / "sync.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(LockHeld, match="its pid is not known yet"):
            RunLock(path).acquire()
    finally:
        os.close(fd)


def test_not_reentrant(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "sync.lock")
    with lock, pytest.raises(RuntimeError):
        lock.acquire()
