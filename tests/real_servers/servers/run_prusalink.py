"""Start the real PrusaLink (prusa.link.__main__.main) with two changes for tests.

Its Zeroconf/mDNS announcer is replaced by a no-op, so nothing is multicast on
the machine's interfaces, and /tmp is removed from the storage blacklist so a
pytest tmp dir can hold the storage. Takes PrusaLink's own arguments.
"""

from __future__ import annotations

import sys

import prusa.link.const as const
import prusa.link.printer_adapter.prusa_link as prusa_link
import prusa.link.service_discovery as service_discovery


class NoServiceDiscovery:
    def __init__(self, port: int) -> None:
        self.port = port

    def is_on_port(self, port: int) -> bool:
        return False

    def unregister(self) -> None:
        pass


service_discovery.ServiceDiscovery = NoServiceDiscovery
prusa_link.ServiceDiscovery = NoServiceDiscovery
if "/tmp" in const.BLACKLISTED_PATHS:
    const.BLACKLISTED_PATHS.remove("/tmp")

from prusa.link.__main__ import main  # noqa: E402  (after the patches above)

sys.exit(main())
