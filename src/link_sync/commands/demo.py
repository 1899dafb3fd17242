"""`link-sync demo`: sync a sample master to an emulated farm, live, then show status."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console

from link_sync.commands.output import use_terminal_ui
from link_sync.demo import run_demo
from link_sync.report import LiveProgress, PlainLog, status_lines, status_table, summary_table


def run_demo_command(workdir: Path | None) -> None:
    """The demo's sync (live on a terminal), the status after it, and where it all is."""
    terminal = use_terminal_ui(False, False)
    console = Console()
    console.print("link-sync demo: six emulated printers on 127.0.0.1, one master folder\n")
    if terminal:
        with LiveProgress(console) as live:
            outcome = asyncio.run(run_demo(workdir, live))
        console.print(summary_table(outcome.sync))
    else:
        outcome = asyncio.run(run_demo(workdir, PlainLog(sys.stdout)))
    console.print("\nlink-sync status, after the sync:")
    if terminal:
        console.print(status_table(outcome.status))
    else:
        for line in status_lines(outcome.status):
            click.echo(line)
    click.echo(
        f"\nThe sample master, the printers' storage and the config are in {outcome.workdir}\n"
        "Next: `link-sync init` writes a config for your own farm."
    )
    sys.exit(outcome.sync.exit_code)
