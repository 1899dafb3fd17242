"""`link-sync demo`: an emulated farm, a sample master folder, one real sync.

Everything runs in this process on 127.0.0.1: six emulated printers of
different models (one of them printing), a master folder of real-looking
G-code, then the same sync and status code paths a real farm gets.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from link_sync._api import status_async, sync_async
from link_sync.config import Config
from link_sync.emulator import Farm, PrinterSpec
from link_sync.engine.events import Observer
from link_sync.result import RunResult, StatusReports
from link_sync.sample_gcode import prusaslicer_gcode, write_sample

#: The sample master: path -> (approximate size in bytes, PrusaSlicer printer profile or None
#: for a file that names no printer). The farm is mixed, so each printer gets the files
#: sliced for its model plus the ones that name none (routing by model).
SAMPLE_MASTER: dict[str, tuple[int, str | None]] = {
    "benchy_0.4n_0.2mm_PLA_MK4IS_1h.gcode": (900_000, "MK4IS"),
    "benchy_0.4n_0.2mm_PLA_MK4S_52m.gcode": (850_000, "MK4S"),
    "parts/cable clip 3x_0.4n_0.2mm_PETG_MINIIS.gcode": (350_000, "MINIIS"),
    "parts/Türgriff links_0.4n_0.15mm_PLA_XL5IS.gcode": (600_000, "XL5IS"),
    "parts/spool holder_0.4n_0.2mm_PLA_MK3S.gcode": (400_000, "MK3S"),
    "calibration/First Layer Test.GCODE": (120_000, None),
    "customers/ACME order 1042/bracket_v3_MK4S.gcode": (750_000, "MK4S"),
}

DEMO_RATE = 400_000  # bytes/s per printer: a quick but visible transfer


@dataclass(frozen=True, slots=True)
class DemoResult:
    sync: RunResult
    status: StatusReports
    workdir: Path


def write_sample_gcode(path: Path, size: int, profile: str | None, seed: int) -> None:
    """A G-code file of about `size` bytes laid out as PrusaSlicer writes it for `profile`
    (with no profile: hand-written G-code that names no printer)."""
    moves = max(size // 31, 10)
    if profile is None:
        content = prusaslicer_gcode(
            None,
            None,
            check=None,
            header_metadata=False,
            config_block=False,
            thumbnails=(),
            moves=moves,
            seed=seed,
        )
    else:
        content = prusaslicer_gcode(profile, 0.4, moves=moves, seed=seed)
    write_sample(path, content)


def write_sample_master(master: Path) -> None:
    for index, (relative, (size, model)) in enumerate(SAMPLE_MASTER.items()):
        write_sample_gcode(master / relative, size, model, seed=index)


def demo_printers() -> list[PrinterSpec]:
    """Six printers of five models: some empty, one stale, one with leftovers, one printing."""
    old = b"; an old version of the benchy\nG28\n" * 500
    return [
        PrinterSpec("mk4-01", profile="mk4", rate=DEMO_RATE),
        PrinterSpec(
            "mk4s-02",
            profile="mk4s",
            rate=DEMO_RATE,
            files={"benchy_0.4n_0.2mm_PLA_MK4S_52m.gcode": old},
        ),
        PrinterSpec("mk3.9-03", profile="mk3.9", rate=DEMO_RATE),
        PrinterSpec(
            "mini-04",
            profile="mini",
            rate=DEMO_RATE // 2,
            files={"old/one-off keychain.gcode": b"G28\n" * 400},
        ),
        PrinterSpec(
            "xl-05",
            profile="xl",
            rate=DEMO_RATE,
            files={"big_print.bgcode": b"GCDE" + bytes(4000)},
            state="PRINTING",
            job_file="big_print.bgcode",
        ),
        PrinterSpec("mk3s-06", profile="mk3", rate=DEMO_RATE, api_key="demo-api-key"),
    ]


async def run_demo(workdir: Path | None, observer: Observer | None) -> DemoResult:
    """Build the farm and the master, sync, then ask every printer for its status."""
    root = workdir or Path(tempfile.mkdtemp(prefix="link-sync-demo-"))
    master = root / "master"
    write_sample_master(master)
    states = root / "state"
    # preview off: the demo shows a sync, not a file held open on a printer's screen
    async with Farm(demo_printers(), storage_dir=root / "printers", preview=False) as farm:
        settings = farm.config(source=str(master))
        config = Config(**settings)
        result = await sync_async(config, observer=observer, state_dir=states)
        status = await status_async(config, state_dir=states)
        # For the user to try the other commands on, while the farm runs (`link-sync emulate`).
        text = yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
        (root / "link-sync.yml").write_text(text)
    return DemoResult(result, status, root)
