"""Fixtures for the `link-sync watch` tests: a farm thread, a master, a running watch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from link_sync.emulator import PrinterSpec

from watch_harness import FarmThread, WatchProcess, write_config

#: Fast enough for tests, slow enough that "not yet sent" is observable.
SETTLE = "0.5"
POLL = "0.2"


@pytest.fixture
def farm_thread() -> Iterator[Callable[[Sequence[PrinterSpec]], FarmThread]]:
    started: list[FarmThread] = []

    def make(specs: Sequence[PrinterSpec]) -> FarmThread:
        farm = FarmThread(specs).__enter__()
        started.append(farm)
        return farm

    yield make
    for farm in reversed(started):
        farm.__exit__(None, None, None)


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Callable[..., WatchProcess]]:
    """`watch(farm, master_root, *options, config_extra={...})` -> a running WatchProcess."""
    running: list[WatchProcess] = []

    def start(
        farm: FarmThread,
        master_root: Path,
        *options: str,
        config_extra: dict[str, Any] | None = None,
        settle: str = SETTLE,
        poll_interval: str = POLL,
    ) -> WatchProcess:
        config = write_config(
            tmp_path / "link-sync.yml", farm.config(master_root, **(config_extra or {}))
        )
        process = WatchProcess(
            ["-c", str(config), "--settle", settle, "--poll-interval", poll_interval, *options],
            tmp_path / "state",
            tmp_path,
        )
        running.append(process)
        return process

    yield start
    for process in running:
        process.kill()
