"""Client CPU per HTTP request (issue 15, target 5).

Starts one emulated Buddy printer (bench/farm_server.py, no latency, digest auth, 50
files in the root) in a child process, opens a backend as the engine does, and
times N requests of each kind in THIS process, which is only the client:

- status: `backend.status()` (GET /api/v1/status, JSON decoded, checked),
- listing: `backend.list_tree("")` (one GET of a 50-file folder, entries built),
- 304: the same listing URL with `If-None-Match` of its ETag (no body),

and, for scale, the same GETs through a bare `aiohttp.ClientSession` with its
DigestAuthMiddleware (what the HTTP client itself costs; link-sync's backends use
aiohttp) and through a bare `httpx.AsyncClient` with digest auth (the client the
backends used before issue 15; needs `pip install httpx`, which the test extra has).

The figure is client CPU time (`time.process_time`) per request, which other load on
the machine distorts much less than wall time; wall requests/s and the load average
are printed next to it.

    python bench/request_bench.py              # 2,000 of each
    python bench/request_bench.py -n 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PASSWORD = "maker-pass"


def compile_package() -> None:
    """Write link_sync's bytecode, as `pip install` does for an installed package.

    An editable checkout run with PYTHONDONTWRITEBYTECODE set (as on the shared
    machine) would otherwise compile every link_sync module at every start: about
    0.06 s of CPU that no installed link-sync pays.
    """
    import compileall

    import link_sync

    compileall.compile_dir(str(Path(link_sync.__file__).parent), quiet=1)


def start_printer(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    preload = workdir / "preload.json"
    preload.write_text(json.dumps({f"part-{i:02d}.gcode": 1000 + i for i in range(50)}))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "farm_server.py"),
            "--printers",
            "1",
            "--password",
            PASSWORD,
            "--preload",
            str(preload),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) < 2:
        proc.kill()
        raise RuntimeError("the emulated printer did not start")
    return proc, line[1]


async def measure(n: int, call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(client CPU ms per call, calls per wall second), after 20 warm-up calls."""
    for _ in range(20):
        await call()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        await call()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / n * 1000, n / wall


async def bench_backend(url: str, n: int) -> dict[str, tuple[float, float]]:
    from link_sync.backends import open_backend
    from link_sync.config import PrinterConfig

    printer = PrinterConfig(name="bench", type="prusalink", host=url, password=PASSWORD)
    backend = await open_backend(printer)
    await backend.probe()
    first = await backend.request("GET", "/api/v1/files/usb/", "list")  # type: ignore[attr-defined]
    etag = first.headers["ETag"]
    results = {
        "status (backend)": await measure(n, backend.status),
        "listing 50 files (backend)": await measure(n, lambda: backend.list_tree("")),
        "304 listing (backend client)": await measure(
            n,
            lambda: backend.request(  # type: ignore[attr-defined]
                "GET", "/api/v1/files/usb/", "list", headers={"If-None-Match": etag}, accept=(304,)
            ),
        ),
    }
    await backend.aclose()
    return results


async def bench_httpx(url: str, n: int) -> dict[str, tuple[float, float]]:
    import httpx

    async with httpx.AsyncClient(base_url=url, auth=httpx.DigestAuth("maker", PASSWORD)) as c:

        async def status() -> object:
            return (await c.get("/api/v1/status")).json()

        async def listing() -> object:
            return (await c.get("/api/v1/files/usb/")).json()

        return {
            "status (bare httpx + digest)": await measure(n, status),
            "listing (bare httpx + digest)": await measure(n, listing),
        }


async def bench_aiohttp(url: str, n: int) -> dict[str, tuple[float, float]]:
    import aiohttp

    digest = aiohttp.DigestAuthMiddleware("maker", PASSWORD)
    connector = aiohttp.TCPConnector(limit=2)
    async with aiohttp.ClientSession(url, middlewares=(digest,), connector=connector) as s:

        async def status() -> object:
            async with s.get("/api/v1/status") as response:
                return await response.json()

        async def listing() -> object:
            async with s.get("/api/v1/files/usb/") as response:
                return await response.json()

        return {
            "status (bare aiohttp + digest)": await measure(n, status),
            "listing (bare aiohttp + digest)": await measure(n, listing),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="requests of each kind")
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_printer(Path(tmp))
        try:
            results = asyncio.run(bench_backend(url, args.n))
            results.update(asyncio.run(bench_httpx(url, args.n)))
            results.update(asyncio.run(bench_aiohttp(url, args.n)))
        finally:
            proc.terminate()
            proc.wait()
    print(f"{args.n} requests each, load average {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"{'':32} {'client CPU/request':>18} {'requests/s (wall)':>18}")
    for name, (cpu_ms, rate) in results.items():
        print(f"{name:32} {cpu_ms:15.3f} ms {rate:18.0f}")


if __name__ == "__main__":
    main()
