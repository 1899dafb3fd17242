"""Printer backends: one module per printer API, all behind `base.Backend`, all built
on `http.HttpBackend`. `registry` lists the printer types; `open_backend` gives the
backend for one configured printer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from link_sync.backends.registry import PRINTER_TYPES

if TYPE_CHECKING:
    from link_sync.backends.base import Backend
    from link_sync.config import PrinterConfig

__all__ = ["PRINTER_TYPES", "Backend", "open_backend"]


async def open_backend(printer: PrinterConfig) -> Backend:
    """The backend for one configured printer, ready to `probe()`.

    For `type: prusalink` this asks the printer whether it runs Buddy firmware or
    the Raspberry-Pi PrusaLink (one request), so the backend's `capabilities` are
    final before the first call. Raises `PrinterError` like any backend call.
    """
    return await PRINTER_TYPES[printer.type].open(printer)


def __getattr__(name: str) -> Any:
    # `Backend` on first use: `--help` reads the registry's type list through this
    # package and should not pay for base.py and the data model.
    if name == "Backend":
        from link_sync.backends.base import Backend

        return Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
