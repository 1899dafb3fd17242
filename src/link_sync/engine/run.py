"""One printer's run, as phases: connect, `probe`, `look` (list the destination), `plan`,
then the checks before any change (`--max-delete`, free space, a dry run stops here),
`transfer`, the screen check, and `prune`. Each phase takes and returns immutable
values; what the run did is written to its `Ledger`, and the `PrinterResult` is built
from those once, at the end.

The run opens the backend (retrying like any request) but never closes it: that is
for whoever owns it (the `Session`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from link_sync import errors
from link_sync.backends.base import Backend
from link_sync.config import PrinterConfig
from link_sync.core.model import (
    LocalFile,
    Op,
    PrinterState,
    PrinterStatus,
    SyncStatus,
    printed_file_unknown,
)
from link_sync.core.planner import Action, Plan
from link_sync.core.routing import MasterTargets, routing_of
from link_sync.core.space import fit_note, space_need
from link_sync.core.while_printing import WhilePrinting
from link_sync.engine.context import Connecting, Ledger, RunContext, retrying
from link_sync.engine.conversions import Conversions
from link_sync.engine.events import Activity, Observer
from link_sync.engine.hashes import LocalHashes
from link_sync.engine.journal import Journal
from link_sync.engine.options import SyncOptions
from link_sync.engine.planning import plan as make_printer_plan
from link_sync.engine.probe import Place, Probed, during_prints, look, probe
from link_sync.engine.prune import delete_excess, remove_folders
from link_sync.engine.transfer import DELETE_FIRST, Sent, deleted_first, transfer
from link_sync.result import ActionResult, PrinterResult

#: Gives one printer's backend: the one kept open, or a new one.
BackendOpener = Callable[[], Awaitable[Backend]]


@dataclass(frozen=True, slots=True)
class PrinterWork:
    """One printer's share of a run: its settings and its master files."""

    printer: PrinterConfig
    files: Sequence[LocalFile]
    #: master paths that could not be read: nothing below them is deleted
    unreadable: tuple[str, ...] = ()
    #: the master files' targets, for routing by model; None: every file to every printer
    targets: MasterTargets | None = None


#: Why a printer that takes files while printing gets none this run.
UNKNOWN_JOB_NOTE = (
    "printing, but the printer does not say which file: nothing is sent until it does"
)


@dataclass(frozen=True, slots=True)
class Ending:
    """How a run ended: its status, and the error that says why, if any."""

    status: SyncStatus
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """One printer's run, done: its result, and what routing learnt of the printer."""

    work: PrinterWork
    result: PrinterResult
    #: None when the printer was not reached
    probed: Probed | None


async def run_printer(
    work: PrinterWork,
    opener: BackendOpener,
    options: SyncOptions,
    journal: Journal | None,
    hashes: LocalHashes,
    observer: Observer,
    conversions: Conversions | None = None,
) -> Finished:
    """Sync (or, with `options.dry_run`, plan) one printer; never raises a PrinterError."""
    started = time.monotonic()
    name = work.printer.name
    ledger = Ledger()
    probed: Probed | None = None
    place: Place | None = None
    planned: Plan | None = None
    mode: WhilePrinting | None = None
    try:
        observer.printer_state(name, Activity.CONNECTING)
        backend = await retrying(Connecting(name, options, observer), "connect", opener)
        ctx = RunContext(
            work.printer, backend, options, journal, hashes, observer, ledger, conversions
        )
        probed = await probe(ctx, work.files, work.targets)
        # a Buddy printer set to `upload` is refused here, before anything is sent
        mode = during_prints(work.printer, backend.capabilities)
        if mode == WhilePrinting.UPLOAD and not options.include_busy:
            # It takes files during a print, as with --include-busy (never the printed one).
            ctx = dataclasses.replace(ctx, options=dataclasses.replace(options, include_busy=True))
        unknown_job = printed_file_unknown(probed.status)
        if not probed.state.idle and (unknown_job or not ctx.options.include_busy):
            if unknown_job and ctx.options.include_busy:
                ledger.note(UNKNOWN_JOB_NOTE)
            observer.printer_busy(name, probed.state)
            ending = Ending(SyncStatus.BUSY)
        else:
            place = await look(ctx, probed)
            planned = await make_printer_plan(ctx, work.files, work.unreadable, probed, place)
            observer.plan_ready(name, planned)
            ending = await _carry_out(ctx, probed, place, planned)
    except errors.Unreachable as exc:
        ending = Ending(SyncStatus.UNREACHABLE, str(exc))
    except errors.PrinterError as exc:
        ending = Ending(SyncStatus.FAILED, str(exc))
    except OSError as exc:  # a master file vanished or became unreadable mid-run
        ending = Ending(SyncStatus.FAILED, f"local file error: {exc}")
    result = _result(work, probed, place, planned, ledger, ending)
    result.while_printing = mode
    result.seconds = time.monotonic() - started
    return Finished(work, result, probed)


async def _carry_out(ctx: RunContext, probed: Probed, place: Place, plan: Plan) -> Ending:
    """What follows the plan: the checks before any change, then the changes."""
    ledger = ctx.ledger
    for problem in plan.refused:
        ledger.actions.append(ActionResult(Op.UPLOAD, problem.path, ok=False, error=problem.reason))
    for problem in plan.kept:
        ledger.keep(problem.path, problem.reason)
    refusal = ctx.options.too_many_deletes(len(plan.deletes))
    if refusal is not None:
        return Ending(SyncStatus.SKIPPED, refusal)
    free = probed.info.free_space
    if free is not None and plan.transfers:
        note = fit_note(space_need(plan), free)
        if note is not None:
            ledger.note(note)
    if ctx.options.dry_run:
        first = deleted_first(ctx, plan)
        for action in plan.actions:
            planned = _planned(action)
            if action.path == first:
                planned.reason = DELETE_FIRST.format(state=probed.state.value.lower())
            ledger.actions.append(planned)
        return Ending(SyncStatus.FAILED if ledger.failed else SyncStatus.PLANNED)
    sent = await transfer(ctx, probed, place, plan)
    status = await _screen_after(ctx, sent)
    if status is not None and PrinterState(status.state) == PrinterState.ATTENTION:
        if plan.deletes:
            ledger.note("deletes postponed: the printer is ATTENTION")
        return Ending(SyncStatus.FAILED, _screen_asks(place, status, sent))
    pruned = await _prune(ctx, place, plan, sent, status)
    postponed = sent.deletes_postponed or not pruned
    if ledger.failed:
        return Ending(SyncStatus.FAILED, sent.error)
    if postponed or ledger.kept:
        # Printing by now (the deletes wait), or in line with the master except for
        # the file of a print: the print is the reason, as for a printer found printing.
        return Ending(SyncStatus.BUSY, sent.error)
    return Ending(SyncStatus.SYNCED, sent.error)


def _planned(action: Action) -> ActionResult:
    """A dry run's action; a file to be sent converted names its master file, and its
    binary size where a conversion is cached (else the master file's, an upper bound:
    `planning` sizes the plan)."""
    result = ActionResult(action.op, action.path, action.bytes, reason=action.reason)
    local = action.local
    if local is not None and local.converted_from is not None:
        result.source, result.source_bytes = local.converted_from, local.size
    return result


async def _screen_after(ctx: RunContext, sent: Sent) -> PrinterStatus | None:
    """A printer that opens previews shows the first file uploaded to it; if that screen
    asks a question, the printer is ATTENTION until someone answers. Its state after the
    uploads (None: nothing arrived, or it opens no preview)."""
    if not sent.uploaded or not ctx.backend.capabilities.opens_preview:
        return None
    return ctx.saw(sent.after) if sent.after is not None else await ctx.read_status()


def _screen_asks(place: Place, status: PrinterStatus, sent: Sent) -> str:
    """The error of a printer that turned ATTENTION after our upload, naming its screen's
    file."""
    on_screen = status.job_path or place.remote_path(sent.uploaded[0])
    return (
        f"the printer turned ATTENTION after this upload: its screen asks a question "
        f"about {on_screen.lstrip('/')} (the print preview opened by the upload); "
        "answer it on the printer"
    )


async def _prune(
    ctx: RunContext, place: Place, plan: Plan, sent: Sent, status: PrinterStatus | None
) -> bool:
    """Delete the excess once every upload succeeded; False when the printer is printing
    by now (the deletes are postponed). `status`: the state just read, if any."""
    if ctx.ledger.failed:
        if plan.deletes and not sent.room_made:
            ctx.ledger.note("deletes postponed: not every upload succeeded")
        return True
    if not plan.deletes:
        return True
    if sent.room_made or await delete_excess(ctx, place, plan, status):
        await remove_folders(ctx, place, plan)
        return True
    return False


def _result(
    work: PrinterWork,
    probed: Probed | None,
    place: Place | None,
    plan: Plan | None,
    ledger: Ledger,
    ending: Ending,
) -> PrinterResult:
    """The printer's result, from what each phase returned and what the ledger holds."""
    result = PrinterResult(work.printer.name, work.printer.base_url, ledger.state, ending.status)
    result.actions, result.kept, result.notes = ledger.actions, ledger.kept, ledger.notes
    result.error = ending.error
    result.routing = routing_of(
        "all" if work.targets is None else "model",
        probed.identity if probed is not None else None,
        getattr(work.printer, "model", None),
    )
    if probed is not None:
        info, status = probed.info, probed.status
        result.kind, result.firmware = info.kind, info.firmware
        result.model = probed.model
        result.free_space = info.free_space
        result.job, result.job_progress = status.job_path, status.job_progress
    if place is not None:
        result.managed_files = place.print_files
    if plan is not None:
        result.unchanged = plan.unchanged
        result.skipped = [(p.path, p.reason) for p in plan.skipped]
        result.wanted_files = plan.wanted
        result.wanted_pending = sum(1 for a in plan.transfers if a.local is not None)
    return result
