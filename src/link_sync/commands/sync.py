"""`link-sync sync` and `plan`: load, run, render as the situation calls for, exit."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from typing import TYPE_CHECKING

from link_sync._process import engine_ready
from link_sync.commands.output import Output, error, setup_logging
from link_sync.commands.selection import Selection, configured

if TYPE_CHECKING:
    from link_sync.engine.events import Observer
    from link_sync.engine.options import SyncOptions
    from link_sync.result import RunResult


def run_sync(
    *,
    dry_run: bool,
    selection: Selection,
    output: Output,
    run: SyncOptions,
) -> None:
    """`sync` and `plan`: run, render as the situation calls for, exit with the run's code."""
    from link_sync._api import run_async
    from link_sync.engine.events import Observer
    from link_sync.report import LiveProgress, PlainLog, explain_failures, print_json

    setup_logging(output.verbose)
    loaded = configured(selection)
    options = dataclasses.replace(run, dry_run=dry_run)

    def run_with(observer: Observer) -> RunResult:
        engine_ready(loaded, run=True)
        return asyncio.run(
            run_async(loaded, options, selection.include, selection.exclude, observer)
        )

    if output.terminal:
        from rich.console import Console

        from link_sync.report import summary_table

        console = Console()
        with LiveProgress(console) as live:
            result = run_with(live)
        console.print(summary_table(result))
        for line in explain_failures(result):
            console.print(line, style="yellow" if ": note: " in line else "red", markup=False)
        for warning in result.warnings:
            console.print(f"warning: {warning}", style="yellow", markup=False)
    else:
        if output.as_json:
            result = run_with(Observer())
            print_json(result.to_json())
        else:
            result = run_with(PlainLog(sys.stdout, quiet=output.quiet, dry_run=dry_run))
        for warning in result.warnings:
            error(f"warning: {warning}")
    sys.exit(result.exit_code)
