"""Endurance of `link-sync watch`, accelerated: does anything grow after the first minute?

The watch runs as a subprocess (printer poll 0.1 s, settle 0.5 s) against an emulated
farm on a thread of this process. Every second the master changes (a file added,
rewritten or removed); printers start and end prints; faults are injected (503
answers, printers going offline for a few seconds). Every 10 s the watch is sent
SIGUSR1 and reports its asyncio tasks, threads, open files and RSS. At the end the
chaos stops and every printer must converge to the master.

    python bench/watch_soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests" / "watch"))

from link_sync.emulator.faults import Fault  # noqa: E402

from watch_harness import FarmThread, spec  # noqa: E402

STATS = re.compile(
    r"tasks (\d+), threads (\d+), open files (\d+), rss ([\d.]+) MB, python objects (\d+)"
)
#: Every minute the chaos pauses this long before a sample, so samples compare like with
#: like (no passes in flight), not whatever happened to be running at that moment.
QUIET = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--printers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    chance = random.Random(args.seed)
    names = [f"mk4-{i:02d}" for i in range(args.printers)]

    with tempfile.TemporaryDirectory() as tmp, FarmThread([spec(n) for n in names]) as farm:
        work = Path(tmp)
        master = work / "master"
        master.mkdir()
        pool = [f"{folder}/part-{i:02d}.gcode" for folder in ("a", "b") for i in range(20)]
        for name in pool[:25]:
            write(master, name, chance)
        config = work / "watch.yml"
        config.write_text(yaml.safe_dump(farm.config(master)))
        config.chmod(0o600)
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(work / "state")}
        watch = subprocess.Popen(
            [
                *(sys.executable, "-m", "link_sync", "watch", "--json", "-c", str(config)),
                *("--poll-interval", "0.1", "--settle", "0.5"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        counts: dict[str, int] = {}
        samples: list[dict[str, float]] = []
        started = time.monotonic()
        threading.Thread(
            target=read_events, args=(watch, counts, samples, started), daemon=True
        ).start()

        offline: dict[str, float] = {}
        end = started + args.minutes * 60
        next_stats = started + 60 - QUIET
        while time.monotonic() < end:
            tick = time.monotonic()
            if tick >= next_stats:
                time.sleep(QUIET)  # quiet: nothing changes, the watch settles
                watch.send_signal(signal.SIGUSR1)
                next_stats += 60
                continue
            change_master(master, pool, chance)
            for _ in range(2):
                toggle_print(farm, chance.choice(names), chance)
            if chance.random() < 0.3:
                victim = chance.choice(names)
                if chance.random() < 0.5 and victim not in offline:
                    farm.call(farm.printer(victim).go_offline)
                    offline[victim] = tick + chance.uniform(1, 6)
                else:
                    op = chance.choice(["list", "upload", "status", "delete"])
                    fault = Fault("status", op=op, status=chance.choice([500, 503]), count=2)
                    farm.call(farm.printer(victim).add_fault, fault)
            for victim, until in list(offline.items()):
                if tick >= until:
                    farm.call(farm.printer(victim).go_online)
                    del offline[victim]
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

        time.sleep(2.0)  # the last sample is read before the calm below starts passes
        # Calm: everything back online, prints ended, faults gone; all must converge.
        for victim in offline:
            farm.call(farm.printer(victim).go_online)
        for name in names:
            farm.call(farm.printer(name).clear_faults)
            # IDLE: the print screen is left, so the last job's file is free to change
            farm.call(farm.printer(name).set_state, "IDLE")
        calm = time.monotonic()
        expected = {p: (master / p).read_bytes() for p in sorted(list_master(master))}
        converged = None
        while time.monotonic() - calm < 120:
            if all(farm.files(n) == expected for n in names):
                converged = time.monotonic() - calm
                break
            time.sleep(0.5)
        if converged is None:
            for name in names:
                have = farm.files(name)
                if have != expected:
                    state = farm.call(lambda n=name: farm.printer(n).state)
                    missing = sorted(set(expected) - set(have))
                    extra = sorted(set(have) - set(expected))
                    stale = sorted(p for p in expected if p in have and have[p] != expected[p])
                    print(f"{name} ({state}): missing {missing} extra {extra} stale {stale}")
        watch.send_signal(signal.SIGTERM)
        code = watch.wait(30)

    report(args, samples, counts, converged, code)


def write(master: Path, name: str, chance: random.Random) -> None:
    path = master / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"G1 X%d\n" % chance.randrange(10**6) * chance.randrange(10, 3000))


def list_master(master: Path) -> list[str]:
    return [p.relative_to(master).as_posix() for p in master.rglob("*.gcode")]


def change_master(master: Path, pool: list[str], chance: random.Random) -> None:
    present = list_master(master)
    roll = chance.random()
    if roll < 0.4 or len(present) < 8:
        write(master, chance.choice(pool), chance)
    elif roll < 0.7:
        write(master, chance.choice(present), chance)
    else:
        (master / chance.choice(present)).unlink()


def toggle_print(farm: FarmThread, name: str, chance: random.Random) -> None:
    def flip() -> None:
        printer = farm.printer(name)
        if printer.state in ("PRINTING", "PAUSED"):
            printer.set_state(chance.choice(["FINISHED", "STOPPED", "IDLE"]))
        elif chance.random() < 0.3:
            files = [p for p in printer.files() if p.endswith(".gcode")]
            if files:
                printer.start_print(chance.choice(files))

    if farm.call(lambda: farm.printer(name).online):
        farm.call(flip)


def read_events(
    watch: subprocess.Popen[str],
    counts: dict[str, int],
    samples: list[dict[str, float]],
    started: float,
) -> None:
    assert watch.stdout is not None
    for line in watch.stdout:
        event = json.loads(line)
        if os.environ.get("SOAK_TRACE") and event["event"] in ("failed", "busy", "state"):
            print("  ", event, flush=True)
        counts[event["event"]] = counts.get(event["event"], 0) + 1
        if event["event"] == "stats":
            found = STATS.search(event.get("message") or "")
            if found:
                tasks, threads, fds, rss, objects = found.groups()
                samples.append(
                    {
                        "t": time.monotonic() - started,
                        "tasks": int(tasks),
                        "threads": int(threads),
                        "fds": int(fds),
                        "rss_mb": float(rss),
                        "objects": int(objects),
                    }
                )


def report(
    args: argparse.Namespace,
    samples: list[dict[str, float]],
    counts: dict[str, int],
    converged: float | None,
    code: int,
) -> None:
    # Minute 1 is the warm-up; from then on a quiet sample each minute.
    after = [s for s in samples if s["t"] >= 55]
    growth = {}
    if len(after) >= 2:
        for key in ("tasks", "threads", "fds", "rss_mb", "objects"):
            growth[key] = {
                "after_minute_1": after[0][key],
                "last": after[-1][key],
                "max": max(s[key] for s in after),
            }
    data: dict[str, Any] = {
        "minutes": args.minutes,
        "printers": args.printers,
        "poll_interval": 0.1,
        "events": counts,
        "samples": samples,
        "growth": growth,
        "converged_after_chaos_s": converged,
        "exit_code": code,
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
    }
    out = HERE / "results" / "watch-soak.json"
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({k: v for k, v in data.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
