"""Helpers of the web tests (imported by their conftest and test modules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from link_sync.watch.state import FarmState

ServerFactory = Callable[..., Awaitable[str]]


class RecordingControl:
    """A Control that records what it was asked (the watch's scheduler stands behind it)."""

    def __init__(self, farm: FarmState) -> None:
        self.farm = farm
        self.calls: list[tuple[str, str | None]] = []

    def _known(self, name: str) -> None:
        if name not in self.farm.printers:
            raise KeyError(name)

    def sync_all(self) -> None:
        self.calls.append(("sync_all", None))

    def sync_printer(self, name: str) -> None:
        self._known(name)
        self.calls.append(("sync_printer", name))

    def pause(self, name: str) -> None:
        self._known(name)
        self.calls.append(("pause", name))
        self.farm.update_printer(name, watching="paused")

    def resume(self, name: str) -> None:
        self._known(name)
        self.calls.append(("resume", name))
        self.farm.update_printer(name, watching=True)
