"""A hostile or broken printer's answers (the fault kinds of `faults.HOSTILE_KINDS`).

A redirect answers instead of the request (nothing is changed on this printer);
the others replace or slow the answer of a request that was carried out. They
exist so that tests show link-sync bounding what a printer can make it read,
store, wait for or send elsewhere.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from link_sync.emulator.faults import Fault
from link_sync.emulator.http import Ctx

_REDIRECT = frozenset({"redirect"})
_ANSWER = frozenset({"endless", "huge", "deep_json", "drip"})
_DOWNLOAD = frozenset({"long_download"})
_CHUNK = 1 << 16
_PAD = b"x" * _CHUNK
#: the client went away: what a hostile server sees when link-sync stops reading
_GONE = (ConnectionError, RuntimeError)


def redirect(ctx: Ctx) -> web.Response | None:
    """A 3xx answer to send instead of carrying the request out, if one is due."""
    fault = ctx.printer.faults.take(ctx.op, _REDIRECT) if ctx.printer.faults.items else None
    if fault is None:
        return None
    status = fault.status if 300 <= fault.status < 400 else 307
    return web.Response(status=status, headers={"Location": fault.location or "/"})


async def answer(ctx: Ctx, response: web.StreamResponse) -> web.StreamResponse:
    """`response`, or what a due fault makes of it."""
    faults = ctx.printer.faults
    fault = faults.take(ctx.op, _ANSWER) if faults.items else None
    if fault is None:
        return response
    if fault.kind == "deep_json":
        body = b'{"deep":' + b"[" * fault.depth + b"]" * fault.depth + b"}"
        return web.Response(body=body, content_type="application/json")
    if fault.kind == "drip":
        return await _drip(ctx.request, response, fault.seconds or 2.0)
    real = _body(response)
    if fault.kind == "huge":
        size = fault.size if fault.size is not None else 100_000_000
        return await _huge(ctx.request, fault, real, size)
    return await _endless(ctx.request, fault, b'{"pad":"', None)


async def download(ctx: Ctx, response: web.StreamResponse) -> web.StreamResponse:
    """A download, longer than the file if a `long_download` fault is due (whatever its op)."""
    faults = ctx.printer.faults
    due = next((f for f in faults.items if f.kind == "long_download" and not f.exhausted), None)
    fault = faults.take(due.op, _DOWNLOAD) if due is not None else None
    if fault is None:
        return response
    return await _endless(ctx.request, fault, _body(response), fault.size)


def _body(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b""


async def _huge(
    request: web.BaseRequest, fault: Fault, real: bytes, size: int
) -> web.StreamResponse:
    """A JSON object of `size` bytes: a long "pad" member, then the real answer's members."""
    head = b'{"pad":"'
    tail = b'",' + real[1:] if real.startswith(b"{") and real.strip() != b"{}" else b'"}'
    pad = max(0, size - len(head) - len(tail))
    out = web.StreamResponse(headers={"Content-Type": "application/json"})
    out.content_length = len(head) + pad + len(tail)
    await out.prepare(request)
    try:
        await out.write(head)
        while pad > 0:
            step = min(pad, _CHUNK)
            await out.write(_PAD[:step])
            fault.sent += step
            pad -= step
        await out.write(tail)
    except _GONE:
        pass
    return out


async def _endless(
    request: web.BaseRequest, fault: Fault, head: bytes, extra: int | None
) -> web.StreamResponse:
    """`head`, then `extra` bytes of padding (None: padding until the client leaves)."""
    out = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    out.enable_chunked_encoding()
    await out.prepare(request)
    try:
        await out.write(head)
        fault.sent += len(head)
        left = extra
        while left is None or left > 0:
            step = _CHUNK if left is None else min(left, _CHUNK)
            await out.write(_PAD[:step])
            fault.sent += step
            if left is not None:
                left -= step
    except _GONE:
        pass
    return out


async def _drip(
    request: web.BaseRequest, response: web.StreamResponse, seconds: float
) -> web.StreamResponse:
    """The real answer, one byte every `seconds`."""
    body = _body(response)
    out = web.StreamResponse(status=response.status, reason=response.reason)
    out.content_type = response.content_type
    out.content_length = len(body)
    await out.prepare(request)
    try:
        for index in range(len(body)):
            await out.write(body[index : index + 1])
            await asyncio.sleep(seconds)
    except _GONE:
        pass
    return out


__all__ = ["answer", "download", "redirect"]
