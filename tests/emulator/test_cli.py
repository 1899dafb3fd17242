"""`link-sync emulate` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml
from requests.auth import HTTPDigestAuth

CMD = [sys.executable, "-m", "link_sync", "emulate"]


@contextmanager
def emulate(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[list[str]]]]:
    proc = subprocess.Popen(
        [*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        lines = [first.split()]
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)


def read_lines(proc: subprocess.Popen[str], lines: list[list[str]], n: int) -> None:
    assert proc.stdout is not None
    while len(lines) < n:
        lines.append(proc.stdout.readline().split())


def test_ready_lines_config_out_and_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "farm.yml"
    t0 = time.monotonic()
    with emulate(
        "--printers", "2", "--port", "0", "--profile", "mk4s", "--config-out", str(cfg)
    ) as (
        proc,
        lines,
    ):
        read_lines(proc, lines, 2)
        assert time.monotonic() - t0 < 3  # ready in under 2 s, plus interpreter start
        assert [ln[0] for ln in lines] == ["mk4s-1", "mk4s-2"]
        assert all(ln[1].startswith("http://127.0.0.1:") and ln[2] == "mk4s" for ln in lines)
        config = yaml.safe_load(cfg.read_text())
        assert config["printers"]["mk4s-1"] == {
            "host": lines[0][1],
            "username": "maker",
            "password": "maker-pass",
            "model": "MK4S",  # the printer does not say it: the config does
        }
        r = requests.get(
            lines[0][1] + "/api/version", auth=HTTPDigestAuth("maker", "maker-pass"), timeout=5
        )
        assert "model" not in r.json() and r.json()["hostname"] == "prusa-mk4"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0


def test_config_out_gives_each_buddy_printer_its_model_and_nozzle(tmp_path: Path) -> None:
    """A real farm's config must name each Buddy printer's model; so does the emulator's.
    The Pi PrusaLink says its own, and a 0.4 mm nozzle is the default."""
    farm, cfg = tmp_path / "farm.yml", tmp_path / "link-sync.yml"
    printers = {
        "mini-a": {"profile": "mini", "nozzle_diameter": 0.6, "hostname": "bench-mini"},
        "xl-b": {"profile": "xl"},
        "mk3-c": {"profile": "mk3", "api_key": "k"},
    }
    farm.write_text(yaml.safe_dump({"printers": printers}))
    with emulate("--farm", str(farm), "--port", "0", "--config-out", str(cfg)) as (proc, lines):
        read_lines(proc, lines, 3)
        config = yaml.safe_load(cfg.read_text())["printers"]
        assert (config["mini-a"]["model"], config["mini-a"]["nozzle"]) == ("MINI", 0.6)
        assert config["xl-b"]["model"] == "XL" and "nozzle" not in config["xl-b"]
        assert "model" not in config["mk3-c"] and "nozzle" not in config["mk3-c"]
        url = {ln[0]: ln[1] for ln in lines}["mini-a"]
        auth = HTTPDigestAuth("maker", "maker-pass")
        assert requests.get(url + "/api/version", auth=auth, timeout=5).json() == {
            "api": "2.0.0",
            "server": "2.1.2",
            "nozzle_diameter": 0.6,
            "text": "PrusaLink",
            "hostname": "bench-mini",  # the farm file's
            "capabilities": {"upload-by-put": True},
        }


def two_free_ports() -> int:
    """A port whose next one is free too (the machine is shared: checking only the first
    one let another process hold base+1 now and then)."""
    import socket

    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            base = int(first.getsockname()[1])
            try:
                second.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
            return base
    raise RuntimeError("no two consecutive free ports")


def test_base_port_and_sigint() -> None:
    base = two_free_ports()
    with emulate("--printers", "2", "--port", str(base), "--rate", "500k", "--latency", "5") as (
        proc,
        lines,
    ):
        read_lines(proc, lines, 2)
        assert [ln[1] for ln in lines] == [
            f"http://127.0.0.1:{base}",
            f"http://127.0.0.1:{base + 1}",
        ]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0


def test_farm_file(tmp_path: Path) -> None:
    farm = tmp_path / "farm.yml"
    farm.write_text(
        yaml.safe_dump(
            {
                "defaults": {"password": "pw"},
                "printers": {
                    "xl-a": {
                        "profile": "xl",
                        "rate": "1M",
                        "files": {"a/b.gcode": "G1 X1\n", "c.gcode": 100},
                        "state": "PRINTING",
                        "job_file": "c.gcode",
                    },
                    "pi": {
                        "profile": "mk3",
                        "api_key": "k",
                        "faults": [{"kind": "status", "op": "status", "status": 503}],
                    },
                },
            }
        )
    )
    with emulate("--farm", str(farm), "--port", "0", "--storage-dir", str(tmp_path / "st")) as (
        proc,
        lines,
    ):
        read_lines(proc, lines, 2)
        urls = {ln[0]: ln[1] for ln in lines}
        auth = HTTPDigestAuth("maker", "pw")
        s = requests.get(urls["xl-a"] + "/api/v1/status", auth=auth, timeout=5).json()
        assert s["printer"]["state"] == "PRINTING"
        listing = requests.get(urls["xl-a"] + "/api/v1/files/usb/a", auth=auth, timeout=5).json()
        assert listing["children"][0]["display_name"] == "b.gcode"
        assert (tmp_path / "st" / "xl-a" / "a" / "b.gcode").read_bytes() == b"G1 X1\n"
        r = requests.get(urls["pi"] + "/api/v1/status", headers={"X-Api-Key": "k"}, timeout=5)
        assert r.status_code == 503


def put(url: str, path: str, data: bytes, **headers: str) -> requests.Response:
    auth = HTTPDigestAuth("maker", "maker-pass")
    return requests.put(f"{url}/api/v1/files/usb/{path}", data=data, headers=headers, auth=auth)


def test_screen_and_usb_keys_and_controls(tmp_path: Path) -> None:
    farm = tmp_path / "farm.yml"
    farm.write_text(
        yaml.safe_dump(
            {
                "printers": {
                    "mk4-a": {"capacity": "10k", "nozzle_diameter": 0.6},
                    "mk4-b": {"usb": False, "preview": False},
                }
            }
        )
    )
    with emulate("--farm", str(farm), "--port", "0") as (proc, lines):
        read_lines(proc, lines, 2)
        urls = {ln[0]: ln[1] for ln in lines}
        a, b = urls["mk4-a"], urls["mk4-b"]
        auth = HTTPDigestAuth("maker", "maker-pass")
        info = requests.get(a + "/api/v1/info", auth=auth, timeout=5).json()
        assert info["nozzle_diameter"] == 0.6
        assert put(a, "big.gcode", b"x" * 10_001).status_code == 507  # 10k = 10,000 bytes
        assert put(a, "a.gcode", b"x" * 100).status_code == 201  # preview on by default
        r = put(a, "a.gcode", b"y" * 100, Overwrite="?1")
        assert r.status_code == 409 and "File is busy" in r.text
        r = requests.post(a + "/emulator/screen/back", timeout=5)  # no auth
        assert r.json() == {"state": "IDLE", "screen": None, "question": None, "usb": True}
        assert put(a, "a.gcode", b"y" * 100, Overwrite="?1").status_code == 201
        storage = requests.get(b + "/api/v1/storage", auth=auth, timeout=5).json()
        assert storage["storage_list"][0]["available"] is False
        assert requests.post(b + "/emulator/usb/insert", timeout=5).json()["usb"] is True
        assert put(b, "a.gcode", b"x").status_code == 201
        assert put(b, "a.gcode", b"y", Overwrite="?1").status_code == 201  # preview: false
        assert requests.post(b + "/emulator/usb/remove", timeout=5).json()["usb"] is False
        assert put(b, "c.gcode", b"x").status_code == 507


def test_no_preview_option() -> None:
    with emulate("--printers", "1", "--port", "0", "--no-preview") as (_proc, lines):
        url = lines[0][1]
        assert put(url, "a.gcode", b"x").status_code == 201
        assert put(url, "a.gcode", b"y", Overwrite="?1").status_code == 201
        r = requests.post(url + "/emulator/screen/back", timeout=5)
        assert r.json() == {"state": "IDLE", "screen": None, "question": None, "usb": True}


@pytest.mark.parametrize(
    "args",
    [
        ["--rate", "fast"],
        ["--profile", "mk2"],
        ["--printers", "0"],
        ["--latency", "-1"],
        ["--port", "70000"],
        ["--api-key", "k"],  # mk4 has no separate API key
        ["--farm", "/nonexistent.yml"],
    ],
)
def test_bad_arguments_exit_2_without_traceback(args: list[str]) -> None:
    out = subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=20)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "Error" in out.stderr


def test_bad_farm_file_exits_2(tmp_path: Path) -> None:
    farm = tmp_path / "farm.yml"
    farm.write_text("printers:\n  a: {profile: mk4, colour: red}\n")
    out = subprocess.run([*CMD, "--farm", str(farm)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "colour" in out.stderr and "Traceback" not in out.stderr
    for bad, key in (
        ("{capacity: lots}", "capacity"),
        ("{usb: maybe}", "usb"),
        ("{nozzle_diameter: -1}", "nozzle_diameter"),
        ("{preview: 3}", "preview"),
    ):
        farm.write_text(f"printers:\n  a: {bad}\n")
        out = subprocess.run(
            [*CMD, "--farm", str(farm)], capture_output=True, text=True, timeout=20
        )
        assert out.returncode == 2 and key in out.stderr and "Traceback" not in out.stderr
    farm.write_text("printers: [unclosed\n")
    out = subprocess.run([*CMD, "--farm", str(farm)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [*CMD, "--printers", "1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ},
        )
    assert out.returncode != 0 and "Traceback" not in out.stderr and str(port) in out.stderr
