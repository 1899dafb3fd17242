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
    #: The names of the storage used when the config names none. A printer has one of
    #: them (PrusaLink: a Buddy's `usb` or the Pi's `local`), so each names that storage.
    default_storages: tuple[str, ...]
    #: Whether the `storage:` key is read (OctoPrint and Moonraker have one storage).
    reads_storage: bool = False
    #: Whether paths on the storage may be case-insensitive (a Buddy's FAT stick).
    case_insensitive: bool = False
    #: Whether a printer of this type may print binary G-code (`send_as: bgcode`): a
    #: PrusaLink printer does when it runs Buddy firmware (its backend says so at the
    #: probe), OctoPrint and Moonraker hosts never.
    may_print_bgcode: bool = False

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
            default_storages=("usb", "local"),
            reads_storage=True,
            case_insensitive=True,
            may_print_bgcode=True,
        ),
        PrinterType(
            "octoprint",
            "OctoPrint hosts (API key)",
            "link_sync.backends.octoprint:OctoPrintBackend",
            default_storages=("local",),
        ),
        PrinterType(
            "moonraker",
            "Moonraker / Klipper hosts (API key)",
            "link_sync.backends.moonraker:MoonrakerBackend",
            default_storages=("gcodes",),
        ),
    )
}
#: The type of a printer whose config says none.
DEFAULT_TYPE = "prusalink"


def type_names() -> tuple[str, ...]:
    """Every `type:` value, the default first."""
    return tuple(PRINTER_TYPES)
