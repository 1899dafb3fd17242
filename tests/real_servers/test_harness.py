"""The harness itself: each server answers with our credentials and refuses others."""

from __future__ import annotations

import time

import httpx
import pytest

from .servers import (
    OCTOPRINT_NEXT_VERSION,
    OCTOPRINT_VERSION,
    MoonrakerServer,
    OctoPrintServer,
    PrusaLinkServer,
    slow_gcode,
)


@pytest.mark.parametrize(
    ("fixture", "version"),
    [("octoprint_server", OCTOPRINT_VERSION), ("octoprint_next_server", OCTOPRINT_NEXT_VERSION)],
)
def test_octoprint_answers_with_the_api_key(
    request: pytest.FixtureRequest, fixture: str, version: str
) -> None:
    server: OctoPrintServer = request.getfixturevalue(fixture)
    with server.client() as client:
        answer = client.get("/api/version")
        wrong = client.get("/api/files/local", headers={"X-Api-Key": "wrong"})
    assert answer.status_code == 200
    assert answer.json()["server"] == version
    assert wrong.status_code == 403
    assert server.storage.is_dir()


def test_moonraker_answers_with_the_api_key(moonraker_server: MoonrakerServer) -> None:
    with moonraker_server.client() as client:
        info = client.get("/server/info")
        wrong = client.get("/server/info", headers={"X-Api-Key": "wrong"})
    assert info.status_code == 200
    assert info.json()["result"]["klippy_state"] == "ready"
    assert wrong.status_code == 401
    assert moonraker_server.print_state() == "standby"


def test_prusalink_digest_and_api_key(prusalink_server: PrusaLinkServer) -> None:
    server = prusalink_server
    auth = httpx.DigestAuth(server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=30) as client:
        version = client.get("/api/version")
        put = client.put(
            "/api/v1/files/local/harness%20check.gcode",
            content=b"G28\n",
            headers={"Content-Type": "text/x.gcode"},
        )
    assert version.status_code == 200
    assert version.json()["server"] == "0.8.1"
    assert put.status_code == 201
    assert (server.storage / "harness check.gcode").read_bytes() == b"G28\n"
    with server.client() as client:
        assert client.get("/api/v1/status").json()["printer"]["state"] == "IDLE"
        assert client.get("/api/version", headers={"X-Api-Key": "wrong"}).status_code == 403
        # listings follow the disk through inotify, up to ~1 s late
        for _ in range(20):
            if client.get("/api/v1/files/local/harness%20check.gcode").status_code == 200:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the uploaded file never appeared in PrusaLink's listing")
        assert client.delete("/api/v1/files/local/harness%20check.gcode").status_code == 204
    assert not (server.storage / "harness check.gcode").exists()


def test_prusalink_prints_on_the_fake_mk3s(prusalink_server: PrusaLinkServer) -> None:
    server = prusalink_server
    with server.client() as client:
        put = client.put(
            "/api/v1/files/local/harness%20job.gcode",
            content=slow_gcode(60),
            headers={"Content-Type": "text/x.gcode"},
        )
        assert put.status_code == 201
        for _ in range(20):  # listings lag behind the disk by up to ~1 s
            if client.get("/api/v1/files/local/harness%20job.gcode").status_code == 200:
                break
            time.sleep(0.1)
    server.start_printing("harness job.gcode")
    try:
        with server.client() as client:
            job = client.get("/api/v1/job").json()
            assert job["file"]["display_name"] == "harness job.gcode"
            refused = client.delete("/api/v1/files/local/harness%20job.gcode")
            assert refused.status_code == 409
    finally:
        server.stop_printing()
    assert server.printer_state() in ("STOPPED", "IDLE", "FINISHED")
    assert (server.storage / "harness job.gcode").exists()
