"""Routing by model (issue 11) against the real servers.

The real Raspberry-Pi PrusaLink 0.8.1 (driving a fake MK3S on a pty) names its printer
itself; OctoPrint and Moonraker do not know the Prusa model, so without `model:` they get
every file (with a note) and with it they route.
"""

from __future__ import annotations

from typing import Any

import pytest

from link_sync.sample_gcode import prusaslicer_bgcode, prusaslicer_gcode

from .test_sync_scenarios import (  # fixtures and helpers, not tests
    RealPrinter,
    Runner,
    destination,  # noqa: F401
    fill,
    real,  # noqa: F401
    report,
    show,
    sync,  # noqa: F401
)
from sync_helpers import Master

#: a master for several models, plus files that name no printer
ROUTED_MASTER = {
    "MK3S/hook_0.4n_MK3S.gcode": prusaslicer_gcode("MK3S", 0.4, seed=1),
    "MK3S/old_MK3.gcode": prusaslicer_gcode("MK3", 0.4, check="code", seed=2),
    "MK3S/mmu_MK3SMMU3.gcode": prusaslicer_gcode("MK3SMMU3", 0.4, seed=3),
    "MK4S/benchy_MK4S.gcode": prusaslicer_gcode("MK4S", 0.4, seed=4),
    "MK4/benchy_MK4IS.gcode": prusaslicer_gcode("MK4IS", 0.4, seed=5),
    "MINI/clip_MINIIS.gcode": prusaslicer_gcode("MINIIS", 0.4, seed=6),
    "XL/handle_XL5IS.bgcode": prusaslicer_bgcode("XL5IS", 0.4, seed=7),
    "calibration/first layer.gcode": b"; hand written\nG28\nG1 Z0.2 F600\n" * 40,
    "any/plate.gcode": prusaslicer_gcode(None, None, check=None, seed=8),
}
MK3_FILES = {"MK3S/hook_0.4n_MK3S.gcode", "MK3S/old_MK3.gcode", "MK3S/mmu_MK3SMMU3.gcode"}
TARGETLESS = {"calibration/first layer.gcode", "any/plate.gcode"}
#: what none of the three servers can hold (and list again)
BINARY = {"XL/handle_XL5IS.bgcode"}


async def test_real_prusalink_mk3s_receives_only_mk3_and_targetless_files(
    prusalink_server: Any,
    master: Master,
    sync: Runner,  # noqa: F811
    destination: str,  # noqa: F811
) -> None:
    printer = RealPrinter("prusalink", prusalink_server)
    fill(master, ROUTED_MASTER)

    result = await sync({"mk3s": printer.entry(destination)})

    mine = report(result, "mk3s")
    assert result.exit_code == 0, show(result)
    assert mine.status == "synced", show(mine)
    assert set(printer.files(destination)) == MK3_FILES | TARGETLESS
    for path in MK3_FILES | TARGETLESS:
        assert printer.files(destination)[path] == ROUTED_MASTER[path]
    skipped = dict(mine.skipped)
    assert skipped["MK4S/benchy_MK4S.gcode"] == "sliced for MK4S; this is an MK3S"
    assert skipped["MINI/clip_MINIIS.gcode"] == "sliced for MINI; this is an MK3S"
    assert set(skipped) == set(ROUTED_MASTER) - MK3_FILES - TARGETLESS

    again = await sync({"mk3s": printer.entry(destination)})
    assert again.exit_code == 0, show(again)
    assert report(again, "mk3s").actions == []


@pytest.mark.parametrize("real", ["octoprint", "moonraker"], indirect=True)
async def test_octoprint_and_moonraker_without_model_get_every_file_with_a_note(
    real: RealPrinter,  # noqa: F811
    master: Master,
    sync: Runner,  # noqa: F811
    destination: str,  # noqa: F811
) -> None:
    fill(master, ROUTED_MASTER)
    result = await sync({real.kind: real.entry(destination)})
    mine = report(result, real.kind)
    assert result.exit_code == 0, show(result)
    assert set(real.files(destination)) == set(ROUTED_MASTER) - BINARY
    assert any("routing is off for this printer" in note for note in mine.notes), show(mine)


@pytest.mark.parametrize("real", ["octoprint", "octoprint-next", "moonraker"], indirect=True)
async def test_octoprint_and_moonraker_with_model_route(
    real: RealPrinter,  # noqa: F811
    master: Master,
    sync: Runner,  # noqa: F811
    destination: str,  # noqa: F811
) -> None:
    fill(master, ROUTED_MASTER)
    entry = {**real.entry(destination), "model": "MK3S"}
    result = await sync({real.kind: entry})
    mine = report(result, real.kind)
    assert result.exit_code == 0, show(result)
    assert set(real.files(destination)) == MK3_FILES | TARGETLESS
    assert dict(mine.skipped)["MINI/clip_MINIIS.gcode"] == "sliced for MINI; this is an MK3S"
    assert not any("routing is off" in note for note in mine.notes)
