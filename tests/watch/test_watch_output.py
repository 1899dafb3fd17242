"""What a person sees of `link-sync watch`: the live farm table on a terminal, and
greppable timestamped lines otherwise."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

from sync_helpers import Master
from watch_harness import FarmThread, cli, spec, wait_until, write_config

FarmFactory = Callable[..., FarmThread]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def setup(farm_thread: FarmFactory, master: Master, tmp_path: Path) -> tuple[FarmThread, Path]:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread(
        [
            spec("mk4-1"),
            spec("mk4-2", files={"job.gcode": b"G1\n"}, job_file="job.gcode", state="PRINTING"),
        ]
    )
    return farm, write_config(tmp_path / "link-sync.yml", farm.config(master.root))


def test_plain_lines_are_timestamped_and_greppable_by_printer(
    farm_thread: FarmFactory, master: Master, tmp_path: Path
) -> None:
    farm, config = setup(farm_thread, master, tmp_path)
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen(
        cli("watch", "-c", str(config), "--poll-interval", "0.2", "--settle", "0.5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_until(lambda: "a.gcode" in farm.files("mk4-1"), what="the initial sync")
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert re.fullmatch(rf"{STAMP} mk4-1: uploaded a\.gcode \(3 B\)", _one(lines, "mk4-1: upl"))
    assert re.fullmatch(rf"{STAMP} mk4-2: now PRINTING, 1 file pending", _one(lines, "mk4-2: now"))
    assert re.fullmatch(rf"{STAMP} watch: SIGTERM: stopping", _one(lines, "stopping"))
    assert all(re.match(rf"{STAMP} (watch|mk4-1|mk4-2): ", line) for line in lines), lines
    assert "Traceback" not in err


def test_a_terminal_shows_the_live_farm_table(
    farm_thread: FarmFactory, master: Master, tmp_path: Path
) -> None:
    _, config = setup(farm_thread, master, tmp_path)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "link_sync", "watch", "-c", str(config), "--poll-interval", "0.2"],
        env={
            **os.environ,
            "LINK_SYNC_STATE_DIR": str(tmp_path / "state"),
            "TERM": "xterm-256color",
            "COLUMNS": "120",
            "LINES": "40",
        },
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=30,
    )
    child.expect(cells("printer", "state", "pending", "transfer", "last sync"))
    child.expect(cells("mk4-1", "IDLE", "in sync", r"synced \d+ s ago \(1 uploaded\)"))
    child.expect(cells("mk4-2", "PRINTING", "1 file, 3 B"))
    child.kill(signal.SIGINT)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")


def cells(*texts: str) -> str:
    """A table row: the texts in order, apart by spaces and colour codes."""
    return r"(?:\x1b\[[0-9;]*m|\s)+".join(texts)


def _one(lines: list[str], needle: str) -> str:
    found = [line for line in lines if needle in line]
    assert len(found) == 1, (needle, lines)
    return found[0]


def test_a_reader_that_stops_reading_does_not_stop_the_watch(
    farm_thread: FarmFactory, master: Master, tmp_path: Path
) -> None:
    old = time.time() - 60
    for i in range(80):
        master.write(f"part-{i:02d}.gcode", f"G1 X{i}\n", mtime=old)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2"), spec("mk4-3")])
    config = write_config(tmp_path / "link-sync.yml", farm.config(master.root))
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    # stdout is a pipe nobody reads: ~1,000 JSON events fill its 64 kB long before the end
    proc = subprocess.Popen(
        cli("watch", "--json", "-c", str(config), "--poll-interval", "0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        expected = master.files()
        wait_until(
            lambda: all(farm.files(n) == expected for n in farm.names()),
            timeout=60,
            what="every printer synced while the output is not read",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout is not None
        out = proc.stdout.read()  # now read: the watch writes what it can and stops
        proc.wait(10)
    assert proc.returncode == 0
    assert out.count(b'"event": "uploaded"') + out.count(b"events dropped") > 0
