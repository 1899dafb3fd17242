"""The master side of a run: each master folder scanned once (refusing a missing or
empty one), and the master files' targets for routing by model, read once and then
cached in the journal under each file's path, size and mtime."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

from link_sync.config import PrinterConfig
from link_sync.core.model import LocalFile
from link_sync.core.routing import MasterTargets
from link_sync.core.targets import NO_TARGET, Target, read_target
from link_sync.engine.journal import CachedTarget, Journal
from link_sync.engine.run import PrinterWork
from link_sync.engine.scan import ScanResult, no_print_files, scan_source
from link_sync.errors import SafetyRefusal, UsageError


def scan_masters(
    printers: Sequence[PrinterConfig], allow_empty: bool
) -> tuple[list[PrinterWork], list[str]]:
    """Each printer's master files; each distinct master folder is scanned once.

    Raises `SafetyRefusal` for a master folder that is missing or holds no
    print file (unless `allow_empty`): a NAS that did not mount must not empty
    the printers.
    """
    scanned: dict[Path, ScanResult] = {}
    warnings: list[str] = []
    works: list[PrinterWork] = []
    for printer in printers:
        if printer.source is None:
            raise UsageError(
                f"printer '{printer.name}': no master folder: set 'source' in the config "
                "or pass --source"
            )
        if printer.source not in scanned:
            result = scan_source(printer.source)
            warnings.extend(result.problems)
            if not result.files and not allow_empty:
                raise SafetyRefusal(
                    f"{no_print_files(printer.source, result)}; refusing to empty the "
                    "printers. Pass --allow-empty to sync it anyway."
                )
            scanned[printer.source] = result
        found = scanned[printer.source]
        works.append(PrinterWork(printer, found.files, tuple(found.incomplete)))
    return works, warnings


async def route_by_model(
    works: Sequence[PrinterWork], journal: Journal | None
) -> list[PrinterWork]:
    """`works` with the master files' targets read (once; cached in the journal)."""
    files = (file for work in works for file in work.files)
    targets = await asyncio.to_thread(read_master_targets, files, journal)
    return [dataclasses.replace(work, targets=targets) for work in works]


def read_master_targets(files: Iterable[LocalFile], journal: Journal | None) -> MasterTargets:
    """Each file's target: from the journal's cache when its size and mtime are unchanged,
    else read from its head and tail (and remembered). An unreadable file has no target."""
    cache = journal.cached_targets() if journal is not None else {}
    targets: dict[str, Target] = {}
    fresh: list[tuple[str, CachedTarget]] = []
    cached = 0
    for file in files:
        key = str(file.abspath)
        if key in targets:
            continue  # the same master folder serves several printers
        hit = cache.get(key)
        if hit is not None and hit.size == file.size and hit.mtime_ns == file.mtime_ns:
            targets[key] = Target(hit.model, hit.nozzle, hit.source)
            cached += 1
            continue
        try:
            target = read_target(file.abspath)
        except OSError:
            targets[key] = NO_TARGET  # the sync reports the file when it tries to send it
            continue
        targets[key] = target
        fresh.append(
            (
                key,
                CachedTarget(file.size, file.mtime_ns, target.model, target.nozzle, target.source),
            )
        )
    if journal is not None:
        journal.remember_targets(fresh)
    return MasterTargets(targets, read=len(fresh), cached=cached)
