"""Benchmarks of `link-sync watch` (issue 13). Each prints its figures and writes JSON.

    python bench/watch_bench.py latency     # master file stable -> upload start, 50 printers
    python bench/watch_bench.py print-end   # print ends -> pending upload start
    python bench/watch_bench.py idle        # CPU and RSS of watching 500 printers, 60 s
    python bench/watch_bench.py master      # what a 10,000-file master adds between rescans
    python bench/watch_bench.py soak        # accelerated endurance run (see bench/watch_soak.py)

The printers are `link-sync emulate` in a process of their own, so the CPU measured
(from /proc/<pid>/stat of the watch process) is the client's alone. Results go to
bench/results/watch-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

RESULTS = Path(__file__).parent / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "link_sync", *args]


class Emulator:
    """`link-sync emulate` in its own process, with a config written for it."""

    def __init__(self, work: Path, printers: int, *extra: str) -> None:
        self.config = work / "farm.yml"
        self.proc = subprocess.Popen(
            cli(
                "emulate",
                "--printers",
                str(printers),
                "--port",
                "0",
                "--config-out",
                str(self.config),
                *extra,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.urls = [self.proc.stdout.readline().split()[1] for _ in range(printers)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Watch:
    """`link-sync watch --json` with its events collected on a thread."""

    def __init__(self, config: Path, state: Path, *options: str) -> None:
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(state)}
        self.proc = subprocess.Popen(
            cli("watch", "--json", "-c", str(config), *options),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            with self.lock:
                self.events.append(event)

    def find(self, **match: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if all(e.get(k) == v for k, v in match.items())]

    def wait(self, count: int, timeout: float, **match: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(**match)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise SystemExit(f"only {len(self.find(**match))}/{count} events {match} in {timeout} s")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def write_config(emulator: Emulator, master: Path, **extra: Any) -> Path:
    config = yaml.safe_load(emulator.config.read_text())
    config["source"] = str(master)
    config.update(extra)
    path = emulator.config.parent / "watch.yml"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def fill_master(master: Path, count: int, *, old: bool = True) -> None:
    master.mkdir(parents=True, exist_ok=True)
    stamp = time.time() - 3600
    for i in range(count):
        folder = master / f"d{i // 500:03d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"part-{i:05d}.gcode"
        path.write_bytes(b"G1 X%d\n" % i)
        if old:
            os.utime(path, (stamp, stamp))


def save(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    data["machine"] = {"cpus": os.cpu_count(), "load": os.getloadavg()}
    (RESULTS / f"watch-{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))


# -- latency: stable -> upload start on every idle printer --------------------------------


def bench_latency(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        emulator = (
            Emulator(work, args.printers, "--no-preview")
            if _has_no_preview()
            else (Emulator(work, args.printers))
        )
        master = work / "master"
        fill_master(master, 3)
        watch = Watch(write_config(emulator, master), work / "state", "--settle", str(args.settle))
        try:
            watch.wait(args.printers, 120, event="synced")
            rounds = []
            for n in range(args.rounds):
                name = f"new-{n}.gcode"
                path = master / name
                path.write_bytes(b"G1 X1 Y1\n" * 20_000)  # 180 kB
                stable = path.stat().st_mtime + args.settle
                starts = watch.wait(args.printers, 60, event="upload_started", path=name)
                delays = sorted(e["time"] - stable for e in starts)
                rounds.append(
                    {"first": delays[0], "median": statistics.median(delays), "last": delays[-1]}
                )
                print(f"round {n}: last printer started {delays[-1]:.3f} s after stable")
                watch.wait(args.printers, 60, event="uploaded", path=name)
                time.sleep(1.0)
        finally:
            watch.stop()
            emulator.stop()
    last = [r["last"] for r in rounds]
    save(
        "latency",
        {
            "printers": args.printers,
            "settle": args.settle,
            "rounds": rounds,
            "median_last_printer_s": statistics.median(last),
            "worst_last_printer_s": max(last),
            "bound_s": 1.0,
            "met": max(last) <= 1.0,
        },
    )


# -- print end -> pending upload start -------------------------------------------------


def bench_print_end(args: argparse.Namespace) -> None:
    """The farm runs in this process (on a thread) so the bench can end the prints."""
    from link_sync.emulator.testing import BackgroundFarm

    sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "watch"))
    from watch_harness import spec  # the preview off when the emulator has one

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        master = work / "master"
        fill_master(master, 2)
        specs = [
            spec(f"mk4-{i}", files={"job.gcode": b"G1\n"}, job_file="job.gcode", state="PRINTING")
            for i in range(args.printers)
        ]
        background = BackgroundFarm(specs)
        farm = background.__enter__()
        try:
            config = farm.config(source=str(master))
            path = work / "watch.yml"
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)
            watch = Watch(path, work / "state", "--no-delete")
            watch.wait(args.printers, 60, event="state")
            delays = []
            chance = random.Random(13)
            for i, printer in enumerate(farm):
                time.sleep(chance.uniform(0, args.poll_interval))  # anywhere in a poll cycle
                ended = time.time()
                background.loop.call_soon_threadsafe(printer.set_state, "FINISHED")
                start = watch.wait(1, 30, event="upload_started", printer=printer.name)[0]
                delays.append(start["time"] - ended)
                print(f"{printer.name}: upload started {delays[-1]:.3f} s after the print ended")
                del i
            watch.stop()
        finally:
            background.__exit__(None, None, None)
    save(
        "print-end",
        {
            "printers": args.printers,
            "poll_interval": args.poll_interval,
            "delays_s": delays,
            "median_s": statistics.median(delays),
            "worst_s": max(delays),
            "bound_s": args.poll_interval + 1.0,
            "met": max(delays) <= args.poll_interval + 1.0,
        },
    )


# -- idle cost ---------------------------------------------------------------------------


def measure_idle(watch: Watch, seconds: float) -> dict[str, float]:
    cpu0, t0 = watch.cpu_seconds(), time.monotonic()
    peak = 0.0
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        peak = max(peak, watch.rss_mb())
    cpu = watch.cpu_seconds() - cpu0
    wall = time.monotonic() - t0
    return {"cpu_percent": 100 * cpu / wall, "rss_mb": watch.rss_mb(), "rss_peak_mb": peak}


def bench_idle(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        extra = ("--no-preview",) if _has_no_preview() else ()
        emulator = Emulator(work, args.printers, *extra)
        master = work / "master"
        fill_master(master, 5)
        watch = Watch(write_config(emulator, master), work / "state")
        try:
            t0 = time.monotonic()
            watch.wait(args.printers, 600, event="synced")
            print(f"initial sync of {args.printers} printers: {time.monotonic() - t0:.1f} s")
            time.sleep(10)  # let the last passes and the first polls settle
            idle = measure_idle(watch, args.seconds)
        finally:
            watch.stop()
            emulator.stop()
    save(
        "idle",
        {
            "printers": args.printers,
            "poll_interval": 5.0,
            "seconds": args.seconds,
            **idle,
            "met": idle["cpu_percent"] <= 10.0 and idle["rss_peak_mb"] <= 200.0,
        },
    )


def bench_master(args: argparse.Namespace) -> None:
    """Idle cost with a 10,000-file master minus that with a 5-file one (1 printer)."""
    results = {}
    for files in (5, args.files):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            extra = ("--no-preview",) if _has_no_preview() else ()
            emulator = Emulator(work, 1, *extra)
            master = work / "master"
            fill_master(master, files)
            watch = Watch(write_config(emulator, master), work / "state")
            try:
                t0 = time.monotonic()
                watch.wait(1, 1800, event="synced")
                print(f"{files} files: initial sync {time.monotonic() - t0:.1f} s")
                time.sleep(5)
                results[files] = measure_idle(watch, args.seconds)
                print(f"{files} files: {results[files]}")
            finally:
                watch.stop()
                emulator.stop()
    added = results[args.files]["cpu_percent"] - results[5]["cpu_percent"]
    save(
        "master",
        {
            "files": args.files,
            "seconds": args.seconds,
            "small_master": results[5],
            "big_master": results[args.files],
            "added_cpu_percent": added,
            "met": added <= 1.0,
        },
    )


def _has_no_preview() -> bool:
    from link_sync.emulator.spec import PrinterSpec

    return "preview" in PrinterSpec.__dataclass_fields__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    latency = sub.add_parser("latency")
    latency.add_argument("--printers", type=int, default=50)
    latency.add_argument("--settle", type=float, default=2.0)
    latency.add_argument("--rounds", type=int, default=5)
    end = sub.add_parser("print-end")
    end.add_argument("--printers", type=int, default=10)
    end.add_argument("--poll-interval", type=float, default=5.0)
    idle = sub.add_parser("idle")
    idle.add_argument("--printers", type=int, default=500)
    idle.add_argument("--seconds", type=float, default=60.0)
    master = sub.add_parser("master")
    master.add_argument("--files", type=int, default=10_000)
    master.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    {
        "latency": bench_latency,
        "print-end": bench_print_end,
        "idle": bench_idle,
        "master": bench_master,
    }[args.bench](args)


if __name__ == "__main__":
    main()
