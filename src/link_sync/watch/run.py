"""`link-sync watch` from start to stop.

Start: the checks of `sync` (config, selection, a missing or empty master, the
locks of the watched printers, held for the whole watch so a `sync` of one of
them meanwhile is `skipped` naming the watch; a printer another run holds
refuses the start, exit 3), then the farm is watched until SIGINT or SIGTERM.
SIGHUP reloads the config (locking printers it adds, releasing those it drops;
an added printer another run holds is left out and reported); a config that
does not load is reported and the running one kept. Stopping cancels every
pass (uploads in flight are abandoned, as when `sync` is interrupted), then the
journal is closed and the locks released; the exit code is 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from link_sync.commands.selection import Selection, load_selection
from link_sync.config import Config, PrinterConfig
from link_sync.engine.journal import Journal
from link_sync.engine.masters import scan_masters
from link_sync.engine.options import SyncOptions
from link_sync.engine.printer_locks import PrinterLocks
from link_sync.engine.running_watches import WatchRegistration
from link_sync.engine.statedir import journal_path, state_dir
from link_sync.errors import LinkSyncError, LockHeld, UsageError
from link_sync.watch.farm import FarmWatch, WatchSettings
from link_sync.watch.routing_warning import RoutingWarning
from link_sync.watch.state import FarmState

log = logging.getLogger("link_sync.watch")

#: gc.set_threshold for the watch (Python's default: 700, 10, 10).
GC_THRESHOLDS = (10_000, 10, 10)
#: Seconds the watch gives its tasks to end after SIGINT/SIGTERM (the promise is 3).
STOP_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """A watch as asked for on the command line; None = the config's value or the default."""

    selection: Selection = field(default_factory=Selection)
    #: how each pass runs (`parallel`: `--jobs`); `stale_after` comes from the config
    sync: SyncOptions = field(default_factory=SyncOptions)
    settle: float | None = None
    poll_interval: float | None = None
    poll: bool = False
    http: str | None = None


def settings_for(request: WatchRequest, config: Config) -> WatchSettings:
    """The command line wins over the config file, which wins over the defaults."""
    return WatchSettings(
        settle=config.settle if request.settle is None else request.settle,
        poll_interval=(
            config.poll_interval if request.poll_interval is None else request.poll_interval
        ),
        rescan_interval=config.rescan_interval,
        poll=request.poll,
        route=config.route,
        sync=dataclasses.replace(request.sync, stale_after=config.stale_after),
    )


def load(
    request: WatchRequest, environ: Mapping[str, str], cwd: Path
) -> tuple[Config, list[PrinterConfig], WatchSettings]:
    config, printers = load_selection(request.selection, environ, cwd)
    if not printers:
        raise UsageError(f"{config.path}: no printers to watch")
    return config, printers, settings_for(request, config)


async def watch_async(
    request: WatchRequest,
    state: FarmState,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_started: Callable[[FarmWatch], Any] | None = None,
) -> int:
    """Run a watch until SIGINT/SIGTERM (or cancellation); returns the exit code (0)."""
    env = os.environ if environ is None else environ
    here = cwd or Path.cwd()
    config, printers, settings = load(request, env, here)
    # The same refusals as `sync`, before anything is contacted: a missing or empty master.
    scan_masters(printers, request.sync.allow_empty)
    states = state_dir(env)
    # A long-running process: what is loaded by now lives until the end, so the cyclic
    # garbage collector stops walking it (and collects the young generation less often;
    # a state poll allocates a few hundred short-lived, acyclic objects).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    with PrinterLocks(states, command="watch") as locks, WatchRegistration(env, states) as seen:
        refused = locks.take(printers)
        if refused:
            raise LockHeld(
                "; ".join(f"printer '{name}': {why}" for name, why in refused.items())
                + "; stop that run or leave the printer out (-x)"
            )
        seen.update(printers)  # told to runs under another state folder
        journal = Journal.open(journal_path(states))
        try:
            farm = FarmWatch(printers, settings, journal, state)
            RoutingWarning(state)  # once every printer's routing is known
            for warning in [*config.warnings, *journal.warnings]:
                state.event(None, "warning", message=f"warning: {warning}")
            await _serve(request, config, farm, env, here, on_started, locks, seen)
        finally:
            journal.close()
    state.event(None, "stopped", message="stopped; the journal and the locks are closed")
    return 0


async def _serve(
    request: WatchRequest,
    config: Config,
    farm: FarmWatch,
    environ: Mapping[str, str],
    cwd: Path,
    on_started: Callable[[FarmWatch], Any] | None,
    locks: PrinterLocks,
    seen: WatchRegistration,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    state = farm.state

    def reload() -> None:
        try:
            config, printers, settings = load(request, environ, cwd)
        except LinkSyncError as exc:
            state.event(
                None,
                "config_error",
                error=str(exc),
                message=f"config not reloaded, the running one is kept: {exc}",
            )
            return
        try:
            refused = locks.take(printers)
        except LinkSyncError as exc:  # the state folder became unusable since the start
            state.event(None, "config_error", error=str(exc), message=f"config not reloaded: {exc}")
            return
        for name, why in refused.items():
            state.event(
                None,
                "config_error",
                error=why,
                message=f"printer '{name}' is not watched: {why}",
            )
        printers = [printer for printer in printers if printer.name not in refused]
        farm.reload(printers, settings)
        # The dropped printers' tasks were cancelled by the reload: their locks go.
        locks.keep_only(printer.name for printer in printers)
        seen.update(printers)
        state.event(
            None,
            "config_reloaded",
            path=str(config.path),
            message=f"config reloaded from {config.path}: {len(printers)} printers",
        )

    def stopping(signum: signal.Signals) -> None:
        if not stop.is_set():
            state.event(None, "stopping", message=f"{signum.name}: stopping")
        stop.set()

    # The web server first: a bad --http is a usage error before any printer is contacted.
    runner = await _start_http(request, config, farm)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping, signum)
    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGUSR1, lambda: state.event(None, "stats", **_stats()))
    watching = asyncio.create_task(farm.run(), name="farm")
    extras: list[asyncio.Task[Any]] = []
    try:
        if on_started is not None:
            started = on_started(farm)
            if asyncio.iscoroutine(started):
                extras.append(asyncio.create_task(started))
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            [watching, stopped, *extras], return_when=asyncio.FIRST_COMPLETED
        )
        stopped.cancel()
        for task in done:
            if task is not stopped and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        tasks = [watching, *extras]
        for task in tasks:
            task.cancel()
        # Uploads in flight are abandoned; a stuck task must not hold the exit up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True), timeout=STOP_GRACE
            )
        if runner is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runner.cleanup(), timeout=0.5)


async def _start_http(request: WatchRequest, config: Config, farm: FarmWatch) -> Any:
    """`--http` (or the config's `http.listen`): the page, API and metrics (link_sync.web)."""
    settings = config.http
    # `http.listen` turns the page on by itself only when written in the config file;
    # a section with only `token:` or `read_only:` waits for --http.
    listen = request.http or (settings.listen if "listen" in settings.model_fields_set else None)
    if not listen:
        return None
    from link_sync.web import bound_port, start_web  # aiohttp's server: only when asked for

    runner = await start_web(
        farm.state, farm, listen=listen, token=settings.token, read_only=settings.read_only
    )
    host = listen.rsplit(":", 1)[0].strip("[]") or "127.0.0.1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{bound_port(runner)}/"
    farm.state.event(
        None,
        "http",
        path=url,
        message=f"serving the farm page on {url}" + (" (read-only)" if settings.read_only else ""),
    )
    return runner


def _stats() -> dict[str, Any]:
    """SIGUSR1: what this process holds (for operators, and the soak benchmark)."""
    tasks = len(asyncio.all_tasks())
    objects = len(gc.get_objects())
    try:
        fds = len(os.listdir("/proc/self/fd"))
        status = Path("/proc/self/status").read_text()
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
        threads = next(
            int(line.split()[1]) for line in status.splitlines() if line[:8] == "Threads:"
        )
    except (OSError, StopIteration, ValueError):
        fds = rss_kb = threads = -1
    return {
        "bytes": rss_kb * 1024,
        "message": f"stats: tasks {tasks}, threads {threads}, open files {fds}, "
        f"rss {rss_kb / 1024:.1f} MB, python objects {objects}",
    }
