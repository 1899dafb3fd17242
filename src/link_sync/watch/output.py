"""How a watch shows itself: plain log lines, JSON Lines, or a live farm table.

All three only listen to the farm state; none decides anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import threading
import time
from datetime import UTC, datetime
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from link_sync import printable
from link_sync.core.model import IDLE_STATES
from link_sync.core.units import human_bytes
from link_sync.watch.events import WatchEvent
from link_sync.watch.state import FarmState, PrinterView

#: Events shown even with --quiet: something is wrong or needs a person.
PROBLEMS = frozenset({"failed", "unreachable", "master_missing", "config_error"})
#: Events for machines and the page, not for a log a person reads.
CHATTER = frozenset({"progress", "sync_started", "upload_started"})
_VERBS = {"uploaded": "uploaded", "replaced": "replaced", "deleted": "deleted"}
_FILE_COUNT = re.compile(r"^\d+ files?$")


def timestamp(epoch: float) -> str:
    """'2026-12-01T14:00:00.123Z'."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def describe(event: WatchEvent) -> str | None:
    """The words of an event's log line, or None for an event a log leaves out."""
    name = event.event
    if name in CHATTER:
        return None
    if name in _VERBS:
        size = f" ({human_bytes(event.bytes)})" if event.bytes else ""
        return f"{_VERBS[name]} {event.path}{size}"
    if name == "failed":
        where = f" {event.path}" if event.path else ""
        return f"FAILED{where}: {event.error}"
    if name == "pending" and (event.message is None or _FILE_COUNT.match(event.message)):
        return None  # a sync's own plan: its uploads follow line by line
    if name == "synced":
        if not event.bytes:
            return None  # nothing sent: the deletes (if any) have their lines
        took = f", {event.seconds:.1f} s" if event.seconds is not None else ""
        return f"in sync ({human_bytes(event.bytes)} sent{took})"
    if name == "busy":
        return f"busy ({event.message}), waits for the print to end"
    if event.message:
        return event.message
    return name + (f": {event.error}" if event.error else "")


def line(event: WatchEvent) -> str | None:
    """'2026-12-01T14:00:00.123Z mk4-01: uploaded parts/clip.gcode (1.2 kB)'."""
    text = describe(event)
    if text is None:
        return None
    return printable.line(f"{timestamp(event.time)} {event.printer or 'watch'}: {text}")


class LineWriter:
    """Writes lines to a stream from a thread of its own.

    A reader of `watch --json` that stops reading (a full pipe) must not stop the
    watch: the event loop only queues the line. Past `limit` lines waiting, new ones
    are dropped and counted, and the count is written once the reader catches up.
    """

    def __init__(self, stream: IO[str], limit: int = 100_000) -> None:
        self.stream = stream
        self.dropped = 0
        self._lines: queue.Queue[str | None] = queue.Queue(limit)
        self._thread = threading.Thread(target=self._write, name="watch output", daemon=True)
        self._thread.start()

    def put(self, text: str) -> None:
        try:
            self._lines.put_nowait(text)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued (waiting at most `timeout` for a slow reader)."""
        with contextlib.suppress(queue.Full):
            self._lines.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _write(self) -> None:
        reported = 0
        while (text := self._lines.get()) is not None:
            try:
                if self.dropped > reported:
                    gone, reported = self.dropped - reported, self.dropped
                    self.stream.write(f"link-sync watch: {gone} events dropped (output not read)\n")
                self.stream.write(text + "\n")
                if self._lines.empty():
                    self.stream.flush()
            except (OSError, ValueError):  # the reader went away: nothing more to write
                return


class JsonLines:
    """One JSON object per event and line (`watch --json`)."""

    def __init__(self, writer: LineWriter) -> None:
        self.writer = writer

    def __call__(self, event: WatchEvent) -> None:
        self.writer.put(json.dumps(printable.document(event.to_json()), ensure_ascii=False))


class PlainLines:
    """One greppable, timestamped line per event that matters to a person."""

    def __init__(self, writer: LineWriter, *, quiet: bool = False) -> None:
        self.writer = writer
        self.quiet = quiet

    def __call__(self, event: WatchEvent) -> None:
        if self.quiet and event.event not in PROBLEMS:
            return
        text = line(event)
        if text is not None:
            self.writer.put(text)


class LiveTable:
    """The farm as a live table on a terminal, events scrolling above it."""

    def __init__(self, console: Console, farm: FarmState) -> None:
        self.console = console
        self.farm = farm
        self.live = Live(self.render(), console=console, auto_refresh=False, transient=False)

    def __call__(self, event: WatchEvent) -> None:
        if event.event == "state" and event.printer:
            return  # the table shows it
        text = line(event)
        if text is not None:
            self.console.print(Text(text, style="red" if event.event in PROBLEMS else ""))

    async def run(self) -> None:
        with self.live:
            try:
                while True:
                    self.live.update(self.render(), refresh=True)
                    await asyncio.sleep(0.25)
            finally:
                self.live.update(self.render(), refresh=True)

    def render(self) -> Table:
        master = self.farm.master
        title = f"master {master.path}: {master.files} files" if master.path else None
        if master.path and not master.available:
            title = f"master {master.path}: MISSING or EMPTY - everything paused"
        table = Table(title=title, box=None, pad_edge=False, title_justify="left")
        for column in ("printer", "state", "pending", "transfer", "last sync"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        for name in sorted(self.farm.printers):
            table.add_row(*cells(self.farm.printers[name]))
        return table


def cells(view: PrinterView) -> list[Text | str]:
    state = view.state or "?"
    style = ""
    if view.reachable is False:
        state, style = "unreachable", "red"
    elif view.watching == "paused":
        state, style = f"{state} (paused)", "magenta"
    elif view.activity:
        state, style = f"{state}, {view.activity}", "cyan"
    elif view.in_sync:
        style = "green"
    elif state not in IDLE_STATES:
        style = "yellow"
    printing = view.state is not None and view.state not in IDLE_STATES
    if printing and view.reachable is not False and view.while_printing == "upload":
        state += " (takes files)"
    pending = ""
    if view.pending_files:
        files = view.pending_files
        pending = f"{files} file{'s' if files != 1 else ''}, {human_bytes(view.pending_bytes)}"
    elif view.in_sync:
        pending = "in sync"
    transfer = ""
    if view.transfer is not None:
        current = view.transfer
        percent = f" {100 * current.bytes / current.total:.0f}%" if current.total else ""
        transfer = f"{current.path}{percent} {human_bytes(current.rate)}/s"
    last = ""
    if view.last_sync is not None:
        done = view.last_sync
        ago = time.time() - done.time
        counts = ", ".join(
            f"{n} {what}" for what, n in done.counts.items() if n and what != "bytes"
        )
        last = f"{done.status} {ago:.0f} s ago" + (f" ({counts})" if counts else "")
    shown = printable.cells([view.name, state, pending, transfer, last])
    return [Text(shown[0]), Text(shown[1], style=style), *(Text(cell) for cell in shown[2:])]
