"""Issue 12: a hung or switched-off printer costs one wait, not four, with DEFAULT settings.

One farm: two healthy emulated printers and four bad ones — a server that accepts
TCP and never answers, a printer that answers its status and then hangs in the
middle of its listing, one that hangs in the middle of an upload, and a closed
port. No `timeout:` or `connect_timeout:` is set: the defaults (30 s, 10 s) apply.
`plan` and `sync` end within 45 s, `status` within 12 s; the healthy printers are
synced, every bad one is reported unreachable with its reason, exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from link_sync.emulator import PrinterSpec
from link_sync.emulator.testing import BackgroundFarm
from tcp_proxy import TcpProxy

from sync_helpers import Master

SYNC_BOUND = 45.0
STATUS_BOUND = 12.0

MASTER = {
    "keep.gcode": b"G1 X1 ; keep\n" * 50,
    # bigger than loopback's socket buffers, so the hung upload stalls mid-body
    "big.gcode": b"G1 X2 Y3 ; big\n" * 400_000,
}
#: printer -> what its report must say
REASONS = {
    "never-answers": "no answer in 10 s",
    "hangs-mid-listing": "no answer in 30 s",
    "hangs-mid-upload": "no answer in 30 s",
    "closed-port": "connection refused",
}


class BlackHole:
    """Accepts TCP connections, reads what comes, never sends a byte."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while await reader.read(65536):
            pass
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class HungFarm:
    folder: Path
    master: Master
    farm: Any
    config: Path

    def run(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(self.folder / "state")}
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "link_sync", *args, "-c", str(self.config), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.folder,
            timeout=180,
        )
        return out, time.monotonic() - started


@pytest.fixture(scope="module")
def hung_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HungFarm]:
    folder = tmp_path_factory.mktemp("hung")
    master = Master(folder / "master")
    for path, data in MASTER.items():
        master.write(path, data, mtime=time.time() - 3600)
    specs = [
        PrinterSpec("healthy-mk4", profile="mk4"),
        PrinterSpec("healthy-mk3", profile="mk3", api_key="pi-key"),
        PrinterSpec("hangs-mid-listing", profile="mk4"),
        PrinterSpec("hangs-mid-upload", profile="mk4"),
    ]
    background = BackgroundFarm(specs)
    with background as farm:

        def on_loop(coroutine: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coroutine, background.loop).result(10)

        async def start() -> tuple[BlackHole, TcpProxy, TcpProxy]:
            hole = BlackHole()
            await hole.start()
            listing = TcpProxy(farm["hangs-mid-listing"].port)
            await listing.start()
            # Status, version and storage answer; the file listing stops half-way.
            listing.stall_response = lambda method, path: method == "GET" and "/files/" in path
            upload = TcpProxy(farm["hangs-mid-upload"].port)
            await upload.start()
            upload.stall_upload_at = 0.5
            return hole, listing, upload

        hole, listing, upload = on_loop(start())
        config = farm.config(source=str(master.root))
        printers = config["printers"]
        printers["hangs-mid-listing"]["host"] = listing.url
        printers["hangs-mid-upload"]["host"] = upload.url
        printers["never-answers"] = {"host": f"127.0.0.1:{hole.port}", "password": "x"}
        printers["closed-port"] = {"host": f"127.0.0.1:{closed_port()}", "password": "x"}
        for entry in printers.values():
            assert "timeout" not in entry and "connect_timeout" not in entry  # defaults
        path = folder / "link-sync.yml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        try:
            yield HungFarm(folder, master, farm, path)
        finally:

            async def stop() -> None:
                await hole.stop()
                await listing.stop()
                await upload.stop()

            on_loop(stop())


def timings(out: subprocess.CompletedProcess[str]) -> str:
    """Each printer's status, seconds and error: what a too-slow run spent its time on."""
    printers = json.loads(out.stdout)["printers"]
    return "; ".join(
        f"{p['name']}: {p.get('status')} {p.get('seconds')} {p.get('error')} "
        f"{[a.get('error') for a in p.get('actions', []) if a.get('error')]}"
        for p in printers
    )


def reports(out: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert "Traceback" not in out.stderr, out.stderr
    document = json.loads(out.stdout)
    return {p["name"]: p for p in document["printers"]}


def assert_bad_ones_named(printers: dict[str, dict[str, Any]], names: list[str]) -> None:
    for name in names:
        report = printers[name]
        text = json.dumps(report)
        assert REASONS[name] in text, text
        if "status" in report:  # sync and plan; status says `reachable`
            assert report["status"] == "unreachable", report
        else:
            assert report["reachable"] is False, report


def test_plan_and_sync_end_in_45_s_and_name_the_hung_printers(hung_farm: HungFarm) -> None:
    plan, plan_seconds = hung_farm.run("plan")
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert plan_seconds <= SYNC_BOUND, f"plan took {plan_seconds:.1f} s: {timings(plan)}"
    planned = reports(plan)
    # A plan uploads nothing: the printer that hangs mid-upload answers everything.
    assert_bad_ones_named(planned, ["never-answers", "hangs-mid-listing", "closed-port"])
    assert planned["healthy-mk4"]["status"] == "planned"

    sync, sync_seconds = hung_farm.run("sync")
    assert sync.returncode == 1, sync.stdout + sync.stderr
    assert sync_seconds <= SYNC_BOUND, f"sync took {sync_seconds:.1f} s: {timings(sync)}"
    synced = reports(sync)
    assert_bad_ones_named(synced, list(REASONS))
    for name in ("healthy-mk4", "healthy-mk3"):
        assert synced[name]["status"] == "synced", synced[name]
        assert hung_farm.farm[name].files() == MASTER
    print(f"plan {plan_seconds:.1f} s, sync {sync_seconds:.1f} s")


def test_status_ends_in_12_s_against_a_silent_printer_and_a_closed_port(
    hung_farm: HungFarm,
) -> None:
    selection = ["-p", "healthy-mk4", "-p", "never-answers", "-p", "closed-port"]
    out, seconds = hung_farm.run("status", *selection)
    assert out.returncode == 1, out.stdout + out.stderr
    assert seconds <= STATUS_BOUND, f"status took {seconds:.1f} s"
    rows = reports(out)
    assert rows["healthy-mk4"]["reachable"] is True
    assert_bad_ones_named(rows, ["never-answers", "closed-port"])
    print(f"status {seconds:.1f} s")


def test_status_on_a_terminal_shows_rows_as_printers_answer(hung_farm: HungFarm) -> None:
    import re

    import pexpect

    selection = ["-p", "healthy-mk4", "-p", "never-answers"]
    env = {
        **os.environ,
        "LINK_SYNC_STATE_DIR": str(hung_farm.folder / "state"),
        "TERM": "xterm-256color",
        "COLUMNS": "160",
        "LINES": "40",
    }
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "link_sync", "status", "-c", str(hung_farm.config), *selection],
        env=env,
        cwd=str(hung_farm.folder),
        encoding="utf-8",
        dimensions=(40, 160),
        timeout=30,
    )
    gap = r"(?:[\s│┃|]|\x1b\[[0-9;?]*[A-Za-z])+"
    # The healthy printer's row is on screen while the silent one is still awaited.
    child.expect(gap.join(["healthy-mk4", "yes"]))
    child.expect(r"waiting for never-answers")
    assert child.isalive()
    child.expect(gap.join(["never-answers", "no"]))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before or "")
    assert "Traceback" not in screen
