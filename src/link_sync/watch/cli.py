"""The `link-sync watch` command: parse, pick the output, run, exit."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console

from link_sync.cli import (
    _setup_logging,
    reports_errors,
    selection_options,
    sync_options,
    use_terminal_ui,
)
from link_sync.commands.selection import Selection
from link_sync.engine.options import SyncOptions
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
def watch_command(
    config: Path | None,
    source: Path | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    verbose: bool,
    destination: str | None,
    include_busy: bool,
    no_delete: bool,
    max_delete: int | None,
    allow_empty: bool,
    jobs: int | None,
    settle: float | None,
    poll_interval: float | None,
    poll: bool,
    http: str | None,
) -> None:
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
    _setup_logging(verbose)
    request = WatchRequest(
        selection=Selection(config, source, include, exclude, destination),
        sync=SyncOptions(
            include_busy=include_busy,
            delete=not no_delete,
            max_delete=max_delete,
            allow_empty=allow_empty,
            parallel=jobs,
        ),
        settle=settle,
        poll_interval=poll_interval,
        poll=poll,
        http=http,
    )
    state = FarmState()
    if use_terminal_ui(as_json, quiet):
        table = LiveTable(Console(), state)
        state.listen(table)
        code = asyncio.run(watch_async(request, state, on_started=lambda farm: table.run()))
    else:
        writer = LineWriter(sys.stdout)
        state.listen(JsonLines(writer) if as_json else PlainLines(writer, quiet=quiet))
        try:
            code = asyncio.run(watch_async(request, state))
        finally:
            writer.close()
    sys.exit(code)
