"""The files view's API on a real watch: /api/files, /api/files/{path}, the thumbnails,
recent events on connect, and what is never served.

A farm of a MINI, an MK4 and a printing MK4 (models in the config), a master of
PrusaSlicer-like files (PNG and QOI thumbnails, .gcode and .bgcode) and files naming no
printer; `link-sync watch --http` runs as a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image
from watch_process import FarmInThread, WatchServer

from link_sync.emulator import PrinterSpec

from sliced_files import HOSTILE_NAME, fill_master
from sync_helpers import Master

SPECS = [
    PrinterSpec("mini-01", profile="mini"),
    PrinterSpec("mk4-01", profile="mk4"),
    PrinterSpec(
        "mk4-printing",
        profile="mk4",
        files={"job.gcode": b"G1\n"},
        job_file="job.gcode",
        state="PRINTING",
    ),
]


@pytest.fixture
def watched(tmp_path: Path, master: Master) -> Iterator[tuple[WatchServer, dict[str, int]]]:
    sizes = fill_master(master.root)
    # a symlink out of the master: synced like any master file, never read by the web
    outside = tmp_path / "secret.gcode"
    outside.write_bytes(b"; thumbnail begin 1x1 4\n; AAAA\n; thumbnail end\nG28\n")
    os.utime(outside, (time.time() - 3600,) * 2)
    os.symlink(outside, master.root / "leak.gcode")
    sizes["leak.gcode"] = outside.stat().st_size
    with FarmInThread(SPECS) as farm:
        server = WatchServer(farm, master.root, tmp_path)
        try:
            yield server, sizes
        finally:
            assert server.stop() == 0, "".join(server.stderr)


def get(url: str) -> Any:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def settled(server: WatchServer, timeout: float = 30.0) -> dict[str, Any]:
    """/api/files once both idle printers had their pass (the hostile name fails on
    their FAT storage) and the printing one was planned."""
    for name in ("mini-01", "mk4-01"):
        server.wait_event(printer=name, event="failed", path=None, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        body = get(server.url + "/api/files")
        counts = {f["path"]: f["counts"] for f in body["files"]}
        if (
            counts
            and all(c["unknown"] == 0 for c in counts.values())
            and counts["bracket_MK4.gcode"]["held"] == 1
        ):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def detail(server: WatchServer, path: str) -> dict[str, Any]:
    return get(server.url + "/api/files/" + quote(path))["file"]  # type: ignore[no-any-return]


def test_every_file_its_size_thumbnail_and_states(
    watched: tuple[WatchServer, dict[str, int]],
) -> None:
    server, sizes = watched
    body = settled(server)
    assert body["ok"] is True
    assert {f["path"]: f["bytes"] for f in body["files"]} == sizes
    by_path = {f["path"]: f for f in body["files"]}
    assert by_path["plain.gcode"]["thumbnail"] is None
    assert by_path["bracket_MK4.bgcode"]["model"] == "MK4"
    for path, file in by_path.items():
        if path in ("plain.gcode", "leak.gcode"):
            continue
        assert file["thumbnail"] and file["thumbnail"].startswith("/thumbnails/")
        response = httpx.get(server.url + file["thumbnail"], timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"] in ("image/png", "image/jpeg")
        picture = Image.open(io.BytesIO(response.content))
        picture.load()
        assert picture.size in ((480, 240), (220, 124)), path  # the largest that fits

    clip = detail(server, "clip_MINI.gcode")["printers"]
    assert clip["mini-01"] == {"state": "held", "reason": None}
    assert clip["mk4-01"]["state"] == "not_wanted"
    assert "MINI" in clip["mk4-01"]["reason"] and "MK4" in clip["mk4-01"]["reason"]
    bracket = detail(server, "bracket_MK4.bgcode")["printers"]
    assert bracket["mk4-01"]["state"] == "held"
    assert bracket["mk4-printing"]["state"] == "pending"
    assert bracket["mini-01"]["state"] == "not_wanted"
    anyone = detail(server, "any/calibration.gcode")["printers"]
    assert {p["state"] for n, p in anyone.items() if n != "mk4-printing"} == {"held"}
    assert by_path["bracket_MK4.bgcode"]["counts"] == {
        "held": 1,
        "pending": 1,
        "stale": 0,
        "not_wanted": 1,
        "refused": 0,
        "unknown": 0,
    }
    hostile = detail(server, HOSTILE_NAME)
    assert hostile["path"] == HOSTILE_NAME
    assert hostile["printers"]["mini-01"]["state"] == "refused"
    assert "FAT" in hostile["printers"]["mini-01"]["reason"]


def test_only_master_files_inside_the_master_are_served(
    watched: tuple[WatchServer, dict[str, int]], master: Master, tmp_path: Path
) -> None:
    server, _ = watched
    outside = tmp_path / "secret.gcode"
    settled(server)
    for bad in [
        "leak.gcode",
        "..%2Fsecret.gcode",
        "%2E%2E/secret.gcode",
        "any/..%2F..%2Fsecret.gcode",
        "%2Fetc%2Fpasswd",
        quote(str(outside), safe=""),
        "nothing.gcode",
    ]:
        for prefix in ("/api/files/", "/thumbnails/"):
            response = httpx.get(server.url + prefix + bad, timeout=10)
            assert response.status_code == 404, (prefix, bad, response.text)
            assert response.headers["content-type"].startswith("application/json")
    leak = next(f for f in get(server.url + "/api/files")["files"] if f["path"] == "leak.gcode")
    assert leak["thumbnail"] is None


def test_a_page_opened_after_a_sync_gets_that_syncs_events(
    watched: tuple[WatchServer, dict[str, int]],
) -> None:
    server, _ = watched
    settled(server)
    uploaded = {e["path"] for e in server.find(printer="mini-01", event="uploaded")}
    assert len(uploaded) == 5
    assert uploaded
    named: list[tuple[str, Any]] = []
    with httpx.stream("GET", server.url + "/api/events", timeout=10) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                named.append((event or "message", json.loads(line[6:])))
                event = None
                if len(named) == 2:
                    break
    assert [name for name, _ in named] == ["snapshot", "recent"]
    got = named[1][1]
    assert uploaded <= {
        e["path"] for e in got if e["printer"] == "mini-01" and e["event"] == "uploaded"
    }
    assert any(e["event"] == "failed" and e["printer"] == "mk4-01" for e in got)
    assert all(e["event"] != "progress" for e in got)


def test_status_files_lists_the_same_files_without_asking_the_watch(
    watched: tuple[WatchServer, dict[str, int]], tmp_path: Path
) -> None:
    server, _ = watched
    body = settled(server)
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}  # the watch's
    config = str(tmp_path / "link-sync.yml")
    done = subprocess.run(
        [sys.executable, "-m", "link_sync", "status", "--files", "--json", "-c", config],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    # status's exit code: the hostile name is refused by the FAT storages, a problem
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False
    keys = ("path", "bytes", "model", "nozzle", "counts")
    assert [{k: f[k] for k in keys} for f in document["files"]] == [
        {k: f[k] for k in keys} for f in body["files"]
    ]
    assert all(f["thumbnail"] is None for f in document["files"])
    table = subprocess.run(
        [sys.executable, "-m", "link_sync", "status", "--files", "-c", config],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert table.returncode == 1, table.stderr
    line = next(x for x in table.stdout.splitlines() if x.startswith("bracket_MK4.bgcode"))
    assert "MK4, 0.4 mm" in line and "1 held, 1 pending, 1 not wanted" in line
