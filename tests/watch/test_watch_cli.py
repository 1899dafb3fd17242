"""`link-sync watch` through its command line, against emulated farms.

Each test starts the real command as a subprocess (`--json`, settle 0.5 s,
printer poll 0.2 s) and looks at the printers' storage, the ground truth.
Timing here is functional ("arrives", "not before it is stable"); the strict
latency figures are measured by bench/watch_latency.py on a quiet machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import link_sync
from link_sync.engine.journal import Journal
from link_sync.engine.printer_locks import PrinterLocks

from sync_helpers import Master
from watch_harness import FarmThread, WatchProcess, cli, spec, wait_until, write_config

SETTLE = 0.5
#: upload start after the file became stable: the promise (1 s), plus room for a
#: shared, loaded test machine; the strict figure is bench/watch_latency.py's.
LATENCY = SETTLE + 1.0 + 2.0

WatchFactory = Callable[..., WatchProcess]
FarmFactory = Callable[..., FarmThread]


def in_sync(farm: FarmThread, master: Master, names: list[str] | None = None) -> bool:
    expected = master.files()
    return all(farm.files(name) == expected for name in names or farm.names())


def test_initial_sync_then_new_changed_removed_files_reach_every_idle_printer(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    old = time.time() - 60
    master.write("a.gcode", "G1 X1\n", mtime=old)
    master.write("parts/b.gcode", "G1 X2\n", mtime=old)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2", files={"stale.gcode": b"old"}), spec("mk4-3")])
    process = watch(farm, master.root)

    wait_until(lambda: in_sync(farm, master), what="the initial sync")
    process.wait_event(event="deleted", printer="mk4-2", path="stale.gcode")

    # new
    path = master.write("new.gcode", "G1 X3\n" * 100)
    stable_at = path.stat().st_mtime + SETTLE
    wait_until(lambda: in_sync(farm, master), what="the new file on every printer")
    starts = [
        process.wait_event(event="upload_started", printer=n, path="new.gcode")
        for n in farm.names()
    ]
    for start in starts:
        assert start["bytes"] == 600
        assert start["time"] - stable_at <= LATENCY - SETTLE
        assert start["time"] >= stable_at - 0.05  # not before it was stable

    # changed
    master.write("a.gcode", "G1 X1 changed\n")
    wait_until(lambda: in_sync(farm, master), what="the changed file on every printer")
    for name in farm.names():
        process.wait_event(event="replaced", printer=name, path="a.gcode")

    # removed
    master.remove("parts/b.gcode")
    wait_until(lambda: in_sync(farm, master), what="the removal on every printer")
    for name in farm.names():
        process.wait_event(event="deleted", printer=name, path="parts/b.gcode")
    assert process.stop() == 0


def test_a_half_written_file_is_sent_only_once_it_is_stable(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    # settle 2 s: pauses of 0.2 s between writes stay well below it on a loaded machine
    process = watch(farm, master.root, settle="2")
    wait_until(lambda: in_sync(farm, master), what="the initial sync")

    growing = master.root / "big.gcode"
    with growing.open("wb") as out:
        for _ in range(15):  # 3 s of writing, a pause of 0.2 s between chunks
            out.write(b"G1 X1 Y1\n" * 1000)
            out.flush()
            time.sleep(0.2)
            assert not process.find(event="upload_started", path="big.gcode")
            for name in farm.names():
                assert "big.gcode" not in farm.files(name)
    # Temporary names never go out, stable or not.
    master.write("slicing.gcode.part", "G1\n", mtime=time.time() - 60)
    master.write("~lock.gcode", "G1\n", mtime=time.time() - 60)
    master.write(".hidden.gcode", "G1\n", mtime=time.time() - 60)

    wait_until(lambda: all("big.gcode" in farm.files(n) for n in farm.names()), what="big.gcode")
    for name in farm.names():
        assert farm.files(name)["big.gcode"] == growing.read_bytes()  # whole, not a prefix
        process.wait_event(event="uploaded", printer=name, path="big.gcode")
        assert len(process.find(event="upload_started", printer=name, path="big.gcode")) == 1
        assert set(farm.files(name)) == {"a.gcode", "big.gcode"}
    assert process.stop() == 0


def test_a_printing_printer_gets_its_files_when_its_print_ends(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread(
        [
            spec("mk4-1"),
            spec(
                "mk4-2", files={"job.gcode": b"G1\n" * 10}, job_file="job.gcode", state="PRINTING"
            ),
        ]
    )
    process = watch(farm, master.root, "--no-delete")
    wait_until(lambda: "a.gcode" in farm.files("mk4-1"), what="the idle printer's sync")
    state = process.wait_event(event="state", printer="mk4-2")
    assert state["message"] == "now PRINTING, 1 file pending"

    master.write("b.gcode", "G1 X2\n")
    wait_until(lambda: "b.gcode" in farm.files("mk4-1"), what="b.gcode on the idle printer")
    pending = process.wait_event(event="pending", printer="mk4-2")
    assert "2 files pending" in pending["message"]
    time.sleep(1.0)
    assert set(farm.files("mk4-2")) == {"job.gcode"}  # nothing while it prints

    farm.call(farm.printer("mk4-2").set_state, "FINISHED")
    ended = time.monotonic()
    wait_until(
        lambda: {"a.gcode", "b.gcode"} <= set(farm.files("mk4-2")), what="files after the print"
    )
    first = process.wait_event(event="upload_started", printer="mk4-2")
    assert first["_seen"] - ended <= 0.2 + 1.0 + 2.0  # poll interval + 1 s + load margin
    assert process.find(event="state", printer="mk4-2", message="now FINISHED, 2 files pending")
    assert process.stop() == 0


def test_an_offline_printer_comes_back_and_converges(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    process = watch(farm, master.root)
    wait_until(lambda: in_sync(farm, master), what="the initial sync")

    farm.call(farm.printer("mk4-2").go_offline)
    process.wait_event(event="unreachable", printer="mk4-2")
    master.write("b.gcode", "G1 X2\n")
    wait_until(lambda: in_sync(farm, master, ["mk4-1"]), what="b.gcode on the online printer")
    time.sleep(2.0)  # several backed-off polls fail meanwhile
    assert len(process.find(event="unreachable", printer="mk4-2")) == 1  # said once

    farm.call(farm.printer("mk4-2").go_online)
    wait_until(lambda: in_sync(farm, master), timeout=30, what="the printer back in sync")
    process.wait_event(event="reachable", printer="mk4-2")
    assert process.stop() == 0


@pytest.mark.parametrize("how", ["vanishes", "empties"])
def test_the_master_vanishing_deletes_nothing_and_watch_resumes(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master, tmp_path: Path, how: str
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    master.write("b.gcode", "G1 X2\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    process = watch(farm, master.root)
    wait_until(lambda: in_sync(farm, master), what="the initial sync")
    before = {n: farm.files(n) for n in farm.names()}

    aside = tmp_path / "aside"
    if how == "vanishes":
        master.root.rename(aside)
    else:
        aside.mkdir()
        for name in ("a.gcode", "b.gcode"):
            (master.root / name).rename(aside / name)
    missing = process.wait_event(event="master_missing")
    assert "PAUSED" in missing["message"]
    time.sleep(2.0)
    assert {n: farm.files(n) for n in farm.names()} == before
    assert not process.find(event="deleted")
    assert len(process.find(event="master_missing")) == 1  # loudly, once

    if how == "vanishes":
        aside.rename(master.root)
    else:
        for name in ("a.gcode", "b.gcode"):
            (aside / name).rename(master.root / name)
    master.write("c.gcode", "G1 X3\n")
    process.wait_event(event="master_back")
    wait_until(lambda: in_sync(farm, master), what="c.gcode after the master came back")
    assert not process.find(event="deleted")
    assert process.stop() == 0


def test_sighup_reloads_a_good_config_and_keeps_the_old_one_on_a_bad_one(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    config_path = tmp_path / "link-sync.yml"
    process = watch(farm, master.root, "-x", "mk4-2")
    wait_until(lambda: in_sync(farm, master, ["mk4-1"]), what="the initial sync")
    assert farm.files("mk4-2") == {}

    # Good: mk4-1's destination becomes 'farm': a changed printer is restarted with it.
    config = yaml.safe_load(config_path.read_text())
    config["printers"]["mk4-1"]["destination"] = "farm"
    config_path.write_text(yaml.safe_dump(config))
    process.send(signal.SIGHUP)
    process.wait_event(event="config_reloaded")
    wait_until(lambda: "farm/a.gcode" in farm.files("mk4-1"), what="the reloaded destination")

    # Bad: the watch says why and goes on with the config it has.
    config_path.write_text("printers:\n  mk4-1:\n    hots: nowhere\n")
    process.send(signal.SIGHUP)
    error = process.wait_event(event="config_error")
    assert "hots" in error["error"]
    master.write("b.gcode", "G1 X2\n")
    wait_until(lambda: "farm/b.gcode" in farm.files("mk4-1"), what="b.gcode with the old config")
    assert farm.files("mk4-2") == {}  # still excluded
    assert process.proc.poll() is None
    assert process.stop() == 0


def test_sigterm_mid_upload_stops_within_3_s_consistently(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master, tmp_path: Path
) -> None:
    master.write("small.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1", rate=100_000)])
    process = watch(farm, master.root)
    wait_until(lambda: "small.gcode" in farm.files("mk4-1"), what="the initial sync")
    master.write("big.gcode", b"G1 X1\n" * 200_000)  # 1.2 MB: 12 s at 100 kB/s
    process.wait_event(event="upload_started", path="big.gcode")
    time.sleep(0.5)

    sent = time.monotonic()
    process.send(signal.SIGTERM)
    assert process.proc.wait(10) == 0
    assert time.monotonic() - sent <= 3.0
    assert process.find(event="stopped")
    assert "Traceback" not in process.stderr
    assert "big.gcode" not in farm.files("mk4-1")  # the partial upload was dropped

    # The lock is free and the journal sound: a sync runs and finishes the job.
    journal = Journal.open(tmp_path / "state" / "journal.sqlite3")
    journal.close()
    done = subprocess.run(
        cli("sync", "-c", str(tmp_path / "link-sync.yml"), "-q"),
        env={**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert farm.files("mk4-1")["big.gcode"] == (master.root / "big.gcode").read_bytes()


def test_a_sync_while_watch_runs_is_refused_naming_the_watch(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1")])
    process = watch(farm, master.root)
    process.wait_event(event="started")
    refused = subprocess.run(
        cli("sync", "-c", str(tmp_path / "link-sync.yml")),
        env={**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 3
    assert f"mk4-1: SKIPPED: locked by link-sync watch, pid {process.pid}" in refused.stdout
    assert "Traceback" not in refused.stderr
    assert process.stop() == 0


def test_watch_holds_only_its_printers_a_sync_of_the_others_proceeds(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    process = watch(farm, master.root, "-p", "mk4-1")
    process.wait_event(event="started")
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    config = str(tmp_path / "link-sync.yml")

    other = subprocess.run(
        cli("sync", "-c", config, "-p", "mk4-2"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stdout + other.stderr
    assert farm.files("mk4-2")["a.gcode"] == b"G1\n"

    both = subprocess.run(
        cli("sync", "-c", config, "-q"), env=env, capture_output=True, text=True, timeout=60
    )
    assert both.returncode == 3, both.stdout + both.stderr
    # -q: one line, for the printer the watch holds; the other synced quietly
    [line] = both.stdout.splitlines()
    assert line.startswith(f"mk4-1: SKIPPED: locked by link-sync watch, pid {process.pid} ")
    assert process.stop() == 0


def test_a_watch_does_not_start_on_a_printer_another_run_holds(
    farm_thread: FarmFactory, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    path = write_config(tmp_path / "link-sync.yml", farm.config(master.root))
    held = link_sync.load_config(path).printers["mk4-2"]
    with PrinterLocks(tmp_path / "state", command="sync") as other:
        assert other.take([held]) == {}
        refused = subprocess.run(
            cli("watch", "-c", str(path)),
            env={**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"printer 'mk4-2': locked by link-sync run, pid {os.getpid()} " in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "a.gcode" not in farm.files("mk4-1")  # refused before any printer was touched


def test_sighup_lets_go_of_a_dropped_printer_and_leaves_out_one_another_run_holds(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    config_path = tmp_path / "link-sync.yml"
    process = watch(farm, master.root)
    wait_until(lambda: in_sync(farm, master, ["mk4-1", "mk4-2"]), what="the initial sync")
    both = yaml.safe_load(config_path.read_text())
    mk4_2 = link_sync.load_config(config_path).printers["mk4-2"]

    with PrinterLocks(tmp_path / "state", command="sync") as other:
        assert "mk4-2" in other.take([mk4_2])  # the watch holds it
        only_one = {**both, "printers": {"mk4-1": both["printers"]["mk4-1"]}}
        config_path.write_text(yaml.safe_dump(only_one))
        process.send(signal.SIGHUP)
        process.wait_event(event="config_reloaded")
        assert other.take([mk4_2]) == {}  # dropped from the watch: let go of

        config_path.write_text(yaml.safe_dump(both))  # back, while this run holds it
        process.send(signal.SIGHUP)
        error = process.wait_event(event="config_error")
        assert error["error"].startswith(f"locked by link-sync run, pid {os.getpid()} ")
        assert "mk4-2" in error["message"]
        wait_until(lambda: len(process.find(event="config_reloaded")) == 2, what="the reload")
        master.write("b.gcode", "G1 X2\n", mtime=time.time() - 60)
        wait_until(lambda: "b.gcode" in farm.files("mk4-1"), what="b.gcode on mk4-1")
        assert "b.gcode" not in farm.files("mk4-2")  # left out while held by the other run
    assert process.stop() == 0


def test_polling_fallback_sees_changes(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    process = watch(farm, master.root, "--poll")
    started = process.wait_event(event="started")
    assert "polling" in started["message"]
    wait_until(lambda: in_sync(farm, master), what="the initial sync")
    master.write("b.gcode", "G1 X2\n")
    wait_until(lambda: in_sync(farm, master), what="a new file, polled")
    master.remove("a.gcode")
    wait_until(lambda: in_sync(farm, master), what="a removal, polled")
    assert process.stop() == 0


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        ("bad-config", 2, "unknown key 'hots'"),
        ("missing-master", 3, "is missing"),
        ("empty-master", 3, "has no print files"),
    ],
)
def test_start_checks_are_those_of_sync(
    tmp_path: Path, setup: str, code: int, message: str
) -> None:
    master = tmp_path / "master"
    if setup != "missing-master":
        master.mkdir()
    printer = {"host": "127.0.0.1:9"}
    if setup == "bad-config":
        printer = {"hots": "127.0.0.1:9"}
        (master / "a.gcode").write_text("G1\n")
    config = tmp_path / "link-sync.yml"
    config.write_text(yaml.safe_dump({"source": str(master), "printers": {"p": printer}}))
    run = subprocess.run(
        cli("watch", "-c", str(config)),
        env={**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == code
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_allow_empty_starts_on_an_empty_master(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    farm = farm_thread([spec("mk4-1", files={"old.gcode": b"G1"})])
    process = watch(farm, master.root, "--allow-empty")
    wait_until(lambda: farm.files("mk4-1") == {}, what="the printer emptied as asked")
    assert process.stop() == 0


def test_http_serves_the_farm_the_watch_keeps(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    import requests

    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    process = watch(farm, master.root, "--http", "127.0.0.1:0")
    url = process.wait_event(event="http")["path"]
    wait_until(lambda: in_sync(farm, master), what="the initial sync")

    def all_in_sync() -> bool:
        printers = requests.get(url + "api/printers", timeout=5).json()
        return all(p["in_sync"] for p in printers["printers"])

    wait_until(all_in_sync, what="the API showing every printer in sync")
    assert requests.get(url + "healthz", timeout=5).status_code == 200
    one = requests.get(url + "api/printers/mk4-1", timeout=5).json()["printer"]
    assert one["state"] == "IDLE" and one["watching"] is True
    assert process.stop() == 0


def test_a_finished_print_s_stale_file_is_replaced_as_soon_as_the_print_ends(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    # The print screen of the finished print holds its file and refuses an overwrite;
    # with no new file to upload first, the watch deletes it (the firmware's way out of
    # that screen) and sends the master's version at once (issue 27).
    old = time.time() - 60
    master.write("job.gcode", "G1 X1 new content\n", mtime=old)  # another size: stale
    farm = farm_thread(
        [spec("mk4-1", files={"job.gcode": b"G1 old\n"}, job_file="job.gcode", state="PRINTING")]
    )
    process = watch(farm, master.root)
    process.wait_event(event="state", printer="mk4-1")
    time.sleep(0.5)
    assert farm.files("mk4-1")["job.gcode"] == b"G1 old\n"  # untouched while it prints
    farm.call(farm.printer("mk4-1").set_state, "FINISHED")
    ended = time.monotonic()
    wait_until(lambda: in_sync(farm, master), what="the finished print's file replaced")
    assert time.monotonic() - ended <= 0.2 + 1.0 + 2.0  # the next poll sees FINISHED
    assert not process.find(event="failed", printer="mk4-1")
    assert process.stop() == 0


def test_watch_routes_files_by_printer_model(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    """Issue 11 in the watch: each printer gets the files for its model and those naming no
    printer; a new MINI file goes to the MINI only."""
    from link_sync.sample_gcode import prusaslicer_gcode

    old = time.time() - 60
    master.write("mk4.gcode", prusaslicer_gcode("MK4IS", 0.4, seed=1), mtime=old)
    master.write("any.gcode", "G28\nG1 X1\n", mtime=old)
    farm = farm_thread([spec("mk4-1", profile="mk4"), spec("mini-1", profile="mini")])
    process = watch(farm, master.root)

    wait_until(
        lambda: (
            set(farm.files("mk4-1")) == {"mk4.gcode", "any.gcode"}
            and set(farm.files("mini-1")) == {"any.gcode"}
        ),
        what="each printer's own files",
    )
    master.write("mini.gcode", prusaslicer_gcode("MINIIS", 0.4, seed=2))
    wait_until(
        lambda: set(farm.files("mini-1")) == {"any.gcode", "mini.gcode"},
        what="the MINI file on the MINI",
    )
    process.wait_event(event="uploaded", printer="mini-1", path="mini.gcode")
    assert "mini.gcode" not in farm.files("mk4-1")
    assert process.stop() == 0


def test_a_printer_that_takes_files_while_printing_gets_each_change_during_the_print(
    farm_thread: FarmFactory, watch: WatchFactory, master: Master
) -> None:
    # A Raspberry-Pi PrusaLink set to `while_printing: upload` (its files live on the Pi)
    # beside one left at the default (`wait`): a change settles, the first gets it at
    # once, print or no print; the printed file stays; the other waits for its print.
    job = b"G28\n" * 20
    master.write("job.gcode", job, mtime=time.time() - 60)
    printing = {"files": {"job.gcode": job}, "job_file": "job.gcode", "state": "PRINTING"}
    farm = farm_thread(
        [
            spec("pi-up", profile="mk3", api_key="pi-key-123", **printing),
            spec("pi-wait", profile="mk3", api_key="pi-key-124", **printing),
        ]
    )
    printers = farm.config(master.root)["printers"]
    printers["pi-up"]["while_printing"] = "upload"
    process = watch(farm, master.root, config_extra={"printers": printers})
    process.wait_event(event="state", printer="pi-wait")

    master.write("new.gcode", "G1 X2\n")
    written = time.monotonic()
    wait_until(lambda: "new.gcode" in farm.files("pi-up"), what="new.gcode during the print")
    assert time.monotonic() - written <= LATENCY + 1.0
    assert farm.call(lambda: farm.printer("pi-up").state) == "PRINTING"
    assert farm.files("pi-up")["job.gcode"] == job
    process.wait_event(event="pending", printer="pi-wait")
    assert set(farm.files("pi-wait")) == {"job.gcode"}  # nothing while it prints
    assert process.stop() == 0


def test_the_plain_log_says_once_which_printers_have_routing_off(
    farm_thread: FarmFactory, master: Master, tmp_path: Path
) -> None:
    """As sync's plain output ends with it: once the watch knows each printer's routing
    (the Pi names its model, a Buddy printer without model: cannot), one warning names
    those routed off and the fix; again after a reload, as the new config has it."""
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread(
        [spec("mk4-1", profile="mk4"), spec("mini-1", profile="mini"), spec("pi-1", profile="mk3")]
    )
    config = farm.config(master.root)
    del config["printers"]["mini-1"]["model"]
    path = write_config(tmp_path / "link-sync.yml", config)
    args = ["-c", str(path), "--settle", "0.5", "--poll-interval", "0.2"]
    process = WatchProcess(args, tmp_path / "state", tmp_path, plain=True)
    try:

        def warnings() -> list[str]:
            with process._lock:
                return [line for line in process.lines if "routing is off" in line]

        wait_until(lambda: len(warnings()) == 1, what="the routing warning")
        assert warnings()[0].endswith(
            " watch: warning: routing is off for mini-1: its model is unknown, so it gets "
            "every file; set model: for it in the config"
        )
        wait_until(lambda: in_sync(farm, master), what="every printer synced")

        config["printers"]["mini-1"]["model"] = "MINI"
        del config["printers"]["mk4-1"]["model"]
        write_config(path, config)
        process.send(signal.SIGHUP)
        wait_until(lambda: len(warnings()) == 2, what="the warning after the reload")
        assert "routing is off for mk4-1: its model is unknown" in warnings()[1]
        time.sleep(1.0)  # the printers' later polls and passes say nothing more
        assert len(warnings()) == 2
        assert process.stop() == 0
    finally:
        process.kill()
