"""`link-sync pull` against emulated printers: copies back, never overwrites, never escapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from link_sync import Config
from link_sync.commands.pull import PullRequest, conflict_name, pull_async, unsafe_name_reason
from link_sync.emulator import PrinterSpec

from sync_helpers import Master


async def pull(
    farm: Any, master: Master, tmp_path: Path, *, into: Path | None = None, dry_run: bool = False
) -> Any:
    config = Config(**farm.config(source=master.root))
    request = PullRequest(config, into=into, dry_run=dry_run)
    return await pull_async(request)


async def test_files_only_on_printers_come_back_with_their_folders(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("in-master.gcode", b"M")
    farm = await farm_factory(
        [
            PrinterSpec("mk4", files={"in-master.gcode": b"M", "one-off/Schlüssel.gcode": b"K1"}),
            PrinterSpec("pi", profile="mk3", api_key="k" * 8, files={"parts/clip.gcode": b"C"}),
        ]
    )
    result = await pull(farm, master, tmp_path)
    assert result.exit_code == 0, result.to_json()
    assert master.files() == {
        "in-master.gcode": b"M",
        "one-off/Schlüssel.gcode": b"K1",
        "parts/clip.gcode": b"C",
    }
    assert not list(master.root.rglob("*.part"))  # no temp files left


async def test_identical_copies_are_fetched_once_and_differing_ones_kept_both(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("x.gcode", b"X")
    farm = await farm_factory(
        [
            PrinterSpec("a", files={"same.gcode": b"SAME", "diff.gcode": b"from a"}),
            PrinterSpec("b", files={"same.gcode": b"SAME", "diff.gcode": b"from bb"}),
        ]
    )
    result = await pull(farm, master, tmp_path)
    assert master.files() == {
        "x.gcode": b"X",
        "same.gcode": b"SAME",
        "diff.gcode": b"from a",
        "diff (from b).gcode": b"from bb",
    }
    downloads = [
        r.path for p in farm for r in p.requests if r.method == "GET" and r.path.startswith("/usb/")
    ]
    assert len([d for d in downloads if "SAME" in d.upper()]) == 1
    pulls = [(a.path, a.reason) for p in result.printers for a in p.actions]
    assert ("diff (from b).gcode", "differs from a's copy") in pulls


async def test_never_overwrites_a_local_file(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    into = tmp_path / "rescued"
    into.mkdir()
    (into / "a.gcode").write_bytes(b"mine")
    master.write("m.gcode", b"M")
    farm = await farm_factory([PrinterSpec("mk4", files={"a.gcode": b"theirs"})])
    result = await pull(farm, master, tmp_path, into=into)
    assert (into / "a.gcode").read_bytes() == b"mine"
    assert result.exit_code == 0


async def test_dry_run_writes_nothing(farm_factory: Any, master: Master, tmp_path: Path) -> None:
    master.write("m.gcode", b"M")
    farm = await farm_factory([PrinterSpec("mk4", files={"a.gcode": b"A"})])
    result = await pull(farm, master, tmp_path, dry_run=True)
    assert [(a.op, a.path) for a in result.printers[0].actions] == [("pull", "a.gcode")]
    assert master.files() == {"m.gcode": b"M"}


@pytest.mark.parametrize(
    "name",
    ["../evil.gcode", "a/../../evil.gcode", "/etc/evil.gcode", "C:/evil.gcode", "a\\b.gcode", ""],
)
def test_names_that_would_escape_the_target_are_refused(name: str) -> None:
    assert unsafe_name_reason(name) is not None


def test_ordinary_names_are_accepted_and_conflict_names_say_the_printer() -> None:
    assert unsafe_name_reason("parts/cable clip 3x.gcode") is None
    assert conflict_name("parts/clip.gcode", "mk4 02") == "parts/clip (from mk4_02).gcode"


async def test_unreachable_printer_fails_clearly_others_pull(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("m.gcode", b"M")
    farm = await farm_factory(
        [PrinterSpec("up", files={"a.gcode": b"A"}), PrinterSpec("down", files={"b.gcode": b"B"})]
    )
    farm["down"].go_offline()
    result = await pull(farm, master, tmp_path)
    statuses = {p.name: p.status for p in result.printers}
    assert statuses == {"up": "synced", "down": "unreachable"}
    assert result.exit_code == 1
    assert master.files() == {"m.gcode": b"M", "a.gcode": b"A"}
