"""`link-sync watch` from start to stop.

Start: the checks of `sync` (config, selection, a missing or empty master, the
run lock, held for the whole watch so a `sync` meanwhile is refused), then the
farm is watched until SIGINT or SIGTERM. SIGHUP reloads the config; a config
that does not load is reported and the running one kept. Stopping cancels
every pass (uploads in flight are abandoned, as when `sync` is interrupted),
then the journal is closed and the lock released; the exit code is 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from link_sync.commands.sync import Selection, load_selection, scan_masters
from link_sync.config import Config, PrinterConfig
from link_sync.errors import LinkSyncError, UsageError
from link_sync.journal import Journal
from link_sync.lock import RunLock
from link_sync.statedir import state_dir
from link_sync.watch.events import WatchEvent
from link_sync.watch.feed import Feed
from link_sync.watch.scheduler import FarmWatch, WatchSettings

log = logging.getLogger("link_sync.watch")

#: Seconds the watch gives its tasks to end after SIGINT/SIGTERM (the promise is 3).
STOP_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """A watch as asked for on the command line; None = the config's value or the default."""

    selection: Selection = field(default_factory=Selection)
    include_busy: bool = False
    delete: bool = True
    max_delete: int | None = None
    allow_empty: bool = False
    jobs: int | None = None
    settle: float | None = None
    poll_interval: float | None = None
    poll: bool = False
    http: str | None = None


def settings_for(request: WatchRequest, config: Config) -> WatchSettings:
    """The command line wins over the config file, which wins over the defaults."""
    defaults = WatchSettings()

    def pick(option: float | None, key: str, default: float) -> float:
        if option is not None:
            return option
        value = getattr(config, key, None)
        return float(value) if isinstance(value, int | float) else default

    return WatchSettings(
        settle=pick(request.settle, "settle", defaults.settle),
        poll_interval=pick(request.poll_interval, "poll_interval", defaults.poll_interval),
        rescan_interval=pick(None, "rescan_interval", defaults.rescan_interval),
        poll=request.poll,
        include_busy=request.include_busy,
        delete=request.delete,
        max_delete=request.max_delete,
        jobs=request.jobs,
        allow_empty=request.allow_empty,
        stale_after=config.stale_after,
    )


def load(
    request: WatchRequest, environ: Mapping[str, str], cwd: Path
) -> tuple[Config, list[PrinterConfig], WatchSettings]:
    config, printers = load_selection(request.selection, environ, cwd)
    if not printers:
        raise UsageError(f"{config.path}: no printers to watch")
    return config, printers, settings_for(request, config)


HttpStarter = Callable[[str, Feed, FarmWatch, Config], Any]


async def watch_async(
    request: WatchRequest,
    feed: Feed,
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
    scan_masters(printers, request.allow_empty)
    states = state_dir(env)
    with RunLock(states / "sync.lock", command="watch"):
        journal = Journal.open(states / "journal.sqlite3")
        try:
            farm = FarmWatch(printers, settings, journal, feed)
            for warning in [*config.warnings, *journal.warnings]:
                feed.publish(WatchEvent("warning", message=f"warning: {warning}"))
            feed.publish(_started_event(config, printers, settings))
            await _serve(request, farm, feed, env, here, on_started)
        finally:
            journal.close()
    feed.publish(WatchEvent("stopped", message="stopped; the journal and the lock are closed"))
    return 0


async def _serve(
    request: WatchRequest,
    farm: FarmWatch,
    feed: Feed,
    environ: Mapping[str, str],
    cwd: Path,
    on_started: Callable[[FarmWatch], Any] | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def reload() -> None:
        try:
            config, printers, settings = load(request, environ, cwd)
        except LinkSyncError as exc:
            feed.publish(
                WatchEvent(
                    "config_error",
                    error=str(exc),
                    message=f"config not reloaded, the running one is kept: {exc}",
                )
            )
            return
        farm.reload(printers, settings)
        feed.publish(
            WatchEvent(
                "config_reloaded",
                path=str(config.path),
                message=f"config reloaded from {config.path}: {len(printers)} printers",
            )
        )

    def stopping(signum: signal.Signals) -> None:
        if not stop.is_set():
            feed.publish(WatchEvent("stopping", message=f"{signum.name}: stopping"))
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping, signum)
    loop.add_signal_handler(signal.SIGHUP, reload)
    watching = asyncio.create_task(farm.run(), name="farm")
    extras: list[asyncio.Task[Any]] = []
    try:
        if on_started is not None:
            started = on_started(farm)
            if asyncio.iscoroutine(started):
                extras.append(asyncio.create_task(started))
        if request.http:
            extras.append(asyncio.create_task(_http(request.http, farm, feed)))
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


async def _http(listen: str, farm: FarmWatch, feed: Feed) -> None:
    """`--http`: the web page, API and metrics (link_sync.web)."""
    try:
        web = importlib.import_module("link_sync.web")
    except ImportError:
        raise UsageError("--http: the web interface is not available in this build") from None
    await web.serve_watch(listen, feed, farm)


def _started_event(
    config: Config, printers: list[PrinterConfig], settings: WatchSettings
) -> WatchEvent:
    sources = sorted({str(p.source) for p in printers if p.source is not None})
    how = "polling" if settings.poll else "filesystem events"
    return WatchEvent(
        "started",
        path=sources[0] if len(sources) == 1 else None,
        message=(
            f"watching {len(printers)} printer{'s' if len(printers) != 1 else ''} "
            f"from {', '.join(sources)} ({how}; settle {settings.settle:g} s, "
            f"printer poll {settings.poll_interval:g} s, rescan {settings.rescan_interval:g} s)"
        ),
    )
