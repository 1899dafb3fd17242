"""Invariants of a sync, tested as properties over random histories (hypothesis).

A state machine changes the master (add, modify with a new or an old mtime, remove,
rename, nested folders), makes things happen on two emulated printers (a Buddy and a
Pi: faults, prints starting and ending, files put there or removed by someone else)
and runs syncs. After every sync it checks:

- nothing in the master was modified;
- nothing outside the managed destination, or of another type, was touched;
- no master file vanished from a printer that had it;
- the file being printed is intact;
- a printer reported `synced` holds exactly the master (paths and sizes), faults or not;
- with no fault active, an idle printer ends in sync, and the next run does nothing.

Prints end as IDLE, FINISHED or STOPPED; in the last two the printer still names the
finished job, whose file is then an ordinary file (replaced or deleted like any other).

The farm lives in an event loop on a background thread; each sync runs there too.
Derandomized and database-free, so CI runs the same histories every time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import link_sync
from link_sync.emulator import EmulatedPrinter, Farm, Fault, PrinterSpec
from link_sync.engine.options import RetryPolicy
from link_sync.errors import SafetyRefusal
from link_sync.result import RunResult

T = TypeVar("T")

DEST = "prints"
PRINTERS = ("buddy", "pi")
PATHS = ["x.gcode", "y.gcode", "a/x.gcode", "a/z.gcode", "a/b/y.gcode", "c/w.gcode"]
#: Outside the managed destination, or not print files: never to be touched.
FOREIGN = {
    "top.gcode": b"G1 ; not managed\n",
    "other/keep.gcode": b"G1 ; other folder\n",
    f"{DEST}/notes.txt": b"not a print file\n",
}
FAULTS = {
    "503-upload": lambda: Fault("status", op="upload", status=503, count=None),
    "409-upload-once": lambda: Fault("status", op="upload", status=409, count=1),
    "reset-upload-half": lambda: Fault("reset", op="upload", after_bytes=0.5, count=None),
    "500-delete": lambda: Fault("status", op="delete", status=500, count=None),
    "stall-list-once": lambda: Fault("stall", op="list", count=1),
    "507-upload": lambda: Fault("status", op="upload", status=507, count=None),
}
RETRY = RetryPolicy(attempts=2, first_delay=0.01, max_delay=0.02)


class LoopThread:
    """One event loop on a daemon thread; `run(coro)` waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return func()

        return self.run(wrapper())


_LOOP: LoopThread | None = None


def loop_thread() -> LoopThread:
    global _LOOP
    if _LOOP is None:
        _LOOP = LoopThread()
    return _LOOP


def master_line(seed: int) -> bytes:
    return f"; master {seed:05d}\n".encode()  # 15 bytes: master sizes are multiples of 15


def managed(printer: EmulatedPrinter) -> dict[str, bytes]:
    prefix = DEST + "/"
    return {
        path[len(prefix) :]: data
        for path, data in printer.files().items()
        if path.startswith(prefix) and path.endswith(".gcode")
    }


def unmanaged(printer: EmulatedPrinter) -> dict[str, bytes]:
    return {
        path: data
        for path, data in printer.files().items()
        if not (path.startswith(DEST + "/") and path.endswith(".gcode"))
    }


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lt = loop_thread()
        self.work = Path(tempfile.mkdtemp(prefix="link-sync-prop-"))
        self.root = self.work / "master"
        self.root.mkdir()
        self.seed = 0
        self.master: dict[str, bytes] = {}
        self.faults = False
        self.jobs: dict[str, tuple[str, bytes]] = {}  # printer -> (path, content)
        #: printer -> managed path of a print that ended FINISHED or STOPPED, whose
        #: screen may still hold the file (Buddy: no overwrite; Pi emulator: no delete)
        self.ended: dict[str, str] = {}
        self.outside: dict[str, dict[str, bytes]] = {n: dict(FOREIGN) for n in PRINTERS}
        specs = [
            PrinterSpec("buddy", profile="mk4", files=dict(FOREIGN)),
            PrinterSpec("pi", profile="mk3", api_key="pi-key", files=dict(FOREIGN)),
        ]
        self.farm = Farm(specs, preview=False)  # the preview has tests of its own
        self.lt.run(self.farm.start())
        self.env = {"LINK_SYNC_STATE_DIR": str(self.work / "state")}
        config = self.farm.config(source=str(self.root))
        config["destination"] = "/" + DEST
        for entry in config["printers"].values():
            entry["timeout"] = 0.3
        self.config = link_sync.Config(**config)

    def teardown(self) -> None:
        self.lt.run(self.farm.stop())
        shutil.rmtree(self.work, ignore_errors=True)

    def printer(self, name: str) -> EmulatedPrinter:
        return self.farm[name]

    # -- master changes ---------------------------------------------------------------

    @initialize(paths=st.sets(st.sampled_from(PATHS), min_size=1, max_size=4))
    def first_master(self, paths: set[str]) -> None:
        for path in sorted(paths):
            self.write_master(path, 3, old=True)

    @rule(path=st.sampled_from(PATHS), lines=st.integers(1, 40), old=st.booleans())
    def write_master(self, path: str, lines: int, old: bool) -> None:
        self.seed += 1
        data = master_line(self.seed) * lines
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        # an old mtime: restored from a backup, older than the printer's copy
        stamp = time.time() - (86_400 + self.seed) if old else time.time()
        os.utime(target, (stamp, stamp))
        self.master[path] = data

    @precondition(lambda self: self.master)
    @rule(data=st.data())
    def remove_master(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(self.master)))
        (self.root / path).unlink()
        del self.master[path]

    @precondition(lambda self: self.master)
    @rule(data=st.data(), dest=st.sampled_from(PATHS))
    def rename_master(self, data: st.DataObject, dest: str) -> None:
        source = data.draw(st.sampled_from(sorted(self.master)))
        if dest in self.master:
            return
        (self.root / dest).parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.root / source, self.root / dest)
        self.master[dest] = self.master.pop(source)

    # -- printer events ---------------------------------------------------------------

    @rule(name=st.sampled_from(PRINTERS), kind=st.sampled_from(sorted(FAULTS)))
    def add_fault(self, name: str, kind: str) -> None:
        self.faults = True
        self.lt.call(lambda: self.printer(name).add_fault(FAULTS[kind]()))

    @rule(name=st.sampled_from(PRINTERS))
    def go_offline(self, name: str) -> None:
        self.faults = True
        self.lt.call(self.printer(name).go_offline)

    @rule()
    def faults_stop(self) -> None:
        self.heal()

    def heal(self) -> None:
        for name in PRINTERS:
            printer = self.printer(name)
            self.lt.call(printer.clear_faults)
            self.lt.call(printer.go_online)
        self.faults = False

    @rule(name=st.sampled_from(PRINTERS), data=st.data())
    def start_print(self, name: str, data: st.DataObject) -> None:
        printer = self.printer(name)
        files = managed(printer)
        if name in self.jobs or not files:
            return
        path = data.draw(st.sampled_from(sorted(files)))
        self.lt.call(lambda: printer.start_print(f"{DEST}/{path}"))
        self.jobs[name] = (f"{DEST}/{path}", files[path])
        self.ended.pop(name, None)

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), state=st.sampled_from(["IDLE", "FINISHED", "STOPPED"]))
    def end_print(self, data: st.DataObject, state: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.jobs)))
        self.lt.call(lambda: self.printer(name).set_state(state))
        path, _ = self.jobs.pop(name)  # over: its file is no longer protected
        event(f"a print ended {state}")
        if state != "IDLE":
            self.ended[name] = path.removeprefix(DEST + "/")

    @precondition(lambda self: self.ended)
    @rule(data=st.data())
    def leave_print_screen(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.ended)))
        self.lt.call(self.printer(name).screen_back)
        del self.ended[name]

    @rule(
        name=st.sampled_from(PRINTERS),
        path=st.sampled_from(
            ["top.gcode", "other/new.gcode", f"{DEST}/readme.txt", f"{DEST}/c/stray.gcode"]
        ),
        lines=st.integers(1, 5),
    )
    def someone_else_writes(self, name: str, path: str, lines: int) -> None:
        data = b"; put there by hand\n" * lines + b"!"  # never a multiple of 15 bytes
        if self.jobs.get(name, ("",))[0] == path:
            return
        self.lt.call(lambda: self.printer(name).write_file(path, data))
        if not (path.startswith(DEST + "/") and path.endswith(".gcode")):
            self.outside[name][path] = data

    @rule(name=st.sampled_from(PRINTERS), data=st.data())
    def someone_else_deletes(self, name: str, data: st.DataObject) -> None:
        printer = self.printer(name)
        files = sorted(managed(printer))
        if not files:
            return
        path = f"{DEST}/{data.draw(st.sampled_from(files))}"
        if self.jobs.get(name, ("",))[0] == path:
            return

        def remove() -> None:
            node = printer.storage.find(path.split("/"))
            assert node is not None
            printer.storage.remove(node)

        self.lt.call(remove)

    # -- syncs ------------------------------------------------------------------------

    def sync(self, include_busy: bool) -> RunResult | None:
        try:
            run = link_sync.sync_async(
                self.config,
                include_busy=include_busy,
                retry=RETRY,
                state_dir=self.env["LINK_SYNC_STATE_DIR"],
            )
            return self.lt.run(run)
        except SafetyRefusal:
            assert not self.master, "refused a master that has print files"
            return None

    @rule(include_busy=st.booleans(), heal_first=st.booleans())
    def run_sync(self, include_busy: bool, heal_first: bool) -> None:
        if heal_first:
            self.heal()
        before = {n: managed(self.printer(n)) for n in PRINTERS}
        result = self.sync(include_busy)
        for name in PRINTERS:
            after = managed(self.printer(name))
            for path in before[name]:
                if path in self.master:
                    assert path in after, f"{name}: master file {path} vanished"
            for path, data in after.items():
                if path in self.master:  # the old copy or the new one, never a part
                    whole = (before[name].get(path), self.master[path])
                    assert data in whole, f"{name}: {path} is half-written"
        if result is None:
            event("sync refused: empty master")
            assert all(managed(self.printer(n)) == before[n] for n in PRINTERS)
            return
        # `synced` means exactly the master, whatever else happened in this run
        want = {path: len(data) for path, data in self.master.items()}
        for report in result.printers:
            if report.status == "synced":
                held = {
                    path: len(data) for path, data in managed(self.printer(report.name)).items()
                }
                assert held == want, f"{report.name} reported synced: {report.to_json()}"
        if self.faults:
            event("sync with faults")
            return
        event("sync without faults: converges, then does nothing")
        # No fault: every idle printer is now in sync, and the next run does nothing.
        idle = [n for n in PRINTERS if n not in self.jobs]
        for name in list(idle):
            report = next(p for p in result.printers if p.name == name)
            if report.status != "synced" and name in self.ended:
                # Only the ended print's file, still on its screen, may be refused.
                event("finished print's file held by its screen")
                assert report.status == "failed" and report.error is None, report.to_json()
                assert {a.path for a in report.actions if not a.ok} == {self.ended[name]}
                idle.remove(name)
                continue
            assert report.status == "synced", report.to_json()
            assert managed(self.printer(name)) == self.master, name
        for name in idle:
            self.printer(name).requests.clear()
        again = self.sync(include_busy)
        assert again is not None
        for name in idle:
            report = next(p for p in again.printers if p.name == name)
            assert report.actions == [], report.to_json()
            writes = [r for r in self.printer(name).requests if r.method in ("PUT", "DELETE")]
            assert writes == [], writes

    # -- after every step -------------------------------------------------------------

    @invariant()
    def master_is_only_read(self) -> None:
        found = {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in self.root.rglob("*")
            if p.is_file()
        }
        assert found == self.master

    @invariant()
    def nothing_else_touched(self) -> None:
        for name in PRINTERS:
            assert unmanaged(self.printer(name)) == self.outside[name], name

    @invariant()
    def job_file_intact(self) -> None:
        for name, (path, data) in self.jobs.items():
            assert self.printer(name).files().get(path) == data, f"{name}: job file touched"


SyncMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_sync_properties = pytest.mark.timeout(240)(SyncMachine.TestCase)
