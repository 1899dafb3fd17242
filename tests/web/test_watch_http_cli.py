"""`link-sync watch --http` from the command line: the exposure rule and what it serves."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from watch_process import FarmInThread, WatchServer

from link_sync.emulator import PrinterSpec

from sync_helpers import Master


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("listen", ["0.0.0.0:{port}", "[::]:{port}", ":{port}"])
def test_a_non_loopback_address_without_token_refuses_to_start(
    tmp_path: Path, master: Master, listen: str
) -> None:
    master.write("a.gcode", b"G28\n")
    port = free_port()
    with FarmInThread([PrinterSpec("mk4-01")]) as farm:
        config = tmp_path / "link-sync.yml"
        config.write_text(yaml.safe_dump(farm.farm.config(source=str(master.root))))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "link_sync",
                "watch",
                "-c",
                str(config),
                "--http",
                listen.format(port=port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"LINK_SYNC_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
        )
        contacted = farm.call(lambda: list(farm.farm["mk4-01"].requests))
    assert done.returncode == 2, done.stderr
    assert "http.token" in done.stderr and "read_only" in done.stderr
    assert "Traceback" not in done.stderr
    assert contacted == []  # refused before any printer was asked anything
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # nothing listens


def test_the_watch_serves_api_events_metrics_and_health(tmp_path: Path, master: Master) -> None:
    master.write("a.gcode", b"G28\n", mtime=time.time() - 60)
    specs = [PrinterSpec("mk4-01"), PrinterSpec("mk4-02", password="an0ther-pass")]
    with FarmInThread(specs) as farm:
        watch = WatchServer(farm, master.root, tmp_path)
        try:
            assert watch.url.startswith("http://127.0.0.1:")
            for name in ("mk4-01", "mk4-02"):
                watch.wait_event(event="synced", printer=name)
            with httpx.Client(base_url=watch.url, timeout=10) as client:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    listed = client.get("/api/printers").json()
                    if all(p["in_sync"] for p in listed["printers"]):
                        break
                    time.sleep(0.1)
                assert [p["name"] for p in listed["printers"]] == ["mk4-01", "mk4-02"]
                assert all(p["in_sync"] and p["state"] == "IDLE" for p in listed["printers"])
                assert listed["master"]["files"] == 1 and listed["master"]["available"] is True
                assert client.get("/healthz").status_code == 200
                metrics = client.get("/metrics").text
                assert 'link_sync_files_uploaded_total{printer="mk4-01"} 1.0' in metrics
                assert 'link_sync_in_sync{printer="mk4-02"} 1.0' in metrics
                assert client.post("/api/sync").status_code == 403  # no token configured
                texts = [listed, metrics, client.get("/").text]
                with client.stream("GET", "/api/events") as stream:
                    first = next(stream.iter_lines())
                    assert first.startswith("retry:") or first.startswith("event: snapshot")
            for text in map(str, texts):
                assert "maker-pass" not in text and "an0ther-pass" not in text

            master.remove("a.gcode")  # the master is now empty: health says so
            with httpx.Client(base_url=watch.url, timeout=10) as client:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if client.get("/healthz").status_code == 503:
                        break
                    time.sleep(0.1)
                health = client.get("/healthz")
            assert health.status_code == 503 and "master" in health.json()["error"]
        finally:
            assert watch.stop() == 0


def test_the_event_stream_carries_the_same_events_as_watch_json(
    tmp_path: Path, master: Master
) -> None:
    master.write("a.gcode", b"G28\n", mtime=time.time() - 60)
    with FarmInThread([PrinterSpec("mk4-01"), PrinterSpec("mk4-02")]) as farm:
        watch = WatchServer(farm, master.root, tmp_path)
        try:
            for name in ("mk4-01", "mk4-02"):
                watch.wait_event(event="synced", printer=name)
            streamed: list[dict[str, object]] = []
            with (
                httpx.Client(base_url=watch.url, timeout=30) as client,
                client.stream("GET", "/api/events") as stream,
            ):
                name = "message"
                master.write("b.gcode", b"G1\n" * 100)
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        if name == "message":
                            streamed.append(json.loads(line[6:]))
                        name = "message"
                    done = [e for e in streamed if e["event"] == "synced"]
                    if len(done) == 2:
                        break
            printed = [
                {k: v for k, v in e.items() if k != "_seen"}
                for e in watch.find()
                if e["time"] >= streamed[0]["time"]
            ][: len(streamed)]
        finally:
            assert watch.stop() == 0
    assert {(e["printer"], e["event"], e["path"]) for e in streamed} >= {
        ("mk4-01", "uploaded", "b.gcode"),
        ("mk4-02", "uploaded", "b.gcode"),
    }
    assert streamed == printed  # the same objects, in the same order


def test_pause_and_resume_through_the_api_of_a_running_watch(
    tmp_path: Path, master: Master
) -> None:
    token = "pause-token-1234"
    master.write("a.gcode", b"G28\n", mtime=time.time() - 60)
    with FarmInThread([PrinterSpec("mk4-01"), PrinterSpec("mk4-02")]) as farm:
        watch = WatchServer(farm, master.root, tmp_path, http={"token": token})
        try:
            for name in ("mk4-01", "mk4-02"):
                watch.wait_event(event="synced", printer=name)
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=watch.url, timeout=10, headers=auth) as client:
                paused = client.post("/api/printers/mk4-02/pause")
                assert paused.status_code == 202, paused.text
                watch.wait_event(event="paused", printer="mk4-02")
                view = client.get("/api/printers/mk4-02").json()["printer"]
                assert view["watching"] == "paused"

                master.write("b.gcode", b"G1\n" * 100)
                watch.wait_event(event="uploaded", printer="mk4-01", path="b.gcode")
                time.sleep(1.0)  # a paused printer gets nothing, however long it waits
                assert "b.gcode" not in farm.call(farm.farm["mk4-02"].files)

                resumed_at = time.monotonic()
                assert client.post("/api/printers/mk4-02/resume").status_code == 202
                watch.wait_event(
                    event="uploaded", printer="mk4-02", path="b.gcode", after=resumed_at
                )
                view = client.get("/api/printers/mk4-02").json()["printer"]
                assert view["watching"] is True
        finally:
            assert watch.stop() == 0
