"""The whole engine (`link_sync.sync_async`, the journal) against real servers.

Each scenario of the real-servers issue runs once per server: OctoPrint,
Moonraker and the Raspberry-Pi PrusaLink. Every test syncs into a destination
folder of its own, so the tests share the session's servers in any order; the
server's storage folder on disk is the judge of what the printer holds.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.emulator import PrinterSpec
from link_sync.result import PrinterResult, RunResult

from ._files import visible_tree
from .servers import (
    MoonrakerServer,
    OctoPrintServer,
    PrusaLinkServer,
    ServerSetupError,
    slow_gcode,
)
from sync_helpers import FAST_RETRY, Master

#: Nested names with spaces and non-ASCII letters ('#' is left out: the Pi refuses it).
BGCODE = "Kunden/ACME Auftrag 1042/Halter v3.bgcode"
MASTER = {
    "benchy.gcode": b"G28\nG1 X10 Y10\n" * 400,
    "Teile und Halter/Größe 2/Würfel 20 mm.gcode": b"G1 Z0.2 F600\n" * 300,
    "Teile und Halter/Klammer für Kabel.gcode": b"M104 S215\nG1 X1\n" * 120,
    "Kunden/ACME Auftrag 1042/Halter v3.gcode": b"G1 Y2 E0.5\n" * 250,
    BGCODE: b"GCDE\x01\x00\x00\x00" + b"\x07" * 900,
    "Ünïcödé ☃/été à Zürich.gco": b"G0 X0\n" * 90,
}
#: Print types none of the three real servers can hold (and list again).
UNSUPPORTED = {BGCODE}
JOB = "Teile und Halter/Druckauftrag läuft.gcode"

SERVERS = ["octoprint", "moonraker", "prusalink"]
#: The next OctoPrint (2.0.0rc7): every scenario that adds proof for it (a first sync and
#: the nothing after it, a replacement its listing has no hash for, the file being
#: printed, a wrong key, routing, the mixed farm); the others are the same code path as
#: 1.11.8's and would only cost CI time.
OCTOPRINT_NEXT = "octoprint-next"
WITH_NEXT = [*SERVERS, OCTOPRINT_NEXT]
#: each kind of real printer: its session fixture
FIXTURES = {
    "octoprint": "octoprint_server",
    OCTOPRINT_NEXT: "octoprint_next_server",
    "moonraker": "moonraker_server",
    "prusalink": "prusalink_server",
}

Server = OctoPrintServer | MoonrakerServer | PrusaLinkServer


@dataclass
class RealPrinter:
    """One real server as a printer of a link-sync config."""

    kind: str
    server: Server

    def entry(self, destination: str, *, api_key: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "host": self.server.url,
            "api_key": api_key or self.server.api_key,
            "destination": destination,
        }
        if self.kind != "prusalink":
            entry["type"] = "octoprint" if self.kind.startswith("octoprint") else self.kind
        return entry

    @property
    def storage(self) -> Path:
        return self.server.storage

    def files(self, destination: str) -> dict[str, bytes]:
        """The files under `destination` on disk, destination-relative (no dot entries)."""
        root = self.storage / destination
        return {
            path: (self.storage / destination / path).read_bytes()
            for path in visible_tree(root)
            if (root / path).is_file()
        }

    def folders(self, destination: str) -> set[str]:
        root = self.storage / destination
        return {path for path in visible_tree(root) if (root / path).is_dir()}


@pytest.fixture(params=SERVERS)
def real(request: pytest.FixtureRequest) -> RealPrinter:
    kind: str = request.param
    return RealPrinter(kind, request.getfixturevalue(FIXTURES[kind]))


@pytest.fixture
def printing(real: RealPrinter, tmp_path: Path) -> Iterator[RealPrinter]:
    """`real`, able to start a print. PrusaLink's fake MK3S reliably prints only
    once per server run (a second print's start may hang in PrusaLink's command
    queue), so print tests get a PrusaLink of their own (~10 s to start)."""
    if real.kind != "prusalink":
        yield real
        return
    server = PrusaLinkServer(tmp_path / "prusalink")
    try:
        server.install()
        server.start()
    except ServerSetupError as exc:
        server.stop()
        pytest.fail(f"PrusaLink for a print test could not be set up:\n{exc}", pytrace=False)
    try:
        yield RealPrinter("prusalink", server)
    finally:
        server.stop()


@pytest.fixture
def destination(request: pytest.FixtureRequest) -> str:
    """A folder of the printer's storage that only this test syncs into."""
    return "t-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")


Runner = Callable[..., Any]


@pytest.fixture
def sync(tmp_path: Path, master: Master, state_env: Mapping[str, str]) -> Runner:
    """`await sync(printers, **request_fields)` -> RunResult, with a config built in code."""

    async def runner(printers: Mapping[str, Mapping[str, Any]], **fields: Any) -> RunResult:
        config = link_sync.Config(source=master.root, printers=dict(printers))
        fields.setdefault("retry", FAST_RETRY)
        states = state_env["LINK_SYNC_STATE_DIR"]
        return await link_sync.sync_async(config, state_dir=states, **fields)

    return runner


def fill(master: Master, files: Mapping[str, bytes], age: float = 3600) -> None:
    for path, data in files.items():
        master.write(path, data, mtime=time.time() - age)


def expected(files: Mapping[str, bytes], unsupported: set[str] = UNSUPPORTED) -> dict[str, bytes]:
    return {path: data for path, data in files.items() if path not in unsupported}


def parents(paths: Iterator[str] | list[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def show(result: RunResult | PrinterResult) -> str:
    """The JSON form, for assertion messages (pytest abbreviates dicts)."""
    return json.dumps(result.to_json(), indent=1, ensure_ascii=False)


def report(result: RunResult, name: str) -> PrinterResult:
    return next(p for p in result.printers if p.name == name)


def ops(printer: PrinterResult) -> list[tuple[str, str, bool]]:
    return [(a.op, a.path, a.ok) for a in printer.actions]


class Watch:
    """Polls a path on disk in a thread (the event loop is busy syncing) and
    records whether it was ever missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.checks = 0
        self.missing = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.checks += 1
            try:
                os.stat(self.path)
            except OSError as exc:
                self.missing += 1
                self.errors.append(f"{time.monotonic():.3f} {exc!r}")
            time.sleep(0.001)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# -- scenarios, once per real server ---------------------------------------------------


@pytest.mark.parametrize("real", WITH_NEXT, indirect=True)
async def test_first_sync_then_nothing(
    real: RealPrinter, destination: str, master: Master, sync: Runner
) -> None:
    fill(master, MASTER)
    printers = {real.kind: real.entry(destination)}

    first = await sync(printers)
    mine = report(first, real.kind)
    assert first.exit_code == 0, show(first)
    assert mine.status == "synced", show(mine)
    want = expected(MASTER)
    # Byte for byte, and nothing else: no stray folders, no unsupported file.
    assert real.files(destination) == want
    assert real.folders(destination) == parents(list(want))
    assert [path for path, _ in mine.skipped] == [BGCODE]
    assert BGCODE not in {a.path for a in mine.actions}
    assert sorted(a.path for a in mine.actions if a.op == "upload") == sorted(want)
    assert all(a.ok for a in mine.actions)

    second = await sync(printers)
    again = report(second, real.kind)
    assert second.exit_code == 0, show(second)
    assert (again.status, again.actions) == ("synced", []), show(again)
    assert [path for path, _ in again.skipped] == [BGCODE]  # reported, never re-sent
    assert again.unchanged == len(want)
    assert real.files(destination) == want


@pytest.mark.parametrize("real", WITH_NEXT, indirect=True)
async def test_local_change_is_replaced_in_place(
    real: RealPrinter, destination: str, master: Master, sync: Runner
) -> None:
    fill(master, MASTER)
    printers = {real.kind: real.entry(destination)}
    assert (await sync(printers)).exit_code == 0

    changed = "Teile und Halter/Größe 2/Würfel 20 mm.gcode"
    # Same size, other content: only the content tells the two apart.
    new = MASTER[changed].replace(b"F600", b"F900")
    assert len(new) == len(MASTER[changed])
    master.write(changed, new)
    with Watch(real.storage / destination / changed) as watch:
        result = await sync(printers)
    mine = report(result, real.kind)
    assert result.exit_code == 0, show(result)
    assert ops(mine) == [("replace", changed, True)]
    assert watch.checks > 10 and watch.missing == 0, watch.errors[:5]
    assert real.files(destination) == expected({**MASTER, changed: new})

    third = await sync(printers)
    assert report(third, real.kind).actions == []


async def test_local_removal_deletes_file_and_emptied_folder(
    real: RealPrinter, destination: str, master: Master, sync: Runner
) -> None:
    fill(master, MASTER)
    printers = {real.kind: real.entry(destination)}
    assert (await sync(printers)).exit_code == 0

    removed = "Teile und Halter/Größe 2/Würfel 20 mm.gcode"
    master.remove(removed)
    (master.root / "Teile und Halter/Größe 2").rmdir()
    result = await sync(printers)
    mine = report(result, real.kind)
    assert result.exit_code == 0, show(result)
    assert ops(mine) == [("delete", removed, True), ("rmdir", "Teile und Halter/Größe 2", True)]
    # Gone from disk, with the folder (and any hidden leftovers of the server's).
    assert not (real.storage / destination / "Teile und Halter/Größe 2").exists()
    remaining = expected({k: v for k, v in MASTER.items() if k != removed})
    assert real.files(destination) == remaining
    assert real.folders(destination) == parents(list(remaining))

    again = await sync(printers)
    assert report(again, real.kind).actions == []


@pytest.mark.parametrize("mode", ["default", "wait", "upload"])
@pytest.mark.parametrize("real", WITH_NEXT, indirect=True)
async def test_file_being_printed_is_never_deleted_or_overwritten(
    printing: RealPrinter, destination: str, master: Master, sync: Runner, mode: str
) -> None:
    # `while_printing` (issue 27): OctoPrint and Moonraker take files during a print by
    # default, the Pi PrusaLink when set to `upload`; a printer that waits is left
    # alone, and `--include-busy` syncs it for one run. The printed file is never touched.
    real = printing
    job_bytes = slow_gcode(120)
    files = {**MASTER, JOB: job_bytes}
    fill(master, files)
    entry = real.entry(destination)
    if mode != "default":
        entry["while_printing"] = mode
    printers = {real.kind: entry}
    takes = mode == "upload" or (mode == "default" and real.kind != "prusalink")
    first = await sync(printers)
    assert first.exit_code == 0, show(first)
    assert report(first, real.kind).while_printing == ("upload" if takes else "wait")

    real.server.start_printing(f"{destination}/{JOB}")
    try:
        # The job changes in the master, a new file comes, another goes.
        master.write(JOB, job_bytes + b"; edited\n")
        master.write("neu hinzugefügt.gcode", b"G28\n" * 10)
        master.remove("benchy.gcode")
        changed = await sync(printers)
        mine = report(changed, real.kind)
        assert changed.exit_code == 0, show(changed)
        assert mine.state == "PRINTING", show(mine)
        if not takes:
            assert (mine.status, mine.actions) == ("busy", []), show(mine)
            assert real.files(destination) == expected(files)
            changed = await sync(printers, include_busy=True)  # for this one run
            mine = report(changed, real.kind)
            assert changed.exit_code == 0, show(changed)
        on_disk = real.files(destination)
        assert on_disk[JOB] == job_bytes  # never overwritten
        # all but the stale job file: kept while it prints, so not `synced`
        assert mine.status == "busy", show(mine)
        assert [path for path, _ in mine.kept] == [JOB], show(mine)
        assert sorted(ops(mine)) == [
            ("delete", "benchy.gcode", True),
            ("upload", "neu hinzugefügt.gcode", True),
        ]
        assert "benchy.gcode" not in on_disk
        assert on_disk["neu hinzugefügt.gcode"] == b"G28\n" * 10

        # The job leaves the master: it stays on the printer while it prints.
        master.remove(JOB)
        removed = await sync(printers, include_busy=not takes)
        mine = report(removed, real.kind)
        assert removed.exit_code == 0, show(removed)
        assert real.files(destination)[JOB] == job_bytes
        assert mine.status == "busy", show(mine)  # the job file, not in the master, stays
        assert [path for path, _ in mine.kept] == [JOB], show(mine)
        assert mine.actions == [], show(mine)
    finally:
        real.server.stop_printing()

    # Once the print is over, the next run finishes the job.
    final = await sync(printers)
    mine = report(final, real.kind)
    assert final.exit_code == 0, show(final)
    assert ("delete", JOB, True) in ops(mine)
    assert real.files(destination) == expected(
        {
            **{k: v for k, v in MASTER.items() if k != "benchy.gcode"},
            "neu hinzugefügt.gcode": b"G28\n" * 10,
        }
    )


@pytest.mark.parametrize("real", WITH_NEXT, indirect=True)
async def test_wrong_api_key_fails_that_printer_only(
    real: RealPrinter,
    destination: str,
    master: Master,
    sync: Runner,
    farm_factory: Any,
) -> None:
    fill(master, MASTER)
    farm = await farm_factory([PrinterSpec("mk4-emu", profile="mk4")])
    printers: dict[str, Any] = dict(farm.config()["printers"])
    printers["right"] = real.entry(f"{destination}-right")
    printers["wrong"] = real.entry(f"{destination}-wrong", api_key="Wrong-Key-4711-xyz")

    result = await sync(printers)
    assert result.exit_code == 1, show(result)
    wrong = report(result, "wrong")
    assert wrong.status == "failed", show(wrong)
    assert wrong.error is not None and "wrong password or API key" in wrong.error
    assert "Wrong-Key-4711-xyz" not in wrong.error
    assert wrong.actions == []
    assert not (real.storage / f"{destination}-wrong").exists()
    assert report(result, "right").status == "synced"
    assert report(result, "mk4-emu").status == "synced"
    assert real.files(f"{destination}-right") == expected(MASTER)
    assert farm["mk4-emu"].files() == MASTER


# -- one mixed farm: emulated Buddy printers and all the real servers ---------------------


async def test_mixed_farm_reaches_the_master_in_one_run(
    request: pytest.FixtureRequest,
    destination: str,
    master: Master,
    sync: Runner,
    farm_factory: Any,
) -> None:
    fill(master, MASTER)
    farm = await farm_factory(
        [
            PrinterSpec("mk4-1", profile="mk4"),
            PrinterSpec("xl-1", profile="xl"),
            PrinterSpec("mini-1", profile="mini"),
        ]
    )
    reals = [RealPrinter(kind, request.getfixturevalue(FIXTURES[kind])) for kind in WITH_NEXT]
    printers: dict[str, Any] = dict(farm.config()["printers"])
    for real in reals:
        printers[real.kind] = real.entry(destination)

    first = await sync(printers)
    assert first.exit_code == 0, show(first)
    assert {p.status for p in first.printers} == {"synced"}
    for printer in farm:
        assert printer.files() == MASTER, printer.name
        assert report(first, printer.name).skipped == []
    for real in reals:
        assert real.files(destination) == expected(MASTER), real.kind
        assert [path for path, _ in report(first, real.kind).skipped] == [BGCODE]

    second = await sync(printers)
    assert second.exit_code == 0, show(second)
    assert {p.name: p.actions for p in second.printers} == {name: [] for name in printers}


@pytest.mark.parametrize("real", ["octoprint", OCTOPRINT_NEXT], indirect=True)
async def test_a_file_whose_thumbnail_is_no_image_is_stored_and_counts(
    real: RealPrinter, destination: str, master: Master, sync: Runner
) -> None:
    """OctoPrint 2.0 stores an upload, then reads the thumbnails in it and answers 500
    when one is no image; the file is there whole, and counts (1.11.8 answers 201)."""
    broken = b"; thumbnail begin 16x16 24\n; bm90IGFuIGltYWdlIGF0IGFsbA==\n; thumbnail end\n"
    files = {"thumb/broken preview.gcode": broken + b"G28\nG1 X5\n" * 50}
    fill(master, files)
    printers = {real.kind: real.entry(destination)}
    result = await sync(printers)
    assert result.exit_code == 0, show(result)
    assert real.files(destination) == files
    again = await sync(printers)
    assert (again.exit_code, report(again, real.kind).actions) == (0, []), show(again)
