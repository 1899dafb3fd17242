"""Start and stop the HTTP interface of `watch --http` on the watch's own event loop."""

from __future__ import annotations

import logging

from aiohttp import web

from link_sync.errors import UsageError
from link_sync.watch.state import Control, FarmState
from link_sync.web.app import make_app
from link_sync.web.events import MAX_STREAMS
from link_sync.web.listen import check_exposure, is_loopback, parse_listen

log = logging.getLogger("link_sync.web")


async def start_web(
    farm: FarmState,
    control: Control,
    listen: str,
    token: str | None = None,
    read_only: bool = False,
    max_streams: int = MAX_STREAMS,
) -> web.AppRunner:
    """Serves the page, API, SSE and metrics; returns the runner (`await runner.cleanup()`).

    `runner.addresses` tells where it listens (port 0 picks a free one).
    """
    host, port = parse_listen(listen)
    check_exposure(host, token, read_only)
    hosts: set[str] | None = set() if is_loopback(host) else None  # filled once bound
    app = make_app(
        farm, control, token=token, read_only=read_only, hosts=hosts, max_streams=max_streams
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"--http {listen}: cannot listen there: {exc.strerror or exc}") from exc
    if hosts is not None:
        bound = bound_port(runner)
        hosts.update(f"{name}:{bound}" for name in ("127.0.0.1", "localhost", "[::1]"))
    where = ", ".join(_url(a) for a in runner.addresses)
    log.info("serving the farm page on %s%s", where, " (read-only)" if read_only else "")
    return runner


def _url(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"http://[{host}]:{address[1]}/" if ":" in host else f"http://{host}:{address[1]}/"
    return str(address)


def bound_port(runner: web.AppRunner) -> int:
    """The port the runner listens on (for port 0)."""
    address = runner.addresses[0]
    return int(address[1])
