"""Real printer-host servers on loopback, for tests, benchmarks and demos.

Each class installs its server into a cached virtualenv
(~/.cache/link-sync-tests/<name>-<version>/, override with LINK_SYNC_SERVER_CACHE),
runs it on 127.0.0.1 on a free port with fixed credentials, and stops it by PID:

    with OctoPrintServer(tmp_dir) as server:
        print(server.url, server.api_key, server.storage)
"""

from __future__ import annotations

from ._base import CACHE_ROOT, RealServer, ServerSetupError, free_port
from .moonraker import MoonrakerServer
from .octoprint import OCTOPRINT_NEXT_VERSION, OCTOPRINT_VERSION, OctoPrintServer, slow_gcode
from .prusalink import PrusaLinkServer

__all__ = [
    "CACHE_ROOT",
    "OCTOPRINT_NEXT_VERSION",
    "OCTOPRINT_VERSION",
    "MoonrakerServer",
    "OctoPrintServer",
    "PrusaLinkServer",
    "RealServer",
    "ServerSetupError",
    "free_port",
    "slow_gcode",
]
