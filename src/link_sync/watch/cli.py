"""The `link-sync watch` command: parse, pick the output, run, exit."""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console

from link_sync.cli import (
    _setup_logging,
    bundled,
    reports_errors,
    selection_options,
    sync_options,
)
from link_sync.commands.output import Output
from link_sync.watch.output import JsonLines, LineWriter, LiveTable, PlainLines
from link_sync.watch.run import WatchRequest, watch_async
from link_sync.watch.state import FarmState


@click.command("watch")
@selection_options
@sync_options
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    metavar="S",
    help="Seconds a master file must stay unchanged before it is sent (default 2).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    metavar="S",
    help="Seconds between reads of each printer's state (default 5).",
)
@click.option(
    "--poll",
    is_flag=True,
    help="Poll the master folder instead of filesystem events (automatic on NFS/SMB).",
)
@click.option(
    "--http",
    metavar="ADDR:PORT",
    help="Serve the farm page, API and metrics (e.g. 127.0.0.1:8321).",
)
@reports_errors
@bundled
def watch_command(request: WatchRequest, output: Output) -> None:
    """Stay running: sync each printer as soon as it is idle and out of date.

    A full sync of every idle printer first; then every master change (once the
    file has stopped changing for --settle seconds) goes out to every idle
    printer within seconds, and a printer that is printing gets its files the
    moment its print ends. SIGHUP reloads the config; SIGINT/SIGTERM stop it.

    \b
    Examples:
      link-sync watch
      link-sync watch --json >> /var/log/link-sync.jsonl
      link-sync watch --poll --settle 5       master on a NAS share
      link-sync watch --http 127.0.0.1:8321   with the farm page
    """
    _setup_logging(output.verbose)
    state = FarmState()
    if output.terminal:
        table = LiveTable(Console(), state)
        state.listen(table)
        code = asyncio.run(watch_async(request, state, on_started=lambda farm: table.run()))
    else:
        writer = LineWriter(sys.stdout)
        state.listen(
            JsonLines(writer) if output.as_json else PlainLines(writer, quiet=output.quiet)
        )
        try:
            code = asyncio.run(watch_async(request, state))
        finally:
            writer.close()
    sys.exit(code)
