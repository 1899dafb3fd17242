"""`link-sync status`: ask every printer at once, render the rows, exit."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click

from link_sync._process import engine_ready
from link_sync.commands.output import Output, error, setup_logging
from link_sync.commands.selection import Selection, configured

if TYPE_CHECKING:
    from link_sync.engine.events import Observer
    from link_sync.result import StatusReports


def run_status(selection: Selection, output: Output) -> None:
    """The rows as they come (a terminal), plain lines or JSON; exit with the code."""
    from link_sync._api import status_async
    from link_sync.report import print_json, status_lines

    setup_logging(output.verbose)
    loaded = configured(selection)
    engine_ready(loaded)

    def ask(observer: Observer | None = None) -> StatusReports:
        chosen = selection.include, selection.exclude
        return asyncio.run(
            status_async(loaded, printers=chosen[0], exclude=chosen[1], observer=observer)
        )

    if output.terminal:
        from rich.console import Console

        from link_sync.report import LiveStatus

        # Rows appear as printers answer; a silent one holds up only its own row.
        wait = max((p.connect_timeout for p in loaded.printers.values()), default=0.0)
        with LiveStatus(Console(), wait) as live:
            report = ask(live)
    else:
        report = ask()
    if output.as_json:
        print_json(report.to_json())
    elif not output.quiet and not output.terminal:
        for line in status_lines(report):
            click.echo(line)
    for warning in report.warnings:
        error(f"warning: {warning}")
    sys.exit(report.exit_code)
