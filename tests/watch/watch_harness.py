"""Drive `link-sync watch` as a subprocess against an emulated farm in this process.

`WatchProcess` starts the command with `--json`, collects its JSON Lines on a
thread, and stops it with a signal. `FarmThread` is an emulated farm on its own
event loop (the test itself is not async); `call` runs a function on that loop,
so the test never touches the farm while it serves a request.
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
from link_sync.emulator.farm import Farm
from link_sync.emulator.printer import EmulatedPrinter
from link_sync.emulator.testing import BackgroundFarm

T = TypeVar("T")


def spec(name: str, **fields: Any) -> PrinterSpec:
    """A printer spec; the print preview (if the emulator has one) is off unless asked for."""
    if "preview" in PrinterSpec.__dataclass_fields__:
        fields.setdefault("preview", False)
    return PrinterSpec(name, **fields)


class FarmThread:
    def __init__(self, specs: Sequence[PrinterSpec]) -> None:
        self._background = BackgroundFarm(specs)
        self.farm: Farm = self._background.farm

    def __enter__(self) -> FarmThread:
        self._background.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._background.__exit__(*exc)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return self._background.call(fn, *args)

    def printer(self, name: str) -> EmulatedPrinter:
        return self.farm[name]

    def files(self, name: str) -> dict[str, bytes]:
        return self.call(self.farm[name].files)

    def names(self) -> list[str]:
        return [p.name for p in self.farm]

    def config(self, source: Path, **extra: Any) -> dict[str, Any]:
        config = self.farm.config(source=str(source))
        config.update(extra)
        return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    path.chmod(0o600)
    return path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "link_sync", *args]


class WatchProcess:
    """`link-sync watch --json ...` running; its events in `self.events`."""

    def __init__(
        self, args: Sequence[str], state_dir: Path, cwd: Path, *, plain: bool = False
    ) -> None:
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(state_dir)}
        env.pop("LINK_SYNC_CONFIG", None)
        #: plain output: its lines are kept in `lines` instead of events
        self.plain = plain
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            cli("watch", *([] if plain else ["--json"]), *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.events: list[dict[str, Any]] = []
        self.stderr = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.plain:
                with self._lock:
                    self.lines.append(line.rstrip("\n"))
                continue
            event = json.loads(line)  # anything but JSON on stdout fails the test
            event["_seen"] = time.monotonic()
            with self._lock:
                self.events.append(event)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.stderr += line

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def find(self, **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.snapshot() if all(e.get(k) == v for k, v in match.items())]

    def wait_event(self, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(**match)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                found = self.find(**match)
                if found:
                    return found[0]
                raise AssertionError(f"watch ended ({self.proc.returncode}): {self.stderr}")
            time.sleep(0.05)
        raise AssertionError(f"no event {match} in {timeout} s; got {self.snapshot()}")

    def send(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        finally:
            self._reader.join(5)
            self._err_reader.join(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
    """Poll `check` until true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")
