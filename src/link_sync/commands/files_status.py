"""`link-sync status --files`: the farm by file, without a watch.

The same dry run as `status` (every printer asked at once, busy ones included, nothing
changed), its plans recorded per printer and turned into each master file's state on
each printer by `core.file_states`, the same rules as the watch's `/api/files`. `--json`
prints the `/api/files` document (`thumbnail` is null: no server serves one here).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from link_sync._process import engine_ready
from link_sync.commands.output import Output, error, setup_logging
from link_sync.commands.selection import Selection, configured
from link_sync.core.file_states import (
    FileState,
    MasterFiles,
    PrinterFiles,
    build_entries,
    entry_json,
    printer_files,
)
from link_sync.core.planner import Plan
from link_sync.engine.events import Observer

#: Column titles of the table, by state.
HEADINGS = {
    FileState.HELD: "held",
    FileState.PENDING: "pending",
    FileState.STALE: "stale",
    FileState.NOT_WANTED: "not wanted",
    FileState.REFUSED: "refused",
    FileState.UNKNOWN: "unknown",
}


class PlanKeeper(Observer):
    """Keeps each printer's plan of the dry run."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}

    def plan_ready(self, name: str, plan: Plan) -> None:
        self.plans[name] = plan


def files_document(selection: Selection) -> tuple[dict[str, Any], list[str], int]:
    """The `/api/files` document of the selected printers, the run's warnings and the
    exit code (`status`'s)."""
    from link_sync._api import status_async
    from link_sync.config import select_printers
    from link_sync.engine.masters import read_master_targets, scan_masters

    loaded = configured(selection)
    engine_ready(loaded)
    keeper = PlanKeeper()
    report = asyncio.run(
        status_async(loaded, printers=selection.include, exclude=selection.exclude, observer=keeper)
    )
    selected = select_printers(loaded, selection.include, selection.exclude)
    works, _ = scan_masters(selected, allow_empty=True)
    masters: dict[Path, MasterFiles] = {}
    printers: dict[str, PrinterFiles | None] = {}
    for work in works:
        root = work.printer.source
        assert root is not None  # scan_masters refuses a printer without one
        known = masters.get(root)
        names = (*known.printers, work.printer.name) if known else (work.printer.name,)
        masters[root] = MasterFiles(root, work.files, names)
        plan = keeper.plans.get(work.printer.name)
        printers[work.printer.name] = None if plan is None else printer_files(work.files, plan)
    files = [f for m in masters.values() for f in m.files]
    targets = read_master_targets(files, None)
    entries = build_entries(list(masters.values()), printers, targets.targets)
    document = {
        "ok": report.ok,
        "error": None,
        "files": [entry_json(e, None) for e in entries],
        "printers": sorted(printers),
        "warnings": list(report.warnings),
    }
    return document, list(report.warnings), report.exit_code


def run_files_status(selection: Selection, output: Output) -> None:
    setup_logging(output.verbose)
    document, warnings, code = files_document(selection)
    if output.as_json:
        from link_sync.report import print_json

        print_json(document)
    elif not output.quiet:
        _table(document["files"], output.terminal)
    for warning in warnings:
        error(f"warning: {warning}")
    sys.exit(code)


def _table(files: list[dict[str, Any]], terminal: bool) -> None:
    from link_sync.core.units import human_bytes

    states = list(HEADINGS)
    if terminal:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table("file", "size", "sliced for", *HEADINGS.values())
        for f in files:
            counts = [str(f["counts"][s]) for s in states]
            table.add_row(Text(f["path"]), human_bytes(f["bytes"]), _target(f), *counts)
        Console().print(table)
        return
    from link_sync import printable

    for f in files:
        said = ", ".join(f"{f['counts'][s]} {HEADINGS[s]}" for s in states if f["counts"][s])
        text = f"{f['path']}  {human_bytes(f['bytes'])}  {_target(f)}  {said or 'no printer'}"
        click.echo(printable.line(text))


def _target(file: dict[str, Any]) -> str:
    parts: list[str] = [file["model"]] if file["model"] else []
    if file["nozzle"] is not None:
        parts.append(f"{file['nozzle']:g} mm")
    return ", ".join(parts) or "any printer"
