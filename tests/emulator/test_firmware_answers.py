"""Every Buddy profile answers with exactly the keys the firmware writes, key by key.

The tables below are taken from the firmware's source, Prusa-Firmware-Buddy at commit
818d812f954802903ea0ff39bf44376fb0b35dd2 (2025-04-07):

- lib/WUI/link_content/basic_gets.cpp: `get_version`, `get_info`, `get_storage`,
  `get_printer`, `get_job_v1`
- lib/WUI/nhttp/status_renderer.cpp: `StatusRenderer::renderState` (/api/v1/status)
- lib/WUI/nhttp/transfer_renderer.cpp: `renderStateV1` (/api/v1/transfer)
- lib/WUI/link_content/prusa_link_api_v1.cpp: the codes of /api/v1/job/{id}, `get_only`
- src/common/config.h: `LAN_HOSTNAME_DEF`, the default hostname of each firmware build

The order of the keys is the order the firmware writes them in.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from link_sync.emulator import PROFILES, PrinterSpec

Factory = Any

VERSION_KEYS = ["api", "server", "nozzle_diameter", "text", "hostname", "capabilities"]
INFO_KEYS = ["nozzle_diameter", "mmu", "serial", "hostname", "min_extrusion_temp"]
STORAGE_KEYS = ["path", "name", "type", "read_only", "available"]
STATUS_PRINTER_KEYS = [
    "state",
    "temp_bed",
    "target_bed",
    "temp_nozzle",
    "target_nozzle",
    "axis_z",
    "axis_x",  # only while not printing (`marlin_client::is_printing()`)
    "axis_y",
    "flow",
    "speed",
    "fan_hotend",
    "fan_print",
]
STATUS_JOB_KEYS = ["id", "progress", "time_remaining", "time_printing"]
STATUS_TRANSFER_KEYS = ["id", "time_transferring", "progress", "transferred"]
TRANSFER_KEYS = [
    "type",
    "display_name",
    "path",
    "size",
    "progress",
    "transferred",
    "time_remaining",
    "time_transferring",
    "to_print",
]
JOB_KEYS = ["id", "state", "progress", "time_remaining", "time_printing", "file"]
JOB_FILE_KEYS = ["refs", "name", "display_name", "path", "size", "m_timestamp"]
LEGACY_PRINTER_KEYS = ["telemetry", "temperature", "state"]
LEGACY_TOOL0_KEYS = ["actual", "target", "display", "offset"]

#: src/common/config.h `LAN_HOSTNAME_DEF`, per profile (MK4S and MK3.9 run the MK4 build)
DEFAULT_HOSTNAMES = {
    "mk4": "prusa-mk4",
    "mk4s": "prusa-mk4",
    "mk3.9": "prusa-mk4",
    "mk3.5": "prusa-mk3-5",
    "xl": "prusa-xl",
    "mini": "prusa-mini",
    "coreone": "prusa-core-one",
}

BUDDY_PROFILES = sorted(k for k, p in PROFILES.items() if not p.is_pi)


def test_every_buddy_profile_has_a_hostname_in_the_table() -> None:
    assert sorted(DEFAULT_HOSTNAMES) == BUDDY_PROFILES


@pytest.mark.parametrize("profile", BUDDY_PROFILES)
async def test_version_and_info_have_exactly_the_firmwares_keys(
    farm_factory: Factory, client: Any, profile: str
) -> None:
    farm = await farm_factory([PrinterSpec("p1", profile=profile)])
    c = client(farm["p1"])
    version = (await c.get("/api/version")).json()
    assert list(version) == VERSION_KEYS
    assert version["api"] == "2.0.0" and version["text"] == "PrusaLink"
    assert version["capabilities"] == {"upload-by-put": True}
    assert version["nozzle_diameter"] == 0.4
    assert version["hostname"] == DEFAULT_HOSTNAMES[profile]
    info = (await c.get("/api/v1/info")).json()
    assert list(info) == INFO_KEYS
    assert info["hostname"] == DEFAULT_HOSTNAMES[profile]
    assert isinstance(info["mmu"], bool) and isinstance(info["serial"], str)
    assert isinstance(info["min_extrusion_temp"], int) and info["nozzle_diameter"] == 0.4
    storage = (await c.get("/api/v1/storage")).json()
    assert list(storage) == ["storage_list"]
    assert [list(s) for s in storage["storage_list"]] == [STORAGE_KEYS]
    status = (await c.get("/api/v1/status")).json()
    assert list(status) == ["storage", "printer"]  # no job, no transfer
    assert list(status["printer"]) == STATUS_PRINTER_KEYS
    legacy = (await c.get("/api/printer")).json()
    assert list(legacy) == LEGACY_PRINTER_KEYS
    assert list(legacy["temperature"]["tool0"]) == LEGACY_TOOL0_KEYS


async def test_the_farm_file_names_the_host(farm_factory: Factory, client: Any) -> None:
    farm = await farm_factory([PrinterSpec("p1", profile="mini", hostname="mini-bench-3")])
    c = client(farm["p1"])
    assert (await c.get("/api/version")).json()["hostname"] == "mini-bench-3"
    assert (await c.get("/api/v1/info")).json()["hostname"] == "mini-bench-3"


async def test_a_print_and_a_transfer_answer_with_the_firmwares_keys(
    farm_factory: Factory, client: Any
) -> None:
    spec = PrinterSpec(
        "p1",
        profile="mk4s",
        rate=20_000,
        files={"parts/a.gcode": b"G1 X1\n"},
        state="PRINTING",
        job_file="parts/a.gcode",
    )
    farm = await farm_factory([spec])
    p = farm["p1"]
    c = client(p)
    status = (await c.get("/api/v1/status")).json()
    assert list(status) == ["job", "storage", "printer"]
    assert list(status["job"]) == STATUS_JOB_KEYS
    # printing: the firmware leaves the X and Y axes out
    assert list(status["printer"]) == [
        k for k in STATUS_PRINTER_KEYS if k not in {"axis_x", "axis_y"}
    ]
    job = (await c.get("/api/v1/job")).json()
    assert list(job) == JOB_KEYS and list(job["file"]) == JOB_FILE_KEYS
    assert job["file"]["path"] == "/usb/PARTS" and job["file"]["name"] == "A~1.GCO"
    assert list(job["file"]["refs"]) == ["icon", "thumbnail", "download"]

    # an upload in progress (uploading while printing is allowed)
    body = b"G1 X2\n" * 10_000
    upload = asyncio.create_task(c.put("/api/v1/files/usb/parts/big.gcode", body))
    for _ in range(200):
        if p.transfer is not None and p.transfer.transferred:
            break
        await asyncio.sleep(0.02)
    transfer = (await c.get("/api/v1/transfer")).json()
    assert list(transfer) == TRANSFER_KEYS
    assert transfer["size"] == str(len(body))  # written with a string format: text
    assert transfer["path"] == "/usb/PARTS" and transfer["display_name"] == "big.gcode"
    status = (await c.get("/api/v1/status")).json()
    assert list(status) == ["job", "storage", "transfer", "printer"]
    assert list(status["transfer"]) == STATUS_TRANSFER_KEYS
    upload.cancel()


async def test_job_commands_answer_the_firmwares_codes(farm_factory: Factory, client: Any) -> None:
    spec = PrinterSpec("p1", files={"a.gcode": b"G1\n"}, state="PRINTING", job_file="a.gcode")
    farm = await farm_factory([spec])
    p = farm["p1"]
    c = client(p)
    assert p.job is not None
    job_id = p.job.id
    assert (await c.request("PUT", "/api/v1/job/x/pause")).status_code == 400
    assert (await c.request("PUT", f"/api/v1/job/{job_id + 1}/pause")).status_code == 404
    assert (await c.request("PUT", f"/api/v1/job/{job_id}/jump")).status_code == 400
    assert (await c.request("GET", f"/api/v1/job/{job_id}")).status_code == 405
    assert (await c.request("PUT", f"/api/v1/job/{job_id}/resume")).status_code == 409
    assert (await c.request("PUT", f"/api/v1/job/{job_id}/pause")).status_code == 204
    assert p.state == "PAUSED"
    # the documents answer GET only
    assert (await c.request("POST", "/api/v1/info")).status_code == 405


async def test_what_is_emulated_is_asked_of_the_emulator(farm_factory: Factory) -> None:
    import httpx

    farm = await farm_factory([PrinterSpec("p1", profile="coreone", nozzle_diameter=0.6)])
    async with httpx.AsyncClient(base_url=farm["p1"].url) as http:
        emulated = (await http.get("/emulator/info")).json()
        page = (await http.get("/")).text
    assert emulated["profile"] == "coreone" and emulated["model"] == "COREONE"
    assert emulated["hostname"] == "prusa-core-one" and emulated["nozzle_diameter"] == 0.6
    assert "COREONE" not in page and "CORE One" not in page  # the web page names no model
