"""The watch never says "in sync" while a file is missing (issue 29, fault 3).

A pass stands for the master view it was built from: a view published while the
pass reads the files' targets (or waits for its turn) is newer, so it is synced
by a pass of its own and the printer is not "in sync" until then. The race is made
deterministic: the targets read is held on an event, a new view is published
meanwhile, then the read is let go.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.emulator.spec import PrinterSpec
from link_sync.emulator.testing import FarmFactory
from link_sync.engine.journal import Journal
from link_sync.engine.masters import read_master_targets
from link_sync.engine.options import SyncOptions
from link_sync.watch import farm
from link_sync.watch.farm import FarmWatch, WatchSettings
from link_sync.watch.master import SettleClock, look
from link_sync.watch.state import FarmState

from sync_helpers import FAST_RETRY, Master

OLD = 1_700_000_000.0  # settled long ago


class HeldTargetsRead:
    """`read_master_targets` whose first call waits until `release`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(20), "the test never let the targets read go"
        return read_master_targets(*args)


async def test_a_view_published_during_the_targets_read_is_synced_and_never_called_in_sync(
    farm_factory: FarmFactory, master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    master.write("a.gcode", b"G28\n" * 100, mtime=OLD)
    emulated = await farm_factory([PrinterSpec("mk4-01")])
    printer = emulated["mk4-01"]
    config = link_sync.Config(**emulated.config(source=master.root))
    printers = list(config.printers.values())
    held = HeldTargetsRead()
    monkeypatch.setattr(farm, "read_master_targets", held)

    state = FarmState([(p.name, p.base_url) for p in printers], master=str(master.root))
    lies: list[str] = []
    update = state.update_printer

    def checked_update(name: str, **fields: Any) -> Any:
        # Every change the page's /api/printers could show is checked as it is made.
        answer = update(name, **fields)
        wanted = set(master.files())
        held_now = {path.lower() for path in printer.files()}
        if state.printers[name].in_sync and not {p.lower() for p in wanted} <= held_now:
            lies.append(f"in_sync while the printer lacks {sorted(wanted - held_now)}")
        return answer

    monkeypatch.setattr(state, "update_printer", checked_update)
    settings = WatchSettings(
        settle=0.0, poll_interval=0.1, rescan_interval=600.0, sync=SyncOptions(retry=FAST_RETRY)
    )
    journal = Journal.open(tmp_path / "journal.sqlite3")
    watch = FarmWatch(printers, settings, journal, state)
    running = asyncio.create_task(watch.run())
    try:
        assert await asyncio.to_thread(held.entered.wait, 20), "no pass started"
        # A new master file, and the view that holds it, while the pass reads targets.
        master.write("b.gcode", b"G29\n" * 100, mtime=OLD)
        view, _ = look(master.root, SettleClock(0.0), allow_empty=False)
        assert [f.path for f in view.files] == ["a.gcode", "b.gcode"]
        watch._on_view(view, False)
        held.release.set()

        async def both_sent_and_in_sync() -> None:
            while not (
                set(printer.files()) == {"a.gcode", "b.gcode"} and state.printers["mk4-01"].in_sync
            ):
                await asyncio.sleep(0.02)

        try:
            await asyncio.wait_for(both_sent_and_in_sync(), 15)
        except TimeoutError:
            raise AssertionError(
                f"not synced in 15 s: the printer holds {sorted(printer.files())}, "
                f"in_sync={state.printers['mk4-01'].in_sync}; {lies}"
            ) from None
    finally:
        held.release.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        journal.close()
    assert lies == []
    assert held.calls >= 2  # the newer view got a pass of its own
