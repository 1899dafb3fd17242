"""`init --discover`'s run: find, then write a new config or add to an existing one."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from link_sync.commands.discover import credentials, find_printers
from link_sync.commands.init import render_config, write_config
from link_sync.commands.init_discover import (
    Ask,
    add_to_file,
    ask_on_terminal,
    read_existing,
    render_entries,
)
from link_sync.config import Config, load_config
from link_sync.errors import ConfigError
from link_sync.result import EXIT_FAILED


def run_init_discover(file: Path, source: str, timeout: float, interface: str | None) -> None:
    environ = os.environ
    exists = file.exists()
    taken: frozenset[str] = read_existing(file)[1].names if exists else frozenset()
    config: Config | None = None
    if exists:
        try:
            config = load_config(file, cwd=Path.cwd(), environ=environ)
        except ConfigError:
            config = None  # its credentials are not usable yet: the environment's are
    printers = asyncio.run(find_printers(timeout, interface, credentials(config, environ), taken))
    if not printers:
        click.echo(
            f"no printer announced itself within {timeout:g} s on "
            f"{interface or 'any interface'}; nothing written. Try a longer --timeout, or "
            "name them: link-sync init -p NAME=HOST",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    ask: Ask | None = ask_on_terminal if sys.stdin.isatty() and sys.stdout.isatty() else None
    if exists:
        added, known = add_to_file(file, printers, ask)
        click.echo(
            f"added {added} printer(s) to {file}"
            + (f" ({known} already in it)" if known else "")
            + f"; check it with: link-sync plan -c {file}"
        )
        return
    write_config(file, render_config(source, body=render_entries(printers, "  ", None, ask)))
    click.echo(
        f"wrote {file} with {len(printers)} printer(s); set FARM_PASSWORD (and the other "
        f"${{VAR}} it names), then check it with: link-sync plan -c {file}"
    )
