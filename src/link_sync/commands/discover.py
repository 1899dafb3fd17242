"""`link-sync discover`: find the printers on the local network and say what each is."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import click

from link_sync.backends.registry import PRINTER_TYPES, announced_kind
from link_sync.config import Config, load_config
from link_sync.config.hosts import normalize_host
from link_sync.discovery.browse import browse
from link_sync.discovery.identify import Credentials, Found, identify, merge, unique_names
from link_sync.errors import ConfigError


def credentials(config: Config | None, environ: Mapping[str, str]) -> dict[str, Credentials]:
    """Credentials by host (a configured printer's) and by type (the environment's)."""
    out: dict[str, Credentials] = {}
    # the environment variables `init --discover` writes as `${VAR}` references, read
    # here for the printers no config names
    for name, printer_type in PRINTER_TYPES.items():
        names = printer_type.credentials
        password = environ.get(names.password) if names.password else None
        user = environ.get(names.username) if names.username else None
        username = (user or names.default_username) if password else None
        found = Credentials(
            username, password, environ.get(names.api_key) if names.api_key else None
        )
        if found:
            out[name] = found
    if config is not None:
        for printer in config.printers.values():
            out[printer.base_url] = Credentials(printer.username, printer.password, printer.api_key)
    return out


def optional_config(path: Path | None, environ: Mapping[str, str]) -> Config | None:
    """The config whose credentials discover may use: `-c FILE` (must load), else the
    usual one if there is one and it loads."""
    try:
        return load_config(path, cwd=Path.cwd(), environ=environ)
    except ConfigError:
        if path is not None:
            raise
        return None


async def find_printers(
    timeout: float,
    interface: str | None,
    creds: Mapping[str, Credentials],
    taken: Collection[str] = (),
) -> list[Found]:
    """Browse, merge, name and identify: what `discover` prints."""
    found = unique_names(merge(await browse(timeout, interface)), taken)
    by_url = {normalize_host(f.host): f.host for f in found}
    keyed = {by_url.get(k, k): v for k, v in creds.items()}
    return await identify(found, keyed)


def model_text(printer: Found) -> str:
    """The model column: the printer's word, else the suggestion marked as one."""
    if printer.model:
        return printer.model
    if printer.choices:
        return " / ".join(printer.choices) + "?"
    kind = announced_kind(printer.kind)
    if kind is not None and kind.model_from == "credentials":
        return "? (says it with credentials)"
    return "?"


def lines(printers: Sequence[Found]) -> list[str]:
    """An aligned table: name, address, type, model or suggestion, firmware, serial/uuid."""
    rows = [("NAME", "HOST", "TYPE", "MODEL", "FIRMWARE", "SERIAL/UUID")]
    for p in printers:
        rows.append(
            (p.name, p.host, p.type, model_text(p), p.firmware or "", p.serial or p.uuid or "")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def run_discover(
    timeout: float, interface: str | None, config_path: Path | None, as_json: bool
) -> None:
    from link_sync.printable import line
    from link_sync.report import print_json

    environ = os.environ
    config = optional_config(config_path, environ)
    printers = asyncio.run(find_printers(timeout, interface, credentials(config, environ)))
    if as_json:
        print_json({"printers": [p.to_json() for p in printers]})
        return
    if not printers:
        click.echo(
            f"no printer announced itself within {timeout:g} s "
            f"on {interface or 'any interface'}; try a longer --timeout",
            err=True,
        )
        return
    for text in lines(printers):
        click.echo(line(text))  # names come from the network: escaped, as any printer's
    if any(p.model is None and p.choices for p in printers):
        click.echo(
            "MODEL?: suggested by a firmware's default hostname or OctoPrint's profile; "
            "the printer does not say it",
            err=True,
        )
