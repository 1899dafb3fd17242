"""What a run did: result objects, their `--json` form and the exit code.

The CLI renders these; nothing here prints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from link_sync.core.model import Op, PrinterState, SyncStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SAFETY = 0, 1, 2, 3


@dataclass(slots=True)
class ActionResult:
    """One change on a printer (done, failed, or in a dry run: planned)."""

    op: Op
    path: str
    bytes: int = 0
    ok: bool = True
    error: str | None = None
    reason: str = ""
    #: `send_as: bgcode`: the master file sent converted as `path`, and its size
    source: str | None = None
    source_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "op": self.op,
            "path": self.path,
            "bytes": self.bytes,
            "ok": self.ok,
            "error": self.error,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.source is not None:
            data["source"], data["source_bytes"] = self.source, self.source_bytes
        return data


@dataclass(slots=True)
class PrinterResult:
    """How one printer's part of a run ended."""

    name: str
    host: str
    state: PrinterState | None = None
    status: SyncStatus = SyncStatus.FAILED
    actions: list[ActionResult] = field(default_factory=list)
    error: str | None = None
    #: files this printer cannot hold (path, why): reported, not failures
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: files left out of line with the master on purpose (path, why): the file being
    #: printed, stale or excess. A printer with any is not `synced`.
    kept: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kind: str | None = None
    model: str | None = None
    firmware: str | None = None
    job: str | None = None
    job_progress: float | None = None
    free_space: int | None = None
    #: print files found in the managed destination before any change
    managed_files: int | None = None
    unchanged: int = 0
    seconds: float = 0.0
    #: master files meant for this printer (routing by model; None before planning)
    wanted_files: int | None = None
    #: of those, how many it does not hold yet (or holds in an old version)
    wanted_pending: int | None = None
    #: how its files were chosen: "model", "all" (`route: all`) or "off" (model unknown)
    routing: str = "off"
    #: whether it takes files during a print: "upload" or "wait" (None: not known, or
    #: refused; `while_printing:`)
    while_printing: str | None = None

    def count(self, op: str) -> int:
        """Actions of this kind that succeeded."""
        return sum(1 for a in self.actions if a.op == op and a.ok)

    @property
    def failed(self) -> int:
        return sum(1 for a in self.actions if not a.ok)

    @property
    def bytes(self) -> int:
        return sum(a.bytes for a in self.actions if a.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "state": self.state,
            "status": self.status,
            "actions": [a.to_json() for a in self.actions],
            "error": self.error,
            "kind": self.kind,
            "model": self.model,
            "firmware": self.firmware,
            "job": self.job,
            "job_progress": self.job_progress,
            "free_space": self.free_space,
            "managed_files": self.managed_files,
            "unchanged": self.unchanged,
            "wanted_files": self.wanted_files,
            "routing": self.routing,
            "while_printing": self.while_printing,
            # files this printer does not get, with why (the contract's `op` values stay
            # the five changes, so scripts counting actions are not surprised)
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "kept": [{"path": p, "reason": r} for p, r in self.kept],
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True, repr=False)
class RunResult:
    """A whole run (sync or plan): what `--json` prints and the exit code says."""

    printers: list[PrinterResult]
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        # Short, not the dataclass's every printer and action: asyncio.run (3.11)
        # builds the repr of the run's finished task, result included (3 ms for 500).
        counts = Counter(str(printer.status) for printer in self.printers)
        statuses = ", ".join(f"{status}={count}" for status, count in sorted(counts.items()))
        return (
            f"RunResult({len(self.printers)} printers: {statuses or 'none'}; "
            f"dry_run={self.dry_run}, {len(self.warnings)} warnings)"
        )

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    @property
    def exit_code(self) -> int:
        statuses = {p.status for p in self.printers}
        if SyncStatus.SKIPPED in statuses:
            return EXIT_SAFETY
        failed = {SyncStatus.FAILED, SyncStatus.UNREACHABLE}
        if statuses & failed or any(p.failed for p in self.printers):
            return EXIT_FAILED
        return EXIT_OK

    def totals(self) -> dict[str, int]:
        return {
            "uploaded": sum(p.count(Op.UPLOAD) for p in self.printers),
            "replaced": sum(p.count(Op.REPLACE) for p in self.printers),
            "deleted": sum(p.count(Op.DELETE) for p in self.printers),
            "bytes": sum(p.bytes for p in self.printers),
            "failed": sum(p.failed for p in self.printers),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "printers": [p.to_json() for p in self.printers],
            "totals": self.totals(),
            "warnings": self.warnings,
        }


@dataclass(frozen=True, slots=True)
class PrinterStatusReport:
    """One printer as `link-sync status` shows it: the fields of `status --json`."""

    name: str
    host: str
    #: False when the printer could not be contacted
    reachable: bool
    kind: str | None
    model: str | None
    firmware: str | None
    state: PrinterState | None
    #: the file being printed, if any
    job: str | None
    job_progress: float | None
    #: print files in the managed destination
    managed_files: int | None
    #: master files meant for this printer (routing by model), and how many it holds
    wanted_files: int | None
    wanted_held: int | None
    #: None when not known (unreachable, or the comparison failed)
    in_sync: bool | None
    #: what a sync would do: {"upload": n, "replace": n, "delete": n, "bytes": n}
    pending: dict[str, int]
    free_space: int | None
    error: str | None
    #: how the dry run that found this ended (`planned` when all went well)
    status: SyncStatus
    #: actions a sync would refuse (bad names, ...), counted as problems
    refused: int = 0
    #: files kept because they are being printed (stale or excess)
    kept: int = 0
    #: how its files are chosen: "model", "all" or "off"
    routing: str = "off"
    #: "upload" (takes files while printing), "wait", or None (not known)
    while_printing: str | None = None

    @classmethod
    def from_plan(cls, printer: PrinterResult) -> PrinterStatusReport:
        """The status row of a printer, from a dry run of it (busy printers included)."""
        counts = {Op.UPLOAD: 0, Op.REPLACE: 0, Op.DELETE: 0}
        for action in printer.actions:
            if action.op in counts:
                counts[action.op] += 1
        pending = {str(op): n for op, n in counts.items()}
        pending["bytes"] = sum(a.bytes for a in printer.actions)
        planned = printer.status == SyncStatus.PLANNED
        return cls(
            name=printer.name,
            host=printer.host,
            reachable=printer.status != SyncStatus.UNREACHABLE,
            kind=printer.kind,
            model=printer.model,
            firmware=printer.firmware,
            state=printer.state,
            job=printer.job,
            job_progress=printer.job_progress,
            managed_files=printer.managed_files,
            wanted_files=printer.wanted_files,
            wanted_held=None
            if printer.wanted_files is None
            else printer.wanted_files - (printer.wanted_pending or 0),
            # the same rule as `sync`'s "synced": nothing to do, nothing refused, nothing kept
            in_sync=(not any(counts.values()) and not printer.failed and not printer.kept)
            if planned
            else None,
            pending=pending,
            free_space=printer.free_space,
            error=printer.error,
            status=printer.status,
            refused=printer.failed,
            kept=len(printer.kept),
            routing=printer.routing,
            while_printing=printer.while_printing,
        )

    def to_json(self) -> dict[str, Any]:
        return printer_snapshot_json(self, dict(self.pending))


class PrinterFacts(Protocol):
    """What `status` and a watch both know of a printer (`PrinterStatusReport`,
    `watch.state.PrinterView`)."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def reachable(self) -> bool | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def state(self) -> str | None: ...
    @property
    def job(self) -> str | None: ...
    @property
    def job_progress(self) -> float | None: ...
    @property
    def managed_files(self) -> int | None: ...
    @property
    def wanted_files(self) -> int | None: ...
    @property
    def wanted_held(self) -> int | None: ...
    @property
    def in_sync(self) -> bool | None: ...
    @property
    def free_space(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def routing(self) -> str | None: ...
    @property
    def while_printing(self) -> str | None: ...


def printer_snapshot_json(printer: PrinterFacts, pending: dict[str, int]) -> dict[str, Any]:
    """The one serializer of a printer's snapshot: each printer of `status --json`, and
    the first fields of each printer of `/api/printers` and of the page's stream.
    `pending` is what a sync would still send (status: by op; a watch: files)."""
    return {
        "name": printer.name,
        "host": printer.host,
        "reachable": printer.reachable,
        "kind": printer.kind,
        "model": printer.model,
        "firmware": printer.firmware,
        "state": printer.state,
        "job": printer.job,
        "job_progress": printer.job_progress,
        "managed_files": printer.managed_files,
        "wanted_files": printer.wanted_files,
        "wanted_held": printer.wanted_held,
        "routing": printer.routing,
        "while_printing": printer.while_printing,
        "in_sync": printer.in_sync,
        "pending": pending,
        "free_space": printer.free_space,
        "error": printer.error,
    }


class StatusReports(list[PrinterStatusReport]):
    """`status()`'s answer: one report per printer, plus the run's warnings."""

    def __init__(self, reports: list[PrinterStatusReport], warnings: list[str]) -> None:
        super().__init__(reports)
        self.warnings = warnings

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    @property
    def exit_code(self) -> int:
        every_planned = all(r.status == SyncStatus.PLANNED for r in self)
        return EXIT_OK if every_planned else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        """The `status --json` document."""
        return {
            "ok": self.ok,
            "printers": [r.to_json() for r in self],
            "warnings": self.warnings,
        }
