"""Which config, which master folder, which printers: the `-c -s -p -x` of the commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from link_sync.config import (
    Config,
    PrinterConfig,
    load_config,
    select_printers,
    with_destination,
    with_source,
)


@dataclass(frozen=True, slots=True)
class Selection:
    """-c FILE, -s DIR, -p NAME..., -x NAME... as given (None/empty: the defaults)."""

    config: Path | None = None
    source: Path | None = None
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    #: --destination: the managed folder on every printer (None: the config's)
    destination: str | None = None


def load_selection(
    selection: Selection, environ: Mapping[str, str], cwd: Path
) -> tuple[Config, list[PrinterConfig]]:
    """The config (with -s and --destination applied) and the printers -p/-x select,
    in config order."""
    config = load_config(selection.config, cwd=cwd, environ=environ)
    if selection.source is not None:
        config = with_source(config, selection.source.expanduser().resolve())
    if selection.destination is not None:
        config = with_destination(config, selection.destination)
    return config, select_printers(config, selection.include, selection.exclude)


def configured(selection: Selection) -> Config:
    """The config of -c (or the usual search) with -s and --destination applied, as a
    command loads it: from the process's environment and working folder."""
    import os

    config, _ = load_selection(selection, os.environ, Path.cwd())
    return config
