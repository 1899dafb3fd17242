"""/api/v1/files/{local,sdcard}/... as Raspberry-Pi PrusaLink 0.8.1 serves it, bugs included."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

from aiohttp import web

from link_sync.emulator.fat import PI_PRINT_EXTENSIONS, entry_type
from link_sync.emulator.faults import Fault
from link_sync.emulator.http import Ctx, HttpError, flag
from link_sync.emulator.storage import Node, Storage
from link_sync.emulator.transfer import receive

_FORBIDDEN = frozenset('\\?"%¯°#ˇ')


def _kind(node: Node) -> str:
    return entry_type(node.name, node.is_dir, PI_PRINT_EXTENSIONS, ".hex")


def _storage(ctx: Ctx, name: str) -> Storage:
    if name == "local":
        return ctx.printer.storage
    if name == "sdcard":
        return ctx.printer.sdcard
    raise HttpError(404, "Location Not Found")


def _entry(ctx: Ctx, store: str, st: Storage, node: Node) -> dict[str, Any]:
    ro = store == "sdcard"
    size = st.dir_size(node) if node.is_dir else node.size
    out: dict[str, Any] = {
        "type": _kind(node),
        "name": node.name,
        "read_only": ro,
        "m_timestamp": node.m_timestamp,
        "size": size,
        "display_name": node.name,
    }
    if not node.is_dir:
        rel = st.path_of(node)
        refs: dict[str, Any] = {"download": f"/api/files/{store}/{st.root.name}/{rel}/raw"}
        if out["type"] == "PRINT_FILE":
            refs.update(icon=None, thumbnail=None)
        out["refs"] = refs
    return out


def _visible(node: Node) -> bool:
    return node.visible_at <= time.monotonic() and not node.name.startswith(".")


async def get(ctx: Ctx, store: str, parts: list[str], head: bool) -> web.StreamResponse:
    st = _storage(ctx, store)
    node = st.find(parts)
    if node is None or (not _visible(node) and node.parent is not None):
        raise HttpError(404, "File Not Found")
    if not node.is_dir:
        info = _entry(ctx, store, st, node)
        info["meta"] = {"estimated_print_time": max(60, node.size // 50)}
        return ctx.json(info)
    # one ETag for the whole tree, as the real server's cache headers are global
    pending = time.monotonic() < ctx.printer.lag_until
    etag = f'"{st.version:x}{"p" if pending else ""}"'
    headers = {"ETag": etag, "Last-Modified": formatdate(ctx.printer.changed_at, usegmt=True)}
    if ctx.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    kids = st.children(node, now=time.monotonic())
    body = _entry(ctx, store, st, node)
    body.pop("refs", None)
    body["children"] = [_entry(ctx, store, st, k) for k in kids if not k.name.startswith(".")]
    body["display_name"] = node.name
    return ctx.json(body, headers=headers)


def _unwatched(folder: Node) -> bool:
    """PrusaLink 0.8.1 indexes files through inotify and watches a new folder only once
    it has seen it: whatever is made in a folder it has not seen yet stays unlisted."""
    return folder.unindexed or folder.visible_at > time.monotonic()


def _lose_unwatched(created: list[Node], visible_at: float = 0.0) -> None:
    # Folders made in one go (`mkdir -p`): the index sees the first, not what is inside it.
    for folder in created:
        folder.visible_at = visible_at
    for inner in created[1:]:
        inner.unindexed = True
    if created and created[0].parent is not None and _unwatched(created[0].parent):
        created[0].unindexed = True


def _lagged(ctx: Ctx) -> float:
    lag = ctx.printer.spec.listing_lag
    if not lag:
        return 0.0
    until = time.monotonic() + lag
    ctx.printer.lag_until = max(ctx.printer.lag_until, until)
    return until


async def put(
    ctx: Ctx, store: str, parts: list[str], body_fault: Fault | None
) -> web.StreamResponse:
    p = ctx.printer
    st = _storage(ctx, store)
    if store == "sdcard":
        raise HttpError(409, "SD Card Read Only")
    h = ctx.headers
    if not parts or any(c in _FORBIDDEN for part in parts for c in part):
        raise HttpError(400, "Forbidden characters in file name")
    if flag(h.get("Create-Folder")):
        try:
            _, created = st.makedirs_counted(parts, p.stamp())  # mkdir -p: fine when it exists
        except NotADirectoryError:
            raise HttpError(409, "Conflict") from None
        _lose_unwatched(created, _lagged(ctx))
        p.touched()
        return web.Response(status=201)
    length = ctx.request.content_length
    if length is None:
        raise HttpError(411, "Length Required")
    existing = st.find(parts)
    if existing is not None and existing.is_dir:
        raise HttpError(409, "Conflict")
    if existing is not None and not flag(h.get("Overwrite")):
        raise HttpError(409, "File already exists")
    if p.transfer is not None:
        # the real server does not catch TransferRunningError
        raise HttpError(500, "Internal Server Error")
    ctype = (ctx.request.content_type or "") if "Content-Type" in h else ""
    if ctype == "application/octet-stream":
        if existing is not None:
            # bug (0.8.1): the file type check deletes the file it was about to replace
            st.remove(existing, ghost_until=_lagged(ctx))
            p.touched()
            raise HttpError(415, "Unsupported Media Type")
        blob = await receive(ctx, length, "/".join(parts), body_fault)
        # bug (0.8.1): libmagic runs on a path that does not exist yet; the .part stays
        st.commit(st.root, f".{parts[-1]}.part", blob, p.stamp())
        raise HttpError(500, "Internal Server Error")
    if ctype != "text/x.gcode":
        raise HttpError(415, "Unsupported Media Type")
    cap = p.spec.capacity
    if cap is not None and length > cap - st.used:
        raise HttpError(507, "Insufficient Storage")
    blob = await receive(ctx, length, "/".join(parts), body_fault)
    try:
        folder, created = st.makedirs_counted(parts[:-1], p.stamp())
    except NotADirectoryError:
        blob.discard()
        raise HttpError(409, "Conflict") from None
    _lose_unwatched(created, _lagged(ctx))
    if existing is not None and p.is_job_file(existing):
        p.job = None  # the replaced file is no longer the job's
    node = st.commit(folder, parts[-1], blob, p.stamp(), visible_at=_lagged(ctx))
    node.unindexed = _unwatched(folder)
    p.touched()
    if h.get("Print-After-Upload", "").strip().lower() in {"?1", "1", "true"} and p.can_print:
        p.start_print("/".join(parts))
    return web.Response(status=201)


async def delete(ctx: Ctx, store: str, parts: list[str]) -> web.StreamResponse:
    p = ctx.printer
    st = _storage(ctx, store)
    if store == "sdcard":
        raise HttpError(409, "SD Card Read Only")
    node = st.find(parts)
    if node is None or node.parent is None:
        raise HttpError(404, "File Not Found")
    if node.is_dir:
        if node.by_name and not flag(ctx.headers.get("Force")):
            raise HttpError(409, "Directory is not empty")
        if p.job is not None and p.has_job and _contains(node, p.job.node):
            raise HttpError(409, "File is currently printed")
    elif p.is_job_file(node):
        # web/lib/files.py check_job(): refused while the job is not IDLE, else the
        # file is deselected and deleted
        if p.has_job:
            raise HttpError(409, "File is currently printed")
        p.job = None
    st.remove(node, ghost_until=_lagged(ctx))
    p.touched()
    return web.Response(status=204)


def _contains(folder: Node, node: Node) -> bool:
    cur: Node | None = node
    while cur is not None:
        if cur is folder:
            return True
        cur = cur.parent
    return False


async def post(ctx: Ctx, store: str, parts: list[str]) -> web.StreamResponse:
    p = ctx.printer
    st = _storage(ctx, store)
    node = st.find(parts)
    if node is None or store != "local":
        raise HttpError(404, "File Not Found")
    if node.is_dir or not p.can_print:
        raise HttpError(409, "Printer is busy")
    p.start_print("/".join(parts))
    return web.Response(status=204)


async def download(ctx: Ctx, store: str, parts: list[str]) -> web.StreamResponse:
    st = _storage(ctx, store)
    # download refs carry the storage root's name before the path
    if parts and parts[0] == st.root.name:
        parts = parts[1:]
    node = st.find(parts)
    if node is None or node.is_dir:
        raise HttpError(404, "File Not Found")
    return web.Response(body=st.read(node), content_type="text/x.gcode")
