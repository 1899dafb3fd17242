"""Where `watch --http` listens, and whether it may: pure checks, no server imports.

A refused listen address is a usage error (exit 2); `start_web` checks before it binds.
"""

from __future__ import annotations

import ipaddress

from link_sync.errors import UsageError


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
