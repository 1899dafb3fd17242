"""Buddy without a USB stick, and a full stick (issue 17), over real HTTP on loopback.

Firmware: `/api/v1/storage` says `"available": false` when /usb cannot be opened
(lib/WUI/link_content/basic_gets.cpp `usb_available()`); the root then lists as an empty
folder (only as "/usb", not "/usb/") and everything below it is 404
(lib/WUI/nhttp/file_info.cpp); an upload cannot create its temp file (507 "Failed to write
to location", src/transfers/partial_file.cpp), and a stick without room for the whole file
gives 507 "USB drive full" before the body.
"""

from __future__ import annotations

from typing import Any

import httpx

from link_sync.emulator import PrinterSpec

Factory = Any


async def buddy(farm_factory: Factory, **kw: Any) -> Any:
    farm = await farm_factory([PrinterSpec(name="mk4-1", **kw)])
    return farm["mk4-1"]


async def test_without_a_stick(farm_factory: Factory, client: Any) -> None:
    p = await buddy(farm_factory, usb=False, files={"d/a.gcode": b"G1\n"})
    c = client(p)
    storage = (await c.get("/api/v1/storage")).json()
    assert storage == {
        "storage_list": [
            {"path": "/usb/", "name": "usb", "type": "USB", "read_only": False, "available": False}
        ]
    }
    root = await c.get("/api/v1/files/usb")
    assert root.status_code == 200
    assert root.json() == {"type": "FOLDER", "ro": False, "name": "usb", "children": []}
    # "/usb/" is not the special-cased "/usb": opendir and stat fail, so 404
    assert (await c.get("/api/v1/files/usb/")).status_code == 404
    assert (await c.get("/api/v1/files/usb/d")).status_code == 404
    assert (await c.get("/api/v1/files/usb/d/a.gcode")).status_code == 404
    r = await c.put("/api/v1/files/usb/b.gcode", b"G1\n")
    assert r.status_code == 507 and "Failed to write to location" in r.text
    r = await c.put("/api/v1/files/usb/new", headers={"Create-Folder": "?1"})
    assert r.status_code == 500
    assert (await c.delete("/api/v1/files/usb/d/a.gcode")).status_code == 404
    assert (await c.request("POST", "/api/v1/files/usb/d/a.gcode")).status_code == 404
    assert p.files() == {"d/a.gcode": b"G1\n"}  # the stick keeps its files


async def test_remove_and_insert_over_http(farm_factory: Factory, client: Any) -> None:
    p = await buddy(farm_factory, files={"a.gcode": b"G1\n"})
    c = client(p)
    async with httpx.AsyncClient(base_url=p.url) as http:
        r = await http.post("/emulator/usb/remove")
        assert r.status_code == 200 and r.json()["usb"] is False
        storage = (await c.get("/api/v1/storage")).json()["storage_list"][0]
        assert storage["available"] is False
        assert (await c.get("/api/v1/files/usb/a.gcode")).status_code == 404
        r = await http.post("/emulator/usb/insert")
        assert r.status_code == 200 and r.json()["usb"] is True
    assert (await c.get("/api/v1/storage")).json()["storage_list"][0]["available"] is True
    assert (await c.get("/api/v1/files/usb/a.gcode")).json()["size"] == 3


async def test_a_full_stick_refuses_before_the_body_and_takes_it_after_a_delete(
    farm_factory: Factory, client: Any
) -> None:
    p = await buddy(farm_factory, capacity=100_000, files={"old.gcode": 80_000})
    c = client(p)
    r = await c.put("/api/v1/files/usb/new.gcode", b"x" * 30_000)
    assert r.status_code == 507 and r.text == "507: Insufficient Storage\n\nUSB drive full\n"
    assert "new.gcode" not in p.files() and p.transfer is None
    assert (await c.put("/api/v1/files/usb/small.gcode", b"x" * 20_000)).status_code == 201
    assert (await c.delete("/api/v1/files/usb/old.gcode")).status_code == 204
    assert (await c.put("/api/v1/files/usb/new.gcode", b"x" * 30_000)).status_code == 201


async def test_an_overwrite_needs_room_for_the_whole_new_file(
    farm_factory: Factory, client: Any
) -> None:
    # the firmware preallocates the temp file before the old one is removed
    p = await buddy(farm_factory, capacity=100_000, files={"a.gcode": 60_000})
    c = client(p)
    r = await c.put("/api/v1/files/usb/a.gcode", b"x" * 50_000, headers={"Overwrite": "?1"})
    assert r.status_code == 507
    r = await c.put("/api/v1/files/usb/a.gcode", b"x" * 40_000, headers={"Overwrite": "?1"})
    assert r.status_code == 201
