"""Buddy's print preview after an upload (issue 11), over real HTTP on loopback.

Firmware: `wui_start_print()` (lib/WUI/wui_api.cpp) shows the preview of an uploaded file
when `printer_state::remote_print_ready(preview_only=true)` holds; the preview holds the
file open, so `remove()` fails with EBUSY (409 "File is busy") for DELETE and for an
overwriting PUT; the printer stays IDLE with no job until someone answers on the screen.
"""

from __future__ import annotations

from typing import Any

import httpx

from link_sync.emulator import Farm, PrinterSpec

Factory = Any
OVERWRITE = {"Overwrite": "?1"}


async def buddy(farm_factory: Factory, **kw: Any) -> Any:
    farm = await farm_factory([PrinterSpec(name="mk4-1", **kw)], preview=True)
    return farm["mk4-1"]


async def test_first_upload_opens_the_preview_and_later_ones_do_not_replace_it(
    farm_factory: Factory, client: Any
) -> None:
    p = await buddy(farm_factory)
    c = client(p)
    assert p.screen_file is None
    assert (await c.put("/api/v1/files/usb/parts/a.gcode", b"G1 X1\n")).status_code == 201
    assert p.screen_file == "parts/a.gcode"
    assert (await c.put("/api/v1/files/usb/b.gcode", b"G1 X2\n")).status_code == 201
    assert p.screen_file == "parts/a.gcode"
    # what the API shows while the preview image is up: idle, no job
    status = (await c.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "IDLE" and "job" not in status
    assert (await c.get("/api/v1/job")).status_code == 204
    legacy = (await c.get("/api/job")).json()
    assert legacy == {"state": "Operational", "job": None, "progress": None}
    printer = (await c.get("/api/printer")).json()["state"]
    assert printer["text"] == "Operational" and "link_state" not in printer["flags"]
    assert printer["flags"]["ready"] is True and printer["flags"]["sdReady"] is False


async def test_the_previewed_file_is_busy_for_delete_and_overwrite(
    farm_factory: Factory, client: Any
) -> None:
    p = await buddy(farm_factory)
    c = client(p)
    await c.put("/api/v1/files/usb/a.gcode", b"old")
    await c.put("/api/v1/files/usb/b.gcode", b"other")
    r = await c.delete("/api/v1/files/usb/a.gcode")
    assert r.status_code == 409 and r.text == "409: Conflict\n\nFile is busy\n"
    r = await c.delete("/api/v1/files/usb/A~1.GCO")  # by its short name too
    assert r.status_code == 409
    r = await c.put("/api/v1/files/usb/a.gcode", b"new version", headers=OVERWRITE)
    assert r.status_code == 409 and "File is busy" in r.text
    assert p.files()["a.gcode"] == b"old" and p.transfer is None
    # every other file is free
    r = await c.put("/api/v1/files/usb/b.gcode", b"replaced", headers=OVERWRITE)
    assert r.status_code == 201
    assert (await c.delete("/api/v1/files/usb/b.gcode")).status_code == 204
    assert set(p.files()) == {"a.gcode"}


async def test_back_on_the_screen_closes_the_preview(farm_factory: Factory, client: Any) -> None:
    p = await buddy(farm_factory)
    c = client(p)
    await c.put("/api/v1/files/usb/a.gcode", b"old")
    assert p.screen_back() is True
    assert p.screen_file is None and p.state == "IDLE"
    assert p.screen_back() is False  # nothing left to close
    r = await c.put("/api/v1/files/usb/a.gcode", b"new", headers=OVERWRITE)
    assert r.status_code == 201
    assert p.screen_file == "a.gcode"  # the re-upload opened the preview again
    assert p.files()["a.gcode"] == b"new"


async def test_back_over_http_needs_no_auth_and_only_post(farm_factory: Factory) -> None:
    p = await buddy(farm_factory, files={"a.gcode": b"x"})
    p.after_upload(p.storage.find(["a.gcode"]))
    async with httpx.AsyncClient(base_url=p.url) as http:
        assert (await http.get("/emulator/screen/back")).status_code == 405
        assert (await http.post("/emulator/screen/nope")).status_code == 404
        r = await http.post("/emulator/screen/back")
        assert r.status_code == 200
        assert r.json() == {"state": "IDLE", "screen": None, "question": None, "usb": True}
        r = await http.delete("/api/v1/files/usb/a.gcode", headers={"X-Api-Key": "maker-pass"})
        assert r.status_code == 204


async def test_starting_a_print_closes_the_preview(farm_factory: Factory, client: Any) -> None:
    p = await buddy(farm_factory)
    c = client(p)
    await c.put("/api/v1/files/usb/a.gcode", b"G1\n")
    await c.put("/api/v1/files/usb/b.gcode", b"G1\n")
    assert (await c.request("POST", "/api/v1/files/usb/b.gcode")).status_code == 204
    assert p.state == "PRINTING" and p.job_path() == "b.gcode"
    assert p.preview is None
    assert (await c.delete("/api/v1/files/usb/a.gcode")).status_code == 204


async def test_no_preview_while_printing_and_a_finished_print_screen_gives_way(
    farm_factory: Factory, client: Any
) -> None:
    p = await buddy(
        farm_factory, files={"job.gcode": b"G1\n"}, state="PRINTING", job_file="job.gcode"
    )
    c = client(p)
    assert (await c.put("/api/v1/files/usb/a.gcode", b"G1\n")).status_code == 201
    assert p.preview is None and p.state == "PRINTING"
    p.set_state("FINISHED")
    # remote_print_ready() holds in FINISHED: print_start() leaves the print screen first
    assert (await c.put("/api/v1/files/usb/b.gcode", b"G1\n")).status_code == 201
    assert p.state == "IDLE" and p.job is None and p.screen_file == "b.gcode"
    assert (await c.delete("/api/v1/files/usb/job.gcode")).status_code == 204


async def test_preview_off_by_spec_or_farm_default(farm_factory: Factory, client: Any) -> None:
    farm = await farm_factory(
        [
            PrinterSpec("off", preview=False),
            PrinterSpec("default"),
            PrinterSpec("on", preview=True),
        ],
        preview=False,
    )
    for name, opened in (("off", False), ("default", False), ("on", True)):
        p = farm[name]
        c = client(p)
        await c.put("/api/v1/files/usb/a.gcode", b"1")
        assert (p.screen_file == "a.gcode") is opened, name
        r = await c.put("/api/v1/files/usb/a.gcode", b"2", headers=OVERWRITE)
        assert r.status_code == (409 if opened else 201), name


async def test_a_farm_opens_previews_by_default_as_the_firmware_does(client: Any) -> None:
    async with Farm([PrinterSpec("mk4-1"), PrinterSpec("mk3-1", profile="mk3")]) as farm:
        assert farm["mk4-1"].preview_on and not farm["mk3-1"].preview_on  # Pi: no screen
        async with httpx.AsyncClient(base_url=farm["mk3-1"].url) as http:
            assert (await http.post("/emulator/screen/back")).status_code == 404
            assert (await http.post("/emulator/usb/remove")).status_code == 404
        c = client(farm["mk4-1"])
        await c.put("/api/v1/files/usb/a.gcode", b"1")
        assert farm["mk4-1"].screen_file == "a.gcode"


async def test_nozzle_diameter_is_reported(farm_factory: Factory, client: Any) -> None:
    p = await buddy(farm_factory, nozzle_diameter=0.6)
    c = client(p)
    assert (await c.get("/api/v1/info")).json()["nozzle_diameter"] == 0.6
    assert (await c.get("/api/version")).json()["nozzle_diameter"] == 0.6
    q = await buddy(farm_factory)
    assert (await client(q).get("/api/v1/info")).json()["nozzle_diameter"] == 0.4


# -- the "wrong printer" question: asked when a print of the file is requested ------------

MINI_FILE = b'M862.3 P "MINI" ; printer model check\nM862.1 P0.4 ; nozzle check\nG28\n'
MK4_FILE = b'M862.3 P "MK4" ; printer model check\nM862.1 P0.4 ; nozzle check\nG28\n'
MK4_06_FILE = b'M862.3 P "MK4"\nM862.1 P0.6\nG28\n'
# PrusaSlicer's comment only, no M862: the firmware does not read it, so it does not ask
COMMENT_ONLY = b"; printer_model = MINIIS\n; nozzle_diameter = 0.4\nG28\n"


async def test_a_wrong_model_file_waits_as_a_preview_and_asks_when_print_is_pressed(
    farm_factory: Factory, client: Any
) -> None:
    p = await buddy(farm_factory)
    c = client(p)
    await c.put("/api/v1/files/usb/clip.gcode", MINI_FILE)
    # on upload: the preview image only; the firmware asks after Print is pressed
    assert p.state == "IDLE" and p.screen_file == "clip.gcode" and p.question is None
    assert p.press_print() is True
    assert p.state == "ATTENTION"
    assert p.question == "sliced for MINI; this is an MK4"
    status = (await c.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "ATTENTION" and "id" in status["job"]
    assert status["job"]["progress"] == 0 and status["job"]["time_printing"] == 0
    short = p.entry("clip.gcode").short_name
    job = (await c.get("/api/v1/job")).json()
    assert job["state"] == "PAUSED" and job["file"]["display_name"] == "clip.gcode"
    assert job["file"]["name"] == short and job["file"]["path"] == "/usb"
    assert job["file"]["refs"]["download"] == f"/usb/{short}"
    printer = (await c.get("/api/printer")).json()["state"]  # basic_gets.cpp get_printer
    assert printer["text"] == "Printing"
    assert printer["flags"]["link_state"] == "ATTENTION" and printer["flags"]["error"] is True
    assert printer["flags"]["operational"] is True  # the print has not started
    legacy = (await c.get("/api/job")).json()
    assert legacy["state"] == "Error"
    assert legacy["job"]["file"] == {
        "name": "clip.gcode",
        "path": f"/usb/{short}",
        "display": "clip.gcode",
    }
    # the file is held: DELETE and overwrite are busy (the overwrite before its body)
    assert (await c.delete("/api/v1/files/usb/clip.gcode")).status_code == 409
    r = await c.put("/api/v1/files/usb/clip.gcode", MK4_FILE, headers=OVERWRITE)
    assert r.status_code == 409 and "File is busy" in r.text
    assert p.screen_back() is True
    assert p.state == "IDLE" and p.job is None and p.question is None
    assert (await c.get("/api/v1/job")).status_code == 204
    assert (await c.delete("/api/v1/files/usb/clip.gcode")).status_code == 204


async def test_a_file_that_fits_prints_when_print_is_pressed(
    farm_factory: Factory, client: Any
) -> None:
    for data in (MK4_FILE, COMMENT_ONLY, b"G28\nG1 X1\n"):
        p = await buddy(farm_factory)
        await client(p).put("/api/v1/files/usb/part.gcode", data)
        assert p.press_print() is True
        assert p.state == "PRINTING" and p.job_path() == "part.gcode", data


async def test_a_wrong_nozzle_asks_too(farm_factory: Factory, client: Any) -> None:
    p = await buddy(farm_factory)
    await client(p).put("/api/v1/files/usb/part.gcode", MK4_06_FILE)
    p.press_print()
    assert p.state == "ATTENTION"
    assert p.question == "sliced for a 0.6 mm nozzle; this printer has 0.4 mm"
    q = await buddy(farm_factory, nozzle_diameter=0.6)
    await client(q).put("/api/v1/files/usb/part.gcode", MK4_06_FILE)
    q.press_print()
    assert q.state == "PRINTING"


async def test_asking_to_print_a_wrong_file_over_the_api_gets_the_question(
    farm_factory: Factory, client: Any
) -> None:
    p = await buddy(farm_factory, preview=False, files={"clip.gcode": MINI_FILE})
    c = client(p)
    # the print is accepted (204), then the screen asks
    assert (await c.request("POST", "/api/v1/files/usb/clip.gcode")).status_code == 204
    assert p.state == "ATTENTION"
    job_id = (await c.get("/api/v1/job")).json()["id"]
    assert (await c.delete(f"/api/v1/job/{job_id}")).status_code == 204  # stop: back to idle
    assert p.state == "IDLE" and p.job is None
    r = await c.put(
        "/api/v1/files/usb/other.gcode", MINI_FILE, headers={"Print-After-Upload": "?1"}
    )
    assert r.status_code == 201 and p.state == "ATTENTION" and p.job_path() == "other.gcode"


async def test_print_and_back_over_http(farm_factory: Factory) -> None:
    p = await buddy(farm_factory)
    async with httpx.AsyncClient(base_url=p.url) as http:
        r = await http.post("/emulator/screen/print")
        assert r.status_code == 409  # nothing on the screen
        key = {"X-Api-Key": "maker-pass"}
        await http.put("/api/v1/files/usb/clip.gcode", content=MINI_FILE, headers=key)
        r = await http.post("/emulator/screen/print")
        assert r.json() == {
            "state": "ATTENTION",
            "screen": "clip.gcode",
            "question": "sliced for MINI; this is an MK4",
            "usb": True,
        }
        r = await http.post("/emulator/screen/back")
        assert r.json()["state"] == "IDLE" and r.json()["screen"] is None


async def test_the_check_reads_files_kept_on_disk_too(
    farm_factory: Factory, client: Any, tmp_path: Any
) -> None:
    farm = await farm_factory([PrinterSpec("mk4-1")], preview=True, storage_dir=tmp_path)
    p = farm["mk4-1"]
    await client(p).put("/api/v1/files/usb/sub/clip.gcode", MINI_FILE)
    assert (tmp_path / "mk4-1" / "sub" / "clip.gcode").read_bytes() == MINI_FILE
    p.press_print()
    assert p.state == "ATTENTION" and p.screen_file == "sub/clip.gcode"
