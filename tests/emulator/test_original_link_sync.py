"""The original link-sync 0.2.5 from PyPI, unchanged, syncs a folder to `link-sync emulate`.

It is the benchmarks' baseline, so the emulator must serve it. The install is cached under
~/.cache/link-sync-tests/original-0.2.5; if it cannot be installed the test fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import requests
import yaml
from requests.auth import HTTPDigestAuth

VENV = Path.home() / ".cache" / "link-sync-tests" / "original-0.2.5"


def original_link_sync() -> Path:
    exe = VENV / "bin" / "link-sync"
    if exe.exists():
        return exe
    python = shutil.which("python3.11") or sys.executable
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", str(VENV)], check=True, timeout=300)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", "link-sync==0.2.5"], check=True, timeout=600
    )
    assert exe.exists(), "pip installed link-sync 0.2.5 without its console script"
    return exe


def test_original_0_2_5_syncs_a_folder_to_the_emulated_farm(tmp_path: Path) -> None:
    exe = original_link_sync()
    master = tmp_path / "master"
    (master / "sub").mkdir(parents=True)
    (master / "benchy_0.4n_0.2mm_PLA_MK4_1h.gcode").write_bytes(b"G1 X1\n" * 1000)
    (master / "sub" / "part.gcode").write_bytes(b"G1 Y1\n" * 10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "link_sync", "emulate", "--printers", "2", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().split() for _ in range(2)]
        printers = {
            name: {
                "printer_type": "MK4",
                "host": url,
                "username": "maker",
                "password": "maker-pass",
            }
            for name, url, _ in lines
        }
        cfg = tmp_path / "printers.yml"
        cfg.write_text(yaml.safe_dump(printers))
        out = subprocess.run(
            [str(exe), "-c", str(cfg), "-s", str(master), "-d", "/usb/", "-g"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        auth = HTTPDigestAuth("maker", "maker-pass")
        for _, url, _ in lines:
            root = requests.get(url + "/api/v1/files/usb/", auth=auth, timeout=5).json()
            names = {c["display_name"] for c in root["children"]}
            assert names == {"benchy_0.4n_0.2mm_PLA_MK4_1h.gcode", "sub"}, out.stderr
            info = requests.get(
                url + "/api/v1/files/usb/sub/part.gcode", auth=auth, timeout=5
            ).json()
            assert info["size"] == 60
            big = requests.get(url + "/usb/BENCHY~1.GCO", auth=auth, timeout=5)
            assert big.content == b"G1 X1\n" * 1000
    finally:
        proc.terminate()
        proc.wait(5)
