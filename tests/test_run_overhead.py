"""What keeps a run's own work small (issue 15): each fact here is one a faster
implementation could break without any other test noticing."""

from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync import _api
from link_sync.emulator import PrinterSpec
from link_sync.execute import Observer, Session, SyncOptions, relative_to_folder
from link_sync.journal import Journal
from link_sync.model import RemoteEntry

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


def test_spaced_gc_passes_last_overlapping_run_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    first = _api.spaced_gc_passes()
    second = _api.spaced_gc_passes()
    first.__enter__()
    assert gc.get_threshold() == _api.RUN_GC_THRESHOLDS
    second.__enter__()
    first.__exit__(None, None, None)  # the first run ends while the other goes on
    assert gc.get_threshold() == _api.RUN_GC_THRESHOLDS
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


class _Thresholds(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def printer_started(self, name: str) -> None:
        self.seen.append(gc.get_threshold())


async def test_a_run_spaces_gc_passes_and_restores_them_after(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", b"G1\n" * 10)
    farm = await farm_factory([PrinterSpec("p", profile="mk4")])
    config = link_sync.Config(**farm.config(source=master.root))
    before = gc.get_threshold()
    observer = _Thresholds()
    result = await link_sync.sync_async(
        config, observer=observer, state_dir=tmp_path / "state", retry=FAST_RETRY
    )
    assert result.exit_code == 0, result.to_json()
    assert observer.seen == [_api.RUN_GC_THRESHOLDS]
    assert gc.get_threshold() == before
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(link_sync.SafetyRefusal):  # also when a run ends in an error
        await link_sync.sync_async(
            link_sync.Config(**farm.config(source=empty)), state_dir=tmp_path / "state"
        )
    assert gc.get_threshold() == before


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
    works, _ = _api.scan_masters(list(config.printers.values()), allow_empty=False)
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
