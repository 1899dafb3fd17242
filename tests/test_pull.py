"""`link-sync pull` against emulated printers: copies back, never overwrites, never escapes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from link_sync import Config
from link_sync.commands.pull import PullRequest, conflict_name, pull_async, unsafe_name_reason
from link_sync.emulator import PrinterSpec
from link_sync.report import PlainLog

from sync_helpers import Master


async def pull(
    farm: Any,
    master: Master,
    tmp_path: Path,
    *,
    into: Path | None = None,
    dry_run: bool = False,
    observer: Any = None,
) -> Any:
    config = Config(**farm.config(source=master.root))
    request = PullRequest(config, into=into, dry_run=dry_run)
    return await pull_async(request, observer)


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


async def test_a_dry_run_says_only_what_it_would_do(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("m.gcode", b"M")
    farm = await farm_factory([PrinterSpec("mk4", files={"only_here.gcode": b"A" * 2500})])
    out = io.StringIO()
    result = await pull(farm, master, tmp_path, dry_run=True, observer=PlainLog(out, dry_run=True))
    assert result.exit_code == 0
    lines = out.getvalue().splitlines()
    assert "mk4: would pull only_here.gcode" in lines, lines
    assert not [line for line in lines if "pulled" in line], lines  # nothing claims it was done
    assert master.files() == {"m.gcode": b"M"}


async def test_into_a_folder_copies_only_the_files_missing_from_the_master(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("in-master.gcode", b"M")
    master.write("parts/also.gcode", b"P")
    printer_files = {
        "in-master.gcode": b"M",
        "parts/also.gcode": b"P",
        "only_here.gcode": b"O",
        "parts/rescue me.gcode": b"R",
    }
    farm = await farm_factory([PrinterSpec("mk4", files=printer_files)])
    into = tmp_path / "rescued"  # empty: it lacks every file, the master only two
    planned = await pull(farm, master, tmp_path, into=into, dry_run=True)
    would = sorted(a.path for a in planned.printers[0].actions)
    result = await pull(farm, master, tmp_path, into=into)
    assert result.exit_code == 0, result.to_json()
    copied = {p.relative_to(into).as_posix(): p.read_bytes() for p in into.rglob("*.gcode")}
    assert copied == {"only_here.gcode": b"O", "parts/rescue me.gcode": b"R"}
    assert would == sorted(copied) == sorted(a.path for a in result.printers[0].actions)
    # the same files as a pull into the master would copy
    assert master.files() == {"in-master.gcode": b"M", "parts/also.gcode": b"P"}
    into_master = await pull(farm, master, tmp_path, dry_run=True)
    assert sorted(a.path for a in into_master.printers[0].actions) == sorted(copied)


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
