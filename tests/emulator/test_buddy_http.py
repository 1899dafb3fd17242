"""The Buddy firmware's HTTP API, spoken to with a hand-written client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from emu_client import challenge_params, md5, raw_request  # type: ignore[import-not-found]

from link_sync.emulator import PrinterSpec

Factory = Any


async def one(farm_factory: Factory, **kw: Any) -> Any:
    farm = await farm_factory([PrinterSpec(name="mk4-1", **kw)])
    return farm["mk4-1"]


# -- authentication -----------------------------------------------------------------------


async def test_everything_under_api_needs_digest_auth_rfc2069(farm_factory: Factory) -> None:
    p = await one(farm_factory)
    async with httpx.AsyncClient(base_url=p.url) as http:
        for path in ("/api/version", "/api/v1/status", "/api/v1/files/usb/", "/api/nope"):
            r = await http.get(path)
            assert r.status_code == 401, path
        c = challenge_params(r.headers["WWW-Authenticate"])
        assert r.headers["WWW-Authenticate"].startswith("Digest ")
        assert c["realm"] == "Printer API" and c["stale"] == "false"
        assert len(c["nonce"]) == 16 and "qop" not in c and "opaque" not in c
        ha1 = md5("maker:Printer API:maker-pass")
        resp = md5(f"{ha1}:{c['nonce']}:{md5('GET:/api/nope')}")
        auth = (
            f'Digest username="maker", realm="Printer API", nonce="{c["nonce"]}", '
            f'uri="/api/nope", response="{resp}"'
        )
        r = await http.get("/api/nope", headers={"Authorization": auth})
        assert r.status_code == 404  # authenticated: now the unknown path shows


async def test_wrong_password_and_api_key(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory)
    bad = client(p, password="nope")
    r = await bad.get("/api/v1/status")
    assert r.status_code == 401 and "stale=false" in r.headers["WWW-Authenticate"]
    async with httpx.AsyncClient(base_url=p.url) as http:
        r = await http.get("/api/v1/status", headers={"X-Api-Key": "maker-pass"})
        assert r.status_code == 200
        r = await http.get("/api/v1/status", headers={"X-Api-Key": "wrong"})
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'ApiKey realm="Printer API"'


async def test_nonce_expires_after_300s_with_stale_true(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory)
    c = client(p)
    assert (await c.get("/api/version")).status_code == 200
    p.auth._t0 -= 301  # the printer has been up 301 s longer: the nonce is old now
    headers = {"Authorization": c.authorization("GET", "/api/version")}
    r = await c.http.get("/api/version", headers=headers)
    assert r.status_code == 401
    assert challenge_params(r.headers["WWW-Authenticate"])["stale"] == "true"
    assert (await c.get("/api/version")).status_code == 200  # the client re-authenticates


# -- documents ----------------------------------------------------------------------------


async def test_version_info_storage_status(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory, profile="xl")
    c = client(p)
    v = (await c.get("/api/version")).json()
    assert v["api"] == "2.0.0" and v["server"] == "2.1.2" and v["text"] == "PrusaLink"
    assert v["capabilities"] == {"upload-by-put": True} and v["hostname"] == "prusa-xl"
    assert "model" not in v and "firmware" not in v  # the firmware names neither
    info = (await c.get("/api/v1/info")).json()
    assert set(info) == {"nozzle_diameter", "mmu", "serial", "hostname", "min_extrusion_temp"}
    # what is emulated: the emulator's own endpoint, not the printer API
    emulated = (await c.http.get("/emulator/info")).json()
    assert emulated["model"] == "XL" and emulated["firmware"].startswith("6.")
    st = (await c.get("/api/v1/storage")).json()["storage_list"]
    assert st == [
        {"path": "/usb/", "name": "usb", "type": "USB", "read_only": False, "available": True}
    ]
    s = (await c.get("/api/v1/status")).json()
    assert s["storage"] == {"path": "/usb/", "name": "usb", "read_only": False}
    assert s["printer"]["state"] == "IDLE" and "job" not in s
    assert (await c.get("/api/v1/job")).status_code == 204
    assert (await c.get("/api/v1/transfer")).status_code == 204
    legacy = (await c.get("/api/printer")).json()
    assert legacy["state"]["flags"]["ready"] is True


# -- listings and names -------------------------------------------------------------------

FILES = {
    "parts/benchy_0.4n_0.2mm_PLA_MK4_1h.bgcode": b"x" * 10,
    "parts/BOX.GCO": b"G1\n",
    "parts/readme.txt": b"hidden",
    "parts/.hidden.gcode": b"hidden",
    "top.gcode": b"G1 X1\n",
}


async def test_listing_short_names_no_size_etag_and_304(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory, files=FILES)
    c = client(p)
    r = await c.get("/api/v1/files/usb/")
    root = r.json()
    assert root["name"] == "usb" and root["type"] == "FOLDER" and root["ro"] is False
    assert "m_timestamp" not in root
    kids = {k["display_name"]: k for k in root["children"]}
    assert kids["parts"]["name"] == "PARTS" and kids["parts"]["type"] == "FOLDER"
    assert kids["top.gcode"]["name"] == "TOP~1.GCO"
    r = await c.get("/api/v1/files/usb/parts")
    body = r.json()
    assert body["name"] == "PARTS" and "m_timestamp" in body
    kids = {k["display_name"]: k for k in body["children"]}
    assert set(kids) == {"benchy_0.4n_0.2mm_PLA_MK4_1h.bgcode", "BOX.GCO"}
    benchy = kids["benchy_0.4n_0.2mm_PLA_MK4_1h.bgcode"]
    assert benchy["name"] == "BENCHY~1.BGC" and "size" not in benchy
    assert set(benchy) == {"name", "ro", "type", "m_timestamp", "refs", "display_name"}
    assert benchy["refs"]["download"] == "/usb/PARTS/BENCHY~1.BGC"
    etag = r.headers["ETag"]
    r2 = await c.get("/api/v1/files/usb/parts", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    p.write_file("parts/new.gcode", b"G1\n")
    r3 = await c.get("/api/v1/files/usb/parts", headers={"If-None-Match": etag})
    assert r3.status_code == 200 and r3.headers["ETag"] != etag


async def test_lookup_by_long_or_short_name_any_case(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory, files=FILES)
    c = client(p)
    for path in (
        "parts/benchy_0.4n_0.2mm_PLA_MK4_1h.bgcode",
        "PARTS/BENCHY~1.BGC",
        "Parts/benchy~1.bgc",
        "parts/BENCHY_0.4N_0.2MM_PLA_MK4_1H.BGCODE",
    ):
        r = await c.get(f"/api/v1/files/usb/{path}")
        assert r.status_code == 200, path
        info = r.json()
        assert info["size"] == 10 and info["name"] == "BENCHY~1.BGC"
        assert r.headers["Read-Only"] == "false" and r.headers["Currently-Printing"] == "false"
        assert "ETag" not in r.headers
    assert (await c.get("/api/v1/files/usb/parts/nope.gcode")).status_code == 404
    assert (await c.get("/api/v1/files/sdcard/")).status_code == 403
    head = "GET /api/v1/files/usb/parts/../top.gcode HTTP/1.1\nHost: x\nX-Api-Key: maker-pass\n"
    raw, _, w = await raw_request(p, head)
    assert raw.startswith(b"HTTP/1.1 404")
    w.close()
    assert (await c.request("HEAD", "/api/v1/files/usb/top.gcode")).status_code == 200
    r = await c.get("/usb/PARTS/BOX.GCO")
    assert r.content == b"G1\n"


# -- uploads --------------------------------------------------------------------------------


async def test_put_201_with_file_info_connection_close_and_parents(
    farm_factory: Factory, client: Any
) -> None:
    p = await one(farm_factory)
    c = client(p)
    before = time.time()
    r = await c.put("/api/v1/files/usb/a/b/long_name_part.gcode", b"G1 X1\n" * 100)
    assert r.status_code == 201
    assert r.headers["Connection"].lower() == "close"
    info = r.json()
    assert info["name"] == "LONG_N~1.GCO" and info["display_name"] == "long_name_part.gcode"
    assert info["size"] == 600 and info["m_timestamp"] % 2 == 0
    assert before - 2 <= info["m_timestamp"] <= time.time()
    assert p.files() == {"a/b/long_name_part.gcode": b"G1 X1\n" * 100}
    assert p.entry("A/B/LONG_N~1.GCO").short_name == "LONG_N~1.GCO"


async def test_m_timestamp_is_upload_start_and_the_fat_seconds_bug(
    farm_factory: Factory, client: Any
) -> None:
    farm = await farm_factory(
        [PrinterSpec(name="a", rate=20_000), PrinterSpec(name="b", fat_seconds_bug=True)]
    )
    c = client(farm["a"])
    start = time.time()
    r = await c.put("/api/v1/files/usb/slow.gcode", b"x" * 30_000)  # takes 1.5 s
    assert r.status_code == 201
    assert r.json()["m_timestamp"] <= int(start) + 1
    c2 = client(farm["b"])
    r = await c2.put("/api/v1/files/usb/x.gcode", b"x")
    ts, now = r.json()["m_timestamp"], int(time.time())
    assert ts % 60 < 30 and now - 31 <= ts <= now


async def test_put_refusals_in_firmware_order(farm_factory: Factory, client: Any) -> None:
    p = await one(
        farm_factory,
        files={"job.gcode": b"G1\n", "old.gcode": b"G1\n"},
        state="PRINTING",
        job_file="job.gcode",
        capacity=1000,
    )
    c = client(p)
    key = {"X-Api-Key": "maker-pass"}
    raw, _, w = await raw_request(
        p, "PUT /api/v1/files/usb/x.gcode HTTP/1.1\nHost: x\nX-Api-Key: maker-pass\n"
    )
    assert raw.startswith(b"HTTP/1.1 411")
    w.close()
    r = await c.put("/api/v1/files/usb/x.gcode", b"")
    assert r.status_code == 501 and "0-sized" in r.text
    assert (await c.put("/api/v1/files/usb/big.gcode", b"x" * 2000)).status_code == 507
    r = await c.put("/api/v1/files/usb/notes.txt", b"x")
    assert r.status_code == 415 and r.text == "415: Unsupported Media Type\n\nNot a GCODE\n"
    assert (await c.put("/api/v1/files/usb/firmware.bbf", b"x")).status_code == 415
    r = await c.put("/api/v1/files/usb/job.gcode", b"x", headers={"Overwrite": "?1"})
    assert r.status_code == 409 and "File is busy" in r.text
    r = await c.put("/api/v1/files/usb/old.gcode", b"x", headers={"Overwrite": "true"})
    assert r.status_code == 409 and "File already exists" in r.text
    r = await c.put("/api/v1/files/usb/OLD.GCODE", b"new", headers={"Overwrite": "?1"})
    assert r.status_code == 201  # uploads are allowed while printing
    assert p.files()["OLD.GCODE"] == b"new"
    r = await c.put("/api/v1/files/usb/a%3Fb.gcode", b"x")
    assert r.status_code == 404 and "Destination directory does not exist" in r.text
    r = await c.put("/api/v1/files/usb/" + "n" * 150 + ".gcode", b"x", headers=key)
    assert r.status_code == 414
    r = await c.put("/api/v1/files/usb/old.gcode", b"x", headers={"Accept": "application/json"})
    assert r.json() == {"title": "409: Conflict", "message": "File already exists"}


async def test_one_transfer_at_a_time_at_the_profile_rate(
    farm_factory: Factory, client: Any
) -> None:
    p = await one(farm_factory, rate=400_000)
    c1, c2 = client(p), client(p)
    await c2.get("/api/version")
    t0 = time.monotonic()
    first = asyncio.create_task(c1.put("/api/v1/files/usb/a.gcode", b"x" * 200_000))
    await asyncio.sleep(0.2)
    r = await c2.put("/api/v1/files/usb/b.gcode", b"x" * 10)
    assert r.status_code == 409 and "Another transfer in progress" in r.text
    status = (await c2.get("/api/v1/status")).json()
    assert 0 < status["transfer"]["transferred"] < 200_000
    assert (await first).status_code == 201
    elapsed = time.monotonic() - t0
    assert 0.45 < elapsed < 0.65  # 200 kB at 400 kB/s
    assert (await c2.put("/api/v1/files/usb/b.gcode", b"x" * 10)).status_code == 201


async def test_body_timeout_408_and_a_broken_upload_leaves_nothing(farm_factory: Factory) -> None:
    p = await one(farm_factory, body_timeout=0.5)
    head = (
        "PUT /api/v1/files/usb/x.gcode HTTP/1.1\nHost: x\n"
        "X-Api-Key: maker-pass\nContent-Length: 1000\n"
    )
    raw, _, w = await raw_request(p, head, b"x" * 100)
    assert raw.startswith(b"HTTP/1.1 408")
    w.close()
    _, _, w = await raw_request(p, head, b"x" * 500, read=False)
    await asyncio.sleep(0.1)
    w.close()
    await asyncio.sleep(0.1)
    assert p.files() == {} and p.transfer is None


async def test_create_folder(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory)
    c = client(p)
    assert (
        await c.put("/api/v1/files/usb/New Folder", headers={"Create-Folder": "?1"})
    ).status_code == 201
    r = await c.put("/api/v1/files/usb/new folder", headers={"Create-Folder": "?1"})
    assert r.status_code == 409 and "Already exists" in r.text
    assert (
        await c.put("/api/v1/files/usb/x/y", headers={"Create-Folder": "?1"})
    ).status_code == 500
    # `Create-Folder: true` is not `?1`: an empty upload
    assert (
        await c.put("/api/v1/files/usb/z", headers={"Create-Folder": "true"})
    ).status_code == 501
    assert p.entry("NEWFOL~1").name == "New Folder"


# -- delete, print, job ---------------------------------------------------------------------


async def test_delete_rules(farm_factory: Factory, client: Any) -> None:
    p = await one(
        farm_factory,
        files={"d/a.gcode": b"1", "job.gcode": b"2", "e/x.gcode": b"3"},
        state="PRINTING",
        job_file="job.gcode",
    )
    c = client(p)
    r = await c.delete("/api/v1/files/usb/job.gcode")
    assert r.status_code == 409 and "File is busy" in r.text
    assert (await c.delete("/api/v1/files/usb/d")).status_code == 404  # not empty
    assert (await c.delete("/api/v1/files/usb/D/A~1.GCO")).status_code == 204
    assert (await c.delete("/api/v1/files/usb/d")).status_code == 204
    assert (await c.delete("/api/v1/files/usb/missing.gcode")).status_code == 404
    p.set_state("FINISHED")
    assert (await c.delete("/api/v1/files/usb/job.gcode")).status_code == 204
    assert p.state == "IDLE" and p.job is None
    assert set(p.files()) == {"e/x.gcode"}


async def test_post_starts_a_print_and_delete_job_stops_it(
    farm_factory: Factory, client: Any
) -> None:
    p = await one(farm_factory, files={"a.gcode": b"G1\n", "b.gcode": b"G1\n"})
    c = client(p)
    assert (await c.request("POST", "/api/v1/files/usb/A~1.GCO")).status_code == 204
    s = (await c.get("/api/v1/status")).json()
    assert s["printer"]["state"] == "PRINTING" and "id" in s["job"]
    job = (await c.get("/api/v1/job")).json()
    assert job["file"]["display_name"] == "a.gcode"
    r = await c.get("/api/v1/files/usb/a.gcode")
    assert r.headers["Currently-Printing"] == "true"
    assert (await c.request("POST", "/api/v1/files/usb/b.gcode")).status_code == 409
    assert (await c.delete(f"/api/v1/job/{job['id']}")).status_code == 204
    assert p.state == "STOPPED"


async def test_print_after_upload(farm_factory: Factory, client: Any) -> None:
    p = await one(farm_factory, files={"a.gcode": b"1"}, state="PRINTING", job_file="a.gcode")
    c = client(p)
    r = await c.put("/api/v1/files/usb/b.gcode", b"2", headers={"Print-After-Upload": "1"})
    assert r.status_code == 409 and "b.gcode" in p.files()  # saved, but can't print now
    p.set_state("IDLE")
    r = await c.put("/api/v1/files/usb/c.gcode", b"3", headers={"Print-After-Upload": "?1"})
    assert r.status_code == 201 and p.state == "PRINTING" and p.job_path() == "c.gcode"


async def test_at_most_three_connections(farm_factory: Factory) -> None:
    from link_sync.emulator import Fault

    p = await one(farm_factory)
    p.add_fault(Fault("stall", op="status", count=3))
    head = "GET /api/v1/status HTTP/1.1\nHost: x\nX-Api-Key: maker-pass\n"
    stalled = [await raw_request(p, head, read=False) for _ in range(3)]
    await asyncio.sleep(0.1)
    _, reader, w4 = await raw_request(p, head, read=False)
    try:
        await asyncio.wait_for(reader.read(100), 0.5)
        raise AssertionError("a 4th connection was served while 3 were busy")
    except TimeoutError:
        pass
    stalled[0][2].close()  # one slot frees
    data = await asyncio.wait_for(reader.read(100), 2)
    assert data.startswith(b"HTTP/1.1 200")
    for _, _, w in stalled[1:]:
        w.close()
    w4.close()
