"""What keeps a run's own work small (issue 15): each fact here is one a faster
implementation could break without any other test noticing."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.core.model import Op, RemoteEntry, SyncStatus
from link_sync.emulator import PrinterSpec
from link_sync.engine import masters
from link_sync.engine.journal import Journal
from link_sync.engine.options import SyncOptions
from link_sync.engine.paths import relative_to_folder
from link_sync.engine.session import Session
from link_sync.result import ActionResult, PrinterResult, RunResult

from sync_helpers import FAST_RETRY, Master


def test_with_path_keeps_every_other_field() -> None:
    values: dict[str, Any] = {}
    for index, spec in enumerate(dataclasses.fields(RemoteEntry)):
        # a value unlike the default for each field, so a field with_path drops shows
        default = spec.default
        if isinstance(default, bool) or spec.type == "bool":
            values[spec.name] = not default if isinstance(default, bool) else True
        elif spec.name in ("size",):
            values[spec.name] = 1000 + index
        elif spec.name in ("mtime",):
            values[spec.name] = 1_700_000_000.5
        else:
            values[spec.name] = f"value-{spec.name}"
    entry = RemoteEntry(**values)
    assert entry.with_path("other/place.gcode") == dataclasses.replace(
        entry, path="other/place.gcode"
    )


def test_relative_to_folder() -> None:
    listing = [
        RemoteEntry("Prints", True),
        RemoteEntry("Prints/a.gcode", False, 10),
        RemoteEntry("Prints/sub/b.gcode", False, 20, short_path="PRINTS/SUB/B.GCO"),
        RemoteEntry("PrintsX/c.gcode", False, 30),  # a sibling, not below
        RemoteEntry("top.gcode", False, 40),
    ]
    # the storage root: the listing as it is
    assert relative_to_folder(listing, "", ci=False) == listing
    assert relative_to_folder(listing, "prints", ci=False) == []
    assert relative_to_folder(listing, "prints", ci=True) == [
        RemoteEntry("a.gcode", False, 10),
        RemoteEntry("sub/b.gcode", False, 20, short_path="PRINTS/SUB/B.GCO"),
    ]


def test_a_run_results_repr_is_its_counts_not_every_printer() -> None:
    # asyncio.run (3.11) builds the repr of the finished run's task, result included:
    # the dataclass's own spelled out every action (3 ms per 500-printer run).
    printers = [
        PrinterResult(
            name=f"mk4-{index}",
            host="http://127.0.0.1",
            status=SyncStatus.BUSY if index % 5 == 0 else SyncStatus.SYNCED,
            actions=[ActionResult(Op.UPLOAD, "part.gcode", 200_000)],
        )
        for index in range(500)
    ]
    shown = repr(RunResult(printers, warnings=["one"]))
    assert shown == "RunResult(500 printers: busy=100, synced=400; dry_run=False, 1 warnings)"


async def test_a_library_run_in_a_thread_leaves_the_callers_garbage_collector_alone(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    # Issue 24, item 6: `link_sync.sync()` changes nothing process-wide; only the
    # console script tunes its own process (tests/test_cli_startup.py).
    for index in range(200):
        master.write(f"part{index}.gcode", b"G1\n" * 10)
    farm = await farm_factory([PrinterSpec("p", profile="mk4")])
    config = link_sync.Config(**farm.config(source=master.root))
    before = (gc.get_threshold(), gc.isenabled())
    results: list[link_sync.RunResult] = []
    run = threading.Thread(
        target=lambda: results.append(
            link_sync.sync(config, state_dir=tmp_path / "state", retry=FAST_RETRY)
        )
    )
    seen = set()
    run.start()
    while run.is_alive():
        seen.add((gc.get_threshold(), gc.isenabled()))
        await asyncio.sleep(0)  # the farm (on this loop) answers the run meanwhile
    run.join()
    seen.add((gc.get_threshold(), gc.isenabled()))
    assert results and results[0].exit_code == 0, results and results[0].to_json()
    assert results[0].to_json()["totals"]["uploaded"] == 200
    assert seen == {before}


@pytest.mark.parametrize("profile", ["mk4", "mk3"])
async def test_a_run_that_finds_the_farm_in_sync_reads_the_journal_once_per_printer(
    farm_factory: Any, master: Master, tmp_path: Path, profile: str
) -> None:
    old = time.time() - 3600
    for index in range(40):
        master.write(f"folder{index % 4}/part{index}.gcode", f"G1 X{index}\n" * 20, mtime=old)
    api_key = "pi-key-123" if profile == "mk3" else None
    farm = await farm_factory(
        [PrinterSpec(f"p{i}", profile=profile, api_key=api_key) for i in range(3)]
    )
    config = link_sync.Config(**farm.config(source=master.root))
    works, _ = masters.scan_masters(list(config.printers.values()), allow_empty=False)
    options = SyncOptions(retry=FAST_RETRY)
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        async with Session(journal) as session:
            first = await session.run(works, options)
            assert first.totals()["uploaded"] == 3 * 40, first.to_json()
            statements: list[str] = []
            assert journal._db is not None
            journal._db.set_trace_callback(statements.append)
            again = await session.run(works, options)
            journal._db.set_trace_callback(None)
    assert again.exit_code == 0 and again.totals()["uploaded"] == 0, again.to_json()
    assert [p.unchanged for p in again.printers] == [40, 40, 40]
    # one read of each printer's records; nothing written, no statement per file
    assert len(statements) == 3, statements
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements


async def test_names_are_checked_as_the_printer_would_store_them_below_the_destination(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    # 146 bytes: fits Buddy's 168-byte URL at the storage root, not 21 bytes further down
    name = "x" * 140 + ".gcode"
    master.write(name, b"G1\n")
    master.write("ok.gcode", b"G1\n")
    farm = await farm_factory(
        [PrinterSpec("root", profile="mk4"), PrinterSpec("deep", profile="mk4")]
    )
    config = farm.config(source=master.root)
    config["printers"]["deep"]["destination"] = "/prints/deeper/folder"
    result = await link_sync.sync_async(
        link_sync.Config(**config), state_dir=tmp_path / "state", retry=FAST_RETRY
    )
    by_name = {p.name: p for p in result.printers}
    assert by_name["root"].status == "synced", by_name["root"].to_json()
    assert sorted(farm["root"].files()) == sorted([name, "ok.gcode"])
    refused = [a for a in by_name["deep"].actions if not a.ok]
    assert [a.path for a in refused] == [name]
    assert refused[0].error is not None and "too long" in refused[0].error
    assert sorted(farm["deep"].files()) == ["prints/deeper/folder/ok.gcode"]
