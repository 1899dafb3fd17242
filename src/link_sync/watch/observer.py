"""The engine's feed of the live farm state: a sync's callbacks become views and events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from link_sync.core.model import CHANGE_OPS, LocalFile, Op, PrinterState, SyncStatus
from link_sync.core.planner import Action, Plan
from link_sync.engine.events import Observer, PlannedBytes
from link_sync.result import ActionResult, PrinterResult
from link_sync.watch.state import FarmState, LastSync, Transfer


class FarmObserver(Observer):
    """Feeds a FarmState from the sync engine's callbacks (views and events)."""

    def __init__(
        self,
        farm: FarmState,
        current: Callable[[], bool] | None = None,
        files: Sequence[LocalFile] | None = None,
    ) -> None:
        self.farm = farm
        self._files = files  # the pass's master files, for the files view
        #: whether the master the pass synced from is still the newest (the watch: a
        #: newer view may have come meanwhile); a pass of an older one is not "in sync"
        self._current = current or (lambda: True)
        #: (printer, path) -> when its transfer began, monotonic
        self._started: dict[tuple[str, str], float] = {}
        #: each printer's planned bytes, corrected for files sent converted
        self._planned = PlannedBytes()

    def printer_started(self, name: str) -> None:
        self.farm.update_printer(name, activity="connecting", error=None)
        self.farm.event(name, "sync_started")

    def printer_state(self, name: str, text: str) -> None:
        self.farm.update_printer(name, activity=text)

    def printer_busy(self, name: str, state: PrinterState) -> None:
        self.farm.update_printer(name, activity=None, reason=f"busy ({state})")

    def plan_ready(self, name: str, plan: Plan) -> None:
        files = len(plan.transfers) + len(plan.deletes)
        size = self._planned.planned(name, plan)
        view = self.farm.printers[name]
        changed = (view.pending_files, view.pending_bytes) != (files, size)
        self.farm.update_printer(name, pending_files=files, pending_bytes=size)
        if changed:
            noun = "file" if files == 1 else "files"
            self.farm.event(name, "pending", bytes=size, message=f"{files} {noun}")
        if self._files is not None:
            self.farm.files.planned(name, self._files, plan)
        for problem in plan.refused:  # never sent: bad names, case collisions
            self.farm.event(name, "failed", path=problem.path, error=problem.reason)

    def transfer_started(self, name: str, action: Action) -> None:
        self._started[(name, action.path)] = time.monotonic()
        pending = self.farm.printers[name].pending_bytes + self._planned.started(name, action)
        self.farm.update_printer(
            name, transfer=Transfer(action.path, action.bytes), pending_bytes=max(pending, 0)
        )
        self.farm.event(name, "upload_started", path=action.path, bytes=action.bytes)

    def transfer_progress(self, name: str, sent: int) -> None:
        self.farm.add_progress(name, sent)

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        self.farm.update_printer(name, transfer=Transfer(action.path, action.bytes))

    def action_done(self, name: str, result: ActionResult) -> None:
        view = self.farm.printers[name]
        started = self._started.pop((name, result.path), None)
        # An upload is checked while the next file is already being sent: only the
        # transfer of this file ends here.
        ended: dict[str, Any] = {}
        if view.transfer is not None and view.transfer.path == result.path:
            ended["transfer"] = None
        if result.op in (Op.UPLOAD, Op.REPLACE):
            self.farm.files.done(name, result.path, result.ok, result.error)
        if not result.ok:
            if ended:
                self.farm.update_printer(name, **ended)
            self.farm.event(name, "failed", path=result.path, error=result.error)
            return
        if result.op not in CHANGE_OPS:
            return
        seconds = None if started is None else time.monotonic() - started
        self.farm.update_printer(
            name,
            **ended,
            pending_files=max(view.pending_files - 1, 0),
            pending_bytes=max(view.pending_bytes - result.bytes, 0),
        )
        kind = {Op.UPLOAD: "uploaded", Op.REPLACE: "replaced", Op.DELETE: "deleted"}[result.op]
        self.farm.event(name, kind, path=result.path, bytes=result.bytes, seconds=seconds)

    def printer_done(self, result: PrinterResult) -> None:
        name = result.name
        counts = {
            "uploaded": result.count(Op.UPLOAD),
            "replaced": result.count(Op.REPLACE),
            "deleted": result.count(Op.DELETE),
            "failed": result.failed,
            "bytes": result.bytes,
        }
        changes: dict[str, Any] = {
            "activity": None,
            "transfer": None,
            "error": result.error,
            "reachable": result.status != SyncStatus.UNREACHABLE,
            "last_sync": LastSync(
                self.farm.clock(), result.status, counts, result.seconds, result.error
            ),
            "routing": result.routing,
        }
        for key in ("kind", "model", "firmware", "state", "job", "job_progress", "free_space"):
            value = getattr(result, key)
            if value is not None or result.status != SyncStatus.UNREACHABLE:
                changes[key] = value
        if result.while_printing is not None:
            changes["while_printing"] = result.while_printing
        if result.managed_files is not None:
            changes["managed_files"] = result.managed_files
        if result.status == SyncStatus.SYNCED and not self._current():
            changes |= {"in_sync": False, "reason": None}  # a newer master view waits
        elif result.status == SyncStatus.SYNCED:
            changes |= {"in_sync": True, "pending_files": 0, "pending_bytes": 0, "reason": None}
        elif result.status == SyncStatus.PLANNED:
            in_sync = self.farm.printers[name].pending_files == 0 and not result.failed
            changes |= {"in_sync": in_sync, "reason": None}
        elif result.status == SyncStatus.BUSY:
            changes["reason"] = f"busy ({result.state})"
        elif result.status == SyncStatus.UNREACHABLE:
            changes |= {"in_sync": None, "reason": f"unreachable: {result.error}"}
        else:  # failed, skipped
            why = result.error or f"{result.failed} file(s) failed"
            changes |= {"in_sync": False, "reason": f"{result.status}: {why}"}
        self.farm.update_printer(name, **changes)
        routing = str(result.routing)
        if result.status == SyncStatus.SYNCED:
            self.farm.event(
                name, "synced", bytes=result.bytes, seconds=result.seconds, routing=routing
            )
        elif result.status in (SyncStatus.BUSY, SyncStatus.UNREACHABLE):
            self.farm.event(
                name, result.status, message=result.state, error=result.error, routing=routing
            )
        elif result.status in (SyncStatus.FAILED, SyncStatus.SKIPPED):
            why = result.error or f"{result.failed} file(s) failed"
            self.farm.event(name, "failed", error=why, seconds=result.seconds, routing=routing)
