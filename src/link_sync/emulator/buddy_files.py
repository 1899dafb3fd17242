"""/api/v1/files/usb/... as the Buddy firmware serves it (FAT names, one transfer, 201+JSON)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from link_sync.emulator.fat import (
    BUDDY_PRINT_EXTENSIONS,
    clean_long_name,
    entry_type,
    extension,
    has_forbidden,
)
from link_sync.emulator.faults import Fault
from link_sync.emulator.http import Ctx, HttpError, flag
from link_sync.emulator.storage import Node
from link_sync.emulator.transfer import receive

_BUSY_STATES = frozenset({"PRINTING", "PAUSED"})
#: states in which `marlin_client::is_printing()` is false
_NOT_PRINTING = frozenset({"IDLE", "READY", "FINISHED", "STOPPED"})


def _kind(node: Node) -> str:
    return entry_type(node.name, node.is_dir, BUDDY_PRINT_EXTENSIONS, ".bbf")


def _listed(node: Node) -> bool:
    return not node.name.startswith(".") and _kind(node) in {"FOLDER", "PRINT_FILE"}


def _refs(ctx: Ctx, node: Node) -> dict[str, str]:
    short = ctx.printer.storage.path_of(node, short=True)
    return {
        "icon": f"/thumb/s/usb/{short}",
        "thumbnail": f"/thumb/l/usb/{short}",
        "download": f"/usb/{short}",
    }


def file_info(ctx: Ctx, node: Node) -> dict[str, Any]:
    return {
        "name": node.short,
        "ro": False,
        "type": _kind(node),
        "m_timestamp": node.m_timestamp,
        "size": node.size,
        "refs": _refs(ctx, node),
        "display_name": node.name,
    }


def _child(ctx: Ctx, node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.short, "ro": False, "type": _kind(node)}
    out["m_timestamp"] = node.m_timestamp
    if not node.is_dir:
        out["refs"] = _refs(ctx, node)
    out["display_name"] = node.name
    return out


def _find(ctx: Ctx, parts: list[str]) -> Node | None:
    return ctx.printer.storage.find([clean_long_name(p) for p in parts])


def _being_printed(ctx: Ctx, node: Node) -> bool:
    """`wui_is_file_being_printed()`: the job's file while a print (or its questions) runs."""
    p = ctx.printer
    return p.is_job_file(node) and p.state not in _NOT_PRINTING


async def get(ctx: Ctx, parts: list[str]) -> web.StreamResponse:
    p = ctx.printer
    if not p.usb:
        # `file_info.cpp` `get_file_metadata()`: only the exact path "/usb" of a missing
        # stick lists as an empty folder (no m_timestamp: stat() fails); "/usb/" (the URL
        # keeps its trailing slash) and anything below it are 404
        if [x for x in parts if x] or ctx.request.path.endswith("/"):
            raise HttpError(404, "Not Found")
        empty = {"type": "FOLDER", "ro": False, "name": "usb", "children": []}
        return ctx.json(empty, headers={"Read-Only": "false", "Currently-Printing": "false"})
    node = _find(ctx, parts)
    if node is None:
        raise HttpError(404, "Not Found")
    printing = _being_printed(ctx, node)
    headers = {"Read-Only": "false", "Currently-Printing": "true" if printing else "false"}
    if not node.is_dir:
        return ctx.json(file_info(ctx, node), headers=headers)
    etag = f'"{node.etag}"'
    headers["ETag"] = etag
    wanted = ctx.headers.get("If-None-Match")
    if wanted is not None and etag in {t.strip() for t in wanted.split(",")} | {"*"}:
        return web.Response(status=304, headers=headers)
    if wanted is not None and wanted.strip().strip('"') == str(node.etag):
        return web.Response(status=304, headers=headers)
    body: dict[str, Any] = {"type": "FOLDER", "ro": False, "name": node.short}
    if node.parent is not None:
        body["m_timestamp"] = node.m_timestamp
    kids = p.storage.children(node)
    body["children"] = [_child(ctx, k) for k in kids if _listed(k)]
    return ctx.json(body, headers=headers)


async def put(ctx: Ctx, parts: list[str], body_fault: Fault | None) -> web.StreamResponse:
    p = ctx.printer
    h = ctx.headers
    if flag(h.get("Create-Folder")):
        return _mkdir(ctx, parts)
    length = ctx.request.content_length
    if length is None or "chunked" in h.get("Transfer-Encoding", "").lower():
        raise HttpError(411, "Length Required")
    if length == 0:
        raise HttpError(501, "0-sized files aren't implemented")
    if p.transfer is not None:
        raise HttpError(409, "Another transfer in progress")
    # `PartialFile::create`: the temp file on the stick cannot be opened, or `f_expand`
    # cannot preallocate the whole length
    if not p.usb:
        raise HttpError(507, "Failed to write to location")
    cap = p.spec.capacity
    if cap is not None and length > cap - p.storage.used:
        raise HttpError(507, "USB drive full")
    names = [clean_long_name(x) for x in parts]
    if not names or not names[-1]:
        raise HttpError(404, "Destination directory does not exist")
    if extension(names[-1]) not in BUDDY_PRINT_EXTENSIONS:
        raise HttpError(415, "Not a GCODE")
    existing = p.storage.find(names)
    if existing is not None and existing.is_dir:
        raise HttpError(409, "Conflicting upload path")
    if existing is not None and _being_printed(ctx, existing):
        raise HttpError(409, "File is busy")
    if existing is not None and not flag(h.get("Overwrite")):
        raise HttpError(409, "File already exists")
    if any(has_forbidden(x) for x in names) or _blocked_parent(ctx, names[:-1]):
        raise HttpError(404, "Destination directory does not exist")
    stamp = p.stamp()  # FAT time of the temp file, taken when the upload starts
    blob = await receive(ctx, length, "/".join(names), body_fault)
    existing = p.storage.find(names)
    if existing is not None and not existing.is_dir and p.holds_open(existing):
        # `try_rename`: removing the old file fails with EBUSY while the screen holds it
        # (preview, finished/stopped print): the body was received for nothing
        blob.discard()
        raise HttpError(409, "File is busy")
    if not p.usb:  # pulled out during the upload
        blob.discard()
        raise HttpError(507, "USB write error or USB full")
    try:
        folder = p.storage.makedirs(names[:-1], stamp)
        node = p.storage.commit(folder, names[-1], blob, stamp)
    except OSError:
        blob.discard()
        raise HttpError(507, "Write error") from None
    if h.get("Print-After-Upload", "").strip().lower() in {"?1", "1", "true"}:
        if not p.can_print:
            raise HttpError(409, "Can't print right now")
        p.print_file(node)
    else:
        p.after_upload(node)
    resp = ctx.json(file_info(ctx, node), status=201)
    resp.force_close()
    return resp


def _blocked_parent(ctx: Ctx, names: list[str]) -> bool:
    """True when some parent component exists as a file."""
    node = ctx.printer.storage.root
    for name in names:
        nxt = ctx.printer.storage.child(node, name)
        if nxt is None:
            return False
        if not nxt.is_dir:
            return True
        node = nxt
    return False


def _mkdir(ctx: Ctx, parts: list[str]) -> web.StreamResponse:
    p = ctx.printer
    if not p.usb:
        raise HttpError(500, "Error creating directory")
    names = [clean_long_name(x) for x in parts]
    parent = p.storage.find(names[:-1]) if names else None
    if not names or parent is None or not parent.is_dir or any(has_forbidden(x) for x in names):
        raise HttpError(500, "Internal Server Error")
    if p.storage.child(parent, names[-1]) is not None:
        raise HttpError(409, "Already exists")
    p.storage.mkdir(parent, names[-1], p.stamp())
    resp = web.Response(status=201)
    resp.force_close()
    return resp


async def delete(ctx: Ctx, parts: list[str]) -> web.StreamResponse:
    """`print_utils.cpp` `remove_file()`."""
    p = ctx.printer
    node = _find(ctx, parts) if p.usb else None
    if node is None or node.parent is None:
        raise HttpError(404, "Not Found")
    if node.is_dir:
        if node.by_name:
            # the firmware cannot remove a non-empty folder and reports it as 404
            raise HttpError(404, "Not Found")
    elif p.is_job_file(node):
        if p.state in _BUSY_STATES:
            raise HttpError(409, "File is busy")
        if p.state in {"FINISHED", "STOPPED"}:
            p.leave_print_screen()  # first, then the file is free to go
    if not node.is_dir and p.holds_open(node):
        raise HttpError(409, "File is busy")  # remove() fails with EBUSY
    p.storage.remove(node)
    return web.Response(status=204)


async def post(ctx: Ctx, parts: list[str]) -> web.StreamResponse:
    p = ctx.printer
    node = _find(ctx, parts) if p.usb else None
    if node is None:
        raise HttpError(404, "Not Found")
    if node.is_dir or _kind(node) != "PRINT_FILE" or not p.can_print:
        raise HttpError(409, "Can't print right now")
    p.print_file(node)
    return web.Response(status=204)


async def download(ctx: Ctx, parts: list[str]) -> web.StreamResponse:
    node = _find(ctx, parts) if ctx.printer.usb else None
    if node is None or node.is_dir:
        raise HttpError(404, "Not Found")
    return web.Response(
        body=ctx.printer.storage.read(node), content_type="application/octet-stream"
    )
