"""What every phase of one printer's run shares: the fixed `RunContext`, the `Ledger`
the phases write what they did to, and the calls to the printer (retried).

The ledger is append-only: actions, notes and files kept, in the order they happened,
and the last state the printer was seen in. A run that an error stops keeps what it did
before; the result is built from the ledger once, at the end (`run.run_printer`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

from link_sync import errors, redact
from link_sync.backends.base import Backend
from link_sync.config import PrinterConfig
from link_sync.core.model import Op, PrinterState, PrinterStatus
from link_sync.core.planner import Action
from link_sync.engine.conversions import Conversions
from link_sync.engine.events import Observer
from link_sync.engine.hashes import LocalHashes
from link_sync.engine.journal import Journal
from link_sync.engine.options import SyncOptions
from link_sync.result import ActionResult

log = redact.logger("link_sync")
T = TypeVar("T")


@dataclass(slots=True)
class Ledger:
    """What one printer's run did so far (append-only)."""

    actions: list[ActionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: files left out of line with the master on purpose (path, why)
    kept: list[tuple[str, str]] = field(default_factory=list)
    #: the printer's state as last read
    state: PrinterState | None = None

    @property
    def failed(self) -> int:
        return sum(1 for a in self.actions if not a.ok)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def keep(self, path: str, reason: str) -> None:
        """A file left out of line with the master on purpose: reported, never silent."""
        self.kept.append((path, reason))
        self.notes.append(f"kept {path}: {reason}")


@dataclass(frozen=True, slots=True)
class RunContext:
    """One printer's run: its settings, its backend and whom to tell, fixed for the run."""

    printer: PrinterConfig
    backend: Backend
    options: SyncOptions
    journal: Journal | None
    hashes: LocalHashes
    observer: Observer
    ledger: Ledger
    #: the session's binary G-code conversions (`send_as: bgcode`)
    conversions: Conversions | None = None

    @property
    def name(self) -> str:
        return self.printer.name

    async def read_status(self) -> PrinterStatus:
        """Ask the printer what it is doing now (its state is noted in the ledger)."""
        return self.saw(await retrying(self, "read status", self.backend.status))

    def saw(self, status: PrinterStatus) -> PrinterStatus:
        """Note the state the printer was found in."""
        self.ledger.state = PrinterState(status.state)
        return status

    def succeeded(self, action: Action, sent: int | None = None) -> None:
        """`action` done; `sent`: the bytes that went out, when not the master file's
        (a file sent converted)."""
        result = ActionResult(
            action.op, action.path, action.bytes if sent is None else sent, reason=action.reason
        )
        if action.local is not None and action.local.converted_from is not None:
            result.source, result.source_bytes = action.local.converted_from, action.local.size
        self.ledger.actions.append(result)
        self.observer.action_done(self.name, result)

    def failed(self, action: Action, exc: errors.PrinterError) -> None:
        result = ActionResult(action.op, action.path, 0, ok=False, error=str(exc))
        self.ledger.actions.append(result)
        self.observer.action_done(self.name, result)
        if isinstance(exc, errors.Unreachable | errors.AuthFailed):
            raise exc  # the printer is gone or refuses us: no point in going on

    async def do(self, action: Action, call: Callable[[], Awaitable[None]]) -> bool:
        """One change (a folder made, a file deleted); False when it failed (reported)."""
        try:
            await retrying(self, f"{action.op} {action.path}", call)
        except errors.PrinterError as exc:
            self.failed(action, await self.explain_busy(action, exc))
            return False
        self.succeeded(action)
        return True

    async def explain_busy(self, action: Action, exc: errors.PrinterError) -> errors.PrinterError:
        """A printer whose screen holds a file (`opens_preview`: Buddy) answers 409 "File
        is busy" for it while it is not printing (the print preview an upload opened, or
        a finished or stopped print's screen): only someone at the printer can close it,
        so it is reported as such, and as kept (FileBusy is never retried)."""
        if not isinstance(exc, errors.FileBusy) or not self.backend.capabilities.opens_preview:
            return exc
        try:
            status = await self.backend.status()
        except errors.PrinterError:
            return exc
        state = PrinterState(status.state)
        if not state.idle:
            return exc  # a print started: the file is in use by it
        done = "deleted" if action.op == Op.DELETE else "replaced"
        where = "open on the printer's screen"
        if state.print_over:
            where = f"still {where} after the {state.value.lower()} print"
        why = f"{where} — it will be {done} once the screen is closed"
        self.ledger.keep(action.path, why)
        return errors.FileBusy(why, status=exc.status)


class Retries(Protocol):
    """Who retries: a `RunContext`, or a run still connecting (`Connecting`)."""

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> SyncOptions: ...

    @property
    def observer(self) -> Observer: ...


class Connecting(NamedTuple):
    """A printer's run before its backend is open."""

    name: str
    options: SyncOptions
    observer: Observer


async def retrying(
    who: Retries,
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    restart: Action | None = None,
) -> T:
    """`call()`, again after a pause on retryable errors, a bounded number of times
    (`who.options.retry`); a restarted transfer is told to `who.observer`."""
    name, observer = who.name, who.observer
    delays = who.options.retry.delays()
    for attempt in range(len(delays) + 1):
        try:
            return await call()
        except errors.PrinterError as exc:
            if not exc.retryable or attempt == len(delays):
                raise
            log.info(
                "%s: %s failed (%s); waiting %g s before try %d of %d",
                name,
                what,
                exc,
                delays[attempt],
                attempt + 2,
                len(delays) + 1,
            )
            if restart is not None:
                observer.transfer_restarted(name, restart, str(exc))
            await asyncio.sleep(delays[attempt])
    raise AssertionError("unreachable")


async def cancelled(task: asyncio.Future[Any] | None) -> None:
    """Cancel a side request that is no longer wanted, and let it finish."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
