"""The printer types link-sync knows: the single list that config validation,
`link-sync init`'s template, `--help` and the README's table read.

Adding a printer type is one backend module (a class built on
`http.HttpBackend`) and one `PrinterType` line below. Modules are imported only when a
printer of their type is opened, so the command line starts fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from link_sync.backends.base import Backend
    from link_sync.config import PrinterConfig


@dataclass(frozen=True, slots=True)
class PrinterType:
    """One value of a printer's `type:` key."""

    name: str
    #: One line for `init`'s template, `--help` and the README.
    description: str
    #: Its backend class, "module:Class"; its `open(printer)` gives the backend.
    backend: str

    async def open(self, printer: PrinterConfig) -> Backend:
        module_name, _, class_name = self.backend.partition(":")
        backend_class = getattr(importlib.import_module(module_name), class_name)
        return cast("Backend", await backend_class.open(printer))


PRINTER_TYPES: dict[str, PrinterType] = {
    t.name: t
    for t in (
        PrinterType(
            "prusalink",
            "Prusa printers through PrusaLink (Buddy firmware or Raspberry-Pi PrusaLink)",
            "link_sync.backends.prusalink:PrusaLinkBackend",
        ),
        PrinterType(
            "octoprint",
            "OctoPrint hosts (API key)",
            "link_sync.backends.octoprint:OctoPrintBackend",
        ),
        PrinterType(
            "moonraker",
            "Moonraker / Klipper hosts (API key)",
            "link_sync.backends.moonraker:MoonrakerBackend",
        ),
    )
}
#: The type of a printer whose config says none.
DEFAULT_TYPE = "prusalink"


def type_names() -> tuple[str, ...]:
    """Every `type:` value, the default first."""
    return tuple(PRINTER_TYPES)
