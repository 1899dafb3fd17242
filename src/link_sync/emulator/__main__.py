"""`python -m link_sync.emulator` = `link-sync emulate`."""

from __future__ import annotations

from link_sync.emulator.cli import emulate_command

emulate_command(prog_name="link-sync emulate")
