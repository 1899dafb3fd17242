"""Start and stop the HTTP interface of `watch --http` on the watch's own event loop."""

from __future__ import annotations

import ipaddress
import logging

from aiohttp import web

from link_sync.errors import UsageError
from link_sync.watch.state import Control, FarmState
from link_sync.web.app import make_app

log = logging.getLogger("link_sync.web")

DEFAULT_LISTEN = "127.0.0.1:8470"


def parse_listen(listen: str) -> tuple[str, int]:
    """`ADDR:PORT`, `[v6]:PORT` or `PORT` (loopback) -> (host, port); UsageError if malformed."""
    text = listen.strip()
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise UsageError(f"--http {listen!r}: expected [ADDRESS]:PORT")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise UsageError(f"--http {listen!r}: expected ADDRESS:PORT, e.g. 127.0.0.1:8470")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--http {listen!r}: the port must be a number from 0 to 65535")
    return host or "0.0.0.0", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_exposure(host: str, token: str | None, read_only: bool) -> None:
    """Refuses (UsageError, exit 2) to serve writes to a network without a token."""
    if not is_loopback(host) and not token and not read_only:
        raise UsageError(
            f"refusing to serve HTTP on {host}, which is not loopback, without a token: "
            "set http.token (writes then need 'Authorization: Bearer <token>') "
            "or http.read_only: true"
        )


async def start_web(
    farm: FarmState,
    control: Control,
    listen: str = DEFAULT_LISTEN,
    token: str | None = None,
    read_only: bool = False,
) -> web.AppRunner:
    """Serves the page, API, SSE and metrics; returns the runner (`await runner.cleanup()`).

    `runner.addresses` tells where it listens (port 0 picks a free one).
    """
    host, port = parse_listen(listen)
    check_exposure(host, token, read_only)
    app = make_app(farm, control, token=token, read_only=read_only)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"--http {listen}: cannot listen there: {exc.strerror or exc}") from exc
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
