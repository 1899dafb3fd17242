"""`send_as: bgcode` (issue 30): plain G-code reaches Buddy printers as binary G-code.

Against an emulated farm over loopback HTTP: two MINIs, an MK4S and a Raspberry-Pi
PrusaLink (MK3S) with `send_as: bgcode` for all; every file a Buddy printer holds is
decoded with Prusa's libbgcode (`bgcode_reference`, test-only) and compared with the
master's bytes (also by `synced_check` after every run).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from link_sync.config import Config
from link_sync.core.model import LocalFile
from link_sync.core.send_as import as_binary, binary_name
from link_sync.core.units import human_bytes
from link_sync.emulator import PrinterSpec
from link_sync.engine.conversions import CACHE_FOLDER, Conversions, NotConverted
from link_sync.engine.hashes import LocalHashes
from link_sync.errors import ConfigError
from link_sync.sample_gcode import prusaslicer_gcode

from bgcode_reference import decode
from sync_helpers import Master, SyncRunner

MINI = prusaslicer_gcode("MINIIS", layers=True, moves=20000)  # 0.64 MB, as in the issue
MK4S = prusaslicer_gcode("MK4S", layers=True, moves=6000, seed=1)
MK3S = prusaslicer_gcode("MK3S", layers=True, moves=800, seed=2)
ANY = b"; a calibration file for every printer\nG28\nG1 X10 Y10 F3000\nM84\n"
MASTER = {
    "parts/clip_MINI.gcode": MINI,
    "benchy_MK4S.gcode": MK4S,
    "hook_MK3S.gcode": MK3S,
    "calibration/any.gcode": ANY,
}
BGCODE: dict[str, Any] = {"defaults": {"send_as": "bgcode"}}


def _farm_specs() -> list[PrinterSpec]:
    return [
        PrinterSpec("mini-1", profile="mini"),
        PrinterSpec("mini-2", profile="mini"),
        PrinterSpec("mk4s-1", profile="mk4s"),
        PrinterSpec("mk3-1", profile="mk3", api_key="pi-key-123"),
    ]


def _fill(master: Master, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        master.write(path, data, mtime=time.time() - 3600)


def _decoded(data: bytes, tmp_path: Path) -> bytes:
    copy = tmp_path / "decoded.bgcode"
    copy.write_bytes(data)
    return decode(copy).gcode


def _writes(printer: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in printer.requests if r.method in ("PUT", "DELETE", "POST")]


async def test_buddy_printers_hold_bgcode_that_decodes_to_the_master(
    farm_factory: Any, master: Master, run_sync: SyncRunner, tmp_path: Path
) -> None:
    _fill(master, MASTER)
    farm = await farm_factory(_farm_specs())

    result = await run_sync(farm, config_extra=BGCODE)

    assert result.exit_code == 0, result.to_json()
    printers = {p.name: p for p in farm}
    wanted = {
        "mini-1": {"parts/clip_MINI.bgcode", "calibration/any.bgcode"},
        "mini-2": {"parts/clip_MINI.bgcode", "calibration/any.bgcode"},
        "mk4s-1": {"benchy_MK4S.bgcode", "calibration/any.bgcode"},
    }
    for name, paths in wanted.items():
        held = printers[name].files()
        assert set(held) == paths, name
        for path in paths:
            source = next(p for p in MASTER if binary_name(p) == path)
            assert _decoded(held[path], tmp_path) == MASTER[source], (name, path)
            if source != "calibration/any.gcode":  # a 64-byte file grows by its headers
                assert len(held[path]) < len(MASTER[source]) * 0.6
    # the Pi PrusaLink in the same farm holds the plain files, and says why
    assert printers["mk3-1"].files() == {
        "hook_MK3S.gcode": MK3S,
        "calibration/any.gcode": ANY,
    }
    pi = next(p for p in result.printers if p.name == "mk3-1")
    assert any("cannot print binary G-code" in note for note in pi.notes)

    # --json names the master file and both sizes; bytes are what went out
    document = result.to_json()
    mini = next(p for p in document["printers"] if p["name"] == "mini-1")
    clip = next(a for a in mini["actions"] if a["path"] == "parts/clip_MINI.bgcode")
    assert clip["source"] == "parts/clip_MINI.gcode"
    assert clip["source_bytes"] == len(MINI)
    assert clip["bytes"] == len(printers["mini-1"].files()["parts/clip_MINI.bgcode"])
    assert clip["bytes"] * 3 < len(MINI)

    # converted once per content: the cache holds one file per master file sent converted
    cache = tmp_path / "state" / CACHE_FOLDER
    assert len(list(cache.glob("*.bgcode"))) == 3

    # status: every printer in sync, its files counted under their master names
    import link_sync

    config = farm.config(source=str(master.root))
    config.update(BGCODE)
    states = str(tmp_path / "state")
    reports = await link_sync.status_async(Config(**config), state_dir=states)
    assert all(r.in_sync for r in reports), [r.to_json() for r in reports]

    # a second sync does nothing
    for printer in farm:
        printer.requests.clear()
    again = await run_sync(farm, config_extra=BGCODE)
    assert again.exit_code == 0
    assert all(p.actions == [] for p in again.printers), again.to_json()
    assert all(_writes(printer) == [] for printer in farm)


async def test_changed_removed_and_both_forms(
    farm_factory: Any, master: Master, run_sync: SyncRunner, tmp_path: Path
) -> None:
    _fill(master, MASTER)
    farm = await farm_factory(_farm_specs())
    await run_sync(farm, config_extra=BGCODE)
    mini = next(p for p in farm if p.name == "mini-1")

    # a changed master file is re-sent converted
    changed = prusaslicer_gcode("MINIIS", layers=True, moves=2500, seed=9)
    master.write("parts/clip_MINI.gcode", changed)
    result = await run_sync(farm, config_extra=BGCODE)
    assert result.exit_code == 0, result.to_json()
    ops = {(a.op, a.path) for a in next(p for p in result.printers if p.name == "mini-1").actions}
    assert ops == {("replace", "parts/clip_MINI.bgcode")}
    assert _decoded(mini.files()["parts/clip_MINI.bgcode"], tmp_path) == changed

    # a file removed from the master is removed as .bgcode
    master.remove("calibration/any.gcode")
    result = await run_sync(farm, config_extra=BGCODE)
    assert result.exit_code == 0, result.to_json()
    for name in ("mini-1", "mini-2", "mk4s-1"):
        report = next(p for p in result.printers if p.name == name)
        assert ("delete", "calibration/any.bgcode") in {(a.op, a.path) for a in report.actions}
    assert "calibration/any.bgcode" not in mini.files()

    # a master holding both forms sends its own .bgcode (a note, no error)
    own = mini.files()["parts/clip_MINI.bgcode"][:-1] + b"\x00"  # not our conversion
    master.write("parts/clip_MINI.bgcode", own)
    result = await run_sync(farm, config_extra=BGCODE)
    assert result.exit_code == 0, result.to_json()
    report = next(p for p in result.printers if p.name == "mini-1")
    assert mini.files()["parts/clip_MINI.bgcode"] == own
    assert any("the master holds parts/clip_MINI.bgcode" in n for n in report.notes)


async def test_changing_send_as_replaces_the_files_within_max_delete(
    farm_factory: Any, master: Master, run_sync: SyncRunner, tmp_path: Path
) -> None:
    _fill(master, {"a_MINI.gcode": MINI, "b.gcode": ANY})
    farm = await farm_factory([PrinterSpec("mini-1", profile="mini")])
    await run_sync(farm)
    mini = farm.printers[0]
    assert set(mini.files()) == {"a_MINI.gcode", "b.gcode"}

    refused = await run_sync(farm, config_extra=BGCODE, max_delete=1)
    assert refused.exit_code == 3
    assert set(mini.files()) == {"a_MINI.gcode", "b.gcode"}

    switched = await run_sync(farm, config_extra=BGCODE, max_delete=2)
    assert switched.exit_code == 0, switched.to_json()
    assert set(mini.files()) == {"a_MINI.bgcode", "b.bgcode"}

    back = await run_sync(farm)
    assert back.exit_code == 0, back.to_json()
    assert mini.files() == {"a_MINI.gcode": MINI, "b.gcode": ANY}


async def test_a_file_that_does_not_convert_is_sent_as_it_is(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    bad = ANY  # the writer is made to refuse it
    _fill(master, {"odd.gcode": bad})
    farm = await farm_factory([PrinterSpec("mini-1", profile="mini")])
    broken = pytest.MonkeyPatch()
    broken.setattr(
        "link_sync.engine.conversions.convert",
        _refuse,
    )
    try:
        result = await run_sync(farm, config_extra=BGCODE)
    finally:
        broken.undo()
    assert result.exit_code == 0, result.to_json()
    mini = farm.printers[0]
    assert mini.files() == {"odd.gcode": bad}
    report = result.printers[0]
    assert any("odd.gcode is sent as it is" in n for n in report.notes)
    # the next run knows it does not convert: nothing to do, nothing deleted
    again = await run_sync(farm, config_extra=BGCODE)
    assert again.printers[0].actions == []


def _refuse(source: Path, destination: Path) -> Any:
    from link_sync.bgcode.writer import ConversionError

    raise ConversionError("a G-code block does not decode to the file's bytes")


async def test_a_file_changed_mid_conversion_is_not_sent(tmp_path: Path) -> None:
    source = tmp_path / "a.gcode"
    source.write_bytes(MINI)
    stat = source.stat()
    file = LocalFile("a.gcode", source, stat.st_size, stat.st_mtime_ns)
    hashes = LocalHashes(None)
    await hashes.get(file, "sha256")  # the hash of the scanned content
    source.write_bytes(MINI.replace(b"G1", b"G0", 1))
    os.utime(source, ns=(stat.st_mtime_ns, stat.st_mtime_ns))
    conversions = Conversions(tmp_path / "cache")
    with pytest.raises(OSError, match="changed while it was being converted"):
        await conversions.get(file, hashes)
    assert not list((tmp_path / "cache").glob("*.bgcode"))


async def test_the_cache_is_bounded_and_cleaned(tmp_path: Path) -> None:
    conversions = Conversions(tmp_path / "cache", limit=1)
    hashes = LocalHashes(None)
    made = []
    for i in range(3):
        source = tmp_path / f"{i}.gcode"
        source.write_bytes(prusaslicer_gcode("MINIIS", moves=200, seed=i))
        stat = source.stat()
        file = LocalFile(source.name, source, stat.st_size, stat.st_mtime_ns)
        made.append(await conversions.get(file, hashes))
    # every one is in use by this process, so all are kept while it runs
    assert all(c.path.exists() for c in made)
    (tmp_path / "cache" / "old-v0.bgcode").write_bytes(b"x")  # another converter version
    later = Conversions(tmp_path / "cache", limit=made[0].size + made[1].size)
    later.clean()
    kept = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(kept) == 2 and "old-v0.bgcode" not in kept
    assert not made[0].path.exists()  # the least recently used went first


async def test_a_conversion_that_fails_is_remembered(tmp_path: Path) -> None:
    source = tmp_path / "a.gcode"
    source.write_bytes(ANY)
    stat = source.stat()
    file = LocalFile("a.gcode", source, stat.st_size, stat.st_mtime_ns)
    conversions = Conversions(tmp_path / "cache")
    patch = pytest.MonkeyPatch()
    patch.setattr("link_sync.engine.conversions.convert", _refuse)
    try:
        with pytest.raises(NotConverted):
            await conversions.get(file, LocalHashes(None))
    finally:
        patch.undo()
    with pytest.raises(NotConverted, match="does not decode"):
        await Conversions(tmp_path / "cache").get(file, LocalHashes(None))


def test_the_master_files_as_a_bgcode_printer_holds_them(tmp_path: Path) -> None:
    def f(path: str) -> LocalFile:
        return LocalFile(path, tmp_path / path, 10, 1)

    form = as_binary(
        [f("a.gcode"), f("A.bgcode"), f("b.GCO"), f("c.bgcode"), f("d_MK4S.gcode"), f("e.g")],
        {"d_MK4S.gcode": "sliced for MK4S; this is a MINI"},
        keep_plain={"e.g"},
        case_insensitive=True,
    )
    assert [(x.path, x.converted_from) for x in form.files] == [
        ("A.bgcode", None),
        ("b.bgcode", "b.GCO"),
        ("c.bgcode", None),
        ("d_MK4S.gcode", None),
        ("e.g", None),
    ]
    assert form.notes == ["a.gcode not converted: the master holds a.bgcode, which is sent instead"]
    assert form.not_wanted == {
        "d_MK4S.gcode": "sliced for MK4S; this is a MINI",
        "d_MK4S.bgcode": "sliced for MK4S; this is a MINI",
    }


def test_send_as_on_a_host_that_cannot_print_bgcode(tmp_path: Path) -> None:
    for kind in ("octoprint", "moonraker"):
        with pytest.raises(ConfigError, match=r"printer 'o': key 'send_as': a " + kind):
            Config(
                source=tmp_path,
                printers={"o": {"host": "h", "type": kind, "api_key": "k", "send_as": "bgcode"}},
            )
    config = Config(
        source=tmp_path,
        defaults={"send_as": "bgcode"},
        printers={
            "o": {"host": "h1", "type": "octoprint", "api_key": "k"},
            "m": {"host": "h2", "type": "moonraker"},
            "b": {"host": "h3"},
        },
    )
    assert [p.send_as for p in config.printers.values()] == ["as-is", "as-is", "bgcode"]
    assert len([w for w in config.warnings if "send_as" in w]) == 1
    assert "o, m" in config.warnings[-1]


async def test_a_broken_conversion_shows_on_the_printer(
    farm_factory: Any, master: Master, run_sync: SyncRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator checks .bgcode as Buddy does: a block whose CRC does not match opens
    the preview on the firmware's file error, and the run says so."""
    from link_sync.bgcode import writer

    good_block = writer.block

    def bad_crc(*args: Any, **kwargs: Any) -> bytes:
        data = good_block(*args, **kwargs)
        return data[:-1] + bytes([data[-1] ^ 1])

    monkeypatch.setattr(writer, "block", bad_crc)
    _fill(master, {"a_MINI.gcode": MINI})
    farm = await farm_factory([PrinterSpec("mini-1", profile="mini")], preview=True)
    result = await run_sync(farm, config_extra=BGCODE)
    assert result.exit_code == 1
    report = result.printers[0]
    assert report.status == "failed" and "ATTENTION" in (report.error or "")
    assert farm.printers[0].question == "The file is not a valid bgcode file."


async def test_pull_takes_only_a_printer_only_bgcode_as_it_is(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    from link_sync.commands.pull import PullRequest, pull_async

    _fill(master, {"a_MINI.gcode": MINI})
    farm = await farm_factory([PrinterSpec("mini-1", profile="mini")])
    await run_sync(farm, config_extra=BGCODE)
    mini = farm.printers[0]
    own = mini.files()["a_MINI.bgcode"]
    mini.write_file("theirs.bgcode", own)  # put there by someone else
    config = farm.config(source=str(master.root))
    config.update(BGCODE)
    result = await pull_async(PullRequest(Config(**config)))
    assert result.exit_code == 0, result.to_json()
    # the .bgcode sent for a_MINI.gcode is that file; only the printer's own comes back
    assert [(a.op, a.path) for a in result.printers[0].actions] == [("pull", "theirs.bgcode")]
    assert master.files() == {"a_MINI.gcode": MINI, "theirs.bgcode": own}


async def test_plan_names_both_files_and_both_sizes(
    farm_factory: Any, master: Master, run_sync: SyncRunner, state_env: dict[str, str]
) -> None:
    import io

    import link_sync
    from link_sync.report import PlainLog

    _fill(master, {"a_MINI.gcode": MINI})
    farm = await farm_factory(
        [PrinterSpec("mini-1", profile="mini"), PrinterSpec("mini-2", profile="mini")]
    )
    config_data = farm.config(source=str(master.root))
    config_data.update(BGCODE)
    config = Config(**config_data)
    states = state_env["LINK_SYNC_STATE_DIR"]

    # before any conversion: the master file's size, an upper bound
    text = io.StringIO()
    planned = await link_sync.plan_async(
        config, state_dir=states, observer=PlainLog(text, dry_run=True)
    )
    action = planned.to_json()["printers"][0]["actions"][0]
    assert action == {
        "op": "upload",
        "path": "a_MINI.bgcode",
        "bytes": len(MINI),
        "ok": True,
        "error": None,
        "reason": "missing",
        "source": "a_MINI.gcode",
        "source_bytes": len(MINI),
    }
    assert "mini-1: would upload a_MINI.bgcode (missing) (from a_MINI.gcode, " in text.getvalue()

    # once converted (for mini-1), mini-2's plan says the size it will send
    await run_sync(farm, config_extra=BGCODE, printers=["mini-1"])
    sent = len(farm.printers[0].files()["a_MINI.bgcode"])
    planned = await link_sync.plan_async(config, state_dir=states, printers=["mini-2"])
    action = planned.to_json()["printers"][0]["actions"][0]
    assert (action["bytes"], action["source_bytes"]) == (sent, len(MINI))


def test_the_files_view_names_a_converted_file_by_its_master_file(tmp_path: Path) -> None:
    from dataclasses import replace

    from link_sync.core.file_states import FileState, printer_files
    from link_sync.core.model import Op
    from link_sync.core.planner import Action, Plan, Problem

    plain = LocalFile("a.gcode", tmp_path / "a.gcode", 10, 1)
    other = LocalFile("b.gcode", tmp_path / "b.gcode", 10, 1)
    held = LocalFile("c.gcode", tmp_path / "c.gcode", 10, 1)
    sent = replace(plain, path="a.bgcode", converted_from="a.gcode")
    plan = Plan(
        transfers=[Action(Op.UPLOAD, "a.bgcode", sent, reason="missing")],
        refused=[Problem("b.bgcode", "a folder of that name is on the printer")],
    )
    placed = printer_files([plain, other, held], plan)
    assert placed.placement(plain, plain).state == FileState.PENDING
    assert placed.placement(other, other).state == FileState.REFUSED
    assert placed.placement(held, held).state == FileState.HELD


async def test_live_totals_count_the_bytes_sent_converted(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """The terminal's live progress (row and farm total) and the watch's pending bytes
    and transfer count the binary G-code that goes out, not the plain master files."""
    import io

    from rich.console import Console

    from link_sync.core.planner import Action, Plan
    from link_sync.report import LiveProgress
    from link_sync.result import ActionResult
    from link_sync.watch.observer import FarmObserver
    from link_sync.watch.state import FarmState

    other = prusaslicer_gcode("MINIIS", layers=True, moves=8000, seed=4)
    _fill(master, {"a_MINI.gcode": MINI, "b_MINI.gcode": other})
    farm = await farm_factory([PrinterSpec("mini-1", profile="mini")])
    state = FarmState([("mini-1", "http://printer")])
    live = LiveProgress(Console(file=io.StringIO(), width=160))
    transfers: list[tuple[str, int]] = []  # the watch's transfer: path, its total
    pending_after: list[int] = []  # the watch's pending bytes after each upload

    class Watched(FarmObserver):
        def plan_ready(self, name: str, plan: Plan) -> None:
            super().plan_ready(name, plan)
            live.plan_ready(name, plan)

        def transfer_started(self, name: str, action: Action) -> None:
            super().transfer_started(name, action)
            live.transfer_started(name, action)
            transfer = state.printers[name].transfer
            assert transfer is not None
            transfers.append((transfer.path, transfer.total))

        def transfer_progress(self, name: str, sent: int) -> None:
            super().transfer_progress(name, sent)
            live.transfer_progress(name, sent)

        def action_done(self, name: str, result: ActionResult) -> None:
            super().action_done(name, result)
            pending_after.append(state.printers[name].pending_bytes)

    live.printer_started("mini-1")
    result = await run_sync(farm, config_extra=BGCODE, observer=Watched(state))

    assert result.exit_code == 0, result.to_json()
    held = farm.printers[0].files()
    sent = len(held["a_MINI.bgcode"]) + len(held["b_MINI.bgcode"])
    assert sent * 2 < len(MINI) + len(other)
    row = live.rows["mini-1"]
    assert (row.done, row.total) == (sent, sent)
    assert "/ " + human_bytes(sent) in _rendered(live)  # the farm's total too
    assert sorted(transfers) == sorted((path, len(data)) for path, data in held.items())
    # the first upload is checked while the second is sent: then only that one is left
    assert pending_after == [len(held[transfers[1][0]]), 0]


def _rendered(live: Any) -> str:
    import io

    from rich.console import Console

    text = io.StringIO()
    Console(file=text, width=160).print(live._render())
    return text.getvalue()


async def test_both_forms_in_the_master_are_one_wanted_file(
    farm_factory: Any, master: Master, run_sync: SyncRunner, state_env: dict[str, str]
) -> None:
    """The master's X.gcode and X.bgcode are one file on a `send_as: bgcode` printer:
    wanted_files counts it once, in the run's result and in status."""
    import link_sync
    from link_sync.bgcode.writer import convert

    _fill(master, {"a_MINI.gcode": MINI, "b.gcode": ANY})
    convert(master.root / "a_MINI.gcode", master.root / "a_MINI.bgcode")
    farm = await farm_factory([PrinterSpec("mini-1", profile="mini")])

    result = await run_sync(farm, config_extra=BGCODE)

    assert result.exit_code == 0, result.to_json()
    assert set(farm.printers[0].files()) == {"a_MINI.bgcode", "b.bgcode"}
    assert result.printers[0].wanted_files == 2
    config = farm.config(source=str(master.root))
    config.update(BGCODE)
    states = state_env["LINK_SYNC_STATE_DIR"]
    (report,) = await link_sync.status_async(Config(**config), state_dir=states)
    assert (report.wanted_files, report.wanted_held, report.in_sync) == (2, 2, True)
