"""`link-sync status`: one row per printer, fetched from all printers at once.

It is a dry-run sync of every selected printer, busy ones included, seen
from the printer's side: reachable, model, firmware, state, job, managed
files, and whether the printer is in line with the master. It changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from link_sync.commands.sync import SyncRequest, sync_async
from link_sync.result import EXIT_FAILED, EXIT_OK, PrinterResult, RunResult


@dataclass(frozen=True, slots=True)
class PrinterStatusRow:
    printer: PrinterResult

    @property
    def reachable(self) -> bool:
        return self.printer.status != "unreachable"

    @property
    def pending(self) -> dict[str, int]:
        counts = {"upload": 0, "replace": 0, "delete": 0}
        for action in self.printer.actions:
            if action.op in counts:
                counts[action.op] += 1
        return counts

    @property
    def pending_bytes(self) -> int:
        return sum(a.bytes for a in self.printer.actions)

    @property
    def in_sync(self) -> bool | None:
        if self.printer.status not in ("planned",):
            return None  # not known: unreachable or failed
        # the same rule as `sync`'s "synced": nothing to do, nothing refused, nothing kept
        return not any(self.pending.values()) and not self.printer.failed and not self.printer.kept

    def to_json(self) -> dict[str, Any]:
        p = self.printer
        return {
            "name": p.name,
            "host": p.host,
            "reachable": self.reachable,
            "kind": p.kind,
            "model": p.model,
            "firmware": p.firmware,
            "state": p.state,
            "job": p.job,
            "job_progress": p.job_progress,
            "managed_files": p.managed_files,
            # master files meant for this printer (routing by model), and how many it holds
            "wanted_files": p.wanted_files,
            "wanted_held": None
            if p.wanted_files is None
            else p.wanted_files - (p.wanted_pending or 0),
            "in_sync": self.in_sync,
            "pending": {**self.pending, "bytes": self.pending_bytes},
            "free_space": p.free_space,
            "error": p.error,
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    rows: list[PrinterStatusRow]
    warnings: list[str]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if all(r.printer.status == "planned" for r in self.rows) else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == EXIT_OK,
            "printers": [r.to_json() for r in self.rows],
            "warnings": self.warnings,
        }


async def status_async(
    request: SyncRequest, *, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> StatusReport:
    plan_request = replace(request, dry_run=True, include_busy=True, allow_empty=True)
    result: RunResult = await sync_async(plan_request, environ=environ, cwd=cwd)
    return StatusReport([PrinterStatusRow(p) for p in result.printers], result.warnings)
