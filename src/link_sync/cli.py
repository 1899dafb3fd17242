"""Command line: parse arguments, call the core, render the result, exit.

No logic lives here: each command hands an options object to a function of
the core and turns its result into output and an exit code.
"""

from __future__ import annotations

import click

from link_sync import __version__
from link_sync.emulator.cli import emulate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="link-sync")
def main() -> None:
    """Keep every printer of a 3D-print farm in line with one master folder of G-code.

    \b
    Examples:
      link-sync demo                 try it on an emulated farm
      link-sync init                 write a commented link-sync.yml
      link-sync plan                 show what a sync would do
      link-sync sync                 do it, on every idle printer at once
    """


main.add_command(emulate_command)
