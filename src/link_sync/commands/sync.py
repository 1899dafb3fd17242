"""`link-sync sync` and `link-sync plan`: from a config to a `RunResult`.

Everything that can be refused without contacting a printer is refused here,
before any connection: bad selection, missing or empty master folder, a run
already in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from link_sync.config import Config, PrinterConfig, load_config, select_printers, with_source
from link_sync.errors import SafetyRefusal, UsageError
from link_sync.execute import Observer, PrinterJob, RetryPolicy, SyncOptions, run_sync
from link_sync.journal import Journal
from link_sync.lock import RunLock
from link_sync.result import RunResult
from link_sync.routing import read_master_targets
from link_sync.scan import ScanResult, scan_source
from link_sync.statedir import state_dir


@dataclass(frozen=True, slots=True)
class Selection:
    """Which config, which master folder, which printers (shared by most commands)."""

    config: Path | None = None
    source: Path | None = None
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class SyncRequest:
    selection: Selection = field(default_factory=Selection)
    dry_run: bool = False
    include_busy: bool = False
    delete: bool = True
    max_delete: int | None = None
    allow_empty: bool = False
    jobs: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def load_selection(
    selection: Selection, environ: Mapping[str, str], cwd: Path
) -> tuple[Config, list[PrinterConfig]]:
    config = load_config(selection.config, cwd=cwd, environ=environ)
    if selection.source is not None:
        config = with_source(config, selection.source.expanduser().resolve())
    printers = select_printers(config, selection.include, selection.exclude)
    return config, printers


def scan_masters(
    printers: Sequence[PrinterConfig], allow_empty: bool
) -> tuple[list[PrinterJob], list[str]]:
    """Each printer's master files; each distinct master folder is scanned once."""
    scanned: dict[Path, ScanResult] = {}
    warnings: list[str] = []
    jobs: list[PrinterJob] = []
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
                    f"the master folder {printer.source} has no print files; refusing to "
                    "empty the printers (is it mounted?). Pass --allow-empty to sync it anyway."
                )
            scanned[printer.source] = result
        found = scanned[printer.source]
        jobs.append(PrinterJob(printer, found.files, tuple(found.incomplete)))
    return jobs, warnings


def sync(
    request: SyncRequest,
    observer: Observer | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> RunResult:
    """Run a sync (or a plan, with dry_run) and return what happened."""
    return asyncio.run(sync_async(request, observer, environ=environ, cwd=cwd))


async def sync_async(
    request: SyncRequest,
    observer: Observer | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> RunResult:
    """`sync` for callers that already run an event loop (the demo, tests)."""
    env = os.environ if environ is None else environ
    config, printers = load_selection(request.selection, env, cwd or Path.cwd())
    jobs, warnings = scan_masters(printers, request.allow_empty)
    options = SyncOptions(
        dry_run=request.dry_run,
        include_busy=request.include_busy,
        delete=request.delete,
        max_delete=request.max_delete,
        jobs=request.jobs,
        stale_after=config.stale_after,
        retry=request.retry,
    )
    states = state_dir(env)
    with _lock(states, request.dry_run), _journal(states) as journal:
        if getattr(config, "route", "model") == "model":
            targets = await asyncio.to_thread(
                read_master_targets, (f for job in jobs for f in job.files), journal
            )
            jobs = [dataclasses.replace(job, targets=targets) for job in jobs]
        result = await run_sync(jobs, options, journal, observer)
    result.warnings = [*config.warnings, *journal.warnings, *warnings, *result.warnings]
    return result


@contextlib.contextmanager
def _lock(states: Path, dry_run: bool) -> Iterator[None]:
    if dry_run:  # a plan changes nothing: it may run beside a sync
        yield
        return
    with RunLock(states / "sync.lock"):
        yield


@contextlib.contextmanager
def _journal(states: Path) -> Iterator[Journal]:
    journal = Journal.open(states / "journal.sqlite3")
    try:
        yield journal
    finally:
        journal.close()
