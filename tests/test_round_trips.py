"""Round trips a sync does not wait for: what can be asked at once is asked at once.

A printer has two connections; the engine uses the second one for reads that need not
wait for the first: the state is read while the printer is probed, and an upload is
checked while the next file is sent. Shown with a backend that notes which of its
calls are in flight together (against an emulated Buddy printer on loopback).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import link_sync
from link_sync.backends import open_backend
from link_sync.backends.base import Backend
from link_sync.emulator import PrinterSpec
from link_sync.engine.options import SyncOptions
from link_sync.engine.run import PrinterWork
from link_sync.engine.scan import scan_source
from link_sync.engine.session import Session

from sync_helpers import FAST_RETRY, Master


class Overlaps:
    """Wraps a backend; notes the calls running while another one starts."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.running: list[str] = []
        #: (call starting, the calls already running then)
        self.starts: list[tuple[str, tuple[str, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def _call(self, label: str, call: Any) -> Any:
        self.starts.append((label, tuple(self.running)))
        self.running.append(label)
        try:
            return await call
        finally:
            self.running.remove(label)

    async def probe(self) -> Any:
        return await self._call("probe", self.backend.probe())

    async def status(self) -> Any:
        return await self._call("status", self.backend.status())

    async def upload(self, path: str, source: Path, size: int, **kwargs: Any) -> None:
        await self._call(f"upload {path}", self.backend.upload(path, source, size, **kwargs))

    async def stat(self, path: str) -> Any:
        return await self._call(f"stat {path}", self.backend.stat(path))

    def alongside(self, label: str) -> tuple[str, ...]:
        return next(running for started, running in self.starts if started == label)


async def _sync(farm: Any, master: Master) -> tuple[Overlaps, link_sync.RunResult]:
    printer = link_sync.Config(**farm.config(source=master.root)).printers["mk4"]
    watched = Overlaps(await open_backend(printer))
    work = PrinterWork(printer, scan_source(master.root).files)
    async with Session(None, backends={"mk4": watched}) as session:  # type: ignore[dict-item]
        result = await session.run([work], SyncOptions(retry=FAST_RETRY))
    await watched.backend.aclose()
    return watched, result


async def test_the_state_is_read_while_the_printer_is_probed(
    farm_factory: Any, master: Master
) -> None:
    master.write("a.gcode", b"G1 X1\n" * 100)
    farm = await farm_factory([PrinterSpec("mk4")])
    watched, result = await _sync(farm, master)
    assert result.exit_code == 0, result.to_json()
    assert "probe" in watched.alongside("status")


async def test_each_upload_is_checked_while_the_next_file_is_sent(
    farm_factory: Any, master: Master
) -> None:
    for name in ("a", "b", "c"):
        master.write(f"{name}.gcode", f"G1 ; {name}\n".encode() * 20_000)
    farm = await farm_factory([PrinterSpec("mk4")])
    watched, result = await _sync(farm, master)
    assert result.exit_code == 0, result.to_json()
    assert sorted(a.path for a in result.printers[0].actions) == ["a.gcode", "b.gcode", "c.gcode"]
    assert farm["mk4"].files().keys() == {"a.gcode", "b.gcode", "c.gcode"}
    uploads = [label for label, _ in watched.starts if label.startswith("upload ")]
    checks = [label for label, _ in watched.starts if label.startswith("stat ")]
    assert len(uploads) == len(checks) == 3  # every upload is still checked
    # The check of each file but the last starts before the next file's upload ends.
    for sent, following in itertools.pairwise(uploads):
        check = "stat " + sent.removeprefix("upload ")
        assert following in watched.alongside(check) or check in watched.alongside(following)


async def test_a_file_that_does_not_arrive_whole_fails_alone(
    farm_factory: Any, master: Master
) -> None:
    for name in ("a", "b"):
        master.write(f"{name}.gcode", f"G1 ; {name}\n".encode() * 20_000)
    farm = await farm_factory([PrinterSpec("mk4")])
    printer = link_sync.Config(**farm.config(source=master.root)).printers["mk4"]
    backend = await open_backend(printer)
    real_stat = backend.stat

    async def short_stat(path: str) -> Any:
        entry = await real_stat(path)
        if entry is not None and path.endswith("a.gcode"):
            return type(entry)(**{**_fields(entry), "size": 1})  # as if it arrived cut
        return entry

    backend.stat = short_stat  # type: ignore[method-assign]
    work = PrinterWork(printer, scan_source(master.root).files)
    async with Session(None, backends={"mk4": backend}) as session:
        result = await session.run([work], SyncOptions(retry=FAST_RETRY))
    await backend.aclose()
    actions = {a.path: a for a in result.printers[0].actions}
    assert not actions["a.gcode"].ok and "holds 1 bytes" in (actions["a.gcode"].error or "")
    assert actions["b.gcode"].ok
    assert result.exit_code == 1


def _fields(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in entry.__dataclass_fields__}


async def test_the_state_the_uploads_left_is_read_while_the_last_is_checked(
    farm_factory: Any, master: Master
) -> None:
    master.write("a.gcode", b"G1 X1\n" * 20_000)
    farm = await farm_factory([PrinterSpec("mk4")])
    watched, result = await _sync(farm, master)
    assert result.exit_code == 0, result.to_json()
    statuses = [running for label, running in watched.starts if label == "status"]
    assert len(statuses) == 2  # before the plan, and after the upload (the preview)
    assert "stat a.gcode" in statuses[1] or any(
        label == "stat a.gcode" and "status" in running for label, running in watched.starts
    )


async def test_without_a_journal_the_printers_files_are_asked_about_two_at_a_time(
    farm_factory: Any, master: Master
) -> None:
    for index in range(6):
        master.write(f"part-{index}.gcode", f"G1 ; {index}\n".encode() * 1_000)
    farm = await farm_factory([PrinterSpec("mk4")])
    await _sync(farm, master)  # the files go on; no journal keeps them
    watched, result = await _sync(farm, master)
    assert result.exit_code == 0, result.to_json()
    assert result.printers[0].unchanged == 6  # recognised, not sent again
    stats = [(label, running) for label, running in watched.starts if label.startswith("stat ")]
    assert len(stats) == 6  # Buddy lists no sizes: each file is asked about once
    assert any(any(r.startswith("stat ") for r in running) for _, running in stats)


async def test_an_upload_the_listing_shows_late_counts_and_one_never_shown_fails(
    farm_factory: Any, master: Master
) -> None:
    # A listing can lag an accepted upload (PrusaLink 0.8.1 up to ~1 s; OctoPrint once
    # under load): the check asks again before calling the file missing.
    for name in ("late", "never"):
        master.write(f"{name}.gcode", f"G1 ; {name}\n".encode() * 1_000)
    farm = await farm_factory([PrinterSpec("mk4")])
    printer = link_sync.Config(**farm.config(source=master.root)).printers["mk4"]
    backend = await open_backend(printer)
    real_stat = backend.stat
    asked: dict[str, int] = {}

    async def lagging_stat(path: str) -> Any:
        name = path.rpartition("/")[2]
        asked[name] = asked.get(name, 0) + 1
        if name == "never.gcode" or (name == "late.gcode" and asked[name] <= 2):
            return None
        return await real_stat(path)

    backend.stat = lagging_stat  # type: ignore[method-assign]
    work = PrinterWork(printer, scan_source(master.root).files)
    async with Session(None, backends={"mk4": backend}) as session:
        result = await session.run([work], SyncOptions(retry=FAST_RETRY))
    await backend.aclose()
    actions = {a.path: a for a in result.printers[0].actions}
    assert actions["late.gcode"].ok, actions["late.gcode"]
    assert asked["late.gcode"] == 3
    assert not actions["never.gcode"].ok
    assert "not on the printer" in (actions["never.gcode"].error or "")
    assert result.exit_code == 1
