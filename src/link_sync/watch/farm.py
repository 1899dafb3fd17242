"""The farm under watch: the master watchers, and one worker per printer (`scheduler`).

`FarmWatch` keeps the master views (and the content hashes and targets read from each,
shared by every printer syncing from it), starts and stops the workers as the config
changes, and holds the engine's driver (`engine.session.Session`), which runs every
pass. While a master folder is missing or empty, every printer syncing from it is
paused, passes in flight are abandoned, and nothing is deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from link_sync.backends import open_backend
from link_sync.backends.base import Backend
from link_sync.config import Config, PrinterConfig
from link_sync.core.routing import MasterTargets, routing_of
from link_sync.engine.hashes import LocalHashes
from link_sync.engine.journal import Journal
from link_sync.engine.masters import read_master_targets
from link_sync.engine.options import SyncOptions
from link_sync.engine.session import Session
from link_sync.watch.files import locate
from link_sync.watch.kept_backend import ProbedOnce
from link_sync.watch.master import MasterView, MasterWatcher
from link_sync.watch.scheduler import PrinterWorker
from link_sync.watch.state import FarmState

log = logging.getLogger("link_sync.watch")


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Everything that shapes a watch besides the printers (config keys and options)."""

    # The defaults are the config's (written once, on `Config`).
    settle: float = Config.model_fields["settle"].default
    poll_interval: float = Config.model_fields["poll_interval"].default
    rescan_interval: float = Config.model_fields["rescan_interval"].default
    poll: bool = False
    #: "model": each printer gets the files for its model (issue 11); "all": every file
    route: str = "model"
    #: how each pass runs (`parallel`: printers synced at once, `--jobs`)
    sync: SyncOptions = field(default_factory=SyncOptions)


class FarmWatch:
    """Runs the master watchers and the printer workers until cancelled."""

    def __init__(
        self,
        printers: Sequence[PrinterConfig],
        settings: WatchSettings,
        journal: Journal,
        state: FarmState,
        first_views: dict[Path, MasterView] | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.state = state
        #: the engine's driver: it runs the passes, and keeps each printer's backend
        #: (probed once: `ProbedOnce`) for the worker's state polls too
        self.session = Session(
            journal, backend_factory=_kept_backend, parallel=settings.sync.parallel
        )
        self.watchers: dict[Path, MasterWatcher] = {}
        self.views: dict[Path, MasterView] = dict(first_views or {})
        self._hashes: dict[Path, tuple[MasterView, LocalHashes]] = {}
        self._targets: dict[Path, tuple[MasterView, asyncio.Future[MasterTargets]]] = {}
        self.workers: dict[str, PrinterWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._printers = list(printers)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Watch until cancelled; then every worker and watcher is stopped."""
        self._running = True
        try:
            self._apply(self._printers)
            self.state.event(None, "started", message=self.describe())
            self.state.running = True
            await asyncio.Event().wait()
        finally:
            self.state.running = False
            self._running = False
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.clear()
            await asyncio.shield(self.session.aclose())

    def reload(self, printers: Sequence[PrinterConfig], settings: WatchSettings) -> None:
        """Take a new config: changed printers restart, every printer gets a pass."""
        old = self.settings
        self.settings = settings
        if settings.sync.parallel != old.sync.parallel:
            self.session.parallel = settings.sync.parallel
        for watcher in self.watchers.values():
            watcher.reconfigure(
                settle=settings.settle,
                rescan_interval=settings.rescan_interval,
                allow_empty=settings.sync.allow_empty,
            )
        self._printers = list(printers)
        self._apply(printers)
        self.sync_all()

    def _apply(self, printers: Sequence[PrinterConfig]) -> None:
        wanted = {p.name: p for p in printers}
        for name in [n for n in self.workers if n not in wanted]:
            self._stop_task(f"printer {name}")
            del self.workers[name]
            self.state.remove_printer(name)
        for printer in printers:
            worker = self.workers.get(printer.name)
            if worker is not None and worker.printer == printer:
                continue
            if worker is not None:
                self._stop_task(f"printer {printer.name}")
            routing = routing_of(self.settings.route, None, printer.model)
            self.state.add_printer(printer.name, printer.base_url, routing)
            worker = PrinterWorker(self, printer)
            self.workers[printer.name] = worker
            self._start_task(f"printer {printer.name}", worker.run())
        roots = {p.source for p in printers if p.source is not None}
        for root in [r for r in self.watchers if r not in roots]:
            self._stop_task(f"master {root}")
            del self.watchers[root]
            self.views.pop(root, None)
            self._stop_task(f"files {root}")
            self.state.files.drop_master(root)
        for root in roots:
            if root in self.watchers:
                continue
            watcher = MasterWatcher(
                root,
                self._on_view,
                settle=self.settings.settle,
                rescan_interval=self.settings.rescan_interval,
                poll=self.settings.poll,
                allow_empty=self.settings.sync.allow_empty,
            )
            if root in self.views:
                watcher.view = self.views[root]
            else:
                self.views[root] = watcher.first_look()
            self.watchers[root] = watcher
            self._publish_master(self.views[root])
            self._start_task(f"master {root}", watcher.run())
            self._show_files(self.views[root])
        for root in roots:
            self.state.files.set_printers(root, [w.name for w in self._workers_of(root)])

    def _start_task(self, key: str, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine, name=key)
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._task_ended(key, t))

    def _stop_task(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def _task_ended(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("%s stopped: %r", key, error, exc_info=error)
            self.state.event(None, "failed", error=f"{key} stopped: {error!r}")

    # -- master views ------------------------------------------------------------------

    def _on_view(self, view: MasterView, full: bool) -> None:
        before = self.views.get(view.root)
        self.views[view.root] = view
        self._publish_master(view)
        if before is not None and before.usable and not view.usable:
            self.state.event(
                None,
                "master_missing",
                path=str(view.root),
                error=view.unusable,
                message=f"PAUSED: {view.unusable}; nothing is synced or deleted until it is back",
            )
            for worker in self._workers_of(view.root):
                worker.abandon_pass()
        elif before is not None and not before.usable and view.usable:
            self.state.event(
                None,
                "master_back",
                path=str(view.root),
                message=f"RESUMED: the master folder {view.root} is back ({len(view.files)} files)",
            )
        if view.usable and (full or not view.same_sync_as(before)):
            for worker in self._workers_of(view.root):
                worker.want_pass()
        for worker in self._workers_of(view.root):
            worker.show()
        self._show_files(view)

    def _show_files(self, view: MasterView) -> None:
        """Put the view into the files view once its targets and thumbnails are read."""
        self._stop_task(f"files {view.root}")  # a newer view replaces one still read
        self._start_task(f"files {view.root}", self._files_of(view))

    async def _files_of(self, view: MasterView) -> None:
        files = view.files if view.usable else ()
        known = await self.targets_for(view) if view.usable else None
        if known is None:  # route: all, yet the view shows each file's target
            known = await asyncio.to_thread(read_master_targets, files, self.journal)
        thumbnails = self.state.files.thumbnails
        located = await asyncio.to_thread(locate, view.root, files, thumbnails)
        names = [w.name for w in self._workers_of(view.root)]
        self.state.files.set_master(view.root, files, names, known.targets, located)

    def _publish_master(self, view: MasterView) -> None:
        # The page shows one master; with per-printer folders, the first unusable one wins.
        shown = [v for v in self.views.values() if not v.usable] or [view]
        files = sum(len(v.files) for v in self.views.values())
        self.state.set_master(str(shown[0].root), files, all(v.usable for v in self.views.values()))

    def _workers_of(self, root: Path) -> list[PrinterWorker]:
        return [w for w in self.workers.values() if w.printer.source == root]

    def describe(self) -> str:
        """'watching 3 printers from /m (filesystem events; settle 2 s, ...)'."""
        settings = self.settings
        roots = [
            f"{root} ({'polling' if watcher.polling else 'filesystem events'})"
            for root, watcher in sorted(self.watchers.items())
        ]
        count = len(self.workers)
        return (
            f"watching {count} printer{'s' if count != 1 else ''} from {', '.join(roots)}; "
            f"settle {settings.settle:g} s, printer poll {settings.poll_interval:g} s, "
            f"rescan {settings.rescan_interval:g} s"
        )

    def view_for(self, printer: PrinterConfig) -> MasterView | None:
        return self.views.get(printer.source) if printer.source is not None else None

    def hashes_for(self, view: MasterView) -> LocalHashes:
        """Content hashes are shared by every printer syncing from the same view."""
        known = self._hashes.get(view.root)
        if known is None or known[0] is not view:
            known = (view, LocalHashes(self.journal))
            self._hashes[view.root] = known
        return known[1]

    async def targets_for(self, view: MasterView) -> MasterTargets | None:
        """The targets of a view's files for routing by model (None with `route: all`).

        Read once per view; the journal's cache means only new or changed files are
        opened, so a rescan costs one query."""
        if self.settings.route != "model":
            return None
        known = self._targets.get(view.root)
        if known is None or known[0] is not view:
            # One read for all the view's printers, however many ask at once.
            reading = asyncio.ensure_future(
                asyncio.to_thread(read_master_targets, view.files, self.journal)
            )
            known = (view, reading)
            self._targets[view.root] = known
        return await asyncio.shield(known[1])

    # -- control (the web page's buttons call these) ----------------------------------

    def sync_all(self) -> None:
        for worker in self.workers.values():
            worker.want_pass()

    def sync_printer(self, name: str) -> None:
        self.workers[name].want_pass()

    def pause(self, name: str) -> None:
        self.workers[name].set_paused(True)

    def resume(self, name: str) -> None:
        self.workers[name].set_paused(False)


async def _kept_backend(printer: PrinterConfig) -> Backend:
    """A watched printer's backend: probed once, not every pass (`ProbedOnce`)."""
    return ProbedOnce(await open_backend(printer))
