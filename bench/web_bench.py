"""Benchmarks of `watch --http` (issue 14): the API, the page, and what serving costs the syncs.

    python bench/web_bench.py api      # GET /api/printers, 500 printers changing 1,000 times/s
    python bench/web_bench.py page     # the page in headless Chromium with the same farm
    python bench/web_bench.py upload   # watch's upload time with 0 and with 20 SSE clients
    python bench/web_bench.py sse-cost # what 20 SSE clients cost the server (500 printers)

`api` and `page` serve a synthetic FarmState (500 printers, 2 events per printer per
second: transfer progress and state changes) from a child process (`serve`), so the
client's work is not counted against the server. `upload` runs the real
`link-sync watch --json --http` against an emulated farm (bench/farm_server.py),
drops files into the master and times the sync until every printer reports `synced`,
alternating runs with and without 20 clients reading /api/events. Results go to
bench/results/web-<scenario>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
CHROMIUM = os.environ.get("LINK_SYNC_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# ------------------------------------------------------------------ the synthetic farm


async def serve(printers: int, events_per_printer: float) -> None:
    """A FarmState of `printers` busy printers behind start_web, until SIGTERM."""
    from link_sync.watch.state import FarmState, LastSync, Transfer
    from link_sync.web.server import bound_port, start_web

    class NoControl:
        def sync_all(self) -> None: ...
        def sync_printer(self, name: str) -> None: ...
        def pause(self, name: str) -> None: ...
        def resume(self, name: str) -> None: ...

    names = [f"mk4-{i:03d}" for i in range(printers)]
    farm = FarmState([(n, f"http://10.0.{i // 250}.{i % 250}") for i, n in enumerate(names)])
    farm.set_master("/srv/farm/gcodes", 1200, True)
    farm.running = True
    for i, name in enumerate(names):
        farm.update_printer(
            name,
            reachable=True,
            kind="buddy",
            model="MK4S",
            firmware="6.2.0",
            state="PRINTING" if i % 3 == 0 else "IDLE",
            job="customers/ACME order 1042/bracket_v3.gcode" if i % 3 == 0 else None,
            managed_files=1200,
            in_sync=i % 3 != 0,
            pending_files=4 if i % 3 == 0 else 0,
            pending_bytes=9_000_000 if i % 3 == 0 else 0,
            last_sync=LastSync(time.time(), "synced", {"uploaded": 5, "bytes": 2_700_000}, 7.1),
        )
    runner = await start_web(farm, NoControl(), "127.0.0.1:0")
    print(f"http://127.0.0.1:{bound_port(runner)}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tick = 0.01  # spread the events evenly: 1,000/s -> 10 per 10 ms
    per_tick = printers * events_per_printer * tick
    owed = 0.0
    rng = random.Random(1)
    started = loop.time()
    marker = names[0]
    while not stop.is_set():
        owed += per_tick
        while owed >= 1:
            owed -= 1
            name = names[rng.randrange(1, printers)]  # names[0] carries the marker
            view = farm.printers[name]
            if view.state == "PRINTING" or rng.random() < 0.05:
                state = "IDLE" if view.state == "PRINTING" else "PRINTING"
                farm.update_printer(name, state=state, transfer=None)
                farm.event(name, "state", message=f"now {state}")
            elif view.transfer is None:
                farm.update_printer(name, transfer=Transfer("parts/clip_v7.gcode", 4_000_000))
                farm.event(name, "upload_started", path="parts/clip_v7.gcode", bytes=4_000_000)
            else:
                farm.update_printer(
                    name,
                    transfer=Transfer(
                        view.transfer.path,
                        view.transfer.total,
                        min(view.transfer.bytes + 400_000, view.transfer.total),
                        view.transfer.started,
                    ),
                )
                farm.event(name, "progress", path=view.transfer.path, bytes=view.transfer.bytes)
        # a freshness marker the page benchmark reads: when this view changed (epoch)
        if int((loop.time() - started) * 4) != int((loop.time() - started - tick) * 4):
            farm.update_printer(marker, job=f"t={time.time():.3f}")
        await asyncio.sleep(tick)
    await runner.cleanup()


class Server:
    """`web_bench.py serve` as a child process; `url` once it listens."""

    def __init__(self, printers: int = 500, events_per_printer: float = 2.0) -> None:
        cmd = [PYTHON, __file__, "serve", "--printers", str(printers)]
        cmd += ["--events-per-printer", str(events_per_printer)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the benchmark server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["load_average"] = os.getloadavg()
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = RESULTS / f"web-{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"-> {path.relative_to(ROOT)}")


# ------------------------------------------------------------------ scenarios


def bench_api(requests: int = 300) -> None:
    import httpx

    server = Server()
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(20):  # warm up
                client.get(server.url + "/api/printers")
            times = []
            size = 0
            for _ in range(requests):
                start = time.perf_counter()
                answer = client.get(server.url + "/api/printers")
                times.append((time.perf_counter() - start) * 1000)
                size = len(answer.content)
                assert len(answer.json()["printers"]) == 500
    finally:
        server.stop()
    save(
        "api",
        {
            "what": "GET /api/printers, 500 printers, 1,000 changes/s, sequential keep-alive",
            "target_ms": 50,
            "requests": requests,
            "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "max_ms": round(max(times), 2),
            "bytes": size,
        },
    )


def bench_sse_cost(seconds: float = 15.0, rounds: int = 3) -> None:
    """The synthetic 500-printer server's CPU with 0 and with 20 SSE clients."""
    server = Server()
    shares: dict[int, list[float]] = {0: [], 20: []}
    try:
        time.sleep(2)
        for _ in range(rounds):
            for clients in (0, 20):
                readers = None
                if clients:
                    readers = subprocess.Popen(
                        [PYTHON, __file__, "sse-clients", server.url, str(clients)],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    time.sleep(2)  # connected, snapshots sent
                before = process_cpu(server.proc.pid)
                time.sleep(seconds)
                shares[clients].append((process_cpu(server.proc.pid) - before) / seconds)
                if readers is not None:
                    readers.send_signal(signal.SIGTERM)
                    readers.communicate(timeout=30)
    finally:
        server.stop()
    without, with_20 = statistics.median(shares[0]), statistics.median(shares[20])
    save(
        "sse-cost",
        {
            "what": "CPU of the server (500 printers, 1,000 changes/s) without and with 20 "
            "clients on /api/events; 1.0 = one core",
            "seconds_per_sample": seconds,
            "cpu_share_without_clients": round(without, 3),
            "cpu_share_with_20_clients": round(with_20, 3),
            "per_client": round((with_20 - without) / 20, 4),
            "samples": {str(k): [round(v, 3) for v in vs] for k, vs in shares.items()},
        },
    )


PROBE = """
() => {
  window.__lags = [];
  window.__stale = [];
  window.__long = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__long.push(e.duration);
  }).observe({ entryTypes: ["longtask"] });
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    window.__lags.push(now - last - 50);
    last = now;
    const cell = document.querySelector('#printers tr[data-name="mk4-000"] td.transfer');
    const m = cell && /t=([0-9.]+)/.exec(cell.textContent);
    if (m) window.__stale.push(Date.now() / 1000 - parseFloat(m[1]));
    setTimeout(tick, 50);
  };
  setTimeout(tick, 50);
}
"""


def bench_page(seconds: float = 20.0) -> None:
    from playwright.sync_api import sync_playwright

    server = Server()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            # the probes are injected scripts; the page's CSP would (rightly) refuse them
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            start = time.perf_counter()
            page.goto(server.url + "/")
            page.wait_for_function("document.querySelectorAll('#printers tbody tr').length === 500")
            first_render = time.perf_counter() - start
            page.evaluate(PROBE)
            cdp = browser.new_browser_cdp_session()
            cpu_before = chromium_cpu(cdp)
            time.sleep(seconds)
            cpu_used = chromium_cpu(cdp) - cpu_before
            lags = page.evaluate("window.__lags")
            stale = page.evaluate("window.__stale")
            long_tasks = page.evaluate("window.__long")
            filter_ms = page.evaluate(
                """() => {
                  const input = document.getElementById('filter');
                  const t0 = performance.now();
                  input.value = 'mk4-01';
                  input.dispatchEvent(new Event('input'));
                  const t1 = performance.now();
                  input.value = '';
                  input.dispatchEvent(new Event('input'));
                  return t1 - t0;
                }"""
            )
            browser.close()
    finally:
        server.stop()
    save(
        "page",
        {
            "what": "the page in headless Chromium: 500 printers, 2 events per printer per second",
            "seconds": seconds,
            "first_render_s": round(first_render, 3),
            "chromium_cpu_share": {
                "note": "CPU seconds of every Chromium process per second (1.0 = one core)",
                **{k: round(v / seconds, 3) for k, v in cpu_used.items()},
            },
            "timer_lag_ms": {
                "median": round(statistics.median(lags), 1),
                "p95": round(percentile(lags, 95), 1),
                "max": round(max(lags), 1),
            },
            "long_tasks": {
                "count": len(long_tasks),
                "total_ms": round(sum(long_tasks)),
                "max_ms": round(max(long_tasks, default=0)),
            },
            "busy_share": round(sum(long_tasks) / (seconds * 1000), 3),
            "staleness_s": {
                "median": round(statistics.median(stale), 3),
                "p95": round(percentile(stale, 95), 3),
                "max": round(max(stale), 3),
            },
            "filter_500_rows_ms": round(filter_ms, 1),
        },
    )


class CpuTimes(dict[str, float]):
    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes({k: v - other.get(k, 0.0) for k, v in self.items()})


def chromium_cpu(cdp: Any) -> CpuTimes:
    """CPU seconds so far of the browser's processes, by type (renderer, gpu, browser...)."""
    times = CpuTimes()
    for info in cdp.send("SystemInfo.getProcessInfo")["processInfo"]:
        times[info["type"]] = times.get(info["type"], 0.0) + info["cpuTime"]
    return times


async def sse_clients(url: str, count: int) -> None:
    """`count` clients reading /api/events until SIGTERM; prints the bytes they read."""
    import httpx

    read = 0
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal read
        async with client.stream("GET", url + "/api/events") as response:
            async for chunk in response.aiter_bytes():
                read += len(chunk)

    async with httpx.AsyncClient(timeout=None) as client:
        tasks = [asyncio.create_task(one(client)) for _ in range(count)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(read, flush=True)


def upload_run(clients: int, printers: int, files: int, size: int, rate: int) -> dict[str, Any]:
    import httpx

    sys.path.insert(0, str(ROOT / "bench"))
    from farm_bench import Farm

    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        work = Path(tmp)
        farm = Farm(printers, rate=rate, latency_ms=0, workdir=work)
        try:
            master = work / "master"
            master.mkdir()
            config = farm.link_sync_config(work / "link-sync.yml")
            config.write_text(f"source: {master}\n" + config.read_text())
            env = {**os.environ, "LINK_SYNC_STATE_DIR": str(work / "state")}
            cmd = [PYTHON, "-m", "link_sync", "watch", "--json", "-c", str(config)]
            cmd += ["--allow-empty", "--settle", "0.2", "--poll-interval", "1"]
            cmd += ["--http", "127.0.0.1:0"]
            watch = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=work)
            assert watch.stdout is not None
            events: list[dict[str, Any]] = []
            url = ""
            for line in watch.stdout:
                event = json.loads(line)
                if event["event"] == "http":
                    url = event["path"].rstrip("/")
                    break
            reader = threading.Thread(
                target=lambda: events.extend(json.loads(x) for x in watch.stdout or []),
                daemon=True,
            )
            reader.start()
            # The clients run in a process of their own: in this one they would slow the
            # thread that reads the watch's stdout, and a full pipe stalls the watch.
            readers = None
            if clients:
                readers = subprocess.Popen(
                    [PYTHON, __file__, "sse-clients", url, str(clients)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            time.sleep(2.0)  # the first (empty) passes and the clients settle
            staging = work / "staging"
            staging.mkdir()
            for i in range(files):
                (staging / f"part-{i:02d}.gcode").write_bytes(os.urandom(size))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.time()
            for path in staging.iterdir():
                path.rename(master / path.name)
            # Done when the watch's own API shows every printer in sync with all the files
            # (the `uploaded` events are not enough: a file can arrive by a pass the
            # next master change replaced, see docs/watch.md).
            deadline = time.monotonic() + 600
            with httpx.Client(base_url=url, timeout=10) as api:
                while time.monotonic() < deadline:
                    farm_now = api.get("/api/printers").json()
                    if farm_now["master"]["files"] == files and all(
                        p["in_sync"] and not p["transfer"] for p in farm_now["printers"]
                    ):
                        break
                    time.sleep(0.05)
                else:
                    raise TimeoutError("not every printer got every file")
            wall = time.time() - started
            uploads = [e for e in list(events) if e["event"] == "uploaded"]
            read = 0
            if readers is not None:
                readers.send_signal(signal.SIGTERM)
                read = int((readers.communicate(timeout=30)[0] or "0").strip() or 0)
            watch.send_signal(signal.SIGTERM)
            watch.wait(30)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            return {"clients": clients, "wall_s": round(wall, 3), "watch_cpu_s": cpu,
                    "sse_bytes": read, "uploaded_events": len(uploads)}  # fmt: skip
        finally:
            farm.stop()


def bench_upload(rounds: int, printers: int, files: int, size: int, rate: int) -> None:
    runs = []
    for i in range(rounds):
        for clients in (0, 20) if i % 2 == 0 else (20, 0):
            run = upload_run(clients, printers, files, size, rate)
            print(run, flush=True)
            runs.append(run)
    without = [r["wall_s"] for r in runs if r["clients"] == 0]
    with_clients = [r["wall_s"] for r in runs if r["clients"] == 20]
    cpu0 = [r["watch_cpu_s"] for r in runs if r["clients"] == 0]
    cpu20 = [r["watch_cpu_s"] for r in runs if r["clients"] == 20]
    save(
        "upload",
        {
            "what": (
                f"link-sync watch --http: {files} x {size / 1e6:g} MB to {printers} printers at "
                f"{rate / 1e6:g} MB/s each, from the files' arrival until the API shows every "
                "printer in sync"
            ),
            "rounds": rounds,
            "median_wall_s_without_clients": statistics.median(without),
            "median_wall_s_with_20_sse_clients": statistics.median(with_clients),
            "slowdown_percent": round(
                100 * (statistics.median(with_clients) / statistics.median(without) - 1), 2
            ),
            "target_percent": 2,
            "note": "watch_cpu_s: CPU seconds of the watch process, start to stop",
            "median_cpu_s_without": round(statistics.median(cpu0), 2),
            "median_cpu_s_with_20": round(statistics.median(cpu20), 2),
            "runs": runs,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--printers", type=int, default=500)
    s.add_argument("--events-per-printer", type=float, default=2.0)
    sub.add_parser("api")
    sub.add_parser("sse-cost")
    p = sub.add_parser("page")
    p.add_argument("--seconds", type=float, default=20.0)
    c = sub.add_parser("sse-clients")
    c.add_argument("url")
    c.add_argument("count", type=int)
    u = sub.add_parser("upload")
    u.add_argument("--rounds", type=int, default=3)
    u.add_argument("--printers", type=int, default=40)
    u.add_argument("--files", type=int, default=4)
    u.add_argument("--size", type=int, default=1_000_000)
    u.add_argument("--rate", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.scenario == "serve":
        asyncio.run(serve(args.printers, args.events_per_printer))
    elif args.scenario == "api":
        bench_api()
    elif args.scenario == "sse-cost":
        bench_sse_cost()
    elif args.scenario == "sse-clients":
        asyncio.run(sse_clients(args.url, args.count))
    elif args.scenario == "page":
        bench_page(args.seconds)
    else:
        bench_upload(args.rounds, args.printers, args.files, args.size, args.rate)


if __name__ == "__main__":
    main()
