"""Benchmark of the files view (issue 28): 500 printers x 1,000 master files.

    python bench/files_bench.py            # all of it; results in bench/results/files.json

- `/api/files`: GET time with the document made afresh (the farm's files changed just
  before: what a page pays after each upload) and served from the cache, over loopback;
- `/api/files/{path}`: one file's 500 printers;
- the master: finding every file's thumbnail (first look), then a rescan of the same,
  unchanged files: it must decode no thumbnail and read no file;
- the `/files` view in headless Chromium (/usr/bin/chromium): from navigation until the
  first page of 100 rows is drawn with every thumbnail loaded.

The farm is a real FarmState served by the real web app in this process; the 1,000 files
are PrusaSlicer-like (QOI and PNG thumbnails, .gcode and .bgcode); each printer's files
come from `make_plan` against a listing that lacks a few of them, as after a master change.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from link_sync.config import Config  # noqa: E402
from link_sync.core.model import RemoteEntry  # noqa: E402
from link_sync.core.planner import PlanRules, make_plan  # noqa: E402
from link_sync.core.targets import read_target  # noqa: E402
from link_sync.engine.scan import scan_source  # noqa: E402
from link_sync.watch.files import locate  # noqa: E402
from link_sync.watch.state import FarmState  # noqa: E402
from link_sync.web import bound_port, start_web  # noqa: E402

from sliced_files import MINI_THUMBNAILS, MK4_THUMBNAILS, sliced  # noqa: E402

#: the config's default (the planner has none of its own)
STALE_AFTER: float = Config.model_fields["stale_after"].default

PRINTERS = 500
FILES = 1_000
RESULTS = ROOT / "bench" / "results" / "files.json"
CHROMIUM = os.environ.get("LINK_SYNC_CHROMIUM", "/usr/bin/chromium")


class NoControl:
    def sync_all(self) -> None: ...
    def sync_printer(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...


def write_master(root: Path) -> None:
    for i in range(FILES):
        mk4 = i % 2 == 0
        suffix = ".bgcode" if i % 3 == 0 else ".gcode"
        folder = f"batch{i // 100:02d}"
        sliced(
            root / folder / f"part{i:04d}_{'MK4' if mk4 else 'MINI'}{suffix}",
            "MK4" if mk4 else "MINI",
            MK4_THUMBNAILS if mk4 else MINI_THUMBNAILS,
        )
    old = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))


def fill(farm: FarmState, root: Path) -> dict[str, Any]:
    files = tuple(scan_source(root).files)
    names = [f"{'mk4' if i % 2 else 'mini'}-{i:03d}" for i in range(PRINTERS)]
    for name in names:
        farm.add_printer(name, f"10.0.{len(name)}.1")
    started = time.perf_counter()
    located = locate(root, files, farm.files.thumbnails)
    first_look = time.perf_counter() - started
    targets = {str(f.abspath): read_target(f.abspath) for f in files}
    farm.files.set_master(root, files, names, targets, located)
    rules = PlanRules(stale_after=STALE_AFTER, extensions=frozenset({".gcode", ".bgcode"}))
    plans = {}
    for model in ("MK4", "MINI"):
        away = {
            f.path: f"sliced for {'MINI' if model == 'MK4' else 'MK4'}; this is an {model}"
            for f in files
            if targets[str(f.abspath)].model != model
        }
        for missing in range(5):  # a few printers lack a few files each
            listing = [
                RemoteEntry(f.path, is_dir=False, size=f.size, mtime=f.mtime)
                for i, f in enumerate(files)
                if f.path not in away and i % 50 != missing
            ]
            plans[(model, missing)] = make_plan(files, listing, {}, rules, not_wanted=away)
    for i, name in enumerate(names):
        model = "MK4" if name.startswith("mk4") else "MINI"
        farm.files.planned(name, files, plans[(model, i % 5)])
    cache = farm.files.thumbnails
    before = (cache.located, cache.decoded)
    started = time.perf_counter()
    again = locate(root, scan_source(root).files, cache)  # a rescan: new LocalFiles, same files
    rescan = time.perf_counter() - started
    assert again == located
    read, decoded = cache.located - before[0], cache.decoded - before[1]
    return {"first_look_s": first_look, "rescan_s": rescan, "read": read, "decoded": decoded}


def timed_get(client: httpx.Client, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed, len(response.content)


def serve(farm: FarmState) -> tuple[str, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    url: list[str] = []

    async def start() -> None:
        runner = await start_web(farm, NoControl(), "127.0.0.1:0")
        url.append(f"http://127.0.0.1:{bound_port(runner)}")
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(30)
    return url[0], loop


DRAWN = """(files) => document.body.dataset.drawn === String(files) &&
  [...document.querySelectorAll('#files td.thumb img')]
    .every((i) => i.complete && i.naturalWidth > 0)"""


def page_draw(url: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(5):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            started = time.perf_counter()
            page.goto(url + "/files")
            while not page.evaluate(DRAWN, FILES):  # CDP evaluate: the page's CSP allows it
                assert time.perf_counter() - started < 60
                time.sleep(0.01)
            times.append(time.perf_counter() - started)
            context.close()
        browser.close()
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "master"
        write_master(root)
        farm = FarmState()
        facts = fill(farm, root)
        url, loop = serve(farm)
        with httpx.Client(timeout=30) as client:
            fresh, cached = [], []
            for _ in range(20):
                loop.call_soon_threadsafe(farm.files._changed)  # as after an upload
                time.sleep(0.05)
                fresh.append(timed_get(client, url + "/api/files")[0])
                cached.append(timed_get(client, url + "/api/files")[0])
            size = timed_get(client, url + "/api/files")[1]
            one = [timed_get(client, url + "/api/files/batch03/part0300_MK4.bgcode")[0]]
            one += [timed_get(client, url + "/api/files/batch03/part0300_MK4.bgcode")[0]]
        page_times = page_draw(url)
        loop.call_soon_threadsafe(loop.stop)
    result = {
        "printers": PRINTERS,
        "files": FILES,
        "api_files_fresh_ms": round(statistics.median(fresh) * 1000, 1),
        "api_files_fresh_max_ms": round(max(fresh) * 1000, 1),
        "api_files_cached_ms": round(statistics.median(cached) * 1000, 1),
        "api_files_bytes": size,
        "api_file_detail_ms": round(min(one) * 1000, 1),
        "thumbnails_first_look_s": round(facts["first_look_s"], 3),
        "rescan_unchanged_s": round(facts["rescan_s"], 4),
        "rescan_files_read": facts["read"],
        "rescan_thumbnails_decoded": facts["decoded"],
        "view_drawn_median_s": round(statistics.median(page_times), 3),
        "view_drawn_max_s": round(max(page_times), 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    assert result["rescan_thumbnails_decoded"] == 0 and result["rescan_files_read"] == 0


if __name__ == "__main__":
    main()
