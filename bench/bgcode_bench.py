"""`send_as: bgcode` against plain G-code (issue 30): the same farm and master, both ways.

The farm: two MINIs, an MK4S and a Raspberry-Pi PrusaLink (MK3S), served by
`link-sync emulate --farm` in its own process at a fixed upload rate per printer. The
master: PrusaSlicer-like plain G-code (`sample_gcode.prusaslicer_gcode(layers=True)`):
two MINI prints, an MK4S print, an MK3S print and a calibration file every printer gets.
Each scenario runs `link-sync sync --json` as a child process with a fresh state folder
(so every conversion is made in the run), first with plain files, then with
`defaults: send_as: bgcode`, at 100 kB/s and 34 kB/s (Buddy's Wi-Fi bridge). Recorded:
bytes sent (the run's --json totals), wall time, the limit of the plain bytes (the
printer with the most bytes, at the rate), the child's CPU, and the conversion CPU of
the master's files measured alone. Results go to bench/results/bgcode.json.

    python bench/bgcode_bench.py            # both rates (~2 minutes)
    python bench/bgcode_bench.py --rates 100k
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from farm_bench import RESULTS, VENV_BIN, run_child
from link_sync.bgcode.writer import convert
from link_sync.emulator.cli import parse_rate
from link_sync.sample_gcode import prusaslicer_gcode

MASTER = {
    "mini/clip_MINI.gcode": ("MINIIS", 20_000),  # 0.64 MB, the MINI file
    "mini/bracket_MINI.gcode": ("MINIIS", 40_000),  # 1.25 MB
    "mk4s/benchy_MK4S.gcode": ("MK4S", 40_000),
    "mk3/hook_MK3S.gcode": ("MK3S", 12_000),
    "calibration/first_layer.gcode": (None, 8_000),  # no model: every printer gets it
}
FARM = """\
defaults: {password: maker-pass, preview: false}
printers:
  mini-1: {profile: mini}
  mini-2: {profile: mini}
  mk4s-1: {profile: mk4s}
  mk3-1: {profile: mk3, api_key: pi-key-123}
"""


def write_master(root: Path) -> dict[str, int]:
    sizes = {}
    for i, (path, (model, moves)) in enumerate(MASTER.items()):
        data = prusaslicer_gcode(
            model, layers=True, moves=moves, seed=i, check="name" if model else None
        )
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.utime(target, (time.time() - 3600,) * 2)
        sizes[path] = len(data)
    return sizes


def conversion_cpu(root: Path, out: Path) -> dict[str, Any]:
    """Each master file converted alone: CPU seconds, sizes."""
    files = {}
    for path in MASTER:
        started = time.process_time()
        made = convert(root / path, out / "x.bgcode")
        files[path] = {
            "plain": made.source_size,
            "bgcode": made.size,
            "cpu": round(time.process_time() - started, 3),
        }
    return files


class EmulatedFarm:
    """`link-sync emulate --farm` in its own process, stopped by its PID."""

    def __init__(self, workdir: Path, rate: str) -> None:
        farm = workdir / "farm.yml"
        farm.write_text(FARM)
        self.config = workdir / "farm-config.yml"
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "link-sync"), "emulate", "--farm", str(farm), "--printers", "4",
             "--rate", rate, "--config-out", str(self.config)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        for _ in range(4):
            if not self.proc.stdout.readline():
                raise RuntimeError("the emulated farm did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def config_for(farm: EmulatedFarm, master: Path, send_as: str, path: Path) -> Path:
    text = farm.config.read_text()
    lines = [f"source: {master}"]  # the default waits (timeout 30 s), at 34 kB/s too
    if send_as == "bgcode":
        lines += ["defaults:", "  send_as: bgcode"]
    path.write_text("\n".join(lines) + "\n" + text)
    return path


def scenario(rate: str, workdir: Path, master: Path, plain: dict[str, int]) -> dict[str, Any]:
    bytes_per_s = parse_rate(rate) or 1
    out: dict[str, Any] = {"rate": rate}
    for send_as in ("as-is", "bgcode"):
        farm = EmulatedFarm(workdir, rate)
        try:
            config = config_for(farm, master, send_as, workdir / f"config-{send_as}.yml")
            states = Path(tempfile.mkdtemp(dir=workdir, prefix="state-"))
            env = {**os.environ, "LINK_SYNC_STATE_DIR": str(states)}
            run = run_child(
                [str(VENV_BIN / "link-sync"), "sync", "-c", str(config), "--json"],
                env=env, timeout=900,
            )  # fmt: skip
        finally:
            farm.stop()
        document = json.loads(run.stdout)
        per_printer = {
            p["name"]: sum(a["bytes"] for a in p["actions"] if a["ok"])
            for p in document["printers"]
        }
        out[send_as] = {
            "exit": run.returncode,
            "wall_s": round(run.wall, 2),
            "cpu_s": round(run.cpu, 2),
            "max_rss_mb": round(run.max_rss_mb, 1),
            "bytes": document["totals"]["bytes"],
            "bytes_per_printer": per_printer,
            "errors": [
                f"{p['name']}: {a['path']}: {a['error']}"
                for p in document["printers"]
                for a in p["actions"]
                if not a["ok"]
            ]
            + [f"{p['name']}: {p['error']}" for p in document["printers"] if p["error"]],
        }
    # the limit: the printer with the most plain bytes, sent at the rate
    limit = max(out["as-is"]["bytes_per_printer"].values()) / bytes_per_s
    out["plain_limit_s"] = round(limit, 2)
    out["ratio_wall"] = round(out["bgcode"]["wall_s"] / out["as-is"]["wall_s"], 3)
    out["ratio_bytes"] = round(out["bgcode"]["bytes"] / out["as-is"]["bytes"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", nargs="+", default=["100k", "34k"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="link-sync-bgcode-bench-") as tmp:
        workdir = Path(tmp)
        master = workdir / "master"
        plain = write_master(master)
        results: dict[str, Any] = {
            "master": plain,
            "conversion": conversion_cpu(master, workdir),
            "scenarios": [scenario(rate, workdir, master, plain) for rate in args.rates],
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bgcode.json").write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
