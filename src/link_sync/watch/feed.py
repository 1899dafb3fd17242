"""Where a watch's events and printer views go.

The scheduler only calls `publish`, `update_printer`, `remove_printer` and
`set_master`; renderers (log lines, JSON Lines, the live table) and the web
page's farm-state model subscribe here. This is the one place that changes when
the farm-state model (`watch/state.py`) changes its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from link_sync.watch.events import WatchEvent

Subscriber = Callable[[WatchEvent], None]


class Feed:
    """The live picture of the farm plus a stream of events, fanned out to subscribers."""

    def __init__(self) -> None:
        self.printers: dict[str, dict[str, Any]] = {}
        self.master: dict[str, Any] = {}
        self._subscribers: list[Subscriber] = []
        self._view_listeners: list[Callable[[str], None]] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def on_view_change(self, listener: Callable[[str], None]) -> None:
        """`listener(printer_name)` after a printer's view changed (for redraws)."""
        self._view_listeners.append(listener)

    def publish(self, event: WatchEvent) -> None:
        for subscriber in self._subscribers:
            subscriber(event)

    def update_printer(self, name: str, **fields: Any) -> None:
        view = self.printers.setdefault(name, {"name": name})
        view.update(fields)
        for listener in self._view_listeners:
            listener(name)

    def remove_printer(self, name: str) -> None:
        self.printers.pop(name, None)
        for listener in self._view_listeners:
            listener(name)

    def set_master(self, path: str, file_count: int, available: bool) -> None:
        self.master = {"path": path, "files": file_count, "available": available}
