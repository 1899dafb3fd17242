"""Request context, error answers and JSON answers shared by the route modules."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from link_sync.emulator import hostile_text
from link_sync.emulator.faults import HOSTILE_TEXT_KINDS, Fault
from link_sync.emulator.listener import abort_with_reset

if TYPE_CHECKING:
    from link_sync.emulator.printer import EmulatedPrinter

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}

PI_HELP = "https://help.prusa3d.com/article/prusa-link-errors"


class HttpError(Exception):
    def __init__(
        self, status: int, message: str = "", *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or REASONS.get(status, "")
        self.headers = headers or {}


def flag(value: str | None) -> bool:
    """Structured-header boolean: the firmware takes only `?1` as true."""
    return value is not None and value.strip() == "?1"


@dataclass(slots=True)
class Ctx:
    request: web.BaseRequest
    printer: EmulatedPrinter
    op: str
    parts: list[str]  # %-decoded path components after the route prefix

    @property
    def headers(self) -> Any:
        return self.request.headers

    def error(self, err: HttpError) -> web.Response:
        status, reason = err.status, REASONS.get(err.status, "Error")
        accept = self.headers.get("Accept", "")
        if self.printer.pi:
            url = f"{PI_HELP}#{status}"
            if "application/json" in accept:
                body = {"title": reason, "message": err.message, "url": url}
                resp = web.json_response(body, status=status, headers=err.headers)
                resp.headers["Content-Location"] = url
            else:
                text = f"{reason}\n{err.message}\n\n\nSee: {url}"
                resp = web.Response(text=text, status=status, headers=err.headers)
            return resp
        first = accept.split(",")[0].split(";")[0].strip().lower()
        if first == "application/json":
            body = {"title": f"{status}: {reason}", "message": err.message}
            resp = web.json_response(body, status=status, headers=err.headers)
        else:
            text = f"{status}: {reason}\n\n{err.message}\n"
            resp = web.Response(text=text, status=status, headers=err.headers)
        if self.request.method in {"PUT", "POST"}:
            resp.force_close()  # the firmware closes the connection after a refused upload
        return resp

    def json(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        hostile = self.printer.faults.take(self.op, HOSTILE_TEXT_KINDS)
        if hostile is not None:
            data = hostile_text.rewrite(data, hostile_text.payload(hostile.kind, self.printer))
        fault = self.printer.faults.take(self.op, frozenset({"malformed"}))
        if fault is not None:
            if fault.mode == "garbage":
                body = b'{"type": "FOLDER", "chil\x00\xff<html>'
                return web.Response(
                    body=body, status=status, headers=headers, content_type="application/json"
                )
            data = _missing_keys(data) if fault.mode == "missing_keys" else _wrong_types(data)
        text = json.dumps(data, separators=(",", ":"))
        return web.Response(
            text=text, status=status, headers=headers, content_type="application/json"
        )


def _missing_keys(data: Any, depth: int = 0) -> Any:
    """Drop every other key (two levels deep): answers a client cannot fully rely on."""
    if isinstance(data, dict) and depth < 3:
        return {k: _missing_keys(v, depth + 1) for i, (k, v) in enumerate(data.items()) if i % 2}
    if isinstance(data, list):
        return [_missing_keys(v, depth) for v in data]
    return data


def _wrong_types(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _wrong_types(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_wrong_types(v) for v in data]
    if isinstance(data, bool):
        return "yes" if data else 0
    if isinstance(data, int | float):
        return str(data)
    if isinstance(data, str):
        return 12345
    return "null"


async def hang() -> None:
    """Never answer (until the client goes away or the emulator stops)."""
    await asyncio.Event().wait()


async def drop(request: web.BaseRequest) -> None:
    """Reset the connection, then wait to be cancelled."""
    abort_with_reset(request.transport)
    await hang()


def stall_or_reset(request: web.BaseRequest, fault: Fault) -> Any:
    return drop(request) if fault.kind == "reset" else hang()
