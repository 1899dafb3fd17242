"""The public functions: `load_config`, `sync`, `plan`, `status` and their `_async` forms.

Each takes a `Config` (read from a file or built in code) and returns result
objects; none prints, installs logging or signal handlers, or writes outside
the state folder (the journal and the printer locks). The CLI is a thin layer
over these, and so is `link-sync demo`.

A run: select the printers (`printers=` like `-p`, `exclude=` like `-x`), scan
each distinct master folder once (refusing a missing or empty one), take each
printer's lock (not for a dry run; a printer another run holds is `skipped`,
naming that run), open the journal, and let an `engine.session.Session` sync every
printer it holds at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from link_sync import config as _config
from link_sync.config import Config, select_printers
from link_sync.core.model import SyncStatus
from link_sync.core.routing import routing_of, routing_off_warning
from link_sync.engine.events import Observer
from link_sync.engine.journal import Journal
from link_sync.engine.masters import route_by_model, scan_masters
from link_sync.engine.options import RetryPolicy, SyncOptions
from link_sync.engine.printer_locks import PrinterLocks
from link_sync.engine.run import PrinterWork
from link_sync.engine.running_watches import other_watches
from link_sync.engine.session import Session
from link_sync.engine.statedir import journal_path
from link_sync.engine.statedir import state_dir as _default_state_dir
from link_sync.result import PrinterResult, PrinterStatusReport, RunResult, StatusReports

StrPath = str | os.PathLike[str]
P = ParamSpec("P")
T = TypeVar("T")


def load_config(
    path: StrPath | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
) -> Config:
    """Read and check a config file; raise `ConfigError` with one clear line.

    With no `path`: `$LINK_SYNC_CONFIG`, else `link-sync.yml` and friends in `cwd`.
    `${VAR}` is read from `environ` (default: the process environment).
    """
    return _config.load_config(
        Path(path) if path is not None else None,
        cwd=Path(cwd) if cwd is not None else Path.cwd(),
        environ=os.environ if environ is None else environ,
    )


async def sync_async(
    config: Config,
    *,
    printers: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dry_run: bool = False,
    include_busy: bool = False,
    delete: bool = True,
    max_delete: int | None = None,
    allow_empty: bool = False,
    parallel: int | None = None,
    observer: Observer | None = None,
    state_dir: StrPath | None = None,
    retry: RetryPolicy | None = None,
) -> RunResult:
    """Bring the selected printers in line with the master folder (`link-sync sync`)."""
    options = SyncOptions(
        dry_run=dry_run,
        include_busy=include_busy,
        delete=delete,
        max_delete=max_delete,
        allow_empty=allow_empty,
        parallel=parallel,
        retry=retry or RetryPolicy(),
    )
    return await run_async(config, options, printers, exclude, observer, state_dir)


async def run_async(
    config: Config,
    options: SyncOptions,
    printers: Sequence[str] = (),
    exclude: Sequence[str] = (),
    observer: Observer | None = None,
    state_dir: StrPath | None = None,
) -> RunResult:
    """A sync (or, with `options.dry_run`, a plan) of the selected printers with
    `options` (its `stale_after` is the config's): what `sync`, `plan`, `status` and
    the CLI all run."""
    options = dataclasses.replace(options, stale_after=config.stale_after)
    selected = select_printers(config, printers, exclude)
    works, warnings = scan_masters(selected, options.allow_empty)
    states = _states(state_dir)
    warnings.extend(other_watches(os.environ, states, selected))
    with PrinterLocks(states, command="sync") as locks:
        # A plan changes nothing: it takes no lock and may run beside a sync or watch.
        refused = {} if options.dry_run else locks.take(work.printer for work in works)
        runnable = [work for work in works if work.printer.name not in refused]
        skipped = _locked(works, refused, observer, config.route)
        async with _session(states) as session:
            if config.route == "model":
                runnable = await route_by_model(runnable, session.journal)
            result = await session.run(runnable, options, observer)
            journal_warnings = session.journal.warnings if session.journal else []
    if skipped:
        result.printers = _in_order(works, result.printers, skipped)
    result.warnings = [*config.warnings, *journal_warnings, *warnings, *result.warnings]
    # last, so the plain output ends with it: routing is never off in silence
    result.warnings.extend(routing_off_warning((p.name, p.routing) for p in result.printers))
    return result


def _locked(
    works: Sequence[PrinterWork],
    refused: Mapping[str, str],
    observer: Observer | None,
    route: str,
) -> list[PrinterResult]:
    """A `skipped` result for each printer whose lock another run holds."""
    results = []
    for work in works:
        why = refused.get(work.printer.name)
        if why is None:
            continue
        result = PrinterResult(
            name=work.printer.name,
            host=work.printer.base_url,
            status=SyncStatus.SKIPPED,
            error=why,
            routing=routing_of(route, None, work.printer.model),
        )
        if observer is not None:
            observer.printer_started(result.name)
            observer.printer_done(result)
        results.append(result)
    return results


def _in_order(works: Sequence[PrinterWork], *parts: Sequence[PrinterResult]) -> list[PrinterResult]:
    """The results in the order of the selection."""
    by_name = {result.name: result for part in parts for result in part}
    return [by_name[work.printer.name] for work in works if work.printer.name in by_name]


async def plan_async(
    config: Config,
    *,
    printers: Sequence[str] = (),
    exclude: Sequence[str] = (),
    include_busy: bool = False,
    delete: bool = True,
    max_delete: int | None = None,
    allow_empty: bool = False,
    parallel: int | None = None,
    observer: Observer | None = None,
    state_dir: StrPath | None = None,
    retry: RetryPolicy | None = None,
) -> RunResult:
    """What `sync` would do, changing nothing (`link-sync plan`)."""
    return await sync_async(
        config,
        printers=printers,
        exclude=exclude,
        dry_run=True,
        include_busy=include_busy,
        delete=delete,
        max_delete=max_delete,
        allow_empty=allow_empty,
        parallel=parallel,
        observer=observer,
        state_dir=state_dir,
        retry=retry,
    )


async def status_async(
    config: Config,
    *,
    printers: Sequence[str] = (),
    exclude: Sequence[str] = (),
    state_dir: StrPath | None = None,
    retry: RetryPolicy | None = None,
    observer: Observer | None = None,
) -> StatusReports:
    """One `PrinterStatusReport` per selected printer (`link-sync status`); changes nothing.

    A dry run of every selected printer, busy ones included, seen from the
    printer's side: reachable, model, firmware, state, job, files, in sync.
    Status is interactive: no printer gets more than its `connect_timeout` of
    silence, so one that hangs costs seconds, not `timeout`. `observer` hears
    `printer_done` as each printer's row is ready.
    """
    result = await plan_async(
        _interactive(config),
        printers=printers,
        exclude=exclude,
        include_busy=True,
        allow_empty=True,
        state_dir=state_dir,
        retry=retry,
        observer=observer,
    )
    reports = [PrinterStatusReport.from_plan(p) for p in result.printers]
    return StatusReports(reports, result.warnings)


def _interactive(config: Config) -> Config:
    """`config` with every printer's `timeout` cut to its `connect_timeout`."""
    printers = {
        name: printer.model_copy(update={"timeout": min(printer.timeout, printer.connect_timeout)})
        for name, printer in config.printers.items()
    }
    return config.model_copy(update={"printers": printers})


def _states(state_dir: StrPath | None) -> Path:
    if state_dir is None:
        return _default_state_dir(os.environ)
    return _default_state_dir({"LINK_SYNC_STATE_DIR": os.fspath(state_dir)})


@contextlib.asynccontextmanager
async def _session(states: Path) -> AsyncIterator[Session]:
    """A session for one run: the journal and backends open for it, closed after."""
    journal = Journal.open(journal_path(states))
    try:
        async with Session(journal) as session:
            yield session
    finally:
        journal.close()


def _blocking(run: Callable[P, Coroutine[Any, Any, T]], name: str) -> Callable[P, T]:
    """`run` with its own event loop: the same keyword arguments, for code that runs none."""

    @functools.wraps(run)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(run(*args, **kwargs))

    blocking.__name__ = blocking.__qualname__ = name
    blocking.__doc__ = (
        f"{run.__doc__}\n\nRuns its own event loop; from async code use `{name}_async`."
    )
    return blocking


sync = _blocking(sync_async, "sync")
plan = _blocking(plan_async, "plan")
status = _blocking(status_async, "status")
