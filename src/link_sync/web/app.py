"""The HTTP interface of `watch --http`: the page, the JSON API, SSE, metrics, health.

Reads go straight to the FarmState; writes go to the watch's Control, and only
with `Authorization: Bearer <token>`: no token configured (or `read_only`) means
every write answers 403, a missing or wrong token 401 with nothing more said.
Every write is logged (never the token). Answers use the contract's shape:
`{"ok": true|false, "error": null|"why", ...}`.

The page is three static files shipped in the package; it builds its DOM with
`textContent` only, so a file or job name is always text, never markup, and
the Content-Security-Policy forbids inline script as a second line of defence.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from link_sync import printable
from link_sync.watch.events import EVENTS
from link_sync.watch.state import Control, FarmState
from link_sync.web.events import MAX_STREAMS, EventStreams
from link_sync.web.files import add_routes as add_file_routes
from link_sync.web.metrics import Metrics

log = logging.getLogger("link_sync.web")

#: The page's files: name -> content type. Nothing else is served from the package.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "files.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "files.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answer(status: int = 200, error: str | None = None, **data: Any) -> web.Response:
    body = {"ok": error is None, "error": error, **data}
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(printable.document(data), ensure_ascii=False, separators=(",", ":"))


def make_app(
    farm: FarmState,
    control: Control,
    *,
    token: str | None = None,
    read_only: bool = False,
    hosts: set[str] | None = None,
    max_streams: int = MAX_STREAMS,
) -> web.Application:
    """The aiohttp application; `start_web` serves it.

    `hosts`: the Host headers accepted (None: any). A server on loopback accepts only
    its own loopback names, so a web page whose name was re-pointed at 127.0.0.1 (DNS
    rebinding) cannot read the farm through the operator's browser. `max_streams`: event
    streams served at once; more are answered 503.
    """
    assets = {name: _asset(name) for name in ASSETS}
    writable = bool(token) and not read_only
    metrics = Metrics(farm)
    streams = EventStreams(farm, max_streams)

    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            if hosts is not None and request.host.lower() not in hosts:
                response = answer(421, "unexpected Host header")
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            # aiohttp's own 404/405: in the API's shape too
            response = answer(exc.status, exc.reason)
        response.headers.update(SECURITY_HEADERS)
        return response

    app = web.Application(middlewares=[headers])

    async def page(request: web.Request) -> web.Response:
        return _static("index.html", assets)

    async def files_page(request: web.Request) -> web.Response:
        return _static("files.html", assets)

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS or name.endswith(".html"):
            return answer(404, "not found")
        return _static(name, assets)

    async def healthz(request: web.Request) -> web.Response:
        if not farm.running:
            return answer(503, "the watch is not running")
        if not farm.master.available:
            return answer(503, f"the master folder {farm.master.path} is missing or empty")
        return answer(200, printers=len(farm.printers), master=farm.master.to_json())

    async def printers(request: web.Request) -> web.Response:
        return answer(200, writable=writable, events=EVENTS, **farm.to_json())

    async def printer(request: web.Request) -> web.Response:
        view = farm.printers.get(request.match_info["name"])
        if view is None:
            return answer(404, f"no printer named {request.match_info['name']!r}")
        return answer(200, printer=farm.view_json(view))

    async def events(request: web.Request) -> web.StreamResponse:
        if streams.full:
            response = answer(
                503, f"too many event streams open (at most {streams.limit}); try again later"
            )
            response.headers["Retry-After"] = "5"
            return response
        return await streams.handle(request)

    def write(action: str, call: Callable[[Control, str | None], None]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            name = request.match_info.get("name")
            who = request.remote or "?"
            refusal = _refusal(request, token, read_only)
            if refusal is not None:
                log.warning(
                    "refused %s %s from %s (%s)", request.method, request.path, who, refusal.status
                )
                return refusal
            if name is not None and name not in farm.printers:
                log.warning(
                    "refused %s %s from %s (no such printer)", request.method, request.path, who
                )
                return answer(404, f"no printer named {name!r}")
            try:
                call(control, name)
            except KeyError:
                return answer(404, f"no printer named {name!r}")
            log.info("%s %s from %s: %s requested", request.method, request.path, who, action)
            return answer(202, accepted=action, printer=name)

        return handler

    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/printers", printers)
    app.router.add_get("/api/printers/{name}", printer)
    app.router.add_get("/api/events", events)
    app.router.add_get("/metrics", metrics.handle)
    add_file_routes(app, farm, answer, files_page)
    app.router.add_post("/api/sync", write("sync", lambda c, _: c.sync_all()))
    app.router.add_post(
        "/api/printers/{name}/sync", write("sync", lambda c, n: c.sync_printer(_named(n)))
    )
    app.router.add_post(
        "/api/printers/{name}/pause", write("pause", lambda c, n: c.pause(_named(n)))
    )
    app.router.add_post(
        "/api/printers/{name}/resume", write("resume", lambda c, n: c.resume(_named(n)))
    )
    app.on_shutdown.append(streams.close_all)
    return app


def _refusal(request: web.Request, token: str | None, read_only: bool) -> web.Response | None:
    """None when the write may go ahead; else the answer that refuses it."""
    if read_only:
        return answer(403, "this server is read-only (http.read_only)")
    if not token:
        return answer(403, "writes are disabled: no http.token is configured")
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    ):
        response = answer(401, "unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return None


def _named(name: str | None) -> str:
    assert name is not None  # the route has {name}
    return name


def _asset(name: str) -> bytes:
    return resources.files("link_sync.web").joinpath("static", name).read_bytes()


def _static(name: str, assets: dict[str, bytes]) -> web.Response:
    return web.Response(
        body=assets[name],
        content_type=ASSETS[name].split(";")[0],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )
