"""The files view's routes: `GET /api/files`, `GET /api/files/{path}`, `GET /thumbnails/{path}`.

Only master files are served, and only those inside their master folder: a path with
`..`, an absolute path, a file the master does not list, or one whose real path leads
out of the master (a symlink) is 404, never read. A thumbnail is decoded in a worker
thread, once per file version (`ThumbnailCache`); one that cannot be shown is the
neutral mark. The `/api/files` document is serialised once per change of the farm's
files, so 20 pages polling it cost one serialisation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from link_sync import printable
from link_sync.core.file_states import placements
from link_sync.watch.files import detail_json
from link_sync.watch.state import FarmState

Respond = Callable[..., web.Response]


def safe_key(path: str) -> str | None:
    """`path` when it may name a master file (relative, no `.`/`..`, no NUL), else None."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return None
    if any(part in ("", ".", "..") for part in path.split("/")):
        return None
    return path


def add_routes(
    app: web.Application,
    farm: FarmState,
    answer: Respond,
    page: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> None:
    files = farm.files
    cached: dict[str, tuple[int, bytes]] = {}

    async def listing(request: web.Request) -> web.Response:
        known = cached.get("files")
        if known is None or known[0] != files.version:
            body = {"ok": True, "error": None, **files.document()}
            text = json.dumps(printable.document(body), ensure_ascii=False, separators=(",", ":"))
            known = cached["files"] = (files.version, text.encode())
        return web.Response(body=known[1], content_type="application/json")

    async def detail(request: web.Request) -> web.Response:
        key = safe_key(request.match_info["path"])
        entry = files.find(key) if key is not None else None
        if entry is None:
            return answer(404, "no such master file")
        unread = {
            name: view.reason or view.error or "not read yet"
            for name, view in farm.printers.items()
        }
        where = placements(entry, files.printers, unread)
        return answer(200, file=detail_json(entry, files.thumbnail_url(entry), where))

    async def thumbnail(request: web.Request) -> web.Response:
        key = safe_key(request.match_info["path"])
        entry = files.find(key) if key is not None else None
        if entry is None:
            return answer(404, "no such master file")
        file = entry.file
        picture = await asyncio.to_thread(
            files.thumbnails.picture, file.abspath, file.size, file.mtime_ns
        )
        # The URL names the file's version (?v=size-mtime): a browser may keep it.
        return web.Response(
            body=picture.body,
            content_type=picture.content_type,
            headers={"Cache-Control": "private, max-age=86400"},
        )

    app.router.add_get("/files", page)
    app.router.add_get("/api/files", listing)
    app.router.add_get("/api/files/{path:.+}", detail)
    app.router.add_get("/thumbnails/{path:.+}", thumbnail)
