"""The Raspberry-Pi PrusaLink 0.8.1 profile (mk3), bugs included."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from emu_client import challenge_params  # type: ignore[import-not-found]

from link_sync.emulator import PrinterSpec

GCODE = {"Content-Type": "text/x.gcode"}


async def mk3(farm_factory: Any, **kw: Any) -> Any:
    farm = await farm_factory([PrinterSpec(name="mk3-1", profile="mk3", api_key="KEY", **kw)])
    return farm["mk3-1"]


async def test_digest_md5_sess_api_key_and_head_without_auth(
    farm_factory: Any, client: Any
) -> None:
    p = await mk3(farm_factory, files={"a.gcode": b"G1\n"})
    async with httpx.AsyncClient(base_url=p.url) as http:
        r = await http.get("/api/version")
        assert r.status_code == 401
        c = challenge_params(r.headers["WWW-Authenticate"])
        assert c["realm"] == "Administrator" and c["qop"] == "auth"
        assert c["algorithm"] == "MD5-sess" and len(c["nonce"]) == 64 and c["opaque"]
        r = await http.get("/api/version", headers={"X-Api-Key": "wrong"})
        assert r.status_code == 403 and "Bad X-Api-Key." in r.text
        assert (await http.get("/api/version", headers={"X-Api-Key": "KEY"})).status_code == 200
        assert (await http.head("/api/v1/files/local/a.gcode")).status_code == 200
    v = (await client(p).get("/api/version")).json()
    assert v["text"] == "PrusaLink 0.8.1" and v["server"] == "0.8.1"
    assert v["original"] == "PrusaLink I3MK3S" and v["capabilities"] == {"upload-by-put": True}


async def test_listing_has_sizes_read_only_and_file_types(farm_factory: Any, client: Any) -> None:
    p = await mk3(
        farm_factory, files={"sub dir/readme.txt": b"hello", "req2.gcode": b"G1\n", ".x": b""}
    )
    c = client(p)
    body = (await c.get("/api/v1/files/local")).json()
    assert body["name"] == "PrusaLink gcodes" and body["read_only"] is False and body["size"] == 8
    kids = {k["name"]: k for k in body["children"]}
    assert set(kids) == {"sub dir", "req2.gcode"}
    assert kids["sub dir"]["size"] == 5 and kids["sub dir"]["display_name"] == "sub dir"
    assert kids["req2.gcode"]["type"] == "PRINT_FILE" and kids["req2.gcode"]["size"] == 3
    sub = (await c.get("/api/v1/files/local/sub dir")).json()
    assert sub["children"][0]["type"] == "FILE"
    info = (await c.get("/api/v1/files/local/req2.gcode")).json()
    assert "estimated_print_time" in info["meta"]
    assert (await c.get("/api/v1/files/local/REQ2.GCODE")).status_code == 404  # POSIX names
    assert (await c.get("/api/v1/files/usb/")).status_code == 404
    storages = (await c.get("/api/v1/storage")).json()["storage_list"]
    # As the real 0.8.1 answers: URLs use the path, `name` is a label.
    assert [(s["path"], s["name"]) for s in storages] == [
        ("/local", "PrusaLink gcodes"),
        ("/sdcard", "SD Card"),
    ]
    assert "free_space" in storages[0]
    assert isinstance((await c.get("/api/v1/status")).json()["storage"], list)


async def test_put_content_type_rules_and_bugs(farm_factory: Any, client: Any) -> None:
    p = await mk3(farm_factory, files={"old.gcode": b"old"})
    c = client(p)
    r = await c.put("/api/v1/files/local/new.gcode", b"G1\n")
    assert r.status_code == 415  # no Content-Type
    r = await c.put("/api/v1/files/local/new.gcode", b"G1\n", headers=GCODE)
    assert r.status_code == 201 and r.content == b""
    r = await c.put("/api/v1/files/local/new.gcode", b"G1\n", headers=GCODE)
    assert r.status_code == 409
    r = await c.put("/api/v1/files/local/readme.txt", b"t", headers=GCODE)
    assert r.status_code == 201  # no extension check
    octet = {"Content-Type": "application/octet-stream"}
    r = await c.put("/api/v1/files/local/old.gcode", b"x", headers={**octet, "Overwrite": "?1"})
    assert r.status_code == 415 and "old.gcode" not in p.files()  # the bug: file deleted
    r = await c.put("/api/v1/files/local/fresh.gcode", b"x", headers=octet)
    assert r.status_code == 500 and p.files()[".fresh.gcode.part"] == b"x"
    r = await c.put("/api/v1/files/sdcard/a.gcode", b"x", headers=GCODE)
    assert r.status_code == 409 and "SD Card Read Only" in r.text
    r = await c.put(
        "/api/v1/files/local/x.gcode", b"x", headers={**GCODE, "Accept": "application/json"}
    )
    assert r.status_code == 201


async def test_mkdir_p_and_delete_needs_force(farm_factory: Any, client: Any) -> None:
    p = await mk3(farm_factory, files={"job.gcode": b"1"}, state="PRINTING", job_file="job.gcode")
    c = client(p)
    cf = {"Create-Folder": "?1"}
    assert (await c.put("/api/v1/files/local/a/b/c", headers=cf)).status_code == 201
    assert (await c.put("/api/v1/files/local/a/b/c", headers=cf)).status_code == 201
    r = await c.delete("/api/v1/files/local/a", headers={"Accept": "application/json"})
    assert r.status_code == 409 and r.json()["message"] == "Directory is not empty"
    assert "Content-Location" in r.headers
    assert (await c.delete("/api/v1/files/local/a", headers={"Force": "?1"})).status_code == 204
    r = await c.delete("/api/v1/files/local/job.gcode")
    assert r.status_code == 409 and "File is currently printed" in r.text


async def test_listing_lag(farm_factory: Any, client: Any) -> None:
    p = await mk3(farm_factory, listing_lag=0.3)
    c = client(p)
    assert (await c.put("/api/v1/files/local/a.gcode", b"1", headers=GCODE)).status_code == 201
    assert (await c.get("/api/v1/files/local/a.gcode")).status_code == 404
    assert (await c.get("/api/v1/files/local")).json()["children"] == []
    await asyncio.sleep(0.35)
    assert (await c.get("/api/v1/files/local/a.gcode")).status_code == 200
    assert (await c.delete("/api/v1/files/local/a.gcode")).status_code == 204
    assert len((await c.get("/api/v1/files/local")).json()["children"]) == 1
    await asyncio.sleep(0.35)
    assert (await c.get("/api/v1/files/local")).json()["children"] == []


async def test_requests_digest_auth_works_against_both_families(farm_factory: Any) -> None:
    import requests
    from requests.auth import HTTPDigestAuth

    farm = await farm_factory(
        [PrinterSpec(name="pi", profile="mk3"), PrinterSpec(name="buddy", profile="mk4")]
    )
    auth = HTTPDigestAuth("maker", "maker-pass")

    def run() -> list[int]:
        return [
            requests.get(p.url + "/api/v1/status", auth=auth, timeout=5).status_code for p in farm
        ]

    assert await asyncio.to_thread(run) == [200, 200]


async def test_job_path_starts_with_the_storage_label(farm_factory: Any, client: Any) -> None:
    farm = await farm_factory(
        [
            PrinterSpec(
                name="pi",
                profile="mk3",
                api_key="pi-key-123",
                files={"sub/job.gcode": b"G4 S30\n"},
                state="PRINTING",
                job_file="sub/job.gcode",
            )
        ]
    )
    job = (await client(farm["pi"]).get("/api/v1/job")).json()
    assert job["file"]["path"] == "/PrusaLink gcodes/sub/job.gcode"
    assert job["file"]["display_path"] == job["file"]["path"]


async def test_folders_made_in_one_go_hide_their_contents(farm_factory: Any, client: Any) -> None:
    """0.8.1 indexes with inotify: what is made inside a folder it has not seen yet (a
    PUT into two new folder levels, `mkdir -p` of several) is on disk but never listed."""
    farm = await farm_factory([PrinterSpec(name="pi", profile="mk3", api_key="pi-key-123")])
    p = farm["pi"]
    c = client(p)
    put = {"Content-Type": "text/x.gcode"}
    assert (await c.put("/api/v1/files/local/a/b/f.gcode", b"G1", headers=put)).status_code == 201
    assert p.files() == {"a/b/f.gcode": b"G1"}  # written to disk
    listed = (await c.get("/api/v1/files/local/a/")).json()["children"]
    assert listed == []  # ...but "b" and its file are never listed
    # One level at a time, each seen before the next, works.
    assert (
        await c.put("/api/v1/files/local/x", headers={"Create-Folder": "?1"})
    ).status_code == 201
    assert (await c.put("/api/v1/files/local/x/g.gcode", b"G1", headers=put)).status_code == 201
    names = [k["name"] for k in (await c.get("/api/v1/files/local/x/")).json()["children"]]
    assert names == ["g.gcode"]
