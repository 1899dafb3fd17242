"""Capacity of one `link-sync emulate` process: N printers uploading at once, each throttled.

Starts `link-sync emulate --printers N --rate R` as a subprocess, PUTs SIZE bytes to every
printer at the same moment with a minimal raw-socket client, and prints each printer's
achieved rate (bytes / time from the first byte sent to the response). Exits 1 if any
printer is off its rate by more than the tolerance (default 5 %).

    python bench/emulator_capacity.py --printers 50 --rate 1M --size 5M
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from link_sync.emulator.cli import parse_rate

CHUNK = 1 << 16


async def upload(url: str, size: int, body: bytes, password: str) -> tuple[int, float]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    # a deep send buffer: the event loop keeps the socket full without waking this coroutine
    writer.transport.set_write_buffer_limits(high=4 * CHUNK)
    head = (
        f"PUT /api/v1/files/usb/bench.gcode HTTP/1.1\r\nHost: {host}\r\n"
        f"X-Api-Key: {password}\r\nContent-Length: {size}\r\nOverwrite: ?1\r\n\r\n"
    )
    view = memoryview(body)
    t0 = time.perf_counter()
    writer.write(head.encode())
    for off in range(0, size, CHUNK):
        writer.write(view[off : off + CHUNK])
        await writer.drain()
    status_line = await reader.readline()
    elapsed = time.perf_counter() - t0
    writer.close()
    return int(status_line.split()[1]), elapsed


async def run(args: argparse.Namespace) -> int:
    rate = parse_rate(args.rate) or 0
    size = parse_rate(args.size) or 0
    cmd = [
        sys.executable, "-m", "link_sync", "emulate",
        "--printers", str(args.printers), "--port", "0", "--rate", str(rate),
        "--password", args.password,
    ]  # fmt: skip
    t_start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        urls = [proc.stdout.readline().split()[1] for _ in range(args.printers)]
        startup = time.perf_counter() - t_start
        print(f"emulator ready with {args.printers} printers in {startup:.2f} s")
        body = b"G1 X1 Y1\n" * (size // 9 + 1)
        results = await asyncio.gather(*(upload(u, size, body, args.password) for u in urls))
    finally:
        proc.terminate()
        proc.wait(10)
    bad = 0
    print(f"{'printer':<28} {'status':>6} {'seconds':>8} {'B/s':>12} {'error':>8}")
    for url, (status, secs) in zip(urls, results, strict=True):
        achieved = size / secs
        err = achieved / rate - 1 if rate else 0.0
        off = status != 201 or (rate and abs(err) > args.tolerance)
        bad += bool(off)
        flag = "  <-- off" if off else ""
        print(f"{url:<28} {status:>6} {secs:8.3f} {achieved:12.0f} {err:+8.2%}{flag}")
    if rate:
        errs = [size / s / rate - 1 for _, s in results]
        print(f"rate error: min {min(errs):+.2%}, max {max(errs):+.2%}; {bad} printer(s) off")
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--printers", type=int, default=50)
    ap.add_argument("--rate", default="1M", help="bytes/s per printer (500k, 1M)")
    ap.add_argument("--size", default="5M", help="bytes uploaded to each printer")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--password", default="maker-pass")
    sys.exit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
