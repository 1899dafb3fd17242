"""What the command line changes in a loaded config: `-s`, `--destination`, `-p`/`-x`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from link_sync.config.hosts import absolute, normalize_destination, printer_source
from link_sync.config.model import Config
from link_sync.config.printer import PrinterConfig
from link_sync.errors import UsageError


def with_source(config: Config, source: Path) -> Config:
    """`config` with the master folder replaced (the CLI's `--source`).

    A printer's own relative `source` is taken relative to the new one.
    """
    top = absolute(source.expanduser(), Path.cwd())
    printers = {
        name: printer.model_copy(
            update={"source": printer_source(printer._source_setting, top, top)}
        )
        for name, printer in config.printers.items()
    }
    return config.model_copy(update={"source": top, "printers": printers})


def with_destination(config: Config, destination: str) -> Config:
    """`config` with every printer's managed folder replaced (the CLI's `--destination`)."""
    try:
        folder = normalize_destination(destination)
    except ValueError as exc:
        raise UsageError(f"--destination {exc}") from None
    printers = {
        name: printer.model_copy(update={"destination": folder})
        for name, printer in config.printers.items()
    }
    return config.model_copy(update={"destination": folder, "printers": printers})


def select_printers(
    config: Config, include: Sequence[str], exclude: Sequence[str]
) -> list[PrinterConfig]:
    """The printers `-p` and `-x` select, in config order; unknown names are a UsageError."""
    for name in (*include, *exclude):
        if name not in config.printers:
            known = ", ".join(config.printers) or "none"
            raise UsageError(f"unknown printer '{name}' (printers in {config.name}: {known})")
    wanted = set(include) if include else set(config.printers)
    wanted.difference_update(exclude)
    if not wanted:
        raise UsageError("no printer selected: every printer chosen with -p is excluded with -x")
    return [printer for name, printer in config.printers.items() if name in wanted]
