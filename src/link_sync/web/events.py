"""`GET /api/events`: the farm as Server-Sent Events.

Unnamed messages (`onmessage`) are exactly the events `watch --json` prints, one
JSON object each. Named ones are for the page:
- `snapshot`: the whole farm (`/api/printers`' body), first on every connection;
- `recent`: then, a list of the last `RECENT_ON_CONNECT` events the watch kept (progress
  left out), so a page opened after a sync shows it;
- `printers`: the views changed since the last message, plus totals and master;
- `lost`: how many events this client missed by reading too slowly;
- `files`: `{"version": n}` when the farm by file changed (the files view reloads
  `/api/files`).

A stream wakes when the farm changes and then waits `FLUSH_EVERY` before writing,
so a busy farm (1,000 changes a second) costs each client a few writes a second,
and a transfer's progress still reaches the page several times a second.
"""

from __future__ import annotations

import asyncio
import json
import math
import weakref
from collections import OrderedDict
from typing import Any

from aiohttp import web

from link_sync import printable
from link_sync.watch.events import WatchEvent
from link_sync.watch.state import FarmState

#: Seconds a stream gathers changes before writing them: a state change still shows
#: within 1 s, and a 500-printer page redraws twice a second, not at every change.
FLUSH_EVERY = 0.5
#: Encoded events kept for the other clients (a few seconds of a busy farm).
ENCODED_KEPT = 5_000
#: Seconds of silence before a comment line keeps proxies and browsers from timing out.
KEEPALIVE = 15.0
#: Streams open at once; more are answered 503. Each holds a file descriptor, and a
#: watch out of them cannot read its master folder (EMFILE).
MAX_STREAMS = 64
#: Seconds between two looks at whether a quiet stream's client is still connected.
LEFT_CHECK = 1.0
#: Events a new stream starts with (the page shows 40).
RECENT_ON_CONNECT = 40


def sse(data: Any, event: str | None = None) -> str:
    text = json.dumps(printable.document(data), ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n"


async def _next_tick() -> None:
    """Sleeps to the next multiple of FLUSH_EVERY: every client flushes on the same
    ticks, so they all send the same text, made once."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    await asyncio.sleep((math.floor(now / FLUSH_EVERY) + 1) * FLUSH_EVERY - now)


def _client_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class _Recent(OrderedDict[tuple[object, ...], str]):
    """A dict that keeps only its `size` newest entries."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: tuple[object, ...], value: str) -> None:
        super().__setitem__(key, value)
        if len(self) > self.size:
            self.popitem(last=False)


class EventStreams:
    """Serves the SSE streams of one app and closes them when the app shuts down.

    Every client gets the same events and, mostly, the same changed views: each event
    is encoded once (`_encoded`), each view serialised once per change
    (`FarmState.view_json`), so 20 clients cost little more than one.
    """

    def __init__(self, farm: FarmState, limit: int = MAX_STREAMS) -> None:
        self.farm = farm
        self.limit = limit
        #: streams being served now
        self.open = 0
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        #: id(event) -> (event, its SSE text); the event is kept so its id is not reused
        self._encoded: OrderedDict[int, tuple[WatchEvent, str]] = OrderedDict()
        #: messages every client in step gets alike (they flush on the same ticks)
        self._shared: _Recent = _Recent(64)

    def _events_text(self, before: int, after: int, events: list[WatchEvent]) -> str:
        """The SSE text of the events between two cursors, made once for all clients."""
        key = ("events", before, after)
        text = self._shared.get(key)
        if text is None:
            text = self._shared[key] = "".join(self._event_text(e) for e in events)
        return text

    def _update_text(self, since: int, force: bool) -> str:
        """The `printers` message from version `since` to now ("" when no printer
        changed, unless `force`: the master or the running flag did), made once."""
        farm = self.farm
        key = ("printers", since, farm.version, farm.running, force)
        text = self._shared.get(key)
        if text is None:
            changed, removed = farm.changed_since(since)
            if not (changed or removed or force):
                self._shared[key] = ""
                return ""
            update = {
                "printers": [farm.view_json(v) for v in changed],
                "removed": removed,
                "totals": farm.totals(),
                "master": farm.master.to_json(),
                "running": farm.running,
            }
            text = self._shared[key] = sse(update, "printers")
        return text

    def _event_text(self, event: WatchEvent) -> str:
        known = self._encoded.get(id(event))
        if known is not None and known[0] is event:
            return known[1]
        text = sse(event.to_json())
        self._encoded[id(event)] = (event, text)
        if len(self._encoded) > ENCODED_KEPT:
            self._encoded.popitem(last=False)
        return text

    @property
    def full(self) -> bool:
        """No stream more may open now (the caller answers 503)."""
        return self.open >= self.limit

    async def handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.open += 1  # before any wait: `full` is checked just before this call
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            }
        )
        farm = self.farm
        try:
            # A client may leave before its headers are sent: inside the `try` too.
            await response.prepare(request)
            subscription = farm.subscribe()
            version = farm.version
            recent = [
                e for e in farm.events.recent(10 * RECENT_ON_CONNECT) if e.event != "progress"
            ]
            start = sse([e.to_json() for e in recent[-RECENT_ON_CONNECT:]], "recent")
            await response.write(
                ("retry: 1000\n" + sse(farm.to_json(), "snapshot") + start).encode()
            )
            shown = (farm.master.to_json(), farm.running)
            files_shown = farm.files.version
            quiet = 0.0
            while True:
                if not await farm.wait_changed(version, LEFT_CHECK):
                    if _client_left(request):
                        break  # its slot is free now, not at the next write
                    quiet += LEFT_CHECK
                    if quiet >= KEEPALIVE:
                        await response.write(b": keepalive\n\n")
                        quiet = 0.0
                    continue
                quiet = 0.0
                await _next_tick()
                before = subscription.cursor
                events = subscription.take()
                chunks = [self._events_text(before, subscription.cursor, events)]
                if subscription.lost:
                    chunks.append(sse({"events": subscription.lost}, "lost"))
                    subscription.lost = 0
                now_shown = (farm.master.to_json(), farm.running)
                if farm.version != version or now_shown != shown:
                    chunks.append(self._update_text(version, force=now_shown != shown))
                    shown = now_shown
                if farm.files.version != files_shown:
                    files_shown = farm.files.version
                    chunks.append(sse({"version": files_shown}, "files"))
                version = farm.version
                text = "".join(chunks)
                if text:
                    await response.write(text.encode())
        except ConnectionResetError:  # the client went away
            pass
        finally:
            self.open -= 1
        return response

    async def close_all(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
