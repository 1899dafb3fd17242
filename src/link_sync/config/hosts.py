"""Host names, managed folders and paths as the config gives them, made canonical.

Pure functions, no I/O: `normalize_host` turns `10.0.0.5`, `10.0.0.5:8080` or
`https://printer.lan/` into one base URL; `normalize_destination` turns
`/prints//mk4/` into `prints/mk4`. A bad value raises `ValueError` saying why,
which the models turn into one `ConfigError` line naming the key.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")


@functools.lru_cache(maxsize=4096)  # `base_url` asks for it often: at load, per request path
def normalize_host(host: str) -> str:
    """`host`, `host:port` or `http(s)://host[:port]` → a base URL; ValueError says why not."""
    text = host.strip()
    if not text:
        raise ValueError("is empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    shown = host if "@" not in host else "(with user name or password)"
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"'{shown}' must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password; use 'username'/'password'")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text:
        raise ValueError(f"'{shown}' must be just a host and port, without a path or query")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"'{shown}' has an invalid port") from None
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        raise ValueError(f"'{shown}' has an invalid port")
    return _base_url(parts.scheme.lower(), parts.hostname or "", port, shown)


def _base_url(scheme: str, hostname: str, port: int | None, shown: str) -> str:
    if not hostname:
        raise ValueError(f"'{shown}' has no host name")
    if ":" in hostname:  # IPv6 literal
        host = f"[{hostname}]"
    elif _HOSTNAME.match(hostname):
        host = hostname.lower()
    else:
        raise ValueError(f"'{shown}' is not a valid host name or address")
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


def normalize_destination(value: str) -> str:
    """'/prints//mk4/' → 'prints/mk4'; '/' → ''; ValueError for '..' components."""
    parts = [part for part in value.strip().split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"'{value}' must not contain '..'")
    return "/".join(parts)


def absolute(path: Path, base: Path) -> Path:
    """`path` made absolute against `base`, with '~' expanded, '..' folded, symlinks kept."""
    return Path(os.path.abspath(base / path.expanduser()))


def absolute_setting(value: str | Path, base: Path) -> Path:
    """A path as written in the config (spaces around it, `~`) made absolute against `base`."""
    return absolute(Path(os.path.expanduser(str(value).strip())), base)


def printer_source(
    setting: str | Path | None, top: Path | None, fallback_base: Path
) -> Path | None:
    """A printer's master: its own `source` (relative to the top one), else the top one."""
    if setting is None:
        return top
    return absolute_setting(setting, top if top is not None else fallback_base)
