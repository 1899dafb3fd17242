"""The Buddy firmware's "wrong printer" check before a print (M862.x against the printer).

The firmware reads the M862.x commands among a file's first 200 G-code commands
(src/common/gcode/gcode_info.cpp) and asks on its screen when the model group or the
nozzle differs (marlin_print_preview.cpp `stateFromPrinterCheck`). It does not read
PrusaSlicer's `; printer_model` comments, so a target found only there is not checked.
The file is read with link-sync's own reader (`link_sync.core.targets`), not a second parser.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from link_sync.core.printer_models import fits
from link_sync.core.targets import Target, read_target

#: where `read_target` found a model / a nozzle that the firmware reads too
_MODEL_SOURCES = ("M862.3", "M862.2", "bgcode metadata")
_NOZZLE_SOURCES = ("M862.1", "bgcode metadata")


def firmware_target(target: Target) -> Target:
    """The part of `target` the firmware checks (from M862.x or bgcode metadata)."""
    model = target.model if any(s in target.source for s in _MODEL_SOURCES) else None
    nozzle = target.nozzle if any(s in target.source for s in _NOZZLE_SOURCES) else None
    return Target(model, nozzle, target.source)


def read_file_target(name: str, data: bytes | None, disk_path: Path | None) -> Target:
    """The target of a stored file, from disk or from the bytes held in memory."""
    if disk_path is not None:
        return read_target(disk_path)
    with tempfile.TemporaryDirectory(prefix="link-sync-emu-") as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(data or b"")
        return read_target(path)


def wrong_printer(target: Target, printer_model: str, nozzle: float) -> str | None:
    """Why the firmware asks before printing a file of `target`, or None when it does not."""
    fit = fits(firmware_target(target), printer_model, nozzle)
    return None if fit.ok else fit.reason
