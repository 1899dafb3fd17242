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
        """An upload or replace (`action.op`, `action.path`, `action.bytes`) starts."""

    def transfer_progress(self, name: str, sent: int) -> None:
        """`sent` more bytes of the current transfer went out."""

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        """The current transfer failed and starts again from byte 0 (why: `reason`)."""

    def action_done(self, name: str, result: ActionResult) -> None:
        """One change finished (`result.ok`, `result.error`)."""

    def printer_done(self, result: PrinterResult) -> None:
        """The printer's part of the run ended (`result.status`)."""
