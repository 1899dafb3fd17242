"""`emulate --announce`: each emulated printer announces itself by mDNS as its
firmware does, on the address the emulator binds.

- Buddy firmware (>= 6.0): `_prusalink._tcp`, the printer's hostname as the instance
  name, no TXT record.
- The Raspberry-Pi PrusaLink (`prusa/link/service_discovery.py`): `_prusalink._tcp`,
  `_http._tcp` and `_octoprint._tcp`, each named "PrusaLink at <host>" (with ":<port>"
  when not 80), TXT `path=/`.

Two printers of one default hostname clash on a real network too; zeroconf then names
the second instance "<name> (2)", as mDNS responders do.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable

from link_sync.emulator.printer import EmulatedPrinter

BUDDY_SERVICES = ("_prusalink._tcp.local.",)
PI_SERVICES = ("_prusalink._tcp.local.", "_http._tcp.local.", "_octoprint._tcp.local.")


def announcements(printer: EmulatedPrinter, address: str) -> list[tuple[str, str, dict[str, str]]]:
    """(service type, instance name, TXT) of each service `printer` announces."""
    if printer.pi:
        port_part = "" if printer.port == 80 else f":{printer.port}"
        name = f"PrusaLink at {printer.hostname}{port_part}"
        return [(service, name, {"path": "/"}) for service in PI_SERVICES]
    return [(service, printer.hostname, {}) for service in BUDDY_SERVICES]


class Announcer:
    """Announces printers while open (`async with Announcer(printers, address)`)."""

    def __init__(self, printers: Iterable[EmulatedPrinter], address: str) -> None:
        self.printers = list(printers)
        self.address = address
        self._zc: object | None = None

    async def __aenter__(self) -> Announcer:
        from zeroconf import IPVersion, ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

        interfaces: list[str] | None = None if self.address in ("0.0.0.0", "") else [self.address]
        zc = (
            AsyncZeroconf(ip_version=IPVersion.V4Only)
            if interfaces is None
            else AsyncZeroconf(interfaces=interfaces)
        )
        self._zc = zc
        packed = socket.inet_aton(self.address if interfaces else "127.0.0.1")
        try:
            # registering probes the network first (about a second): the names at once;
            # each registration answers the task of its announcements, awaited too
            infos = [
                ServiceInfo(
                    service,
                    f"{name}.{service}",
                    port=printer.port,
                    properties=txt,
                    server=f"{printer.hostname}.local.",
                    addresses=[packed],
                )
                for printer in self.printers
                for service, name, txt in announcements(printer, self.address)
            ]
            # one name at a time: two printers of one default hostname must probe one
            # after the other for the second to be renamed
            by_name: dict[str, list[ServiceInfo]] = {}
            for info in infos:
                by_name.setdefault(info.name.lower(), []).append(info)

            async def register(same_name: list[ServiceInfo]) -> None:
                for info in same_name:
                    await (await zc.async_register_service(info, allow_name_change=True))

            await asyncio.gather(*(register(group) for group in by_name.values()))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        from zeroconf.asyncio import AsyncZeroconf

        zc, self._zc = self._zc, None
        if isinstance(zc, AsyncZeroconf):
            with contextlib.suppress(Exception):
                await zc.async_unregister_all_services()
            with contextlib.suppress(Exception):
                await zc.async_close()
