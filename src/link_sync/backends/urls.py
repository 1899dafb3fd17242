"""Printer paths in URLs."""

from __future__ import annotations

import urllib.parse


def quote_path(path: str) -> str:
    """Percent-encode each segment (spaces, non-ASCII, '#', '?', '%')."""
    return "/".join(urllib.parse.quote(part, safe="") for part in path.strip("/").split("/"))
