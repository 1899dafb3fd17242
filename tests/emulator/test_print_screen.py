"""The job's file after a print ends (issue 18), over real HTTP on loopback.

Firmware: in FINISHED and STOPPED the API reports no job (`printer_state::has_job()`:
/api/v1/job 204, no `job` in /api/v1/status, /api/job `job: null`), but the print screen
still holds the file: DELETE leaves the screen and then deletes
(src/common/print_utils.cpp `remove_file()`), while an overwriting PUT gets 409 "File is
busy" once the body is in (lib/WUI/nhttp/gcode_upload.cpp `try_rename()`: remove() fails
with EBUSY). Only PRINTING and PAUSED refuse the DELETE.
"""

from __future__ import annotations

from typing import Any

import pytest

from link_sync.emulator import PrinterSpec

Factory = Any
OVERWRITE = {"Overwrite": "?1"}


async def ended(farm_factory: Factory, state: str, **kw: Any) -> Any:
    spec = PrinterSpec(
        name="mk4-1",
        files={"a.gcode": b"old version", "b.gcode": b"G1\n"},
        state="PRINTING",
        job_file="a.gcode",
        **kw,
    )
    p = (await farm_factory([spec]))["mk4-1"]
    p.set_state(state)
    return p


@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_an_ended_print_reports_no_job(
    farm_factory: Factory, client: Any, state: str
) -> None:
    p = await ended(farm_factory, state)
    c = client(p)
    status = (await c.get("/api/v1/status")).json()
    assert status["printer"]["state"] == state and "job" not in status
    assert (await c.get("/api/v1/job")).status_code == 204
    assert (await c.get("/api/job")).json()["job"] is None
    r = await c.get("/api/v1/files/usb/a.gcode")
    assert r.headers["Currently-Printing"] == "false"


@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_delete_leaves_the_print_screen_then_deletes(
    farm_factory: Factory, client: Any, state: str
) -> None:
    p = await ended(farm_factory, state)
    c = client(p)
    assert (await c.delete("/api/v1/files/usb/a.gcode")).status_code == 204
    assert p.state == "IDLE" and p.job is None
    assert set(p.files()) == {"b.gcode"}


@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_overwrite_is_busy_until_the_file_is_deleted(
    farm_factory: Factory, client: Any, state: str
) -> None:
    p = await ended(farm_factory, state)
    c = client(p)
    r = await c.put("/api/v1/files/usb/a.gcode", b"new version", headers=OVERWRITE)
    assert r.status_code == 409 and "File is busy" in r.text
    assert p.files()["a.gcode"] == b"old version" and p.state == state
    uploads = [q for q in p.requests if q.method == "PUT"]
    assert uploads[-1].status == 409 and p.transfer is None
    # what a client has to do: delete (leaves the screen), then upload
    assert (await c.delete("/api/v1/files/usb/a.gcode")).status_code == 204
    assert (await c.put("/api/v1/files/usb/a.gcode", b"new version")).status_code == 201
    assert p.files()["a.gcode"] == b"new version"


async def test_back_on_the_finished_screen_frees_the_file(
    farm_factory: Factory, client: Any
) -> None:
    p = await ended(farm_factory, "FINISHED")
    assert p.screen_file == "a.gcode"
    assert p.screen_back() is True and p.state == "IDLE" and p.screen_file is None
    r = await client(p).put("/api/v1/files/usb/a.gcode", b"new", headers=OVERWRITE)
    assert r.status_code == 201


@pytest.mark.parametrize("state", ["PRINTING", "PAUSED"])
async def test_an_active_print_refuses_delete_and_overwrite(
    farm_factory: Factory, client: Any, state: str
) -> None:
    p = await ended(farm_factory, state)
    c = client(p)
    status = (await c.get("/api/v1/status")).json()
    assert "job" in status
    assert (await c.get("/api/v1/job")).json()["file"]["display_name"] == "a.gcode"
    r = await c.delete("/api/v1/files/usb/a.gcode")
    assert r.status_code == 409 and "File is busy" in r.text
    r = await c.put("/api/v1/files/usb/a.gcode", b"new version", headers=OVERWRITE)
    assert r.status_code == 409 and "File is busy" in r.text
    assert p.files()["a.gcode"] == b"old version" and p.state == state


@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_the_pi_ends_the_job_and_deletes_its_file(
    farm_factory: Factory, client: Any, state: str
) -> None:
    # PrusaLink 0.8.1: the job goes ENDING -> IDLE on FINISHED/STOPPED; check_job() then
    # lets the file go (web/lib/files.py); the legacy /api/job still names the selected file
    spec = PrinterSpec(
        name="mk3-1",
        profile="mk3",
        files={"a.gcode": b"G1\n"},
        state="PRINTING",
        job_file="a.gcode",
    )
    p = (await farm_factory([spec]))["mk3-1"]
    c = client(p)
    r = await c.delete("/api/v1/files/local/a.gcode")
    assert r.status_code == 409  # printing
    p.set_state(state)
    assert (await c.get("/api/v1/job")).status_code == 204
    assert "job" not in (await c.get("/api/v1/status")).json()
    assert (await c.get("/api/job")).json()["job"]["file"]["display"] == "a.gcode"
    assert (await c.delete("/api/v1/files/local/a.gcode")).status_code == 204
    assert p.files() == {} and p.job is None and p.state == state
    assert (await c.get("/api/job")).json()["job"] is None


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "no-preview"])
@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_an_upload_leaves_the_ended_print_s_screen_with_the_preview_off_too(
    farm_factory: Factory, client: Any, state: str, preview: bool
) -> None:
    # The firmware's print_begin leaves the print screen whether or not a preview then
    # opens: `--no-preview` (preview: false) only keeps the preview from opening.
    p = await ended(farm_factory, state, preview=preview)
    c = client(p)
    assert (await c.put("/api/v1/files/usb/new.gcode", b"G1\n")).status_code == 201
    assert p.state == "IDLE" and p.job is None
    assert p.screen_file == ("new.gcode" if preview else None)
    # the old job's file is free again
    r = await c.put("/api/v1/files/usb/a.gcode", b"new version", headers=OVERWRITE)
    assert r.status_code == 201 and p.files()["a.gcode"] == b"new version"
