"""Carry out a sync: every selected printer at once, one transfer at a time each.

Per printer: probe, read state, list the managed destination, plan (asking
for sizes and hashes only where the journal and timestamps cannot decide),
then upload, verify, and only after every upload succeeded, delete. A printer
that fails or hangs never delays another: each runs in its own task with
timeouts on every request.

A `Session` holds what outlives one run: the journal and one backend per
printer (given by the caller, or made from the printer's settings). A one-shot
`link_sync.sync` opens one for the run; the `watch` service keeps one open and
runs one printer at a time with `Session.sync_printer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from link_sync import errors, redact
from link_sync.backends import open_backend
from link_sync.backends.base import Backend
from link_sync.config import PrinterConfig
from link_sync.journal import Journal, JournalEntry
from link_sync.model import (
    LocalFile,
    Op,
    PrinterInfo,
    PrinterState,
    PrinterStatus,
    RemoteEntry,
    SyncStatus,
    printing_file,
)
from link_sync.planner import (
    JOURNAL_HASH,
    KEPT_EXCESS,
    Action,
    Plan,
    PlanRules,
    make_plan,
    path_key,
)
from link_sync.result import ActionResult, PrinterResult, RunResult
from link_sync.routing import (
    MasterTargets,
    PrinterIdentity,
    identify_printer,
    not_wanted,
    unplaced,
)
from link_sync.scan import hash_file
from link_sync.space import fit_note, fitting_order, not_sent_message, space_need

log = redact.logger("link_sync")
T = TypeVar("T")

#: Opens the backend for a printer that was not given one (`backends.open_backend`:
#: for `type: prusalink` it asks the printer which firmware it runs). May raise PrinterError.
BackendFactory = Callable[[PrinterConfig], Awaitable[Backend]]
#: Gives one printer's backend: the one kept open, or a new one.
BackendOpener = Callable[[], Awaitable[Backend]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff for retryable printer errors."""

    attempts: int = 4
    first_delay: float = 1.0
    max_delay: float = 15.0

    def delays(self) -> list[float]:
        return [min(self.first_delay * 2**i, self.max_delay) for i in range(self.attempts - 1)]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How a run treats every printer (the options of `sync`)."""

    dry_run: bool = False
    include_busy: bool = False
    delete: bool = True
    max_delete: int | None = None
    #: printers worked on at once (`--jobs`); None: all
    parallel: int | None = None
    stale_after: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class Observer:
    """Receives progress events of a run; subclass it and override what you need.

    Every method is called on the event loop that runs the sync, and must not block.
    The terminal and log renderers of the CLI are Observers.
    """

    def printer_started(self, name: str) -> None:
        """Work on printer `name` begins (after waiting for a `parallel` slot)."""

    def printer_state(self, name: str, text: str) -> None:
        """What the printer's sync is doing now: "connecting", "listing", "busy (PRINTING)"."""

    def plan_ready(self, name: str, plan: Plan) -> None:
        """The printer's plan is known (`plan.transfers`, `plan.deletes`, `plan.skipped`)."""

    def transfer_started(self, name: str, action: Action) -> None:
        """An upload or replace (`action.op`, `action.path`, `action.bytes`) starts."""

    def transfer_progress(self, name: str, sent: int) -> None:
        """`sent` more bytes of the current transfer went out."""

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        """The current transfer failed and starts again from byte 0 (why: `reason`)."""

    def action_done(self, name: str, result: ActionResult) -> None:
        """One change finished (`result.ok`, `result.error`)."""

    def printer_done(self, result: PrinterResult) -> None:
        """The printer's part of the run ended (`result.status`)."""


@dataclass(frozen=True, slots=True)
class PrinterWork:
    """One printer's share of a run: its settings and its master files."""

    printer: PrinterConfig
    files: Sequence[LocalFile]
    #: master paths that could not be read: nothing below them is deleted
    unreadable: tuple[str, ...] = ()
    #: the master files' targets, for routing by model; None: every file to every printer
    targets: MasterTargets | None = None


class Session:
    """The journal and the printers' backends, open across runs.

    Backends in `backends` (by printer name) are the caller's: used, never
    closed. Others are made with `backend_factory` on first use, kept for the
    next run, and closed by `aclose` (or when the printer's settings change).
    The journal is the caller's too. At most one sync per printer runs at a
    time: a second one for the same printer waits for the first.
    """

    def __init__(
        self,
        journal: Journal | None,
        *,
        backends: Mapping[str, Backend] | None = None,
        backend_factory: BackendFactory = open_backend,
    ) -> None:
        self.journal = journal
        self._given = dict(backends or {})
        self._factory = backend_factory
        self._made: dict[str, tuple[PrinterConfig, Backend]] = {}
        self._busy: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
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

    async def run(
        self,
        works: Sequence[PrinterWork],
        options: SyncOptions,
        observer: Observer | None = None,
    ) -> RunResult:
        """Sync (or, with dry_run, plan) every printer of `works` at once."""
        observer = observer or Observer()
        hashes = LocalHashes(self.journal)
        limit = asyncio.Semaphore(options.parallel or len(works) or 1)

        async def one(work: PrinterWork) -> PrinterRun:
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
        run = await self._sync(work, options, observer, hashes or LocalHashes(self.journal))
        return run.result

    async def _sync(
        self, work: PrinterWork, options: SyncOptions, observer: Observer, hashes: LocalHashes
    ) -> PrinterRun:
        name = work.printer.name
        async with self._busy.setdefault(name, asyncio.Lock()):
            started = time.monotonic()
            observer.printer_started(name)
            opener = functools.partial(self.backend, work.printer)
            run = PrinterRun(work, opener, options, self.journal, hashes, observer)
            result = await run.run()
            result.seconds = time.monotonic() - started
            observer.printer_done(result)
            return run

    async def aclose(self) -> None:
        """Close the backends this session made (not the given ones, not the journal)."""
        made, self._made = self._made, {}
        for _, backend in made.values():
            with contextlib.suppress(Exception):  # closing must not hide the run's outcome
                await backend.aclose()


class LocalHashes:
    """Content hashes of master files, each computed once per run.

    SHA-256 hashes also go to the journal's cache, keyed by path, size and
    mtime, so an unchanged file is not read again on the next run.
    """

    def __init__(self, journal: Journal | None) -> None:
        self._journal = journal
        self._memo: dict[tuple[str, str], asyncio.Future[str]] = {}

    async def get(self, file: LocalFile, algorithm: str) -> str:
        key = (str(file.abspath), algorithm)
        future = self._memo.get(key)
        if future is None:
            future = asyncio.ensure_future(self._compute(file, algorithm))
            self._memo[key] = future
        return await asyncio.shield(future)

    async def _compute(self, file: LocalFile, algorithm: str) -> str:
        journal = self._journal if algorithm == JOURNAL_HASH else None
        if journal is not None:
            cached = journal.cached_hash(str(file.abspath), file.size, file.mtime_ns)
            if cached is not None:
                return cached
        digest = await asyncio.to_thread(hash_file, file.abspath, algorithm)
        if journal is not None:
            journal.remember_hash(str(file.abspath), file.size, file.mtime_ns, digest)
        return digest


def _unplaced_files(runs: Sequence[PrinterRun]) -> list[str]:
    """Warnings for master files that every printer whose model is known routed away."""
    routed = [r for r in runs if r.identity is not None and r.identity.routed]
    if not routed or any(r.identity is not None and not r.identity.routed for r in runs):
        return []  # some printer takes every file
    targets = next(r.targets for r in routed if r.targets is not None)
    return unplaced(
        {r.printer.name: r.files for r in routed},
        {r.printer.name: r.routed_away for r in routed},
        targets,
    )


class PrinterRun:
    """The whole sync of one printer, through the backend `backend()` gives.

    It opens the backend (retrying like any request) but never closes it: that
    is for whoever owns it (a `Session`).
    """

    def __init__(
        self,
        work: PrinterWork,
        backend: BackendOpener,
        options: SyncOptions,
        journal: Journal | None,
        hashes: LocalHashes,
        observer: Observer,
    ) -> None:
        self.printer = work.printer
        self.files = work.files
        self.unreadable = work.unreadable
        self.options = options
        self.journal = journal
        self.hashes = hashes
        self.observer = observer
        self.result = PrinterResult(name=self.printer.name, host=self.printer.base_url)
        self._open = backend
        self._backend: Backend | None = None
        self.targets = work.targets
        #: what routing knows of this printer (None until probed, or with `route: all`)
        self.identity: PrinterIdentity | None = None
        #: master files this printer does not get (sliced for another model), with why
        self.routed_away: dict[str, str] = {}
        #: the printer asked a question on its screen after our upload
        self.attention = False
        self.destination = ""
        self.journal_key = ""
        #: the destination folder showed entries, so it exists
        self.destination_listed = False
        #: the state read after the last upload, while that upload is checked
        self._state_after_uploads: asyncio.Future[PrinterStatus] | None = None

    async def run(self) -> PrinterResult:
        try:
            await self._run()
        except errors.Unreachable as exc:
            self.result.status = SyncStatus.UNREACHABLE
            self.result.error = str(exc)
        except errors.PrinterError as exc:
            self.result.status = SyncStatus.FAILED
            self.result.error = str(exc)
        except OSError as exc:  # a master file vanished or became unreadable mid-run
            self.result.status = SyncStatus.FAILED
            self.result.error = f"local file error: {exc}"
        return self.result

    @property
    def backend(self) -> Backend:
        """The printer's backend, once `open_backend` has found which it needs."""
        assert self._backend is not None
        return self._backend

    async def _run(self) -> None:
        name = self.printer.name
        self.observer.printer_state(name, "connecting")
        self._backend = await self._retrying("connect", self._open)
        info, status = await self._probe_and_status()
        self.result.kind = info.kind
        self.result.model = info.model
        self.result.firmware = info.firmware
        self.result.free_space = info.free_space
        if self.targets is not None:
            self._route(info.model, info.nozzle_diameter)
        state = self.result.state = PrinterState(status.state)
        self.result.job = status.job_path
        self.result.job_progress = status.job_progress
        if not state.idle and not self.options.include_busy:
            self.result.status = SyncStatus.BUSY
            self.observer.printer_state(name, f"busy ({state})")
            return

        self.destination = strip_storage(self.printer.destination or "", info.storage)
        self.journal_key = f"{name}|{self.printer.base_url}|{info.storage}|{self.destination}"
        self.observer.printer_state(name, "listing")
        listing = await self._retrying(
            "list files", lambda: self.backend.list_tree(self.destination)
        )
        remote = relative_to_folder(
            listing, self.destination, self.backend.capabilities.case_insensitive
        )
        self.destination_listed = bool(listing)
        self.result.managed_files = sum(1 for e in remote if not e.is_dir and e.print_file)
        plan = await self._plan(remote, status)
        self.observer.plan_ready(name, plan)
        self.result.unchanged = plan.unchanged
        self.result.skipped = [(p.path, p.reason) for p in plan.skipped]
        self.result.wanted_files = len(self.files) - len(plan.skipped)
        self.result.wanted_pending = sum(1 for a in plan.transfers if a.local is not None)
        for problem in plan.refused:
            self.result.actions.append(
                ActionResult(Op.UPLOAD, problem.path, ok=False, error=problem.reason)
            )
        for problem in plan.kept:
            self._keep(problem.path, problem.reason)

        max_delete = self.options.max_delete
        if max_delete is not None and len(plan.deletes) > max_delete:
            self.result.status = SyncStatus.SKIPPED
            self.result.error = (
                f"refused: {len(plan.deletes)} files would be deleted, more than "
                f"--max-delete {max_delete}; nothing was changed on this printer"
            )
            return
        if self.result.free_space is not None and plan.transfers:
            note = fit_note(space_need(plan), self.result.free_space)
            if note is not None:
                self.result.notes.append(note)
        if self.options.dry_run:
            self.result.actions.extend(
                ActionResult(a.op, a.path, a.bytes, reason=a.reason) for a in plan.actions
            )
            self.result.status = SyncStatus.FAILED if self.result.failed else SyncStatus.PLANNED
            return
        await self._execute(plan)
        if self.result.failed or self.attention:
            self.result.status = SyncStatus.FAILED
        elif self.result.status == SyncStatus.BUSY:  # it started printing before our deletes
            pass
        elif self.result.kept:
            # In line with the master except for the file of a print: the print is
            # the reason, as for a printer found printing.
            self.result.status = SyncStatus.BUSY
        else:
            self.result.status = SyncStatus.SYNCED

    async def _probe_and_status(self) -> tuple[PrinterInfo, PrinterStatus]:
        """What the printer is and what it is doing, asked at once: two requests on its
        two connections cost one round trip. The probe's failure is the one reported."""
        status = asyncio.ensure_future(self._retrying("read status", self.backend.status))
        try:
            info = await self._retrying("connect", self.backend.probe)
        except BaseException:
            await _cancelled(status)
            raise
        return info, await status

    @property
    def _opens_preview(self) -> bool:
        """The printer shows the print preview of an uploaded file on its screen."""
        return self.backend.capabilities.opens_preview

    @property
    def _screen_holds_print(self) -> bool:
        """The screen of the print that ended still holds its file."""
        return self.result.state is not None and self.result.state.print_over

    # -- routing ---------------------------------------------------------

    def _route(self, model: str | None, nozzle: float | None) -> None:
        """Decide which master files this printer is meant to hold."""
        assert self.targets is not None
        accept = getattr(self.printer, "accept", None) or ()
        self.identity = identify_printer(
            names_model=self.backend.capabilities.names_model,
            reported_model=model,
            reported_nozzle=nozzle,
            configured_model=getattr(self.printer, "model", None),
            configured_nozzle=getattr(self.printer, "nozzle", None),
            accept=tuple(accept),
        )
        self.result.notes.extend(self.identity.notes)
        self.routed_away = not_wanted(self.files, self.targets, self.identity)

    def _keep(self, path: str, reason: str) -> None:
        """A file left out of line with the master on purpose: reported, never silent."""
        self.result.kept.append((path, reason))
        self.result.notes.append(f"kept {path}: {reason}")

    # -- planning --------------------------------------------------------

    async def _plan(self, remote: list[RemoteEntry], status: PrinterStatus) -> Plan:
        caps = self.backend.capabilities
        ci = caps.case_insensitive
        rules = PlanRules(
            stale_after=self.options.stale_after,
            case_insensitive=ci,
            extensions=caps.extensions,
            delete=self.options.delete,
            mkdir_before_upload=caps.mkdir_before_upload,
            protected=_protected_path(printing_file(status), remote, self.destination, ci),
            unreadable=self.unreadable,
        )
        journal = self.journal.entries(self.journal_key) if self.journal is not None else {}
        # Every master file on every printer: the lookups are taken out of the loop.
        check_name = self.backend.check_name
        prefix = f"{self.destination}/" if self.destination else ""
        problems = {
            f.path: reason
            for f in self.files
            if (reason := check_name(prefix + f.path)) is not None
        }
        local_hashes: dict[tuple[str, str], str] = {}
        stats: dict[str, RemoteEntry | None] = {}
        while True:
            plan = make_plan(
                self.files,
                remote,
                journal,
                rules,
                local_hashes=local_hashes,
                stat_results=stats,
                name_problems=problems,
                not_wanted=self.routed_away,
            )
            if plan.is_final:
                break
            for file, algorithm in plan.needs_hash:
                local_hashes[(file.path, algorithm)] = await self.hashes.get(file, algorithm)
            await self._stat_all(plan.needs_stat, stats)
        await self._remember_confirmed(plan)
        return plan

    async def _stat_all(self, paths: Sequence[str], stats: dict[str, RemoteEntry | None]) -> None:
        """Ask the printer about each of `paths`, two at a time: a printer has two
        connections, and a farm whose journal is gone asks about every file it holds.
        None: gone since the listing, so the plan treats it as missing."""
        pending = iter(paths)

        async def ask() -> None:
            for path in pending:
                stats[path] = await self._retrying(
                    f"read {path}", functools.partial(self.backend.stat, self._remote_path(path))
                )

        askers = [asyncio.ensure_future(ask()), asyncio.ensure_future(ask())]
        try:
            await asyncio.gather(*askers)
        except BaseException:  # the first failure is the printer's; the other one stops
            for asker in askers:
                await _cancelled(asker)
            raise

    async def _remember_confirmed(self, plan: Plan) -> None:
        """Files found identical go into the journal, so the next run need not ask."""
        if self.journal is None or self.options.dry_run or not plan.confirmed:
            return
        # One transaction for all of them: a first run over 1,000 files that are
        # already on the printer made 1,000 commits per printer.
        entries = [await self._journal_entry(f.local, f.remote) for f in plan.confirmed]
        self.journal.record_many(self.journal_key, entries)

    # -- doing -----------------------------------------------------------

    async def _execute(self, plan: Plan) -> None:
        if plan.transfers and self.backend.capabilities.mkdir_before_upload:
            await self._make_destination()
        for action in plan.mkdirs:
            await self._do(
                action, functools.partial(self.backend.mkdir, self._remote_path(action.path))
            )
        transfers = plan.transfers
        if self._screen_holds_print:
            # The screen of a finished or stopped Buddy print still holds its file and
            # the firmware refuses to overwrite it (409 "File is busy" after the whole
            # body: gcode_upload.cpp try_rename; Prusa-Firmware-Buddy #3235). A new
            # file's upload opens its preview, which leaves that screen: new files go
            # first. A delete-then-upload would free it too, but could leave the
            # printer without the file, so it is never done.
            transfers = sorted(transfers, key=lambda a: a.op == Op.REPLACE)
        uploaded, room_made = await self._send(plan, transfers)
        after_uploads, self._state_after_uploads = self._state_after_uploads, None
        status: PrinterStatus | None = None
        if uploaded and self._opens_preview:
            # A Buddy printer opens the preview of the first file uploaded to it; if that
            # screen asks a question, the printer is ATTENTION until someone answers.
            if after_uploads is not None:
                status = await after_uploads
            else:
                status = await self._retrying("read status", self.backend.status)
            self.result.state = PrinterState(status.state)
            if self.result.state == PrinterState.ATTENTION:
                self._screen_asks(status, uploaded)
                if plan.deletes:
                    self.result.notes.append("deletes postponed: the printer is ATTENTION")
                return
        else:
            await _cancelled(after_uploads)  # nothing arrived: the state is as it was
        if self.result.failed:
            if plan.deletes and not room_made:
                self.result.notes.append("deletes postponed: not every upload succeeded")
            return
        if not plan.deletes:
            return
        if room_made or await self._delete_excess(plan, status):
            for action in plan.rmdirs:
                await self._rmdir(action)

    async def _send(self, plan: Plan, transfers: Sequence[Action]) -> tuple[list[str], bool]:
        """Upload `transfers` in order; (paths uploaded, whether the excess went first).

        A printer short of space (it refuses an upload with 507, or reports less free
        space than the plan needs) first loses the plan's excess, then gets the rest
        replaces and small files first; the next refusal for space ends the sending,
        instead of trying every remaining file.
        """
        name = self.printer.name
        pending = list(transfers)
        room_made = False
        free = self.result.free_space
        if pending and free is not None and not space_need(plan).fits(free):
            room_made = await self._make_room(plan)
            pending = self._fitting_order(pending)
        uploaded: list[str] = []
        # The check of the file just sent runs while the next one is sent: one round
        # trip less per file (the printer takes one upload at a time, but answers a
        # read on its second connection meanwhile).
        checking: tuple[Action, asyncio.Future[bool]] | None = None

        async def checked() -> None:
            nonlocal checking
            if checking is not None:
                (action, check), checking = checking, None
                if await check:
                    uploaded.append(action.path)

        try:
            while pending:
                action = pending.pop(0)
                self.observer.printer_state(name, "uploading")
                try:
                    sent = await self._upload(action)
                except errors.StorageFull as exc:
                    await checked()
                    if not room_made and plan.deletes:
                        room_made = await self._make_room(plan)
                        pending = self._fitting_order([action, *pending])
                        continue
                    await self._not_sent([action, *pending], exc)
                    break
                await checked()
                if sent:
                    checking = (action, asyncio.ensure_future(self._check(action)))
            if checking is not None and self._opens_preview:
                # What the uploads left on a Buddy printer's screen is read while the
                # last one is checked (`_execute` looks at it).
                self._state_after_uploads = asyncio.ensure_future(
                    self._retrying("read status", self.backend.status)
                )
            await checked()
        except BaseException:
            await _cancelled(self._state_after_uploads)
            self._state_after_uploads = None
            raise
        finally:
            if checking is not None:  # the printer failed us meanwhile; its error counts
                await _cancelled(checking[1])
        return uploaded, room_made

    def _fitting_order(self, actions: Sequence[Action]) -> list[Action]:
        ordered = fitting_order(actions)
        if self._screen_holds_print:
            # A finished print's screen may still hold a file to replace: new files first.
            ordered.sort(key=lambda a: a.op == Op.REPLACE)
        return ordered

    async def _make_room(self, plan: Plan) -> bool:
        """Delete the plan's excess before the uploads; False when there is none."""
        if not plan.deletes:
            return False
        self.result.notes.append(
            f"short of space: the {len(plan.deletes)} excess file(s) deleted first to make room"
        )
        await self._delete_excess(plan, None)
        return True

    async def _not_sent(self, actions: Sequence[Action], refusal: errors.StorageFull) -> None:
        """Report the files the printer has no room for, with what is free where it says.

        The first is the upload the printer refused (its own words); the rest were not tried.
        """
        free: int | None = None
        if self.result.free_space is not None:  # the printer reports free space: ask again
            with contextlib.suppress(errors.PrinterError):
                free = (await self.backend.probe()).free_space
        self.result.error = not_sent_message(actions, free)
        first, *rest = actions
        self._failed(first, errors.StorageFull(f"storage full: {refusal}"))
        for action in rest:
            self._failed(action, errors.StorageFull("storage full: not sent"))

    async def _delete_excess(self, plan: Plan, status: PrinterStatus | None) -> bool:
        """Delete the plan's excess files; False when the printer is busy now."""
        name = self.printer.name
        # A print may have started while we uploaded: look again before deleting.
        if status is None:
            status = await self._retrying("read status", self.backend.status)
        state = self.result.state = PrinterState(status.state)
        protected: str | None = None
        if not state.idle:
            if not self.options.include_busy:
                self.result.notes.append(f"deletes postponed: printer is now {state}")
                # Not in line with the master: reported like a printer found printing.
                self.result.status = SyncStatus.BUSY
                return False
            protected = printing_file(status)
        self.observer.printer_state(name, "deleting")
        ci = self.backend.capabilities.case_insensitive
        protected_key = path_key(protected, ci) if protected else None
        for action in plan.deletes:
            remote_path = self._remote_path(action.path)
            short = action.remote.short_path if action.remote else None
            if protected_key in {path_key(remote_path, ci), path_key(short or "", ci)}:
                self._keep(action.path, KEPT_EXCESS)
                continue
            ok = await self._do(action, functools.partial(self._delete, remote_path))
            if ok and self.journal is not None:
                self.journal.forget(self.journal_key, path_key(action.path, ci))
        return True

    def _screen_asks(self, status: PrinterStatus, uploaded: Sequence[str]) -> None:
        """Report a printer that turned ATTENTION after our upload, naming its screen's file."""
        self.attention = True
        on_screen = status.job_path or self._remote_path(uploaded[0])
        self.result.error = (
            f"the printer turned ATTENTION after this upload: its screen asks a question "
            f"about {on_screen.lstrip('/')} (the print preview opened by the upload); "
            "answer it on the printer"
        )

    async def _make_destination(self) -> None:
        """Create a destination that may be missing, one level at a time.

        The plan's folders are relative to the destination; on printers that need
        folders before uploads (the Pi's PrusaLink 0.8.1 never lists files put
        below two or more new levels), the destination's own levels come first.
        """
        if not self.destination or self.destination_listed:
            return
        parts = self.destination.split("/")
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            await self._retrying(
                f"create folder {folder}", functools.partial(self.backend.mkdir, folder)
            )

    async def _delete(self, remote_path: str) -> None:
        with contextlib.suppress(errors.NotFound):  # already gone: the goal is reached
            await self.backend.delete(remote_path)

    async def _rmdir(self, action: Action) -> None:
        try:
            await self._retrying(
                f"remove folder {action.path}",
                lambda: self.backend.rmdir(self._remote_path(action.path)),
            )
        except (errors.Refused, errors.NotFound, errors.FileBusy) as exc:
            # Printers hide some files from listings; a folder that still holds
            # one is kept, which is what we want anyway.
            self.result.notes.append(f"kept folder {action.path}: {exc}")
            return
        except errors.PrinterError as exc:
            self._failed(action, exc)
            return
        self._succeeded(action)

    async def _upload(self, action: Action) -> bool:
        """Send one file; False when that failed (and is reported). `_check` then
        decides whether it arrived."""
        assert action.local is not None
        local = action.local
        remote_path = self._remote_path(action.path)
        name = self.printer.name

        async def attempt() -> None:
            self.observer.transfer_started(name, action)
            _check_unchanged(local)
            await self.backend.upload(
                remote_path,
                local.abspath,
                local.size,
                overwrite=action.op == Op.REPLACE,
                progress=lambda n: self.observer.transfer_progress(name, n),
            )

        try:
            await self._retrying(f"upload {action.path}", attempt, restart=action)
        except errors.StorageFull:
            raise  # the caller makes room or stops sending (`_send`)
        except errors.PrinterError as exc:
            self._failed(action, await self._explain_busy(action, exc))
            return False
        except OSError as exc:
            self._failed(action, errors.Refused(f"cannot read the master file: {exc}"))
            return False
        return True

    async def _check(self, action: Action) -> bool:
        """An upload counts once the printer shows the file at its size; then it is
        recorded and reported. False when it does not (reported as failed)."""
        assert action.local is not None
        try:
            entry = await self._verify(action, self._remote_path(action.path))
        except errors.PrinterError as exc:
            self._failed(action, await self._explain_busy(action, exc))
            return False
        await self._record(action.local, entry)
        self._succeeded(action)
        return True

    async def _verify(self, action: Action, remote_path: str) -> RemoteEntry:
        """An upload counts only when the printer then shows the expected size."""
        assert action.local is not None
        entry = await self._retrying(f"check {action.path}", lambda: self.backend.stat(remote_path))
        if entry is None:
            raise errors.ProtocolError(
                f"upload {action.path}: accepted, but the file is not on the printer"
            )
        if entry.size is not None and entry.size != action.local.size:
            raise errors.ProtocolError(
                f"upload {action.path}: the printer holds {entry.size} bytes, "
                f"expected {action.local.size}"
            )
        return entry

    async def _do(self, action: Action, call: Callable[[], Awaitable[None]]) -> bool:
        try:
            await self._retrying(f"{action.op} {action.path}", call)
        except errors.PrinterError as exc:
            self._failed(action, await self._explain_busy(action, exc))
            return False
        self._succeeded(action)
        return True

    def _succeeded(self, action: Action) -> None:
        result = ActionResult(action.op, action.path, action.bytes, reason=action.reason)
        self.result.actions.append(result)
        self.observer.action_done(self.printer.name, result)

    async def _explain_busy(self, action: Action, exc: errors.PrinterError) -> errors.PrinterError:
        """A Buddy printer that is not printing answers 409 "File is busy" for the file
        shown on its screen (the print preview an upload opened, or a finished or
        stopped print's screen): only someone at the printer can close it, so it is
        reported as such, and as kept (FileBusy is never retried)."""
        if not isinstance(exc, errors.FileBusy) or not self._opens_preview:
            return exc
        try:
            status = await self.backend.status()
        except errors.PrinterError:
            return exc
        if not PrinterState(status.state).idle:
            return exc  # a print started: the file is in use by it
        done = "deleted" if action.op == Op.DELETE else "replaced"
        where = "open on the printer's screen"
        state = PrinterState(status.state)
        if state.print_over:
            where = f"still {where} after the {state.value.lower()} print"
        why = f"{where} — it will be {done} once the screen is closed"
        self._keep(action.path, why)
        return errors.FileBusy(why, status=exc.status)

    def _failed(self, action: Action, exc: errors.PrinterError) -> None:
        result = ActionResult(action.op, action.path, 0, ok=False, error=str(exc))
        self.result.actions.append(result)
        self.observer.action_done(self.printer.name, result)
        if isinstance(exc, errors.Unreachable | errors.AuthFailed):
            raise exc  # the printer is gone or refuses us: no point in going on

    async def _retrying(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        restart: Action | None = None,
    ) -> T:
        """`call()`, again after a pause on retryable errors, a bounded number of times."""
        delays = self.options.retry.delays()
        for attempt in range(len(delays) + 1):
            try:
                return await call()
            except errors.PrinterError as exc:
                if not exc.retryable or attempt == len(delays):
                    raise
                log.info(
                    "%s: %s failed (%s); waiting %g s before try %d of %d",
                    self.printer.name,
                    what,
                    exc,
                    delays[attempt],
                    attempt + 2,
                    len(delays) + 1,
                )
                if restart is not None:
                    self.observer.transfer_restarted(self.printer.name, restart, str(exc))
                await asyncio.sleep(delays[attempt])
        raise AssertionError("unreachable")

    async def _record(self, local: LocalFile, remote: RemoteEntry) -> None:
        """Remember what the printer now holds for this master file."""
        if self.journal is None:
            return
        self.journal.record(self.journal_key, await self._journal_entry(local, remote))

    async def _journal_entry(self, local: LocalFile, remote: RemoteEntry) -> JournalEntry:
        digest = await self.hashes.get(local, JOURNAL_HASH)
        ci = self.backend.capabilities.case_insensitive
        return JournalEntry(
            path=path_key(local.path, ci),
            local_size=local.size,
            local_mtime_ns=local.mtime_ns,
            content_hash=digest,
            remote_mtime=remote.mtime,
            remote_size=remote.size,
        )

    def _remote_path(self, relative: str) -> str:
        return f"{self.destination}/{relative}" if self.destination else relative


async def _cancelled(task: asyncio.Future[Any] | None) -> None:
    """Cancel a side request that is no longer wanted, and let it finish."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _check_unchanged(local: LocalFile) -> None:
    """Refuse to send a master file that changed since the scan (it is being written)."""
    stat = local.abspath.stat()
    if stat.st_size != local.size or stat.st_mtime_ns != local.mtime_ns:
        raise OSError(f"{local.abspath} changed during the sync; it will be sent next run")


def strip_storage(destination: str, storage: str) -> str:
    """'usb/prints' -> 'prints' when the printer's storage is 'usb' (the original's -d form)."""
    parts = [p for p in destination.split("/") if p]
    if parts and storage and parts[0].casefold() == storage.casefold():
        parts = parts[1:]
    return "/".join(parts)


def relative_to_folder(entries: Sequence[RemoteEntry], folder: str, ci: bool) -> list[RemoteEntry]:
    """Entries below `folder`, with paths relative to it (whole components compared)."""
    if not folder:
        return list(entries)  # the storage root: paths are relative to it already
    return [entry.with_path(relative) for relative, entry in entries_below(entries, folder, ci)]


def entries_below(
    entries: Sequence[RemoteEntry], folder: str, ci: bool
) -> list[tuple[str, RemoteEntry]]:
    """(path relative to `folder`, entry as listed) for every entry below `folder`."""
    if not folder:
        return [(entry.path, entry) for entry in entries]
    prefix = path_key(folder, ci) + "/"
    return [
        (entry.path[len(prefix) :], entry)
        for entry in entries
        if path_key(entry.path, ci).startswith(prefix)
    ]


def _protected_path(
    job_path: str | None, remote: Sequence[RemoteEntry], destination: str, ci: bool
) -> str | None:
    """The destination-relative path of the file being printed, if it is in there.

    Printers name the job file by long or by 8.3 short path; either matches.
    """
    if not job_path:
        return None
    wanted = path_key(job_path.strip("/"), ci)
    prefix = path_key(destination, ci) + "/" if destination else ""
    for entry in remote:
        full = path_key(prefix + entry.path, ci) if prefix else path_key(entry.path, ci)
        short = path_key(entry.short_path or "", ci)
        if wanted in (full, short):
            return entry.path
    return None
