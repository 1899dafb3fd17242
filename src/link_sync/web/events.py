"""`GET /api/events`: the farm as Server-Sent Events.

Unnamed messages (`onmessage`) are exactly the events `watch --json` prints, one
JSON object each. Named ones are for the page:
- `snapshot`: the whole farm (`/api/printers`' body), first on every connection;
- `printers`: the views changed since the last message, plus totals and master;
- `lost`: how many events this client missed by reading too slowly.

A stream wakes when the farm changes and then waits `FLUSH_EVERY` before writing,
so a busy farm (1,000 changes a second) costs each client a few writes a second,
and a transfer's progress still reaches the page several times a second.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

from aiohttp import web

from link_sync.watch.state import FarmState

#: Seconds a stream gathers changes before writing them (a state change shows well within 1 s).
FLUSH_EVERY = 0.25
#: Seconds of silence before a comment line keeps proxies and browsers from timing out.
KEEPALIVE = 15.0


def sse(data: Any, event: str | None = None) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n"


class EventStreams:
    """Serves the SSE streams of one app and closes them when the app shuts down."""

    def __init__(self, farm: FarmState) -> None:
        self.farm = farm
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            }
        )
        await response.prepare(request)
        farm = self.farm
        subscription = farm.subscribe()
        version = farm.version
        await response.write(("retry: 1000\n" + sse(farm.to_json(), "snapshot")).encode())
        shown = (farm.master.to_json(), farm.running)
        try:
            while True:
                if not await farm.wait_changed(version, KEEPALIVE):
                    await response.write(b": keepalive\n\n")
                    continue
                await asyncio.sleep(FLUSH_EVERY)
                chunks = [sse(e.to_json()) for e in subscription.take()]
                if subscription.lost:
                    chunks.append(sse({"events": subscription.lost}, "lost"))
                    subscription.lost = 0
                changed, removed = farm.changed_since(version)
                version = farm.version
                now_shown = (farm.master.to_json(), farm.running)
                if changed or removed or now_shown != shown:
                    shown = now_shown
                    update = {
                        "printers": [v.to_json() for v in changed],
                        "removed": removed,
                        "totals": farm.totals(),
                        "master": farm.master.to_json(),
                        "running": farm.running,
                    }
                    chunks.append(sse(update, "printers"))
                if chunks:
                    await response.write("".join(chunks).encode())
        except ConnectionResetError:  # the client went away
            pass
        return response

    async def close_all(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
