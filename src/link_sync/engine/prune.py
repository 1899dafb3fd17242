"""The prune phase of a printer's run: delete the plan's excess files, then the folders
they leave empty. Only ever after every upload succeeded, or first, to make room."""

from __future__ import annotations

import contextlib
import functools

from link_sync import errors
from link_sync.core.model import PrinterState, PrinterStatus, printed_file_unknown, printing_file
from link_sync.core.planner import KEPT_EXCESS, Action, Plan, path_key
from link_sync.engine.context import RunContext, retrying
from link_sync.engine.events import Activity
from link_sync.engine.paths import names_job
from link_sync.engine.probe import Place


async def delete_excess(
    ctx: RunContext, place: Place, plan: Plan, status: PrinterStatus | None
) -> bool:
    """Delete the plan's excess files; False when the printer is busy now (postponed)."""
    # A print may have started while we uploaded: look again before deleting.
    status = ctx.saw(status) if status is not None else await ctx.read_status()
    state = PrinterState(status.state)
    protected: str | None = None
    if not state.idle:
        if not ctx.options.include_busy or printed_file_unknown(status):
            ctx.ledger.note(f"deletes postponed: printer is now {state}")
            return False
        protected = printing_file(status)
    ctx.observer.printer_state(ctx.name, Activity.DELETING)
    ci = ctx.backend.capabilities.case_insensitive
    protected_key = path_key(protected, ci) if protected else None
    for action in plan.deletes:
        remote_path = place.remote_path(action.path)
        short = action.remote.short_path if action.remote else None
        if protected_key is not None and (
            names_job(protected_key, path_key(remote_path, ci))
            or names_job(protected_key, path_key(short or "", ci))
        ):
            ctx.ledger.keep(action.path, KEPT_EXCESS)
            continue
        ok = await ctx.do(action, functools.partial(_delete, ctx, remote_path))
        if ok and ctx.journal is not None:
            ctx.journal.forget(place.journal_key, path_key(action.path, ci))
    return True


async def remove_folders(ctx: RunContext, place: Place, plan: Plan) -> None:
    """Remove the folders the plan empties; one that still holds a hidden file stays."""
    for action in plan.rmdirs:
        await _rmdir(ctx, place, action)


async def _delete(ctx: RunContext, remote_path: str) -> None:
    with contextlib.suppress(errors.NotFound):  # already gone: the goal is reached
        await ctx.backend.delete(remote_path)


async def delete_file(ctx: RunContext, remote_path: str, what: str) -> None:
    """Delete one file (retried; one already gone counts as deleted)."""
    await retrying(ctx, what, functools.partial(_delete, ctx, remote_path))


async def _rmdir(ctx: RunContext, place: Place, action: Action) -> None:
    try:
        await retrying(
            ctx,
            f"remove folder {action.path}",
            lambda: ctx.backend.rmdir(place.remote_path(action.path)),
        )
    except (errors.Refused, errors.NotFound, errors.FileBusy) as exc:
        # Printers hide some files from listings; a folder that still holds
        # one is kept, which is what we want anyway.
        ctx.ledger.note(f"kept folder {action.path}: {exc}")
        return
    except errors.PrinterError as exc:
        ctx.failed(action, exc)
        return
    ctx.succeeded(action)
