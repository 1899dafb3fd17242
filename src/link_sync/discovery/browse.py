"""Listening for printers' mDNS announcements (python-zeroconf).

Each announcement seen is one `Sighting`: the service type, the instance name, the
address and port it gives, the host name behind it and its TXT record. One printer is
often seen several times (the Raspberry-Pi PrusaLink announces `_prusalink._tcp`,
`_http._tcp` and `_octoprint._tcp`); `identify` merges them by address and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from link_sync.backends.registry import PRINTER_TYPES
from link_sync.errors import UsageError

#: The service types printers announce, and the config `type` each stands for.
SERVICE_TYPES: Mapping[str, str] = {t.service: t.name for t in PRINTER_TYPES.values()}
#: Seconds to wait for one announcement's details (address, port, TXT).
RESOLVE_SECONDS = 1.5


@dataclass(frozen=True, slots=True)
class Sighting:
    """One announcement of one service."""

    service: str  # "_prusalink._tcp.local."
    instance: str  # the instance name without the service type: "prusa-mini"
    address: str
    port: int
    #: the announced host name without ".local." ("prusa-mini"), or "" when none
    server: str = ""
    txt: Mapping[str, str] = field(default_factory=dict)


def check_interface(interface: str | None) -> None:
    """`--interface` must be an IP address of this machine's (checked by zeroconf)."""
    if interface is None:
        return
    try:
        ipaddress.ip_address(interface)
    except ValueError:
        raise UsageError(f"--interface takes an IP address, got {interface!r}") from None


async def browse(timeout: float, interface: str | None = None) -> list[Sighting]:
    """Every printer service announced within `timeout` seconds, on `interface` (an
    address of this machine) or on every interface."""
    from zeroconf import IPVersion, ServiceStateChange, Zeroconf
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    check_interface(interface)
    try:
        if interface is None:
            zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        else:
            zc = AsyncZeroconf(interfaces=[interface])
    except OSError as exc:
        raise UsageError(
            f"cannot listen for mDNS on {interface or 'any interface'}: {exc}"
        ) from None
    found: dict[tuple[str, str], asyncio.Task[list[Sighting]]] = {}

    async def resolve(service: str, name: str) -> list[Sighting]:
        info = AsyncServiceInfo(service, name)
        if not await info.async_request(zc.zeroconf, RESOLVE_SECONDS * 1000):
            return []
        instance = name.removesuffix("." + service)
        server = (info.server or "").removesuffix(".").removesuffix(".local")
        txt = {
            key.decode(errors="replace"): (value or b"").decode(errors="replace")
            for key, value in info.properties.items()
        }
        return [
            Sighting(service, instance, address, info.port or 80, server, txt)
            for address in info.parsed_addresses(IPVersion.V4Only)
        ]

    def changed(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed or (service_type, name) in found:
            return
        found[(service_type, name)] = asyncio.ensure_future(resolve(service_type, name))

    browser = AsyncServiceBrowser(zc.zeroconf, list(SERVICE_TYPES), handlers=[changed])
    try:
        await asyncio.sleep(timeout)
        await browser.async_cancel()
        results = await asyncio.gather(*found.values(), return_exceptions=True)
    finally:
        for task in found.values():
            task.cancel()
        with contextlib.suppress(Exception):
            await zc.async_close()
    sightings: list[Sighting] = []
    for result in results:
        if isinstance(result, list):
            sightings.extend(result)
    return sightings
