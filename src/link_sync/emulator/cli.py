"""`link-sync emulate` (placeholder until the emulator lands)."""

from __future__ import annotations

import click


@click.command("emulate")
def emulate_command() -> None:
    """Serve emulated PrusaLink printers on 127.0.0.1 (not built yet)."""
    raise click.ClickException("the emulator is not built yet")
