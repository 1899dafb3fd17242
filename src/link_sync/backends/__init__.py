"""Printer backends: one module per printer API, all behind `base.Backend`.

`create_backend` picks the module from the printer's `type:` in the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from link_sync.backends.base import Backend, BackendOptions

if TYPE_CHECKING:
    from link_sync.config import PrinterConfig

#: The config's `type:` values, with a line for `link-sync init` and the README.
BACKEND_TYPES: dict[str, str] = {
    "prusalink": "Prusa printers through PrusaLink (Buddy firmware or Raspberry-Pi PrusaLink)",
    "octoprint": "OctoPrint hosts (API key)",
    "moonraker": "Moonraker / Klipper hosts (API key)",
}


def backend_options(printer: PrinterConfig) -> BackendOptions:
    """The connection settings of one configured printer (TLS: see `backends.tls`)."""
    return BackendOptions(
        name=printer.name,
        base_url=printer.base_url,
        username=printer.username,
        password=printer.password,
        api_key=printer.api_key,
        storage=printer.storage,
        verify=printer.verify,
        ca_file=printer.ca_file if printer.verify else None,
        fingerprint=printer.fingerprint,
        connect_timeout=min(printer.timeout, 10.0),
        read_timeout=printer.timeout,
    )


def create_backend(printer: PrinterConfig) -> Backend:
    """The backend for one configured printer."""
    options = backend_options(printer)
    if printer.type == "octoprint":
        from link_sync.backends.octoprint import OctoPrintBackend

        return OctoPrintBackend(options)
    if printer.type == "moonraker":
        from link_sync.backends.moonraker import MoonrakerBackend

        return MoonrakerBackend(options)
    from link_sync.backends.prusalink import PrusaLinkBackend

    return PrusaLinkBackend(options)
