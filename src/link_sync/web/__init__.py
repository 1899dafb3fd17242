"""The live farm page, JSON API, Server-Sent Events and Prometheus metrics of `watch --http`."""

from __future__ import annotations

from link_sync.web.app import make_app
from link_sync.web.server import bound_port, start_web

__all__ = ["bound_port", "make_app", "start_web"]
