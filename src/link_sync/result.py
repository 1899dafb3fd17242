"""What a run did: result objects, their `--json` form and the exit code.

The CLI renders these; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["synced", "planned", "busy", "unreachable", "failed", "skipped"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SAFETY = 0, 1, 2, 3


@dataclass(slots=True)
class ActionResult:
    op: str
    path: str
    bytes: int = 0
    ok: bool = True
    error: str | None = None
    reason: str = ""

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
        return data


@dataclass(slots=True)
class PrinterResult:
    name: str
    host: str
    state: str | None = None
    status: Status = "failed"
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

    def count(self, op: str) -> int:
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
            "actions": [a.to_json() for a in self.actions]
            + [ActionResult("skipped", p, reason=r).to_json() for p, r in self.skipped],
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
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "kept": [{"path": p, "reason": r} for p, r in self.kept],
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class RunResult:
    printers: list[PrinterResult]
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    @property
    def exit_code(self) -> int:
        statuses = {p.status for p in self.printers}
        if "skipped" in statuses:
            return EXIT_SAFETY
        if statuses & {"failed", "unreachable"} or any(p.failed for p in self.printers):
            return EXIT_FAILED
        return EXIT_OK

    def totals(self) -> dict[str, int]:
        return {
            "uploaded": sum(p.count("upload") for p in self.printers),
            "replaced": sum(p.count("replace") for p in self.printers),
            "deleted": sum(p.count("delete") for p in self.printers),
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
