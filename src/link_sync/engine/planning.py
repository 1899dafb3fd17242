"""The plan phase of a printer's run: the planner (`planner.make_plan`, pure) asked
again until it is final, with the hashes and the printer's answers it asks for."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping, Sequence

from link_sync.core.model import LocalFile, RemoteEntry, printing_file
from link_sync.core.planner import JOURNAL_HASH, Plan, PlanRules, make_plan, path_key
from link_sync.core.send_as import AS_IS, BGCODE, as_binary
from link_sync.engine.context import RunContext, cancelled, retrying
from link_sync.engine.journal import JournalEntry
from link_sync.engine.paths import protected_path
from link_sync.engine.probe import Place, Probed


async def plan(
    ctx: RunContext,
    files: Sequence[LocalFile],
    unreadable: Sequence[str],
    probed: Probed,
    place: Place,
) -> Plan:
    """What this printer needs, asking for sizes and hashes only where the journal and
    timestamps cannot decide."""
    caps = ctx.backend.capabilities
    ci = caps.case_insensitive
    rules = PlanRules(
        stale_after=ctx.options.stale_after,
        case_insensitive=ci,
        extensions=caps.extensions,
        delete=ctx.options.delete,
        mkdir_before_upload=caps.mkdir_before_upload,
        protected=protected_path(printing_file(probed.status), place.remote, place.destination, ci),
        unreadable=tuple(unreadable),
    )
    journal = ctx.journal.entries(place.journal_key) if ctx.journal is not None else {}
    files, not_wanted = _as_sent(ctx, files, probed)
    # Every master file on every printer: the lookups are taken out of the loop.
    check_name = ctx.backend.check_name
    prefix = f"{place.destination}/" if place.destination else ""
    problems = {
        f.path: reason for f in files if (reason := check_name(prefix + f.path)) is not None
    }
    local_hashes: dict[tuple[str, str], str] = {}
    stats: dict[str, RemoteEntry | None] = {}
    while True:
        planned = make_plan(
            files,
            place.remote,
            journal,
            rules,
            local_hashes=local_hashes,
            stat_results=stats,
            name_problems=problems,
            not_wanted=not_wanted,
        )
        if planned.is_final:
            break
        for file, algorithm in planned.needs_hash:
            local_hashes[(file.path, algorithm)] = await ctx.hashes.get(file, algorithm)
        await _stat_all(ctx, place, planned.needs_stat, stats)
    await _remember_confirmed(ctx, place, planned)
    _size_conversions(ctx, planned)
    return planned


def _size_conversions(ctx: RunContext, planned: Plan) -> None:
    """Files sent converted whose conversion is cached are planned at its size (the
    bytes that will go out); the others at the master file's until they are converted."""
    conversions = ctx.conversions
    if conversions is None:
        return
    for i, action in enumerate(planned.transfers):
        local = action.local
        if local is not None and local.converted_from is not None:
            known = conversions.known(local, ctx.journal)
            if known is not None:
                planned.transfers[i] = dataclasses.replace(action, sent_bytes=known.size)


def _as_sent(
    ctx: RunContext, files: Sequence[LocalFile], probed: Probed
) -> tuple[Sequence[LocalFile], Mapping[str, str]]:
    """The master's files under the names this printer holds them by: with `send_as:
    bgcode` on a printer that prints it, plain G-code becomes `.bgcode` (`core/send_as`)."""
    if getattr(ctx.printer, "send_as", AS_IS) != BGCODE:
        return files, probed.routed_away
    if not ctx.backend.capabilities.prints_bgcode:
        ctx.ledger.note(
            f"send_as: bgcode does not apply: this printer ({probed.info.kind}) cannot "
            "print binary G-code, so it gets the master's files as they are"
        )
        return files, probed.routed_away
    conversions = ctx.conversions
    keep_plain = conversions.failed(list(files), ctx.journal) if conversions else set()
    form = as_binary(
        files,
        probed.routed_away,
        keep_plain=keep_plain,
        case_insensitive=ctx.backend.capabilities.case_insensitive,
    )
    ctx.ledger.notes.extend(form.notes)
    return form.files, form.not_wanted


async def _stat_all(
    ctx: RunContext, place: Place, paths: Sequence[str], stats: dict[str, RemoteEntry | None]
) -> None:
    """Ask the printer about each of `paths`, two at a time: a printer has two
    connections, and a farm whose journal is gone asks about every file it holds.
    None: gone since the listing, so the plan treats it as missing."""
    pending = iter(paths)

    async def ask() -> None:
        for path in pending:
            stats[path] = await retrying(
                ctx, f"read {path}", functools.partial(ctx.backend.stat, place.remote_path(path))
            )

    askers = [asyncio.ensure_future(ask()), asyncio.ensure_future(ask())]
    try:
        await asyncio.gather(*askers)
    except BaseException:  # the first failure is the printer's; the other one stops
        for asker in askers:
            await cancelled(asker)
        raise


async def _remember_confirmed(ctx: RunContext, place: Place, planned: Plan) -> None:
    """Files found identical go into the journal, so the next run need not ask."""
    if ctx.journal is None or ctx.options.dry_run or not planned.confirmed:
        return
    # One transaction for all of them: a first run over 1,000 files that are
    # already on the printer made 1,000 commits per printer.
    entries = [await journal_entry(ctx, f.local, f.remote) for f in planned.confirmed]
    ctx.journal.record_many(place.journal_key, entries)


async def journal_entry(
    ctx: RunContext, local: LocalFile, remote: RemoteEntry, digest: str | None = None
) -> JournalEntry:
    """What the journal keeps of a master file the printer now holds: `digest`, the
    content hash of what was sent, or (None) the file's."""
    if digest is None:
        digest = await ctx.hashes.get(local, JOURNAL_HASH)
    return JournalEntry(
        path=path_key(local.path, ctx.backend.capabilities.case_insensitive),
        local_size=local.size,
        local_mtime_ns=local.mtime_ns,
        content_hash=digest,
        remote_mtime=remote.mtime,
        remote_size=remote.size,
    )
