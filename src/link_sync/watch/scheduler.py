"""When each printer syncs: one `PrinterWorker` per watched printer.

Each printer's worker reads the printer's state every `poll_interval` seconds and
has the engine run a sync pass (the engine's whole per-printer sync, every rule of
`sync` included) when the printer is out of date and idle. Out of date means: a newer
master view (or a periodic rescan, or a request) arrived since the start of its
last successful pass, so a change that lands during a pass is handled by the
next one. A printing printer's pending work waits and starts as soon as a poll
sees the print end. An unreachable printer is polled again after a growing
pause (up to 5 minutes) and reported once per change, not once per poll.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from link_sync import errors
from link_sync.backends.base import Backend
from link_sync.config import PrinterConfig
from link_sync.core.model import CHANGE_OPS, IDLE_STATES, SyncStatus
from link_sync.core.while_printing import WhilePrinting
from link_sync.engine.probe import during_prints
from link_sync.engine.run import PrinterWork
from link_sync.result import PrinterResult
from link_sync.watch.files import PlanRecorder
from link_sync.watch.observer import FarmObserver

if TYPE_CHECKING:
    from link_sync.watch.farm import FarmWatch
    from link_sync.watch.master import MasterView

log = logging.getLogger("link_sync.watch")

#: The longest pause between two attempts to reach an unreachable printer.
MAX_BACKOFF = 300.0
#: The first pause before a failed (or kept-busy) pass is tried again; it doubles up to
#: MAX_FAILED_RETRY.
#: (A master change or a request tries again at once.)
FAILED_PASS_RETRY = 5.0
MAX_FAILED_RETRY = 60.0


class Alarm:
    """Sleep until a loop time, or until `set()`: an Event with a deadline, without the
    task `asyncio.wait_for` makes per wait (500 printers wait 100 times a second)."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._set = False

    def set(self) -> None:
        self._set = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def sleep_until(self, deadline: float) -> None:
        if self._set:
            self._set = False
            return
        loop = asyncio.get_running_loop()
        future = self._future = loop.create_future()
        timer = loop.call_at(deadline, _wake_up, future)
        try:
            await future
        finally:
            timer.cancel()
            self._future = None
            self._set = False


def _wake_up(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class PrinterWorker:
    """One printer: poll its state, sync it when it is idle and out of date."""

    def __init__(self, farm: FarmWatch, printer: PrinterConfig) -> None:
        self.farm = farm
        self.printer = printer
        self.name = printer.name
        #: pass generations: a pass is due while done < wanted
        self.wanted = 1
        self.done = 0
        self.state: str | None = None
        self.job: str | None = None
        self.reachable: bool | None = None
        #: whether it takes files during a print (known once its backend is open)
        self.while_printing: WhilePrinting | None = None
        self.unreachable_polls = 0
        self.unfinished_passes = 0
        self.next_poll = 0.0
        self.retry_at = 0.0
        self.paused = False
        self._pending_for = 0  # the `wanted` generation the pending count was made for
        self._wake = Alarm()
        self._shown: dict[str, Any] = {}
        self._pass: asyncio.Task[PrinterResult] | None = None
        self._last_error: str | None = None
        self._failure: str | None = None
        #: (state, job) in which the last pass had to keep files (the printer holds them);
        #: passes wait for that to change (or for a master change, or a slow retry)
        self._blocked: tuple[str | None, str | None] | None = None

    # -- requests from the farm ------------------------------------------------------

    def want_pass(self) -> None:
        self.wanted += 1
        self.retry_at = 0.0
        self._wake.set()

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self._event("paused" if paused else "resumed")
        self.show()
        self._wake.set()

    def abandon_pass(self) -> None:
        if self._pass is not None:
            self._pass.cancel()

    @property
    def out_of_date(self) -> bool:
        return self.done < self.wanted

    @property
    def serves_while_printing(self) -> bool:
        """A print does not hold its passes back (`while_printing: upload`, or
        --include-busy): it gets every change but the printed file's at once."""
        return self.farm.settings.sync.include_busy or self.while_printing == WhilePrinting.UPLOAD

    @property
    def pending(self) -> tuple[int, int]:
        """(files, bytes) waiting for this printer, as last counted."""
        view = self.farm.state.printers.get(self.name)
        return (view.pending_files, view.pending_bytes) if view is not None else (0, 0)

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.show()
        try:
            while True:
                try:
                    await self._step(loop.time())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug must not end the watch of this printer
                    log.exception("%s: unexpected error", self.name)
                    self._event("failed", error=f"unexpected error: {exc!r}")
                    self.next_poll = loop.time() + self.farm.settings.poll_interval
                    self.retry_at = self.next_poll
                await self._sleep(loop)
        finally:
            await asyncio.shield(self.farm.session.release(self.printer))

    async def _step(self, now: float) -> None:
        if now >= self.next_poll:
            await self._poll()
        if self._may_sync():
            await self._run_pass()
        elif self._should_count_pending():
            await self._count_pending(announce=True)

    async def _sleep(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._may_sync() or self._should_count_pending():
            return
        deadline = self.next_poll
        if self._may_sync(ignore_retry=True) and self.retry_at > loop.time():
            deadline = min(deadline, self.retry_at)
        await self._wake.sleep_until(deadline)

    def _may_sync(self, *, ignore_retry: bool = False) -> bool:
        view = self.farm.view_for(self.printer)
        return (
            self.out_of_date
            and not self.paused
            and view is not None
            and view.usable
            and self.reachable is True
            and (self.state in IDLE_STATES or self.serves_while_printing)
            and (ignore_retry or asyncio.get_running_loop().time() >= self.retry_at)
        )

    def _should_count_pending(self) -> bool:
        view = self.farm.view_for(self.printer)
        return (
            self.out_of_date
            and self.reachable is True
            and self.state not in IDLE_STATES
            and not self.serves_while_printing
            and self._pending_for != self.wanted
            and view is not None
            and view.usable
        )

    # -- state polls -----------------------------------------------------------------

    async def _open(self) -> Backend:
        """The printer's one backend, for state polls and passes alike, kept by the
        session (opened on first use: it asks a PrusaLink printer whether it is Buddy or
        Pi, and may fail like status). Closed when the worker ends."""
        return await self.farm.session.backend(self.printer)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.farm.settings
        try:
            backend = await self._open()
            self._learn_while_printing(backend)
            status = await backend.status()
        except errors.PrinterError as exc:
            self.unreachable_polls += 1
            pause = min(MAX_BACKOFF, settings.poll_interval * 2**self.unreachable_polls)
            self.next_poll = loop.time() + pause
            self._lost(str(exc))
            return
        self.unreachable_polls = 0
        self.next_poll = loop.time() + settings.poll_interval
        self._found()
        await self._set_state(status.state, status.job_path, status.job_progress)

    def _learn_while_printing(self, backend: Backend) -> None:
        """Whether the printer takes files during a print; a printer refused
        `while_printing: upload` waits (its passes fail, naming the key)."""
        try:
            self.while_printing = during_prints(self.printer, backend.capabilities)
        except errors.Refused:
            self.while_printing = None

    def _lost(self, error: str, *, announced: bool = False) -> None:
        """The printer did not answer; said once per change, not once per poll."""
        if self.reachable is not False and not announced:
            self._event(
                "unreachable",
                error=error,
                message=f"unreachable: {error} (trying again, at most "
                f"{MAX_BACKOFF / 60:.0f} min apart)",
            )
        self.reachable = False
        self._last_error = error
        self.show()

    def _found(self) -> None:
        if self.reachable is False:
            self._event("reachable", message="reachable again")
            self.retry_at = 0.0
        self.reachable = True
        self._last_error = None

    async def _set_state(self, state: str, job: str | None, progress: float | None) -> None:
        changed = state != self.state
        self.state = state
        self.job = job
        if self._blocked is not None and (state, job) != self._blocked:
            # The printer let go of what it held (its print screen was left, a print
            # ended): the next pass can bring those files in line.
            self._blocked = None
            self.retry_at = 0.0
        if changed:
            if state not in IDLE_STATES and self.out_of_date:
                await self._count_pending(announce=False)
            self._event("state", message=self._state_sentence())
        self.show(job_progress=progress)

    def _state_sentence(self) -> str:
        text = f"now {self.state}"
        files = self.pending[0]
        if self.out_of_date and files:
            text += f", {files} file{'s' if files != 1 else ''} pending"
        return text

    # -- passes ----------------------------------------------------------------------

    async def _job(self, view: MasterView | None) -> PrinterWork | None:
        if view is None or not view.usable:
            return None
        targets = await self.farm.targets_for(view)
        # Unsettled files count as unreadable: not sent, and nothing at their path deleted.
        return PrinterWork(
            self.printer, view.files, (*view.incomplete, *view.unsettled), targets=targets
        )

    async def _run_pass(self) -> None:
        # The generation and the view it stands for are taken together, before any
        # wait: a view published while the work is built (the targets read) or while
        # waiting for a turn is newer than this pass, which must not count it as done.
        generation, view = self.wanted, self.farm.view_for(self.printer)
        job = await self._job(view)
        if job is None or view is None:
            return
        session = self.farm.session
        async with session.turn():
            if not self._may_sync():  # things changed while waiting for a turn
                return
            run = session.sync_printer(
                job,
                self.farm.settings.sync,
                FarmObserver(
                    self.farm.state, current=lambda: self.wanted == generation, files=job.files
                ),
                self.farm.hashes_for(view),
            )
            self._pass = asyncio.create_task(run, name=f"pass {self.name}")
            try:
                result = await self._pass
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the watch is stopping
                self.farm.state.update_printer(self.name, activity=None, transfer=None)
                self.show()
                return  # abandoned: the master folder went away
            finally:
                self._pass = None
        self._after_pass(result, generation)

    def _after_pass(self, result: PrinterResult, generation: int) -> None:
        self._shown = {}  # the pass changed the view too: show everything again
        loop = asyncio.get_running_loop()
        settings = self.farm.settings
        self.next_poll = loop.time() + settings.poll_interval
        if result.status == SyncStatus.UNREACHABLE:
            self.unreachable_polls += 1
            self.next_poll = loop.time() + min(
                MAX_BACKOFF, settings.poll_interval * 2**self.unreachable_polls
            )
            self._lost(result.error or "unreachable", announced=True)
            return
        self._found()
        if result.state is not None and result.state != self.state:
            self.state = result.state
            self.job = result.job
            self._event("state", message=f"now {self.state}")
        self._failure = None
        self._blocked = None
        if result.status == SyncStatus.SYNCED:
            self.done = generation
            self.unfinished_passes = 0
        elif result.status == SyncStatus.SKIPPED:
            self.done = generation  # a safety refusal waits for the next change
            self._failure = result.error
        else:
            # Failed, or found printing, or files kept because the printer holds them
            # (its screen shows the last print): tried again after a pause that grows,
            # at once when the printer's state changes (the screen was left, the
            # print ended) or the master changes.
            self.unfinished_passes += 1
            pause = min(MAX_FAILED_RETRY, FAILED_PASS_RETRY * 2 ** (self.unfinished_passes - 1))
            self.retry_at = loop.time() + pause
            self._blocked = (self.state, self.job)
            if result.status == SyncStatus.FAILED:
                why = result.error or f"{result.failed} file(s) failed"
                self._failure = f"failed: {why} (next try in {pause:.0f} s)"
            else:
                self._pending_for = 0  # count what waits for the printer
        self.show()

    async def _count_pending(self, *, announce: bool) -> None:
        """What waits for this busy printer: a dry run of its pass (changes nothing)."""
        generation, view = self.wanted, self.farm.view_for(self.printer)  # as in _run_pass
        job = await self._job(view)
        if job is None or view is None:
            return
        result = await self.farm.session.sync_printer(
            job,
            self.farm.settings.sync.planning(),
            PlanRecorder(self.farm.state.files, job.files),
            self.farm.hashes_for(view),
        )
        self._pending_for = generation
        if result.status != SyncStatus.PLANNED:
            return
        planned = [a for a in result.actions if a.op in CHANGE_OPS and a.ok]
        before = self.pending
        now = (len(planned), sum(a.bytes for a in planned))
        self.farm.state.update_printer(self.name, pending_files=now[0], pending_bytes=now[1])
        self._shown = {}
        if announce and planned and now != before:
            self._event(
                "pending",
                bytes=now[1],
                message=f"{self.state}: {now[0]} file{'s' if now[0] != 1 else ''} pending, "
                "sent when the print ends",
            )
        self.show()

    # -- reporting -------------------------------------------------------------------

    def _event(self, event: str, **fields: Any) -> None:
        self.farm.state.event(self.name, event, **fields)

    def show(self, **extra: Any) -> None:
        """Put what this worker knows into the printer's view."""
        view = self.farm.view_for(self.printer)
        watching: bool | str = True
        reason: str | None = None
        if self.paused:
            watching, reason = "paused", "paused"
        elif view is None or not view.usable:
            watching = "paused"
            reason = view.unusable if view is not None else "no master folder"
        elif self.reachable is False:
            reason = f"unreachable: {self._last_error}"
        elif self._failure:
            reason = self._failure
        elif self.out_of_date and self.state not in IDLE_STATES and self.state is not None:
            reason = None if self.serves_while_printing else f"busy ({self.state})"
        fields: dict[str, Any] = {
            "state": self.state,
            "reachable": self.reachable,
            "job": self.job,
            "while_printing": self.while_printing,
            "in_sync": None if self.reachable is not True else not self.out_of_date,
            "reason": reason,
            "watching": watching,
            **extra,
        }
        if not self.out_of_date:
            fields |= {"pending_files": 0, "pending_bytes": 0}
        # Most polls change nothing: the view (and its readers) are left alone then.
        if fields != self._shown or self.name not in self.farm.state.printers:
            self._shown = fields
            self.farm.state.update_printer(self.name, **fields)
