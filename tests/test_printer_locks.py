"""Printer locks: runs on different printers go on side by side, one printer is never
worked on by two runs, a killed run's printers are free at once, and the journal is
shared by concurrent processes without losing an entry.

The process tests run `link-sync sync` against `link-sync emulate` (rate-limited, so a
run's upload is still under way when the next run starts).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import link_sync
from link_sync.config import PrinterConfig
from link_sync.engine.journal import Journal
from link_sync.engine.printer_locks import PrinterLocks, lock_path, storage_key
from test_interruption import BIG, Emulator, start_sync, wait_for, write_master


def printer(
    host: str, destination: str | None = None, storage: str | None = None, type: str = "prusalink"
) -> PrinterConfig:
    """`host` as a printer named 'p', resolved as a config file's printer is."""
    given = PrinterConfig(host=host, destination=destination, storage=storage, type=type)
    return link_sync.Config(printers={"p": given}).printers["p"]


def test_one_storage_one_key_however_the_config_spells_it() -> None:
    """Issue 29, fault 15: `storage: usb` and the default, `/usb/prints` and `prints`,
    trailing slashes and the host's spelling made two locks for one storage."""
    spellings = {
        "a Buddy's prints": [
            printer("10.0.0.5", destination="/prints/"),
            printer("http://10.0.0.5:80/", destination="prints"),
            printer("10.0.0.5", destination="prints", storage="usb"),
            printer("10.0.0.5", destination="prints", storage="/usb/"),
            printer("10.0.0.5", destination="usb/prints", storage="usb"),
            printer("10.0.0.5", destination="/usb/prints/"),
            printer("10.0.0.5", destination="/USB/Prints"),  # FAT: one folder
            printer("HTTP://10.0.0.5", destination="prints//"),
        ],
        "a Pi's root": [
            printer("10.0.0.7"),
            printer("10.0.0.7", storage="local"),
            printer("10.0.0.7", destination="/local/"),
            printer("10.0.0.7", destination="local", storage="local"),
        ],
        "a named host": [
            printer("Printer.LAN", destination="prints"),
            printer("printer.lan:80", destination="prints/"),
            printer("http://PRINTER.lan/", destination="/prints"),
        ],
        "an IPv6 address": [
            printer("[::1]:8080"),
            printer("http://[0:0:0:0:0:0:0:1]:8080/"),
            printer("http://[0::1]:8080", destination="/"),
        ],
        "OctoPrint's one storage": [
            printer("10.0.0.9", destination="prints", type="octoprint"),
            printer("10.0.0.9", destination="/local/prints/", type="octoprint"),
            printer("10.0.0.9", destination="prints", storage="usb", type="octoprint"),
        ],
        "Moonraker's one storage": [
            printer("10.0.0.9:7125", destination="prints", type="moonraker"),
            printer("10.0.0.9:7125", destination="gcodes/prints", type="moonraker"),
        ],
    }
    for storage, same in spellings.items():
        keys = {storage_key(p) for p in same}
        assert len(keys) == 1, (storage, keys)
    assert len({storage_key(same[0]) for same in spellings.values()}) == len(spellings)
    different = [
        printer("10.0.0.5", destination="prints"),
        printer("10.0.0.5:8080", destination="prints"),
        printer("10.0.0.6", destination="prints"),
        printer("10.0.0.5", destination="other"),
        printer("10.0.0.5", destination="prints/mk4"),
        printer("10.0.0.5", destination="prints", storage="sdcard"),
        printer("https://10.0.0.5", destination="prints"),
        printer("10.0.0.9", destination="prints", type="octoprint"),
        printer("10.0.0.9", destination="Prints", type="octoprint"),  # case-sensitive
    ]
    assert len({storage_key(p) for p in different}) == len(different)
    path = lock_path(Path("/state"), spellings["a Buddy's prints"][0])
    assert path.parent == Path("/state/locks") and path.suffix == ".lock"
    assert "10.0.0.5" not in path.name  # a hashed name: no host in a file name


def test_a_held_printer_is_refused_naming_the_holder_the_others_are_taken(
    tmp_path: Path,
) -> None:
    one, two = printer("10.0.0.5"), printer("10.0.0.6")
    two = two.model_copy(update={"name": "two"})
    with PrinterLocks(tmp_path, command="watch") as watch:
        assert watch.take([one]) == {}
        with PrinterLocks(tmp_path, command="sync") as run:
            refused = run.take([one, two])
            assert list(refused) == ["p"]
            assert refused["p"].startswith(f"locked by link-sync watch, pid {os.getpid()} on ")
            assert "(started 20" in refused["p"]
            assert run.held == {"two"}
            # the watch sees the sync as a plain run
            assert watch.take([two])["two"].startswith("locked by link-sync run, pid ")
        assert watch.take([two]) == {}  # released with the run
        watch.keep_only(["two"])
        assert watch.held == {"two"}
        with PrinterLocks(tmp_path, command="sync") as run:
            assert run.take([one]) == {}  # let go by keep_only


def test_two_printers_on_one_storage_in_one_run_are_not_both_worked_on(tmp_path: Path) -> None:
    one = printer("10.0.0.5")
    twin = one.model_copy(update={"name": "twin"})
    with PrinterLocks(tmp_path, command="sync") as run:
        refused = run.take([one, twin])
    assert refused == {"twin": "refused: the same printer storage as 'p' in this run"}


def test_a_storage_let_go_of_can_be_taken_under_another_name(tmp_path: Path) -> None:
    one = printer("10.0.0.5")
    twin = one.model_copy(update={"name": "twin"})
    moved = one.model_copy(update={"host": "10.0.0.6"})
    with PrinterLocks(tmp_path, command="watch") as run:
        assert run.take([one]) == {}
        assert run.take([moved]) == {}  # p's settings now name another storage
        assert run.take([twin]) == {}  # so its old storage is free for twin
        assert run.held == {"p", "twin"}
        run.keep_only(["twin"])
        assert run.take([one.model_copy(update={"name": "other"})]) == {
            "other": "refused: the same printer storage as 'twin' in this run"
        }


def test_nested_destinations_on_one_storage_exclude_each_other(tmp_path: Path) -> None:
    """`prints` and `prints/mk4` (or the whole storage) on one printer both touch
    `prints/mk4`: never locked at once; `prints/a` and `prints/b`, or `prints2`, are."""

    def at(destination: str, name: str = "p") -> PrinterConfig:
        return printer("10.0.0.5", destination).model_copy(update={"name": name})

    with PrinterLocks(tmp_path, command="sync") as first:
        assert first.take([at("/usb/prints/")]) == {}
        with PrinterLocks(tmp_path, command="sync") as second:
            refused = second.take([at("prints/mk4"), at("", "root"), at("prints2", "two")])
            assert refused["p"].startswith(f"locked by link-sync run, pid {os.getpid()} ")
            assert refused["p"].endswith(", which syncs 'prints' (this destination is inside it)")
            assert refused["root"] == (
                "locked by another link-sync run (on this destination or a folder inside it)"
            )
            assert second.held == {"two"}  # prints2 is not inside prints
        first.release_all()
        assert first.take([at("prints/a")]) == {}
        with PrinterLocks(tmp_path, command="watch") as second:
            assert second.take([at("prints/b")]) == {}  # side by side
            assert list(second.take([at("prints", "outer")])) == ["outer"]
    with PrinterLocks(tmp_path, command="sync") as run:
        refused = run.take([at("prints"), at("prints/mk4", "inner"), at("other", "free")])
        assert refused == {
            "inner": "refused: its destination and that of 'p' (one inside the other) in this run"
        }
        run.release("p")
        assert run.take([at("prints/mk4", "inner")]) == {}  # free once p let go


# --- real processes -------------------------------------------------------------------


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path, rate="200k")
    try:
        yield emu
    finally:
        emu.stop()


def uploading(emulator: Emulator, name: str) -> bool:
    return any((emulator.storage / name).rglob(".upload-*"))


def start_long_run(tmp_path: Path, emulator: Emulator, name: str) -> subprocess.Popen[str]:
    """A sync of printer `name` with a big upload under way (~7 s at 200k)."""
    big = write_master(tmp_path / "big", {"big.gcode": b"G1 X2 ; big\n" * (BIG // 12)})
    assert big
    run = start_sync(tmp_path, emulator.config, tmp_path / "big", "-p", name, "--no-delete")
    wait_for(lambda: uploading(emulator, name), 20, f"the upload to {name} to be under way")
    return run


def test_two_runs_on_disjoint_printers_both_sync(tmp_path: Path, emulator: Emulator) -> None:
    first, second = emulator.names
    long_run = start_long_run(tmp_path, emulator, first)
    write_master(tmp_path / "small", {"small.gcode": b"G1 X1\n" * 50})
    other = start_sync(tmp_path, emulator.config, tmp_path / "small", "-p", second, "--no-delete")
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, (out, err)
    assert long_run.poll() is None  # the first run was still at work: side by side
    assert emulator.files(second)["small.gcode"] == b"G1 X1\n" * 50

    out, err = long_run.communicate(timeout=60)
    assert long_run.returncode == 0, (out, err)
    assert len(emulator.files(first)["big.gcode"]) == (BIG // 12) * 12


def test_overlapping_runs_the_shared_printer_is_synced_by_exactly_one(
    tmp_path: Path, emulator: Emulator
) -> None:
    shared, free = emulator.names
    long_run = start_long_run(tmp_path, emulator, shared)
    write_master(tmp_path / "small", {"only-second.gcode": b"G1 X9\n"})
    second = start_sync(tmp_path, emulator.config, tmp_path / "small", "--no-delete", "--json")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 3, (out, err)  # a printer refused: safety refusal
    assert long_run.poll() is None
    printers = {p["name"]: p for p in json.loads(out)["printers"]}
    assert printers[free]["status"] == "synced"
    assert printers[shared]["status"] == "skipped"
    assert printers[shared]["actions"] == []
    assert printers[shared]["error"].startswith(f"locked by link-sync run, pid {long_run.pid} ")
    assert "(started 20" in printers[shared]["error"]

    out, err = long_run.communicate(timeout=60)
    assert long_run.returncode == 0, (out, err)
    assert set(emulator.files(shared)) == {"big.gcode"}  # only the first run worked on it
    assert set(emulator.files(free)) == {"only-second.gcode"}


def test_a_run_under_another_spelling_of_the_storage_is_refused(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Issue 29, fault 15: a second config naming the same storage otherwise (host
    without scheme, `storage: usb`, `destination: /usb/`) made a second lock, and two
    runs uploaded to the printer at once (409s, exit 1)."""
    shared, _ = emulator.names
    long_run = start_long_run(tmp_path, emulator, shared)
    farm = yaml.safe_load(emulator.config.read_text())
    printer = farm["printers"][shared]
    printer["host"] = printer["host"].removeprefix("http://").upper() + "/"
    other = tmp_path / "other.yml"
    other.write_text(
        yaml.safe_dump(
            {"printers": {"same": {**printer, "storage": "usb", "destination": "/usb/"}}}
        )
    )
    other.chmod(0o600)
    write_master(tmp_path / "small", {"second.gcode": b"G1 X9\n"})
    second = start_sync(tmp_path, other, tmp_path / "small", "--no-delete", "--json")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 3, (out, err)  # refused, not a second run on the printer
    assert long_run.poll() is None
    [report] = json.loads(out)["printers"]
    assert report["status"] == "skipped" and report["actions"] == []
    assert report["error"].startswith(f"locked by link-sync run, pid {long_run.pid} ")

    out, err = long_run.communicate(timeout=60)
    assert long_run.returncode == 0, (out, err)
    assert set(emulator.files(shared)) == {"big.gcode"}


def test_a_sigkilled_runs_printers_are_free_at_once(tmp_path: Path, emulator: Emulator) -> None:
    first, _ = emulator.names
    long_run = start_long_run(tmp_path, emulator, first)
    long_run.send_signal(signal.SIGKILL)
    long_run.communicate(timeout=10)
    write_master(tmp_path / "small", {"small.gcode": b"G1 X1\n"})
    started = time.monotonic()
    after = start_sync(tmp_path, emulator.config, tmp_path / "small", "-p", first, "--no-delete")
    out, err = after.communicate(timeout=60)
    assert after.returncode == 0, (out, err)  # not skipped: the kernel freed the lock
    assert "locked by" not in out + err
    assert emulator.files(first)["small.gcode"] == b"G1 X1\n"
    assert time.monotonic() - started < 30


WRITER = """
import sys, time
from pathlib import Path
from link_sync.engine.journal import Journal, JournalEntry
path, who, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
journal = Journal.open(Path(path))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for i in range(count):
    journal.record(f"{who}|key", JournalEntry(f"f{i}.gcode", i, i, f"h{i}"))
    journal.remember_hash(f"/master/{who}/{i}", i, i, f"d{i}")
journal.close()
"""


def test_two_processes_recording_at_once_keep_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal.open(path).close()
    go = tmp_path / "go"
    count = 300
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), who, str(count), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    go.touch()  # both start writing at the same moment
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err

    journal = Journal.open(path)
    try:
        assert journal.warnings == []
        for who in ("a", "b"):
            entries = journal.entries(f"{who}|key")
            assert len(entries) == count
            assert {e.content_hash for e in entries.values()} == {f"h{i}" for i in range(count)}
            for i in range(count):
                assert journal.cached_hash(f"/master/{who}/{i}", i, i) == f"d{i}"
    finally:
        journal.close()


def test_runs_on_nested_destinations_of_one_printer_never_overlap(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Two configs of one printer, `prints` and `prints/mk4`: whichever runs second is
    refused (skipped, exit 3) while the other works, in both orders."""
    shared, _ = emulator.names
    write_master(tmp_path / "big", {"big.gcode": b"G1 X2 ; big\n" * (BIG // 12)})
    write_master(tmp_path / "small", {"small.gcode": b"G1 X9\n"})
    for outer_first in (True, False):
        first, second = ("prints", "prints/mk4") if outer_first else ("prints/mk4", "prints")
        long_run = start_sync(
            tmp_path, emulator.config, tmp_path / "big", "-p", shared, "--destination", first
        )
        wait_for(lambda: uploading(emulator, shared), 20, f"the upload to {first}")
        other = start_sync(
            tmp_path,
            emulator.config,
            tmp_path / "small",
            "-p",
            shared,
            "--json",
            "--destination",
            second,
        )
        out, err = other.communicate(timeout=60)
        assert other.returncode == 3, (out, err)
        [report] = json.loads(out)["printers"]
        assert report["status"] == "skipped" and report["actions"] == [], report
        if outer_first:
            assert report["error"].startswith(f"locked by link-sync run, pid {long_run.pid} ")
            assert report["error"].endswith("which syncs 'prints' (this destination is inside it)")
        else:
            assert report["error"] == (
                "locked by another link-sync run (on this destination or a folder inside it)"
            )
        assert long_run.poll() is None  # refused while the first run was at work
        out, err = long_run.communicate(timeout=60)
        assert long_run.returncode == 0, (out, err)
        assert "small.gcode" not in {Path(p).name for p in emulator.files(shared)}
