"""The first phases of a printer's run: what the printer is (`probe`) and what it holds
in the managed destination (`look`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from link_sync.backends.base import Capabilities
from link_sync.config import PrinterConfig
from link_sync.core.model import LocalFile, PrinterInfo, PrinterState, PrinterStatus, RemoteEntry
from link_sync.core.routing import (
    MasterTargets,
    PrinterIdentity,
    identify_printer,
    not_wanted,
    shown_model,
)
from link_sync.core.while_printing import WhilePrinting, while_printing
from link_sync.engine.context import RunContext, cancelled, retrying
from link_sync.engine.events import Activity
from link_sync.engine.paths import relative_to_folder, strip_storage


@dataclass(frozen=True, slots=True)
class Probed:
    """What the printer is and what it was doing when the run began."""

    info: PrinterInfo
    status: PrinterStatus
    #: what routing knows of the printer (None with `route: all`)
    identity: PrinterIdentity | None = None
    #: master files this printer does not get (sliced for another model), with why
    routed_away: Mapping[str, str] = field(default_factory=dict)
    #: its model as reports show it (`core.routing.shown_model`)
    model: str | None = None

    @property
    def state(self) -> PrinterState:
        return PrinterState(self.status.state)


@dataclass(frozen=True, slots=True)
class Place:
    """The managed destination on the printer, and what it held before any change."""

    #: the destination below the storage ("" = the storage root)
    destination: str
    #: the journal's key for this printer, storage and destination
    journal_key: str
    #: the entries below the destination, relative to it
    remote: list[RemoteEntry]
    #: the destination showed entries, so it exists
    listed: bool

    def remote_path(self, relative: str) -> str:
        return f"{self.destination}/{relative}" if self.destination else relative

    @property
    def print_files(self) -> int:
        return sum(1 for e in self.remote if not e.is_dir and e.print_file)


async def probe(
    ctx: RunContext, files: Sequence[LocalFile], targets: MasterTargets | None
) -> Probed:
    """What the printer is and what it is doing, asked at once: two requests on its
    two connections cost one round trip. The probe's failure is the one reported."""
    backend = ctx.backend
    reading = asyncio.ensure_future(retrying(ctx, "read status", backend.status))
    try:
        info = await retrying(ctx, "connect", backend.probe)
    except BaseException:
        await cancelled(reading)
        raise
    status = ctx.saw(await reading)
    model = shown_model(
        names_model=backend.capabilities.names_model,
        reported=info.model,
        configured=getattr(ctx.printer, "model", None),
    )
    if targets is None:
        return Probed(info, status, model=model)
    identity = identify_printer(
        names_model=backend.capabilities.names_model,
        reported_model=info.model,
        reported_nozzle=info.nozzle_diameter,
        configured_model=getattr(ctx.printer, "model", None),
        configured_nozzle=getattr(ctx.printer, "nozzle", None),
        accept=tuple(getattr(ctx.printer, "accept", None) or ()),
    )
    ctx.ledger.notes.extend(identity.notes)
    return Probed(info, status, identity, not_wanted(files, targets, identity), model)


def during_prints(printer: PrinterConfig, caps: Capabilities) -> WhilePrinting:
    """What the printer does during a print (`while_printing:`, else its backend's
    default); raises `errors.Refused` for `upload` on a printer that cannot take it."""
    return while_printing(
        getattr(printer, "while_printing", None),
        prints_from_host_disk=caps.prints_from_host_disk,
        uploads_by_default=caps.uploads_while_printing,
    )


async def look(ctx: RunContext, probed: Probed) -> Place:
    """List the managed destination."""
    destination = strip_storage(ctx.printer.destination or "", probed.info.storage)
    storage = probed.info.storage
    journal_key = f"{ctx.name}|{ctx.printer.base_url}|{storage}|{destination}"
    ctx.observer.printer_state(ctx.name, Activity.LISTING)
    listing = await retrying(ctx, "list files", lambda: ctx.backend.list_tree(destination))
    ci = ctx.backend.capabilities.case_insensitive
    remote = relative_to_folder(listing, destination, ci)
    return Place(destination, journal_key, remote, listed=bool(listing))
