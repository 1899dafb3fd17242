"""Injected faults and run-time changes, seen from a plain HTTP client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from emu_client import raw_request  # type: ignore[import-not-found]

from link_sync.emulator import Fault, PrinterSpec


async def one(farm_factory: Any, **kw: Any) -> Any:
    farm = await farm_factory([PrinterSpec(name="p", **kw)])
    return farm["p"]


async def test_reset_after_a_fraction_of_the_body_leaves_nothing(
    farm_factory: Any, client: Any
) -> None:
    p = await one(farm_factory, faults=[Fault("reset", op="upload", after_bytes=0.5)])
    c = client(p)
    with pytest.raises(httpx.TransportError):
        await c.put("/api/v1/files/usb/a.gcode", b"x" * 300_000)
    await asyncio.sleep(0.05)
    assert p.files() == {} and p.transfer is None
    assert (await c.put("/api/v1/files/usb/a.gcode", b"x" * 1000)).status_code == 201  # used up


async def test_status_fault_answers_the_next_n_requests_of_a_kind(
    farm_factory: Any, client: Any
) -> None:
    p = await one(farm_factory)
    c = client(p)
    p.add_fault(Fault("status", op="upload", status=503, count=2))
    p.add_fault(Fault("status", op="list", status=409))
    for _ in range(2):
        assert (await c.put("/api/v1/files/usb/a.gcode", b"1")).status_code == 503
    assert (await c.get("/api/v1/status")).status_code == 200  # other ops unaffected
    r = await c.get("/api/v1/files/usb/")
    assert r.status_code == 409 and "Another transfer in progress" in r.text
    assert (await c.put("/api/v1/files/usb/a.gcode", b"1")).status_code == 201
    p.add_fault(Fault("status", op="any", status=408, count=None))
    assert (await c.delete("/api/v1/files/usb/a.gcode")).status_code == 408
    assert (await c.put("/api/v1/files/usb/x", headers={"Create-Folder": "?1"})).status_code == 408
    p.clear_faults()
    assert (await c.delete("/api/v1/files/usb/a.gcode")).status_code == 204


async def test_stall_never_answers(farm_factory: Any, client: Any) -> None:
    p = await one(farm_factory)
    c = client(p)
    await c.get("/api/version")
    p.add_fault(Fault("stall", op="status"))
    with pytest.raises(httpx.ReadTimeout):
        await c.get("/api/v1/status", timeout=0.3)
    p.add_fault(Fault("stall", op="upload", after_bytes=1000))
    with pytest.raises(httpx.TimeoutException):
        await c.put("/api/v1/files/usb/a.gcode", b"x" * 2_000_000, timeout=0.5)
    assert p.files() == {}


async def test_offline_after_requests_and_back_online(farm_factory: Any, client: Any) -> None:
    p = await one(farm_factory, faults=[Fault("offline_after", requests=2)])
    c = client(p)
    assert (await c.get("/api/v1/status")).status_code == 200  # 401 round trip is not counted
    assert (await c.get("/api/v1/status")).status_code == 200
    await asyncio.sleep(0.1)
    with pytest.raises(httpx.ConnectError):
        await c.get("/api/v1/status")
    p.go_online()
    assert (await c.get("/api/v1/status")).status_code == 200


async def test_offline_after_seconds_and_go_offline(farm_factory: Any, client: Any) -> None:
    p = await one(farm_factory)
    c = client(p)
    assert (await c.get("/api/version")).status_code == 200
    p.add_fault(Fault("offline_after", seconds=0.2))
    await asyncio.sleep(0.3)
    with pytest.raises(httpx.TransportError):
        await c.get("/api/version")
    p.go_online()
    assert (await c.get("/api/version")).status_code == 200
    p.go_offline()
    with pytest.raises(httpx.TransportError):
        await c.get("/api/version")


async def test_slow_and_latency(farm_factory: Any, client: Any) -> None:
    farm = await farm_factory([PrinterSpec(name="p", latency=0.1)])
    p = farm["p"]
    c = client(p)
    await c.get("/api/version")
    loop = asyncio.get_running_loop()
    t = loop.time()
    await c.get("/api/version")
    assert 0.1 <= loop.time() - t < 0.3
    p.add_fault(Fault("slow", op="status", seconds=0.3))
    t = loop.time()
    await c.get("/api/v1/status")
    assert loop.time() - t >= 0.4


@pytest.mark.parametrize("mode", ["missing_keys", "wrong_types", "garbage"])
async def test_malformed_json(farm_factory: Any, client: Any, mode: str) -> None:
    p = await one(farm_factory, files={"a.gcode": b"1"})
    c = client(p)
    good = (await c.get("/api/v1/files/usb/")).json()
    p.add_fault(Fault("malformed", op="list", mode=mode))
    r = await c.get("/api/v1/files/usb/")
    assert r.status_code == 200
    if mode == "garbage":
        with pytest.raises(ValueError):
            r.json()
    elif mode == "missing_keys":
        assert set(r.json()) < set(good)
    else:
        assert isinstance(r.json()["name"], int)
    assert (await c.get("/api/v1/files/usb/")).json() == good


async def test_state_changes_while_a_client_uploads(farm_factory: Any, client: Any) -> None:
    p = await one(farm_factory, rate=200_000, files={"a.gcode": b"1"})
    c = client(p)
    await c.get("/api/version")
    upload = asyncio.create_task(c.put("/api/v1/files/usb/b.gcode", b"x" * 100_000))
    await asyncio.sleep(0.1)
    p.start_print("a.gcode")
    p.write_file("someone/else.gcode", b"G1\n")
    assert (await upload).status_code == 201  # no printer-state check on uploads
    s = (await c.get("/api/v1/status")).json()
    assert s["printer"]["state"] == "PRINTING"
    assert (await c.delete("/api/v1/files/usb/a.gcode")).status_code == 409
    p.stop_print()
    assert p.state == "STOPPED"
    assert set(p.files()) == {"a.gcode", "b.gcode", "someone/else.gcode"}
    methods = [(r.method, r.path, r.status) for r in p.requests]
    assert ("PUT", "/api/v1/files/usb/b.gcode", 201) in methods


async def test_raw_reset_is_a_tcp_reset(farm_factory: Any) -> None:
    p = await one(farm_factory, faults=[Fault("reset", op="upload", after_bytes=100)])
    head = (
        "PUT /api/v1/files/usb/a.gcode HTTP/1.1\nHost: x\n"
        "X-Api-Key: maker-pass\nContent-Length: 1000\n"
    )
    _, reader, w = await raw_request(p, head, b"x" * 200, read=False)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(100), 2)
    w.close()


async def test_hostile_faults_from_a_farm_entry(farm_factory: Any, client: Any) -> None:
    """The hostile kinds (issue 29), set as a --farm file sets them."""
    spec = PrinterSpec.from_dict(
        {
            "name": "p",
            "files": {"a.gcode": "0123456789"},
            "faults": [
                {"kind": "redirect", "op": "delete", "location": "http://10.0.0.9/x"},
                {"kind": "huge", "op": "info", "size": 3_000_000},
                {"kind": "deep_json", "op": "list", "depth": 5000},
                {"kind": "drip", "op": "status", "seconds": 0.01},
                {"kind": "long_download", "size": 1000},
            ],
        }
    )
    farm = await farm_factory([spec])
    p = farm["p"]
    c = client(p)
    r = await c.delete("/api/v1/files/usb/a.gcode")
    assert r.status_code == 307 and r.headers["Location"] == "http://10.0.0.9/x"
    assert "a.gcode" in p.files()  # a redirect changes nothing here
    r = await c.get("/api/version")
    assert len(r.content) == 3_000_000 and r.json()["pad"].startswith("xxx")
    assert r.json()["api"]  # the real answer's members follow the padding
    r = await c.get("/api/v1/files/usb/")
    assert r.content.startswith(b'{"deep":' + b"[" * 5000)
    started = asyncio.get_running_loop().time()
    r = await c.get("/api/v1/status")
    assert r.json()["printer"]["state"] == "IDLE"
    assert asyncio.get_running_loop().time() - started >= 0.01 * (len(r.content) - 1)
    r = await c.get("/usb/A~1.GCO")
    assert r.content == b"0123456789" + b"x" * 1000
    with pytest.raises(ValueError, match="redirect needs a location"):
        Fault("redirect")


async def test_endless_answer_goes_on_until_the_client_leaves(
    farm_factory: Any, client: Any
) -> None:
    p = await one(farm_factory, faults=[Fault("endless", op="status")])
    fault = p.faults.items[0]
    c = client(p)
    await c.get("/api/version")  # the digest challenge
    got = 0
    auth = {"Authorization": c.authorization("GET", "/api/v1/status")}
    async with c.http.stream("GET", "/api/v1/status", headers=auth) as answer:
        async for chunk in answer.aiter_bytes():
            got += len(chunk)
            if got > 5_000_000:
                break
    assert got > 5_000_000 and fault.sent > 5_000_000
