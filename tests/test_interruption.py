"""Interruption and state, through the real command line.

`link-sync sync` runs as a subprocess against `link-sync emulate` (a subprocess too,
uploads slowed down with --rate, files kept on disk with --storage-dir so the test
sees the printers' storage and their in-flight temp files). SIGINT or SIGTERM in the
middle of an upload stops the run within seconds, cleanly; a SIGKILLed run leaves a
lock that the next run takes over; a corrupt or old-schema journal is rebuilt.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from link_sync.emulator import PrinterSpec
from link_sync.engine.journal import Journal

BIG = 1_500_000  # bytes: ~7 s per file at --rate 200k
PRINTERS = 2


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "link_sync", *args]


class Emulator:
    """`link-sync emulate` in a subprocess, its storage on disk."""

    def __init__(self, tmp_path: Path, rate: str) -> None:
        self.storage = tmp_path / "printers"
        self.config = tmp_path / "farm.yml"
        self.proc = subprocess.Popen(
            cli(
                "emulate",
                "--printers",
                str(PRINTERS),
                "--port",
                "0",
                "--rate",
                rate,
                "--storage-dir",
                str(self.storage),
                "--config-out",
                str(self.config),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.names = [self.proc.stdout.readline().split()[0] for _ in range(PRINTERS)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def files(self, name: str) -> dict[str, bytes]:
        """The printer's visible files (temp files of uploads in flight start with '.')."""
        root = self.storage / name
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        }

    def in_flight(self) -> list[Path]:
        return list(self.storage.rglob(".upload-*"))


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path, rate="200k")
    try:
        yield emu
    finally:
        emu.stop()


def write_master(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        old = time.time() - 3600
        os.utime(target, (old, old))
    return files


def big_master(root: Path) -> dict[str, bytes]:
    return write_master(
        root,
        {
            "small.gcode": b"G1 X1\n" * 50,
            "big-one.gcode": b"G1 X2 ; big\n" * (BIG // 12),
            "big-two.gcode": b"G1 X3 ; big\n" * (BIG // 12),
        },
    )


def start_sync(tmp_path: Path, config: Path, source: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1"}
    return subprocess.Popen(
        cli("sync", "-c", str(config), "-s", str(source), *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def assert_whole(emulator: Emulator, master: dict[str, bytes]) -> None:
    """Every printer holds whole master files or none: no partial file, no temp left."""
    wait_for(lambda: not emulator.in_flight(), 5, "the printers to drop partial uploads")
    for name in emulator.names:
        for path, data in emulator.files(name).items():
            assert data == master[path], f"{name}: {path} is partial"


def printer_lock_files(state: Path) -> list[Path]:
    """The run's printer lock files: one per printer."""
    files = sorted((state / "locks").glob("*.lock"))
    assert len(files) == PRINTERS, files
    return files


def assert_printer_locks_free(state: Path) -> None:
    """No process holds any printer's lock (a flock can be taken at once)."""
    for path in printer_lock_files(state):
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if held
        finally:
            os.close(fd)


def assert_journal_consistent(state: Path, emulator: Emulator) -> None:
    """Opens without a warning; every file it records is on that printer, whole."""
    journal = Journal.open(state / "journal.sqlite3")
    assert journal.warnings == []
    journal.close()
    with sqlite3.connect(state / "journal.sqlite3") as db:
        rows = db.execute("SELECT printer_key, path, local_size FROM uploads").fetchall()
    for key, path, size in rows:
        name = key.split("|", 1)[0]
        on_printer = {p.casefold(): d for p, d in emulator.files(name).items()}
        assert path.casefold() in on_printer, f"journal records {path} not on {name}"
        assert len(on_printer[path.casefold()]) == size


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_mid_upload_stops_cleanly(
    tmp_path: Path, emulator: Emulator, sig: signal.Signals, code: int
) -> None:
    master = big_master(tmp_path / "master")
    run = start_sync(tmp_path, emulator.config, tmp_path / "master")
    wait_for(lambda: len(emulator.in_flight()) >= PRINTERS, 20, "uploads to be under way")
    time.sleep(0.3)

    sent = time.monotonic()
    run.send_signal(sig)
    out, err = run.communicate(timeout=10)
    stopped_after = time.monotonic() - sent

    assert stopped_after < 3, f"took {stopped_after:.1f} s to stop"
    assert run.returncode == code, (out, err)
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert_whole(emulator, master)
    # The big files were in flight: neither printer has them, nor any part of them.
    for name in emulator.names:
        assert "big-one.gcode" not in emulator.files(name) or "big-two.gcode" not in (
            emulator.files(name)
        )
    assert_journal_consistent(tmp_path / "state", emulator)

    # Every printer's lock is free: a next run proceeds (a small master, no deletes: quick).
    assert_printer_locks_free(tmp_path / "state")
    small = write_master(tmp_path / "small", {"small.gcode": master["small.gcode"]})
    after = start_sync(tmp_path, emulator.config, tmp_path / "small", "--no-delete")
    out, err = after.communicate(timeout=30)
    assert after.returncode == 0, (out, err)
    for name in emulator.names:
        assert emulator.files(name)["small.gcode"] == small["small.gcode"]


def test_lock_of_a_sigkilled_run_is_taken_over(tmp_path: Path, emulator: Emulator) -> None:
    master = big_master(tmp_path / "master")
    run = start_sync(tmp_path, emulator.config, tmp_path / "master")
    wait_for(lambda: len(emulator.in_flight()) >= PRINTERS, 20, "uploads to be under way")
    run.kill()
    run.communicate(timeout=10)
    locks = printer_lock_files(tmp_path / "state")
    for lock in locks:
        assert f'"pid": {run.pid}' in lock.read_text()  # the dead run's details are still there
    assert_printer_locks_free(tmp_path / "state")

    assert_whole(emulator, master)
    small = write_master(tmp_path / "small", {"small.gcode": master["small.gcode"]})
    after = start_sync(tmp_path, emulator.config, tmp_path / "small", "--no-delete")
    out, err = after.communicate(timeout=30)
    assert after.returncode == 0, (out, err)
    assert "locked by" not in out + err
    for name in emulator.names:
        assert emulator.files(name)["small.gcode"] == small["small.gcode"]
    assert_journal_consistent(tmp_path / "state", emulator)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database\x00\xff" * 100)


def _old_schema(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE uploads (printer TEXT, path TEXT, mtime REAL)")
        db.execute("INSERT INTO uploads VALUES ('mk4-1', 'a.gcode', 1.0)")
        db.execute("PRAGMA user_version = 0")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3 or 100])


@pytest.mark.parametrize("damage", [_garbage, _old_schema, _truncated], ids=lambda f: f.__name__)
async def test_bad_journal_is_rebuilt_with_a_warning(
    farm_factory: Any, tmp_path: Path, damage: Any
) -> None:
    farm = await farm_factory([PrinterSpec("mk4"), PrinterSpec("pi", profile="mk3", api_key="k")])
    master = write_master(
        tmp_path / "master", {"a.gcode": b"G1 X1\n" * 30, "sub/b.gcode": b"G1 X2\n" * 40}
    )
    config = tmp_path / "link-sync.yml"
    config.write_text(yaml.safe_dump(farm.config(source=str(tmp_path / "master"))))
    config.chmod(0o600)
    state = tmp_path / "state"
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(state), "NO_COLOR": "1"}

    async def sync() -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *cli("sync", "-c", str(config)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await sync()
    assert code == 0, (out, err)
    journal = state / "journal.sqlite3"
    for extra in ("-wal", "-shm"):
        journal.with_name(journal.name + extra).unlink(missing_ok=True)
    damage(journal)
    for printer in farm:
        printer.requests.clear()

    code, out, err = await sync()

    assert code == 0, (out, err)
    assert "Traceback" not in out + err
    assert "warning: the journal" in err and "started a new one" in err, err
    assert list(state.glob("journal.sqlite3.bad-*")), "the bad journal was not kept aside"
    for printer in farm:
        # Rebuilt from the printers: compared, nothing sent again.
        assert not [r for r in printer.requests if r.method in ("PUT", "DELETE")]
        assert printer.files() == master

    for printer in farm:
        printer.requests.clear()
    code, out, err = await sync()
    assert code == 0 and "warning" not in err, err
    # The rebuilt journal vouches for every file: the Buddy is not asked about any.
    gets = [r.path for r in farm["mk4"].requests if r.method == "GET"]
    assert not [g for g in gets if g.startswith("/api/v1/files/") and not g.endswith("/")]
