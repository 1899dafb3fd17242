"""Rendering: live progress on a terminal, plain log lines for cron, JSON, summaries.

Renderers only listen (they are `engine.events.Observer`s) and print; they decide
nothing. Plain lines are one per event, unwrapped, `printer: what` so that
`grep mk4-01` finds a printer's whole story.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from link_sync import printable
from link_sync.core.model import Op, SyncStatus
from link_sync.core.planner import Action, Plan
from link_sync.core.units import human_bytes
from link_sync.engine.events import Observer, PlannedBytes
from link_sync.result import ActionResult, PrinterResult, PrinterStatusReport, RunResult

if TYPE_CHECKING:
    # rich is imported by what draws on a terminal only: `--json`, `-q` and plain
    # output never load it (tests/test_cli_startup.py).
    from rich.console import Console
    from rich.table import Table

VERBS: dict[Op, str] = {
    Op.UPLOAD: "uploaded",
    Op.REPLACE: "replaced",
    Op.DELETE: "deleted",
    Op.MKDIR: "created folder",
    Op.RMDIR: "removed folder",
    Op.PULL: "pulled",
}
_COUNTED = (Op.UPLOAD, Op.REPLACE, Op.DELETE)


class PlainLog(Observer):
    """One greppable line per action, for cron and pipes."""

    def __init__(self, stream: IO[str], *, quiet: bool = False, dry_run: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.dry_run = dry_run
        #: (printer, op, path) of the failures already told as they happened
        self.told: set[tuple[str, str, str]] = set()

    def _line(self, text: str, *, error: bool = False) -> None:
        if self.quiet and not error:
            return
        print(printable.line(text), file=self.stream, flush=True)

    def plan_ready(self, name: str, plan: Plan) -> None:
        for problem in plan.skipped:
            self._line(f"{name}: skip {problem.path}: {problem.reason}")

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        self._line(f"{name}: retry {action.op} {action.path}: {reason}")

    def action_done(self, name: str, result: ActionResult) -> None:
        if result.ok:
            size = f" ({human_bytes(result.bytes)})" if result.bytes else ""
            if result.source is not None:
                size = f" ({human_bytes(result.bytes)}, {_from(result)})"
            self._line(f"{name}: {VERBS.get(result.op, result.op)} {result.path}{size}")
        else:
            self.told.add((name, result.op, result.path))
            self._line(f"{name}: FAILED {result.op} {result.path}: {result.error}", error=True)

    def printer_done(self, result: PrinterResult) -> None:
        if self.dry_run and result.status == SyncStatus.PLANNED:
            for action in result.actions:
                why = f" ({action.reason})" if action.reason else ""
                if action.source is not None:
                    why += f" ({_from(action)})"
                self._line(f"{result.name}: would {action.op} {action.path}{why}")
        if result.status in (SyncStatus.FAILED, SyncStatus.UNREACHABLE, SyncStatus.SKIPPED):
            # Each failure by name and reason, also those refused before anything was
            # sent (case collisions, names the printer cannot hold, read-only files).
            for action in result.actions:
                if not action.ok and (result.name, action.op, action.path) not in self.told:
                    self._line(
                        f"{result.name}: FAILED {action.op} {action.path}: {action.error}",
                        error=True,
                    )
            message = result.error or f"{result.failed} action(s) failed"
            self._line(f"{result.name}: {result.status.upper()}: {message}", error=True)
        else:
            self._line(f"{result.name}: {summary_line(result)}")
        for note in result.notes:
            self._line(f"{result.name}: note: {note}")


def _from(action: ActionResult) -> str:
    """What a file sent as binary G-code was in the master."""
    return f"from {action.source}, {human_bytes(action.source_bytes or 0)}"


def summary_line(result: PrinterResult) -> str:
    takes = result.while_printing == "upload" and not (result.state and result.state.idle)
    if result.status == SyncStatus.BUSY and not result.actions:
        return f"busy ({result.state}), not synced"
    if result.status == SyncStatus.BUSY:
        # files went to a printer that prints; the printed one waits for the print's end
        done = ", ".join(f"{result.count(op)} {VERBS[op]}" for op in _COUNTED if result.count(op))
        return f"busy ({result.state}): {done or 'nothing done'}; the rest waits for the print"
    counts = [f"{result.count(op)} {VERBS[op]}" for op in _COUNTED if result.count(op)]
    if result.status == SyncStatus.PLANNED:
        planned = {op: sum(1 for a in result.actions if a.op == op) for op in VERBS}
        counts = [f"{n} to {op}" for op, n in planned.items() if n]
        if not counts:
            return "plan: nothing to do"
        during = f", during the print ({result.state}; while_printing: upload)" if takes else ""
        return "plan: " + ", ".join(counts) + during
    if result.count(Op.PULL):
        counts.append(f"{result.count(Op.PULL)} pulled")
    done = ", ".join(counts) if counts else "nothing to do"
    return f"{result.status}: {done} ({human_bytes(result.bytes)}, {result.seconds:.1f} s)"


@dataclass(slots=True)
class _Row:
    state: str = "waiting"
    current: str = ""
    total: int = 0
    done: int = 0
    in_flight: int = 0
    first_byte: float = 0.0  # when the first upload byte of this printer went out
    last_byte: float = 0.0
    status: str = ""

    def rate(self, now: float) -> float:
        """Bytes per second while uploading (frozen once the printer is done)."""
        if not self.first_byte:
            return 0.0
        end = now if not self.status else self.last_byte
        return self.done / max(end - self.first_byte, 1e-3)


class LiveProgress(Observer):
    """A live table, one row per printer, plus a farm total (terminal only)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, _Row] = {}
        self.planned = PlannedBytes()
        self.started = time.monotonic()
        from rich.live import Live

        self.live = Live(self._render(), console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(None, None, None)

    def printer_started(self, name: str) -> None:
        self.rows[name] = _Row(state="connecting")
        self._refresh()

    def printer_state(self, name: str, text: str) -> None:
        self.rows[name].state = printable.line(text)
        self._refresh()

    def plan_ready(self, name: str, plan: Plan) -> None:
        self.rows[name].total = self.planned.planned(name, plan)
        self._refresh()

    def transfer_started(self, name: str, action: Action) -> None:
        row = self.rows[name]
        row.total += self.planned.started(name, action)  # a converted file's real size
        row.current = printable.line(action.path)
        row.in_flight = 0
        self._refresh()

    def transfer_progress(self, name: str, sent: int) -> None:
        row = self.rows[name]
        row.in_flight += sent
        row.done += sent
        row.last_byte = time.monotonic()
        if not row.first_byte:
            row.first_byte = row.last_byte

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        row = self.rows[name]
        row.done -= row.in_flight
        row.in_flight = 0
        row.state = printable.line(f"retrying: {reason}")[:60]

    def action_done(self, name: str, result: ActionResult) -> None:
        if not result.ok:
            from rich.text import Text

            self.console.print(
                Text(
                    printable.line(f"{name}: {result.op} {result.path} failed: {result.error}"),
                    style="red",
                )
            )
        self._refresh()

    def printer_done(self, result: PrinterResult) -> None:
        row = self.rows[result.name]
        row.state = result.status
        row.current = ""
        row.status = result.status
        self._refresh()

    def _refresh(self) -> None:
        self.live.update(self._render())

    def _render(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table(expand=False, box=None, pad_edge=False)
        for column in ("printer", "state", "file", "progress", "rate", "ETA"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        total_done = total = 0
        now = time.monotonic()
        for name, row in self.rows.items():
            total_done += row.done
            total += row.total
            rate = row.rate(now)
            eta = (row.total - row.done) / rate if rate > 0 and row.total > row.done else 0
            style = {"synced": "green", "failed": "red", "unreachable": "red", "busy": "yellow"}
            table.add_row(
                name,
                Text(row.state, style=style.get(row.status, "")),
                Text(row.current if len(row.current) <= 40 else "…" + row.current[-39:]),
                f"{human_bytes(row.done)} / {human_bytes(row.total)}" if row.total else "",
                f"{human_bytes(rate)}/s" if row.done else "",
                f"{eta:.0f} s" if eta else "",
            )
        elapsed = max(now - self.started, 1e-3)
        table.add_row(
            Text("farm", style="bold"),
            "",
            "",
            f"{human_bytes(total_done)} / {human_bytes(total)}" if total else "",
            f"{human_bytes(total_done / elapsed)}/s" if total_done else "",
            "",
        )
        return table


def summary_table(result: RunResult) -> Table:
    """The per-printer summary printed after a sync on a terminal."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="dry run: nothing was changed" if result.dry_run else None)
    for column in ("printer", "status", "uploaded", "replaced", "deleted", "failed", "bytes"):
        table.add_column(column, justify="right" if column not in ("printer", "status") else "left")
    table.add_column("time", justify="right")
    colors = {"synced": "green", "planned": "cyan", "busy": "yellow", "skipped": "magenta"}
    for p in result.printers:
        planned = result.dry_run and p.status == "planned"

        def n(op: Op, p: PrinterResult = p, planned: bool = planned) -> str:
            return str(sum(1 for a in p.actions if a.op == op)) if planned else str(p.count(op))

        table.add_row(
            p.name,
            Text(p.status, style=colors.get(p.status, "red")),
            n(Op.UPLOAD),
            n(Op.REPLACE),
            n(Op.DELETE),
            str(p.failed),
            human_bytes(p.bytes if not planned else sum(a.bytes for a in p.actions)),
            f"{p.seconds:.1f} s",
        )
    return table


def explain_failures(result: RunResult) -> list[str]:
    """One line per problem, for the end of a terminal run."""
    lines: list[str] = []
    for p in result.printers:
        if p.error:
            lines.append(f"{p.name}: {p.error}")
        lines.extend(f"{p.name}: {a.path}: {a.error}" for a in p.actions if not a.ok)
        lines.extend(f"{p.name}: note: {note}" for note in p.notes)
        lines.extend(explain_skipped(p, each=result.dry_run))
    return printable.cells(lines)


def explain_skipped(p: PrinterResult, *, each: bool) -> list[str]:
    """The master files a printer does not get: each one (a plan), or how many (a sync)."""
    if not p.skipped:
        return []
    if each or len(p.skipped) == 1:
        return [f"{p.name}: note: skip {path}: {reason}" for path, reason in p.skipped]
    return [
        f"{p.name}: note: {len(p.skipped)} master files are not for this printer "
        "(`link-sync plan` says why for each)"
    ]


def print_json(document: dict[str, Any], stream: IO[str] | None = None) -> None:
    json.dump(printable.document(document), stream or sys.stdout, indent=2, ensure_ascii=False)
    (stream or sys.stdout).write("\n")


def status_table(rows: Sequence[PrinterStatusReport]) -> Table:
    """`link-sync status` as a table."""
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in (
        "printer",
        "reachable",
        "model",
        "firmware",
        "state",
        "while printing",
        "job",
        "files",
        "wanted",
        "sync",
    ):
        table.add_column(column, no_wrap=column in ("printer", "state"))
    table.add_column("free", justify="right")
    for row in rows:
        # Text, not str: a printer's `[` is shown, never read as rich markup.
        table.add_row(*(Text(cell) for cell in status_cells(row)))
    return table


class LiveStatus(Observer):
    """`link-sync status` on a terminal: each printer's row as soon as it has answered
    (or failed), and which printers are still awaited; the silent ones come last."""

    def __init__(self, console: Console, wait: float) -> None:
        self.rows: list[PrinterStatusReport] = []
        self.waiting: list[str] = []
        self.wait = wait
        from rich.live import Live

        self.live = Live(self._render(), console=console, refresh_per_second=8)

    def __enter__(self) -> LiveStatus:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.waiting.clear()
        self.live.update(self._render())
        self.live.__exit__(None, None, None)

    def printer_started(self, name: str) -> None:
        self.waiting.append(name)
        self.live.update(self._render())

    def printer_done(self, result: PrinterResult) -> None:
        if result.name in self.waiting:
            self.waiting.remove(result.name)
        self.rows.append(PrinterStatusReport.from_plan(result))
        self.live.update(self._render())

    def _render(self) -> Table:
        table = status_table(self.rows)
        if self.waiting:
            table.caption = f"waiting for {', '.join(self.waiting)} (at most {self.wait:g} s each)"
        return table


def status_cells(p: PrinterStatusReport) -> list[str]:
    job = ""
    if p.job:
        job = p.job + (f" {p.job_progress:.0f}%" if p.job_progress is not None else "")
    if p.in_sync is None:
        sync_text = f"? {p.error}" if p.error else "?"
    elif p.in_sync:
        sync_text = "in sync"
    else:
        pending = ", ".join(f"{n} to {op}" for op, n in p.pending.items() if n and op != "bytes")
        failed = f", {p.refused} refused" if p.refused else ""
        kept = f", {p.kept} kept while printing" if p.kept else ""
        sync_text = (
            f"{pending or 'nothing to send'}{failed}{kept} ({human_bytes(p.pending['bytes'])})"
        )
    return printable.cells(
        [
            p.name,
            "yes" if p.reachable else "no",
            p.model or p.kind or "",
            p.firmware or "",
            p.state or "",
            p.while_printing or "",
            job,
            "" if p.managed_files is None else str(p.managed_files),
            _wanted_text(p),
            sync_text,
            human_bytes(p.free_space) if p.free_space is not None else "",
        ]
    )


def _wanted_text(p: PrinterStatusReport) -> str:
    """How many master files are meant for the printer, and whether it holds them."""
    if p.wanted_files is None:
        return ""
    pending = p.wanted_files - (p.wanted_held or 0)
    held = "all held" if not pending else f"{pending} to send"
    return f"{p.wanted_files}, {held}"


def status_lines(rows: Sequence[PrinterStatusReport]) -> list[str]:
    """`link-sync status` as plain lines, one per printer."""
    heads = [
        "reachable",
        "model",
        "firmware",
        "state",
        "while_printing",
        "job",
        "files",
        "wanted",
        "sync",
        "free",
    ]
    lines = []
    for row in rows:
        cells = status_cells(row)
        pairs = [f"{k}={v}" for k, v in zip(heads, cells[1:], strict=True) if v]
        lines.append(f"{cells[0]}: " + " ".join(pairs))
    return lines
