"""The HTTP front of one printer: URL-length and auth checks, faults, routing, request log.

Routing is a few comparisons on the path (no router): this runs for every request of
hundreds of printers, so it stays cheap.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from link_sync.emulator import buddy_files, hostile_answers, pi_files, status
from link_sync.emulator.auth import AuthRequest, BuddyAuth, Verdict
from link_sync.emulator.faults import STATUS_MESSAGES, Fault
from link_sync.emulator.http import Ctx, HttpError, flag, hang, stall_or_reset
from link_sync.emulator.listener import receive_window
from link_sync.emulator.printer import EmulatedPrinter, RequestRecord

#: Headers kept in the request log (p.requests) for assertions.
RECORDED = (
    "Authorization",
    "X-Api-Key",
    "Content-Length",
    "Content-Type",
    "Overwrite",
    "Create-Folder",
    "Print-After-Upload",
    "If-None-Match",
    "Force",
    "Accept",
    "Range",
)
#: The Buddy request parser's URL buffer (since v5.1.0).
MAX_URL_BYTES = 168

_STATUS_PATHS = {("v1", "status"), ("printer",), ("job",), ("v1", "job"), ("v1", "transfer")}
_INFO_PATHS = {("version",), ("v1", "info"), ("v1", "storage"), ("settings",)}
#: Buddy answers these to GET only (405 otherwise)
_GET_ONLY = frozenset({"v1/storage", "v1/info", "v1/job", "v1/status", "v1/transfer"})
_ONE_SHOT = frozenset({"status"})
_SLOW = frozenset({"slow"})
_STALL = frozenset({"stall", "reset"})


def make_server(printer: EmulatedPrinter) -> web.Server:
    handler = Handler(printer)
    return web.Server(
        handler.handle,
        handler_cancellation=True,  # a client that goes away cancels its handler
        access_log=None,
        keepalive_timeout=printer.spec.idle_timeout,  # the firmware's IDLE_TIMEOUT
        lingering_time=2.0,
        # room to catch up when a throttled upload falls behind; a throttled Buddy
        # holds no more than its window (listener.receive_window)
        read_bufsize=receive_window(printer.spec.rate, printer.pi) or 1 << 20,
    )


def classify(method: str, parts: list[str], create_folder: bool) -> str:
    """The fault `op` of a request (parts start after /api)."""
    if parts[:2] == ["v1", "files"] or parts[:1] == ["files"]:
        if method == "PUT":
            return "mkdir" if create_folder else "upload"
        if method == "DELETE":
            return "delete"
        if method == "POST":
            return "print"
        return "list"
    key = tuple(parts[:2])
    if key in _STATUS_PATHS or tuple(parts[:1]) in _STATUS_PATHS:
        return "print" if method in {"DELETE", "PUT"} else "status"
    if key in _INFO_PATHS or tuple(parts[:1]) in _INFO_PATHS:
        return "info"
    return "other"


class Handler:
    def __init__(self, printer: EmulatedPrinter) -> None:
        self.p = printer

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        p = self.p
        code = 0
        recorded = False
        conn = p.listener.gate.connection_of(request.transport)
        try:
            if conn is not None:
                await conn.begin()  # the request's slot (a pipelined one may wait for it)
            if p.spec.latency:
                await asyncio.sleep(p.spec.latency)
            resp = await self.dispatch(request)
            code = resp.status
            self._record(request, code)  # before the answer leaves: a client sees it logged
            recorded = True
            if conn is not None:
                # an upload's answer needs a slot again; the slot is held until the
                # answer is out, as the firmware's is
                await conn.acquire()
                await resp.prepare(request)
                await resp.write_eof()
            return resp
        finally:
            if conn is not None:
                conn.end()
            if not recorded:
                self._record(request, code)

    def _record(self, request: web.BaseRequest, code: int) -> None:
        h = request.headers
        self.p.record(
            RequestRecord(
                request.method,
                request.path,
                code,
                {k: h[k] for k in RECORDED if k in h},
                time.time(),
            )
        )

    async def dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        p = self.p
        parts = [x for x in request.path.split("/") if x]
        ctx = Ctx(request, p, "other", parts)
        try:
            if not p.pi and len(request.raw_path.encode()) > MAX_URL_BYTES:
                raise HttpError(414, "Request-URI Too Long")
            if parts[:1] == ["emulator"]:
                if parts[1:] == ["info"] and request.method == "GET":
                    return web.json_response(self.emulated())
                if p.pi:  # no screen, no stick: nothing to press or pull
                    raise HttpError(404, "Not Found")
                return self.emulator_control(request, parts[1:])
            if not parts or parts[0] not in {"api", "usb"} or (p.pi and parts[0] == "usb"):
                return web.Response(text=_index(p), content_type="text/html")
            if not (p.pi and request.method == "HEAD"):  # Pi serves HEAD without auth
                self.authenticate(request)
            if parts[0] == "usb":
                return await hostile_answers.download(
                    ctx, await buddy_files.download(ctx, parts[1:])
                )
            api = parts[1:]
            ctx.op = classify(request.method, api, flag(request.headers.get("Create-Folder")))
            redirect = hostile_answers.redirect(ctx)
            if redirect is not None:
                return redirect
            body_fault = await self.faults(ctx)
            return await hostile_answers.answer(ctx, await self.route(ctx, api, body_fault))
        except HttpError as err:
            return ctx.error(err)

    def emulated(self) -> dict[str, object]:
        """Not firmware: GET /emulator/info says what is emulated (the printer API says
        only what the real printer would)."""
        p = self.p
        return {
            "name": p.name,
            "profile": p.spec.profile,
            "model": p.profile.printer_type,
            "firmware": p.profile.firmware,
            "hostname": p.hostname,
            "nozzle_diameter": p.spec.nozzle_diameter,
            "state": p.state,
            "screen": p.screen_file,
            "question": p.question,
            "usb": p.usb,
        }

    def emulator_control(self, request: web.BaseRequest, parts: list[str]) -> web.StreamResponse:
        """Not firmware: what a person does at the printer, for an emulator run as a process.

        GET /emulator/info (above); POST /emulator/screen/back, /emulator/screen/print
        (409 without a preview),
        /emulator/usb/remove, /emulator/usb/insert; no auth (the emulator binds
        loopback). Answers the printer's state, screen, question and stick.
        """
        p = self.p
        actions = {
            ("screen", "back"): p.screen_back,
            ("screen", "print"): p.press_print,
            ("usb", "remove"): p.usb_remove,
            ("usb", "insert"): p.usb_insert,
        }
        action = actions.get((parts[0], parts[1]) if len(parts) == 2 else ("", ""))
        if action is None:
            raise HttpError(404, "Not Found")
        if request.method != "POST":
            raise HttpError(405, "Method Not Allowed")
        if action() is False and parts[1] == "print":
            raise HttpError(409, "No print preview on the screen")
        p.touched()
        body = {"state": p.state, "screen": p.screen_file, "question": p.question, "usb": p.usb}
        return web.json_response(body)

    def authenticate(self, request: web.BaseRequest) -> None:
        p = self.p
        h = request.headers
        req = AuthRequest(
            method=request.method,
            raw_uri=request.raw_path,
            authorization=h.get("Authorization"),
            api_key=h.get("X-Api-Key"),
            user_agent=h.get("User-Agent", ""),
        )
        verdict = p.auth.check(req)
        if verdict is Verdict.OK:
            return
        if isinstance(p.auth, BuddyAuth):
            if verdict is Verdict.BAD_KEY:
                challenge = f'ApiKey realm="{p.auth.realm}"'
            else:
                challenge = p.auth.challenge(stale=verdict is Verdict.STALE)
        else:
            if verdict is Verdict.BAD_KEY:
                raise HttpError(403, "Bad X-Api-Key.")
            challenge = p.auth.challenge(req.user_agent, stale=verdict is Verdict.STALE)
        raise HttpError(401, "Unauthorized", headers={"WWW-Authenticate": challenge})

    async def faults(self, ctx: Ctx) -> Fault | None:
        """Apply the faults due now; return a fault that must strike mid-body."""
        p = self.p
        op = ctx.op
        if not p.faults.items:
            return None
        for off in list(p.faults.items):
            if off.kind == "offline_after" and off.requests is not None and off.matches(op):
                off.hits += 1
                if off.hits >= off.requests:
                    p.faults.items.remove(off)
                    # stop listening now; drop the connections once this answer is out
                    p.listener.close(drop=False)
                    asyncio.get_running_loop().call_later(0.05, p.listener.gate.drop_all)
        slow = p.faults.take(op, _SLOW)
        if slow is not None:
            await asyncio.sleep(slow.seconds if slow.seconds is not None else 1.0)
        answer = p.faults.take(op, _ONE_SHOT)
        if answer is not None:
            raise HttpError(answer.status, STATUS_MESSAGES.get(answer.status, ""))
        fault = p.faults.take(op, _STALL)
        if fault is None:
            return None
        if op == "upload" and fault.after_bytes is not None:
            return fault
        await stall_or_reset(ctx.request, fault)
        return None

    async def route(self, ctx: Ctx, api: list[str], body_fault: Fault | None) -> web.StreamResponse:
        p = self.p
        method = ctx.request.method
        if api[:2] == ["v1", "files"]:
            if len(api) < 3:
                raise HttpError(404, "Not Found")
            store, rest = api[2], api[3:]
            if ".." in ctx.request.raw_path.split("?")[0].split("/"):
                raise HttpError(404, "Not Found")  # the firmware refuses `..`
            if p.pi:
                return await self._pi_files(ctx, method, store, rest, body_fault)
            if store != "usb":
                raise HttpError(403, "Forbidden")
            return await self._buddy_files(ctx, method, rest, body_fault)
        if p.pi and api[:1] == ["files"] and len(api) > 2 and api[-1] == "raw":
            return await hostile_answers.download(
                ctx, await pi_files.download(ctx, api[1], api[2:-1])
            )
        if method == "GET":
            doc = self._document(ctx, api)
            if doc is not None:
                return doc
        elif not p.pi and "/".join(api) in _GET_ONLY:
            raise HttpError(405, "Method Not Allowed")  # `get_only`, prusa_api_helpers.cpp
        if api[:2] == ["v1", "job"] and len(api) > 2:
            return status.job_command(ctx, api[2:])
        if api[:1] == ["files"] and method == "POST" and not p.pi:
            raise HttpError(410, "Gone")  # multipart upload, removed in 6.1.0
        raise HttpError(404, "Not Found")

    def _document(self, ctx: Ctx, api: list[str]) -> web.StreamResponse | None:
        p = self.p
        key = "/".join(api)
        if key == "version":
            return ctx.json(status.version(p))
        if key == "v1/info":
            return ctx.json(status.info(p))
        if key == "v1/storage":
            return ctx.json(status.storage(p))
        if key == "v1/status":
            return ctx.json(status.status(p))
        if key == "v1/job":
            return status.job(ctx)
        if key == "v1/transfer":
            return status.transfer(ctx)
        if key == "printer":
            return ctx.json(status.legacy_printer(p))
        if key == "job":
            return ctx.json(status.legacy_job(p))
        if key == "settings" and not p.pi:
            return ctx.json({})
        return None

    async def _buddy_files(
        self, ctx: Ctx, method: str, rest: list[str], body_fault: Fault | None
    ) -> web.StreamResponse:
        if method in {"GET", "HEAD"}:
            return await buddy_files.get(ctx, rest)
        if method == "PUT":
            return await buddy_files.put(ctx, rest, body_fault)
        if method == "DELETE":
            return await buddy_files.delete(ctx, rest)
        if method == "POST":
            return await buddy_files.post(ctx, rest)
        raise HttpError(405, "Method Not Allowed")

    async def _pi_files(
        self, ctx: Ctx, method: str, store: str, rest: list[str], body_fault: Fault | None
    ) -> web.StreamResponse:
        if method in {"GET", "HEAD"}:
            return await pi_files.get(ctx, store, rest, method == "HEAD")
        if method == "PUT":
            return await pi_files.put(ctx, store, rest, body_fault)
        if method == "DELETE":
            return await pi_files.delete(ctx, store, rest)
        if method == "POST":
            return await pi_files.post(ctx, store, rest)
        raise HttpError(405, "Method Not Allowed")


def _index(p: EmulatedPrinter) -> str:
    # The printer serves PrusaLink's web page here; what is emulated is at /emulator/info
    return f"<!doctype html><title>PrusaLink</title><p>PrusaLink on {p.hostname}</p>"


__all__ = ["Handler", "classify", "hang", "make_server"]
