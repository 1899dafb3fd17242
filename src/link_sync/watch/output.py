"""How a watch shows itself: plain log lines, JSON Lines, or a live farm table.

All three only subscribe to the feed; none decides anything.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from link_sync.report import human_bytes
from link_sync.watch.events import WatchEvent
from link_sync.watch.feed import Feed

#: Events shown even with --quiet: something is wrong or needs a person.
PROBLEMS = frozenset(
    {"failed", "unreachable", "refused", "master_missing", "config_error", "crashed"}
)


class JsonLines:
    """One JSON object per event and line (`watch --json`)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, event: WatchEvent) -> None:
        self.stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        self.stream.flush()


class PlainLines:
    """'2026-12-01T14:00:00.123Z mk4-01: uploaded parts/clip.gcode (1.2 kB)', one per event."""

    def __init__(self, stream: IO[str], *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet

    def __call__(self, event: WatchEvent) -> None:
        if self.quiet and event.event not in PROBLEMS:
            return
        if event.event == "upload_started":
            return  # the 'uploaded' line follows; a start line per file doubles the log
        self.stream.write(event.line() + "\n")
        self.stream.flush()


class LiveTable:
    """The farm as a live table on a terminal, events scrolling above it."""

    def __init__(self, console: Console, feed: Feed) -> None:
        self.console = console
        self.feed = feed
        self.live = Live(self.render(), console=console, auto_refresh=False, transient=False)

    def __call__(self, event: WatchEvent) -> None:
        if event.event in ("upload_started", "state") and event.printer:
            return  # visible in the table itself
        style = "red" if event.event in PROBLEMS else ""
        self.console.print(Text(event.line(), style=style))

    async def run(self) -> None:
        with self.live:
            try:
                while True:
                    self.live.update(self.render(), refresh=True)
                    await asyncio.sleep(0.25)
            finally:
                self.live.update(self.render(), refresh=True)

    def render(self) -> Table:
        master = self.feed.master
        title = ""
        if master:
            where = master.get("path", "")
            title = f"master {where}: {master.get('files', 0)} files"
            if not master.get("available", True):
                title = f"master {where}: MISSING - paused"
        table = Table(title=title or None, box=None, pad_edge=False, title_justify="left")
        for column in ("printer", "state", "pending", "transfer", "last sync"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        for name in sorted(self.feed.printers):
            table.add_row(*_cells(self.feed.printers[name]))
        return table


def _cells(view: dict[str, Any]) -> list[Text | str]:
    state = view.get("state") or "?"
    style = ""
    if view.get("reachable") is False:
        state, style = "unreachable", "red"
    elif view.get("watching") == "paused":
        state, style = f"{state} (paused)", "magenta"
    elif view.get("syncing"):
        state, style = f"{state}, syncing", "cyan"
    elif view.get("in_sync"):
        style = "green"
    elif state not in ("IDLE", "READY", "FINISHED", "STOPPED"):
        style = "yellow"
    pending = ""
    files = view.get("pending_files")
    if files:
        pending = f"{files} files, {human_bytes(view.get('pending_bytes') or 0)}"
    elif view.get("in_sync"):
        pending = "in sync"
    transfer = ""
    current = view.get("transfer")
    if current:
        total = current.get("total") or 0
        percent = f" {100 * current['bytes'] / total:.0f}%" if total else ""
        rate = f" {human_bytes(current.get('rate') or 0)}/s" if current.get("rate") else ""
        transfer = f"{current['path']}{percent}{rate}"
    last = ""
    last_sync = view.get("last_sync")
    if last_sync:
        ago = time.time() - last_sync["time"]
        counts = ", ".join(f"{n} {op}" for op, n in last_sync["counts"].items() if n)
        last = f"{last_sync['status']} {ago:.0f} s ago" + (f" ({counts})" if counts else "")
    return [view["name"], Text(state, style=style), pending, transfer, last]
