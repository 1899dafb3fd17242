"""link-sync's own CPU in a run, without the HTTP client (issue 15, targets 3 and 4).

A farm benchmark's client CPU is link-sync plus its HTTP client; this one takes the
client away. Every printer is an in-memory stand-in (`StubPrinter`: Buddy-like, case
folding, listings without sizes, Buddy's name rules) given to the engine as an
injected backend, so what is timed is everything else a `sync` does, in this process:
scanning the master, routing, the printer locks, the journal (a real SQLite file),
planning, executing, the result and its JSON form.

    python bench/engine_bench.py insync   # 50 printers x 1,000 files in 20 folders, in sync
    python bench/engine_bench.py many     # 500 printers x one 200 KB file, uploaded
    python bench/engine_bench.py all

`insync` fills the journal with a first run, then times runs that find every file in
sync. `many` times runs that upload the file to 500 empty stand-ins (new ones and a new
journal each run; the lock files stay, as in a user's state folder). The figure is
`time.process_time` per run (median), and per printer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import link_sync
from link_sync._process import RUN_GC_THRESHOLDS
from link_sync.backends import buddy
from link_sync.backends.base import ProgressCallback
from link_sync.backends.names import check
from link_sync.core.model import PrinterInfo, PrinterStatus, RemoteEntry
from link_sync.engine import masters
from link_sync.engine.journal import Journal
from link_sync.engine.options import RetryPolicy, SyncOptions
from link_sync.engine.printer_locks import PrinterLocks
from link_sync.engine.session import Session
from link_sync.result import RunResult

RESULTS = Path(__file__).resolve().parent / "results"


class StubPrinter:
    """A Buddy printer's answers, from memory: no HTTP, nothing to wait for."""

    capabilities = buddy.CAPABILITIES

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: dict[str, RemoteEntry] = {}
        self.sizes: dict[str, int] = {}
        self.rules = buddy.name_rules("usb")

    async def probe(self) -> PrinterInfo:
        return PrinterInfo(kind="buddy", model="MK4S", firmware="6.2.0", storage="usb")

    async def status(self) -> PrinterStatus:
        return PrinterStatus("IDLE")

    async def list_tree(self, folder: str) -> list[RemoteEntry]:
        return list(self.entries.values())

    async def stat(self, path: str) -> RemoteEntry | None:
        entry = self.entries.get(path)
        if entry is None:
            return None
        return RemoteEntry(path, False, self.sizes[path], entry.mtime)

    async def upload(
        self,
        path: str,
        source: Path,
        size: int,
        *,
        overwrite: bool,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.entries[path] = RemoteEntry(path, False, None, time.time())
        self.sizes[path] = size
        if progress is not None:
            progress(size)

    async def delete(self, path: str) -> None:
        del self.entries[path]

    async def mkdir(self, path: str) -> None:
        self.entries[path] = RemoteEntry(path, True)

    async def rmdir(self, path: str) -> None:
        del self.entries[path]

    def check_name(self, path: str) -> str | None:
        return check(self.rules, path)

    async def aclose(self) -> None:
        pass


@contextlib.contextmanager
def spaced_gc_passes() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def make_config(printers: int, source: Path) -> link_sync.Config:
    return link_sync.Config(
        source=str(source),
        printers={
            f"mk4-{i}": link_sync.PrinterConfig(host=f"127.0.0.1:{20000 + i}", password="x")
            for i in range(printers)
        },
    )


async def one_run(
    config: link_sync.Config, states: Path, printers: dict[str, StubPrinter]
) -> RunResult:
    """What `link-sync sync` does, with the stand-ins as the printers' backends (and the
    collector's passes spaced, as the console script spaces them for a run)."""
    with spaced_gc_passes():
        works, _ = masters.scan_masters(list(config.printers.values()), allow_empty=False)
        with PrinterLocks(states, command="sync") as locks:
            locks.take(work.printer for work in works)
            journal = Journal.open(states / "journal.sqlite3")
            try:
                async with Session(journal, backends=printers) as session:
                    works = await masters.route_by_model(works, session.journal)
                    options = SyncOptions(retry=RetryPolicy(attempts=1))
                    result = await session.run(works, options)
            finally:
                journal.close()
    json.dumps(result.to_json())  # as `--json` does
    return result


def write_master(root: Path, files: int, folders: int, size: int) -> None:
    old = time.time() - 3600
    for index in range(files):
        folder = root / f"folder{index % folders:02d}" if folders else root
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part{index:05d}.gcode"
        path.write_bytes((f"; part {index}\n".encode() + b"G1 X1 Y1\n" * size)[:size])
        os.utime(path, (old, old))


def bench_insync(work: Path, rounds: int) -> dict[str, Any]:
    printers, files = 50, 1000
    write_master(work / "master", files, folders=20, size=2000)
    config = make_config(printers, work / "master")
    stubs = {name: StubPrinter(name) for name in config.printers}
    first = asyncio.run(one_run(config, work / "state", stubs))
    assert first.totals()["uploaded"] == printers * files, first.totals()
    times = []
    for _ in range(rounds):
        started = time.process_time()
        result = asyncio.run(one_run(config, work / "state", stubs))
        times.append(time.process_time() - started)
        assert result.ok and all(p.unchanged == files for p in result.printers)
    return summary("insync", times, printers, files=files)


def bench_many(work: Path, rounds: int) -> dict[str, Any]:
    printers = 500
    write_master(work / "master", 1, folders=0, size=200_000)
    config = make_config(printers, work / "master")
    times = []
    for index in range(rounds + 1):  # the first run creates the lock files: not counted
        (work / "state" / "journal.sqlite3").unlink(missing_ok=True)
        stubs = {name: StubPrinter(name) for name in config.printers}
        started = time.process_time()
        result = asyncio.run(one_run(config, work / "state", stubs))
        if index:
            times.append(time.process_time() - started)
        assert result.ok and result.totals()["uploaded"] == printers, result.totals()
    return summary("many", times, printers, files=1)


def summary(name: str, times: list[float], printers: int, files: int) -> dict[str, Any]:
    median = statistics.median(times)
    doc = {
        "scenario": name,
        "printers": printers,
        "files_per_printer": files,
        "cpu_per_run_s": round(median, 4),
        "cpu_per_printer_ms": round(median / printers * 1000, 3),
        "runs_s": [round(t, 4) for t in times],
        "load": round(os.getloadavg()[0], 2),
    }
    print(
        f"{name}: {median * 1000:.0f} ms CPU per run, {median / printers * 1000:.2f} ms per "
        f"printer (median of {len(times)}; load {doc['load']})",
        file=sys.stderr,
    )
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["insync", "many", "all"])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    docs = []
    for name, bench in (("insync", bench_insync), ("many", bench_many)):
        if args.scenario in (name, "all"):
            # the state folder outside /tmp, as a user's is (~/.local/state)
            with tempfile.TemporaryDirectory(prefix="ls-engine-", dir=Path.home()) as tmp:
                docs.append(bench(Path(tmp), args.rounds))
    RESULTS.mkdir(exist_ok=True)
    for doc in docs:
        (RESULTS / f"engine-{doc['scenario']}.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
