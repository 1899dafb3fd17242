"""The transfer phase of a printer's run: folders first, then every upload, each checked
(the printer shows the file at its size) before it counts and is recorded.

A Buddy printer whose finished or stopped print's screen still holds that print's
file refuses to overwrite it (409 "File is busy"); a new file's upload leaves that
screen, so new files go first. When there is none, the first replace deletes its file
before the upload (a DELETE is the firmware's own way out of that screen): the one case
where a printer may be left without a file it had, a stale one, if the upload then fails.

A printer short of space (it refuses an upload with 507, or reports less free space
than the plan needs) first loses the plan's excess (`prune`), then gets the rest,
replaces and small files first; the next refusal for space ends the sending instead
of trying every remaining file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path

from link_sync import errors
from link_sync.backends.sent import FileChanged, recording_sent
from link_sync.core.model import LocalFile, Op, PrinterStatus, RemoteEntry
from link_sync.core.planner import JOURNAL_HASH, Action, Plan, path_key
from link_sync.core.space import fitting_order, not_sent_message, space_need
from link_sync.engine.context import RunContext, cancelled, retrying
from link_sync.engine.conversions import Conversion, NotConverted
from link_sync.engine.events import Activity
from link_sync.engine.planning import journal_entry
from link_sync.engine.probe import Place, Probed
from link_sync.engine.prune import delete_excess, delete_file


@dataclass(frozen=True, slots=True)
class Sent:
    """What the transfer phase did."""

    #: the files that arrived (checked), in the order sent
    uploaded: tuple[str, ...]
    #: the excess was deleted first, to make room
    room_made: bool = False
    #: ... but the printer was printing by then, so it was not
    deletes_postponed: bool = False
    #: why files were not sent (the printer ran out of space)
    error: str | None = None
    #: the state a printer that opens previews was left in, read with the last check
    after: PrinterStatus | None = None


async def transfer(ctx: RunContext, probed: Probed, place: Place, plan: Plan) -> Sent:
    """Make the plan's folders, then send its uploads and replaces."""
    if plan.transfers and ctx.backend.capabilities.mkdir_before_upload:
        await _make_destination(ctx, place)
    for action in plan.mkdirs:
        await ctx.do(action, functools.partial(ctx.backend.mkdir, place.remote_path(action.path)))
    transfers = plan.transfers
    if _print_over(ctx):
        # The screen of a finished or stopped Buddy print still holds its file and
        # the firmware refuses to overwrite it (409 "File is busy" after the whole
        # body: gcode_upload.cpp try_rename; Prusa-Firmware-Buddy #3235). A new
        # file's upload leaves that screen (print_begin): new files go first.
        transfers = sorted(transfers, key=lambda a: a.op == Op.REPLACE)
    return await _Sender(ctx, probed, place, plan).send(transfers)


def _print_over(ctx: RunContext) -> bool:
    return ctx.ledger.state is not None and ctx.ledger.state.print_over


def screen_holds_files(ctx: RunContext) -> bool:
    """A finished or stopped print's screen may hold a file this run replaces, and only
    a delete of that file would leave the screen (no new file's upload does it first)."""
    return ctx.backend.capabilities.delete_leaves_print_screen and _print_over(ctx)


def deleted_first(ctx: RunContext, plan: Plan) -> str | None:
    """The replace that deletes its file first (its reason in a plan), if any: the first
    one, on a printer whose print screen may hold it, when no new file goes before."""
    if not screen_holds_files(ctx) or any(a.op == Op.UPLOAD for a in plan.transfers):
        return None
    return next((a.path for a in plan.transfers if a.op == Op.REPLACE), None)


#: Seconds between the checks of an upload that its printer does not show yet.
LISTING_LAG_PAUSES = (0.25, 0.5, 1.0)

#: Why a replace deletes its file first (the plan's reason, the run's note).
DELETE_FIRST = (
    "deleted first, then sent: the {state} print's screen may hold it and refuses an "
    "overwrite; a delete is the firmware's way out of that screen"
)


async def _make_destination(ctx: RunContext, place: Place) -> None:
    """Create a destination that may be missing, one level at a time.

    The plan's folders are relative to the destination; on printers that need
    folders before uploads (the Pi's PrusaLink 0.8.1 never lists files put
    below two or more new levels), the destination's own levels come first.
    """
    if not place.destination or place.listed:
        return
    parts = place.destination.split("/")
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        await retrying(ctx, f"create folder {folder}", functools.partial(ctx.backend.mkdir, folder))


class _Sender:
    """Sends one plan's transfers in order. The check of the file just sent runs
    while the next one is sent: one round trip less per file (the printer takes one
    upload at a time, but answers a read on its second connection meanwhile)."""

    def __init__(self, ctx: RunContext, probed: Probed, place: Place, plan: Plan) -> None:
        self.ctx = ctx
        self.probed = probed
        self.place = place
        self.plan = plan
        self.uploaded: list[str] = []
        self.checking: tuple[Action, asyncio.Future[bool]] | None = None
        #: the content hash of what each upload sent (by plan path), until it is recorded
        self.sent_hashes: dict[str, str | None] = {}
        #: `send_as: bgcode`: conversions under way or done, by plan path (the next
        #: file is converted while the current one is sent), and the sizes they sent
        self.converting: dict[str, asyncio.Future[Conversion]] = {}
        self.sent_sizes: dict[str, int] = {}
        #: a finished print's screen may still hold a file to replace (no upload left it)
        self.screen_held = screen_holds_files(ctx)
        #: files deleted before their upload: missing from the printer until it arrives
        self.emptied: set[str] = set()

    async def send(self, transfers: Sequence[Action]) -> Sent:
        ctx, plan = self.ctx, self.plan
        pending = list(transfers)
        room_made = postponed = False
        error: str | None = None
        free = self.probed.info.free_space
        if pending and free is not None and not space_need(plan).fits(free):
            room_made, postponed = await self._make_room()
            pending = self._fitting_order(pending)
        after: asyncio.Future[PrinterStatus] | None = None
        try:
            while pending:
                action = pending.pop(0)
                self._convert_ahead(pending[:1])
                ctx.observer.printer_state(ctx.name, Activity.UPLOADING)
                try:
                    sent = await self._upload(action)
                except errors.StorageFull as exc:
                    await self._checked()
                    if not room_made and plan.deletes:
                        room_made, postponed = await self._make_room()
                        pending = self._fitting_order([action, *pending])
                        continue
                    error = await self._not_sent([action, *pending], exc)
                    break
                await self._checked()
                if sent is not None:
                    self.checking = (sent, asyncio.ensure_future(self._check(sent)))
            if self.checking is not None and ctx.backend.capabilities.opens_preview:
                # What the uploads left on the printer's screen is read while the last
                # one is checked (`screen.check` looks at it).
                after = asyncio.ensure_future(retrying(ctx, "read status", ctx.backend.status))
            await self._checked()
            status = await after if after is not None and self.uploaded else None
        except BaseException:
            await cancelled(after)
            raise
        finally:
            if self.checking is not None:  # the printer failed us meanwhile; its error counts
                await cancelled(self.checking[1])
            for converting in self.converting.values():
                await cancelled(converting)
        if status is None:
            await cancelled(after)  # nothing arrived: the state is as it was
        return Sent(tuple(self.uploaded), room_made, postponed, error, status)

    async def _checked(self) -> None:
        """Wait for the check of the file sent before, if any."""
        if self.checking is not None:
            (action, check), self.checking = self.checking, None
            if await check:
                self.uploaded.append(action.path)

    def _fitting_order(self, actions: Sequence[Action]) -> list[Action]:
        ordered = fitting_order(actions)
        if _print_over(self.ctx):
            # A finished print's screen may still hold a file to replace: new files first.
            ordered.sort(key=lambda a: a.op == Op.REPLACE)
        return ordered

    async def _make_room(self) -> tuple[bool, bool]:
        """Delete the plan's excess before the uploads: (whether there was any, whether
        the printer was printing by then, so the deletes were postponed)."""
        count = len(self.plan.deletes)
        if not count:
            return False, False
        self.ctx.ledger.note(
            f"short of space: the {count} excess file(s) deleted first to make room"
        )
        return True, not await delete_excess(self.ctx, self.place, self.plan, None)

    async def _not_sent(self, actions: Sequence[Action], refusal: errors.StorageFull) -> str:
        """Report the files the printer has no room for; why, with what is free where it
        says. The first is the upload the printer refused (its own words); the rest
        were not tried."""
        ctx = self.ctx
        free: int | None = None
        if self.probed.info.free_space is not None:  # the printer reports free space: ask again
            with contextlib.suppress(errors.PrinterError):
                free = (await ctx.backend.probe()).free_space
        message = not_sent_message(actions, free)
        first, *rest = actions
        self._fail(first, errors.StorageFull(f"storage full: {refusal}"))
        for action in rest:
            self._fail(action, errors.StorageFull("storage full: not sent"))
        return message

    def _fail(self, action: Action, exc: errors.PrinterError) -> None:
        """Report a transfer that failed; one whose file was deleted first says that the
        printer lacks it now (the journal forgot it: the next run sends it)."""
        if action.path in self.emptied:
            exc = type(exc)(
                f"{exc}; {action.path} was deleted first to leave the print screen, so the "
                "printer lacks it until the next run sends it",
                status=exc.status,
            )
        self.ctx.failed(action, exc)

    def _convert_ahead(self, actions: Sequence[Action]) -> None:
        """Start converting the files of `actions` that go as binary G-code."""
        conversions = self.ctx.conversions
        for action in actions:
            local = action.local
            if local is None or local.converted_from is None or conversions is None:
                continue
            if action.path not in self.converting:
                self.converting[action.path] = asyncio.ensure_future(
                    conversions.get(local, self.ctx.hashes)
                )

    async def _converted(self, action: Action) -> Action | Conversion | None:
        """The conversion to send for `action`; or, for a file that does not convert,
        the action that sends it as it is; None when it failed (reported)."""
        self._convert_ahead([action])
        try:
            return await self.converting.pop(action.path)
        except NotConverted as exc:
            return self._as_is(action, str(exc))
        except OSError as exc:  # FileChanged too: the file is being written
            self.ctx.failed(action, errors.Refused(str(exc)))
            return None

    def _as_is(self, action: Action, why: str) -> Action:
        """`action` for a file that does not convert: its master file goes as it is,
        replacing a copy the plan meant to delete as excess."""
        assert action.local is not None and action.local.converted_from is not None
        plain = action.local.converted_from
        self.ctx.ledger.note(f"{plain} is sent as it is: it does not convert ({why})")
        key = path_key(plain, self.ctx.backend.capabilities.case_insensitive)
        ci = self.ctx.backend.capabilities.case_insensitive
        there = [d for d in self.plan.deletes if path_key(d.path, ci) == key]
        self.plan.deletes[:] = [d for d in self.plan.deletes if d not in there]
        local = dataclasses.replace(action.local, path=plain, converted_from=None)
        if there:
            return Action(Op.REPLACE, plain, local, there[0].remote, "does not convert")
        return Action(Op.UPLOAD, plain, local, reason="does not convert")

    async def _upload(self, action: Action) -> Action | None:
        """Send one file; the action sent (another for a file that does not convert),
        or None when that failed (and is reported). `_check` then decides whether it
        arrived."""
        assert action.local is not None
        ctx = self.ctx
        source: Path = action.local.abspath
        size, sent_hash = action.local.size, None
        if action.local.converted_from is not None:
            converted = await self._converted(action)
            if converted is None:
                return None
            if isinstance(converted, Action):
                action = converted
            else:
                source, size, sent_hash = converted.path, converted.size, converted.source_hash
                self.sent_sizes[action.path] = size
                # what the observers are told, and what the progress totals count
                action = dataclasses.replace(action, sent_bytes=size)
        local = action.local
        assert local is not None
        remote_path = self.place.remote_path(action.path)

        async def attempt() -> None:
            ctx.observer.transfer_started(ctx.name, action)
            _check_unchanged(local)
            # What is recorded is what went out: the body's own hash, never the file's
            # later (a file rewritten mid-upload is refused by the body: FileChanged).
            # A converted file's record is the master content it was converted from.
            with recording_sent() as sent:
                await ctx.backend.upload(
                    remote_path,
                    source,
                    size,
                    overwrite=action.op == Op.REPLACE,
                    progress=lambda n: ctx.observer.transfer_progress(ctx.name, n),
                )
            self.sent_hashes[action.path] = sent_hash or sent.content_hash

        if action.op == Op.REPLACE and self.screen_held and not await self._delete_first(action):
            return None
        try:
            await retrying(ctx, f"upload {action.path}", attempt, restart=action)
        except errors.StorageFull:
            raise  # the caller makes room or stops sending
        except errors.PrinterError as exc:
            self._fail(action, await ctx.explain_busy(action, exc))
            return None
        except FileChanged as exc:
            self._fail(action, errors.Refused(str(exc)))
            return None
        except OSError as exc:
            self._fail(action, errors.Refused(f"cannot read the master file: {exc}"))
            return None
        self.screen_held = False  # an upload leaves a finished print's screen
        return action

    async def _delete_first(self, action: Action) -> bool:
        """Delete the file a replace is about to send again: the way out of a finished
        or stopped print's screen that holds it. False when the delete failed
        (reported: the file is still there, in its old version)."""
        ctx = self.ctx
        try:
            await delete_file(ctx, self.place.remote_path(action.path), f"delete {action.path}")
        except errors.PrinterError as exc:
            ctx.failed(action, await ctx.explain_busy(action, exc))
            return False
        if ctx.journal is not None:
            ci = ctx.backend.capabilities.case_insensitive
            ctx.journal.forget(self.place.journal_key, path_key(action.path, ci))
        self.emptied.add(action.path)
        self.screen_held = False
        state = ctx.ledger.state.value.lower() if ctx.ledger.state is not None else "last"
        ctx.ledger.note(f"{action.path}: " + DELETE_FIRST.format(state=state))
        return True

    async def _check(self, action: Action) -> bool:
        """An upload counts once the printer shows the file at its size; then it is
        recorded and reported. False when it does not (reported as failed)."""
        assert action.local is not None
        ctx = self.ctx
        try:
            entry = await self._verify(action, self.place.remote_path(action.path))
        except errors.PrinterError as exc:
            self._fail(action, await ctx.explain_busy(action, exc))
            return False
        try:
            await self._record(action.local, entry, self.sent_hashes.pop(action.path, None))
        except FileChanged as exc:
            self._fail(action, errors.Refused(str(exc)))
            return False
        except OSError as exc:  # gone or unreadable since it was sent: not vouched for
            self._fail(action, errors.Refused(f"cannot read the master file: {exc}"))
            return False
        ctx.succeeded(action, self.sent_sizes.pop(action.path, None))
        return True

    async def _verify(self, action: Action, remote_path: str) -> RemoteEntry:
        """An upload counts only when the printer then shows the expected size."""
        assert action.local is not None
        ctx = self.ctx

        def stat() -> Awaitable[RemoteEntry | None]:
            return retrying(ctx, f"check {action.path}", lambda: ctx.backend.stat(remote_path))

        entry = await stat()
        # A printer's listing can lag an accepted upload for a moment (PrusaLink 0.8.1
        # up to ~1 s; OctoPrint 1.11.8 once under load, while the next file went to the
        # same folder): ask again before calling it missing.
        for pause in LISTING_LAG_PAUSES:
            if entry is not None:
                break
            await asyncio.sleep(pause)
            entry = await stat()
        if entry is None:
            raise errors.ProtocolError(
                f"upload {action.path}: accepted, but the file is not on the printer"
            )
        expected = self.sent_sizes.get(action.path, action.local.size)
        if entry.size is not None and entry.size != expected:
            raise errors.ProtocolError(
                f"upload {action.path}: the printer holds {entry.size} bytes, expected {expected}"
            )
        return entry

    async def _record(self, local: LocalFile, remote: RemoteEntry, sent: str | None) -> None:
        """Remember what the printer now holds for this master file: `sent`, the hash
        of the bytes the upload streamed (None: a backend that does not tell)."""
        journal = self.ctx.journal
        if journal is None:
            return
        if sent is None or not sent.startswith(f"{JOURNAL_HASH}:"):
            # Hashed now, so only while the file is still what the scan saw.
            _check_unchanged(local)
            sent = None
        entry = await journal_entry(self.ctx, local, remote, sent)
        journal.record(self.place.journal_key, entry)


def _check_unchanged(local: LocalFile) -> None:
    """Refuse to send a master file that changed since the scan (it is being written)."""
    stat = local.abspath.stat()
    if stat.st_size != local.size or stat.st_mtime_ns != local.mtime_ns:
        raise FileChanged(f"{local.abspath} changed during the sync; it will be sent next run")
