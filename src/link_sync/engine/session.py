"""The one driver of the engine: a `Session` runs printers, for `sync`, `plan`, `status`,
`pull` and `watch` alike.

It holds what outlives one printer's run: the journal, one backend per printer (given
by the caller, or made from the printer's settings and kept), at most one run per
printer at a time, and how many printers run at once. A one-shot `link_sync.sync`
opens one for the run (`run`); the watch keeps one open and decides *when* each
printer runs (`sync_printer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from link_sync.backends import open_backend
from link_sync.backends.base import Backend
from link_sync.config import PrinterConfig
from link_sync.core.routing import unplaced
from link_sync.engine.conversions import Conversions
from link_sync.engine.events import Observer
from link_sync.engine.hashes import LocalHashes
from link_sync.engine.journal import Journal
from link_sync.engine.options import SyncOptions
from link_sync.engine.run import Finished, PrinterWork, run_printer
from link_sync.result import PrinterResult, RunResult

#: Opens the backend for a printer that was not given one (`backends.open_backend`:
#: for `type: prusalink` it asks the printer which firmware it runs). May raise PrinterError.
BackendFactory = Callable[[PrinterConfig], Awaitable[Backend]]


class Session:
    """The journal and the printers' backends, open across runs.

    Backends in `backends` (by printer name) are the caller's: used, never
    closed. Others are made with `backend_factory` on first use, kept for the
    next run, and closed by `aclose` (or `release`, or when the printer's settings
    change). The journal is the caller's too. At most one sync per printer runs at a
    time: a second one for the same printer waits for the first. With `parallel`,
    at most that many printers' runs go on at once (`turn`).
    """

    def __init__(
        self,
        journal: Journal | None,
        *,
        backends: Mapping[str, Backend] | None = None,
        backend_factory: BackendFactory = open_backend,
        parallel: int | None = None,
    ) -> None:
        self.journal = journal
        self._given = dict(backends or {})
        self._factory = backend_factory
        self._made: dict[str, tuple[PrinterConfig, Backend]] = {}
        self._busy: dict[str, asyncio.Lock] = {}
        self._turns: asyncio.Semaphore | None = None
        self.parallel = parallel
        #: master files converted to binary G-code, for every printer and run
        self.conversions = Conversions.for_journal(journal)

    @property
    def parallel(self) -> int | None:
        """How many printers' runs go on at once (None: no limit)."""
        return self._parallel

    @parallel.setter
    def parallel(self, parallel: int | None) -> None:
        self._parallel = parallel
        self._turns = asyncio.Semaphore(parallel) if parallel else None

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def backend(self, printer: PrinterConfig) -> Backend:
        """The backend of `printer`: the given one, or the one opened for these settings.

        Opening contacts the printer and may raise `PrinterError`; nothing is kept then.
        """
        given = self._given.get(printer.name)
        if given is not None:
            return given
        made = self._made.get(printer.name)
        if made is not None:
            if made[0] == printer:
                return made[1]
            del self._made[printer.name]
            await made[1].aclose()  # settings changed (config reloaded): connect anew
        backend = await self._factory(printer)
        self._made[printer.name] = (printer, backend)
        return backend

    async def release(self, printer: PrinterConfig) -> None:
        """Close the backend made for exactly these settings of `printer`, if any."""
        made = self._made.get(printer.name)
        if made is not None and made[0] == printer:
            del self._made[printer.name]
            with contextlib.suppress(Exception):
                await made[1].aclose()

    async def run(
        self,
        works: Sequence[PrinterWork],
        options: SyncOptions,
        observer: Observer | None = None,
    ) -> RunResult:
        """Sync (or, with dry_run, plan) every printer of `works` at once (at most
        `options.parallel` at a time)."""
        observer = observer or Observer()
        hashes = LocalHashes(self.journal)
        limit = asyncio.Semaphore(options.parallel or len(works) or 1)

        async def one(work: PrinterWork) -> Finished:
            async with limit:
                return await self._sync(work, options, observer, hashes)

        runs = await asyncio.gather(*(one(work) for work in works))
        result = RunResult(printers=[run.result for run in runs], dry_run=options.dry_run)
        result.warnings.extend(_unplaced_files(runs))
        return result

    async def sync_printer(
        self,
        work: PrinterWork,
        options: SyncOptions,
        observer: Observer | None = None,
        hashes: LocalHashes | None = None,
    ) -> PrinterResult:
        """Sync (or plan) one printer; waits while another sync of it runs."""
        observer = observer or Observer()
        finished = await self._sync(work, options, observer, hashes or LocalHashes(self.journal))
        return finished.result

    def turn(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """One of the session's `parallel` turns, for a caller that schedules runs one
        printer at a time (the watch): it takes a turn, decides whether the run is
        still wanted, then calls `sync_printer`."""
        return self._turns if self._turns is not None else contextlib.nullcontext()

    async def _sync(
        self, work: PrinterWork, options: SyncOptions, observer: Observer, hashes: LocalHashes
    ) -> Finished:
        name = work.printer.name
        async with self._busy.setdefault(name, asyncio.Lock()):
            observer.printer_started(name)
            opener = functools.partial(self.backend, work.printer)
            finished = await run_printer(
                work, opener, options, self.journal, hashes, observer, self.conversions
            )
            observer.printer_done(finished.result)
            return finished

    async def aclose(self) -> None:
        """Close the backends this session made (not the given ones, not the journal)."""
        made, self._made = self._made, {}
        self.conversions.close()
        for _, backend in made.values():
            with contextlib.suppress(Exception):  # closing must not hide the run's outcome
                await backend.aclose()


def _unplaced_files(runs: Sequence[Finished]) -> list[str]:
    """Warnings for master files that every printer whose model is known routed away."""
    identities = [(run, run.probed.identity if run.probed else None) for run in runs]
    routed = [run for run, identity in identities if identity is not None and identity.routed]
    if not routed or any(i is not None and not i.routed for _, i in identities):
        return []  # some printer takes every file
    targets = next(r.work.targets for r in routed if r.work.targets is not None)
    return unplaced(
        {r.work.printer.name: r.work.files for r in routed},
        {r.work.printer.name: r.probed.routed_away for r in routed if r.probed is not None},
        targets,
    )
