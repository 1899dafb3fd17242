"""`link-sync watch --json --http 127.0.0.1:0` as a subprocess, for the browser tests.

An emulated farm runs on its own loop in a thread (`BackgroundFarm`); `call` runs a
function on that loop, so the test never touches the farm while it serves a request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from link_sync.emulator import PrinterSpec
from link_sync.emulator.testing import BackgroundFarm

T = TypeVar("T")


class FarmInThread:
    def __init__(self, specs: Sequence[PrinterSpec]) -> None:
        self.background = BackgroundFarm(specs)
        self.farm = self.background.farm

    def __enter__(self) -> FarmInThread:
        self.background.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.background.__exit__(*exc)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return self.background.call(fn, *args)


class WatchServer:
    """The watch with its web page; `url` once it serves, `events` as it prints them."""

    def __init__(
        self,
        farm: FarmInThread,
        master: Path,
        workdir: Path,
        http: dict[str, Any] | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        config = farm.farm.config(source=str(master))
        if http:
            config["http"] = http
        if edit is not None:
            edit(config)
        path = workdir / "link-sync.yml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
        path.chmod(0o600)
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(workdir / "state")}
        env.pop("LINK_SYNC_CONFIG", None)
        args = ["-c", str(path), "--settle", "0.3", "--poll-interval", "0.2"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "link_sync", "watch", "--json", *args, "--http", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=workdir,
        )
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.url = str(self.wait_event(event="http")["path"]).rstrip("/")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            event["_seen"] = time.monotonic()
            with self._lock:
                self.events.append(event)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.stderr.append(line)

    def find(self, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            events = list(self.events)
        return [e for e in events if all(e.get(k) == v for k, v in match.items())]

    def wait_event(self, timeout: float = 20.0, after: float = 0.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.find(**match) if e["_seen"] >= after]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"watch ended ({self.proc.returncode}): {self.stderr}")
            time.sleep(0.05)
        raise AssertionError(f"no event {match} within {timeout} s")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
