"""What the engine tells whoever watches a run: `Observer`, and the `Activity` values
its `printer_state` reports.

The terminal and log renderers of the CLI, the watch's farm state and a library
caller's own class are all Observers; the engine calls them and never waits for them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from link_sync.core.model import PrinterState
    from link_sync.core.planner import Action, Plan
    from link_sync.result import ActionResult, PrinterResult


class Activity(StrEnum):
    """What one printer's sync is doing now (a `str`: "connecting", "listing", ...)."""

    CONNECTING = "connecting"
    LISTING = "listing"
    UPLOADING = "uploading"
    DELETING = "deleting"


class Observer:
    """Receives progress events of a run; subclass it and override what you need.

    Every method is called on the event loop that runs the sync, and must not block.
    The terminal and log renderers of the CLI are Observers.
    """

    def printer_started(self, name: str) -> None:
        """Work on printer `name` begins (after waiting for a `parallel` slot)."""

    def printer_state(self, name: str, text: str) -> None:
        """What the printer's sync is doing now: an `Activity` ("connecting", "listing",
        ...), or "busy (PRINTING)" (see `printer_busy`)."""

    def printer_busy(self, name: str, state: PrinterState) -> None:
        """The printer is found printing (or otherwise not idle): its sync stops here.

        By default this reports `printer_state(name, "busy (STATE)")`."""
        self.printer_state(name, f"busy ({state})")

    def plan_ready(self, name: str, plan: Plan) -> None:
        """The printer's plan is known (`plan.transfers`, `plan.deletes`, `plan.skipped`)."""

    def transfer_started(self, name: str, action: Action) -> None:
        """An upload or replace (`action.op`, `action.path`, `action.bytes`) starts.

        `action.bytes` is what goes out: for a file sent as binary G-code, its
        conversion's size (the plan may have counted the master file's)."""

    def transfer_progress(self, name: str, sent: int) -> None:
        """`sent` more bytes of the current transfer went out."""

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        """The current transfer failed and starts again from byte 0 (why: `reason`)."""

    def action_done(self, name: str, result: ActionResult) -> None:
        """One change finished (`result.ok`, `result.error`)."""

    def printer_done(self, result: PrinterResult) -> None:
        """The printer's part of the run ended (`result.status`)."""


class PlannedBytes:
    """The bytes each printer's plan sends, for progress totals, corrected as each
    transfer starts: a file sent as binary G-code (`send_as: bgcode`) is planned at the
    master file's size until its conversion is known, and sends the conversion's bytes
    (or, if it does not convert, the master file's, under its own name)."""

    def __init__(self) -> None:
        #: printer -> master path -> the bytes counted for it
        self._counted: dict[str, dict[str, int]] = {}

    def planned(self, name: str, plan: Plan) -> int:
        """The printer's total for `plan` (its transfers' bytes, as far as known)."""
        counted = {_master_path(a): a.bytes for a in plan.transfers}
        self._counted[name] = counted
        return sum(counted.values())

    def started(self, name: str, action: Action) -> int:
        """How much the printer's total changes now that `action` starts sending."""
        counted = self._counted.setdefault(name, {})
        key = _master_path(action)
        before = counted.get(key, 0)
        counted[key] = action.bytes
        return action.bytes - before


def _master_path(action: Action) -> str:
    local = action.local
    if local is None:
        return action.path
    return local.converted_from or local.path
