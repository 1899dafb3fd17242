"""An emulated farm for the benchmarks: `link-sync emulate`, plus a request count on exit.

Serves the same `Farm` of `PrinterSpec`s that `link-sync emulate` serves (same
ready lines: `name url profile`, one per printer), and on SIGTERM/SIGINT writes
`--stats-out`: per printer, the requests it answered by kind, and this process's
own CPU time. `link-sync emulate` keeps that request log but cannot report it;
once it can (e.g. `--request-log FILE`), the benchmark can start it directly.

    python bench/farm_server.py --printers 40 --rate 1M --latency 20 --stats-out s.json

`--preload FILE` (JSON: {"path": size, ...}) puts the same files on every printer
before it starts listening, as if someone had copied them there earlier.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from link_sync.emulator.cli import parse_rate
from link_sync.emulator.farm import Farm
from link_sync.emulator.printer import RequestRecord
from link_sync.emulator.spec import PrinterSpec


def request_kind(rec: RequestRecord) -> str:
    """A short name for what a request was for: `upload`, `list`, `stat`, `auth-401`, ..."""
    kind = _kind(rec)
    if rec.status >= 400 and rec.status != 401:
        return f"{kind} {rec.status}"
    return kind


def _kind(rec: RequestRecord) -> str:
    if rec.status == 401:
        return "auth-401"
    parts = [p for p in rec.path.split("/") if p]
    api = parts[1:] if parts[:1] == ["api"] else parts
    if api[:2] == ["v1", "files"] or api[:1] == ["files"]:
        if rec.method == "PUT":
            return "mkdir" if rec.headers.get("Create-Folder") else "upload"
        if rec.method == "DELETE":
            return "delete"
        last = api[-1] if len(api) > 3 else ""
        # a listing names a folder (trailing slash, or no extension); a stat names a file
        if rec.path.endswith("/") or "." not in last:
            return "list"
        return "stat"
    name = "/".join(api[:2]) if api[:1] == ["v1"] else "/".join(api[:1])
    return f"{rec.method.lower()} {name}"


def stats(farm: Farm, started: float) -> dict[str, object]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "served_seconds": time.monotonic() - started,
        "printers": {
            p.name: dict(Counter(request_kind(r) for r in p.requests)) for p in farm.printers
        },
    }


async def serve(args: argparse.Namespace) -> None:
    preload: dict[str, bytes | int] = {}
    if args.preload is not None:
        preload = {str(k): int(v) for k, v in json.loads(args.preload.read_text()).items()}
    specs = [
        PrinterSpec(
            name=f"{args.prefix}{i + 1}",
            profile=args.profile,
            rate=parse_rate(args.rate),
            latency=args.latency / 1000,
            password=args.password,
            files=dict(preload),
        )
        for i in range(args.printers)
    ]
    # preview off: the scenarios replace files, which a file open on a screen would refuse
    farm = Farm(specs, storage_dir=args.storage_dir, preview=False)
    await farm.start()
    started = time.monotonic()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.stats_out is not None:
            # SIGUSR1: write the counts so far (numbered), so one farm serves several runs
            snapshots = iter(range(1, 1 << 30))

            def snapshot() -> None:
                report = {**stats(farm, started), "snapshot": next(snapshots)}
                tmp = args.stats_out.with_suffix(".tmp")
                tmp.write_text(json.dumps(report))
                tmp.replace(args.stats_out)

            loop.add_signal_handler(signal.SIGUSR1, snapshot)
        # One write, after every printer listens: the ready lines of `link-sync emulate`.
        sys.stdout.write("".join(f"{p.name} {p.url} {p.spec.profile}\n" for p in farm))
        sys.stdout.flush()
        await stop.wait()
    finally:
        report = stats(farm, started)
        await farm.stop()
    if args.stats_out is not None:
        args.stats_out.write_text(json.dumps({**report, "snapshot": -1}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--printers", type=int, default=3)
    ap.add_argument("--prefix", default="mk4-", help="printer names: PREFIX1, PREFIX2, ...")
    ap.add_argument("--profile", default="mk4")
    ap.add_argument("--rate", default="0", help="upload bytes/s per printer (1M); 0 = unthrottled")
    ap.add_argument("--latency", type=float, default=0.0, help="ms added to every response")
    ap.add_argument("--password", default="maker-pass")
    ap.add_argument("--storage-dir", type=Path, default=None, help="files on disk, not in memory")
    ap.add_argument("--preload", type=Path, default=None, help="JSON {path: size} on every printer")
    ap.add_argument("--stats-out", type=Path, default=None)
    args = ap.parse_args()
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
