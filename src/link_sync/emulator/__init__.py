"""A PrusaLink printer emulator (Buddy firmware and Raspberry-Pi PrusaLink), for tests,
benchmarks and `link-sync demo`.

    async with Farm([PrinterSpec("mk4-1", profile="mk4", rate=1_000_000)]) as farm:
        url = farm["mk4-1"].url
"""

from __future__ import annotations

from link_sync.emulator.farm import Farm
from link_sync.emulator.faults import Fault
from link_sync.emulator.printer import EmulatedPrinter, EntryInfo, RequestRecord
from link_sync.emulator.profiles import PROFILES
from link_sync.emulator.spec import PrinterSpec

__all__ = [
    "PROFILES",
    "EmulatedPrinter",
    "EntryInfo",
    "Farm",
    "Fault",
    "PrinterSpec",
    "RequestRecord",
]
