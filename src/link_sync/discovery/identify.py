"""From announcements to printers: one `Found` per address and port, identified as far
as it can be.

Without credentials: the service types and TXT record (the Raspberry-Pi PrusaLink
announces itself "PrusaLink at <host>" with `path=/`, Buddy firmware by its hostname
with no TXT; OctoPrint's TXT carries `version` and its profile's `model`), the family in
a Buddy firmware's default hostname, and Moonraker's `/server/info`, which answers
without a key unless the server is set to require one. With credentials (a config
entry for the same host, else `FARM_USERNAME`/`FARM_PASSWORD`, `OCTOPRINT_API_KEY`,
`MOONRAKER_API_KEY` from the environment): the printer's own probe, as a sync does —
the only way to learn the model of a Pi PrusaLink, whose API answers nothing without
them. A Buddy printer never names its model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from link_sync.backends.registry import PRINTER_TYPES
from link_sync.core.printer_models import lookup_model
from link_sync.discovery.browse import Sighting
from link_sync.discovery.hostnames import family_of

#: Seconds for one identifying request.
REQUEST_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    api_key: str | None = None

    def __bool__(self) -> bool:
        return bool(self.password or self.api_key)


@dataclass(frozen=True, slots=True)
class Found:
    """One printer found on the network: what `discover --json` says of it."""

    host: str  # as the config takes it: "192.168.1.50" or "192.168.1.50:8080"
    type: str  # the config's `type`
    hostname: str
    services: tuple[str, ...]
    address: str
    port: int
    #: "buddy", "prusalink-pi", "octoprint", "moonraker" (None: not known)
    kind: str | None = None
    #: a firmware model name (`id_str`), only where the printer says it
    model: str | None = None
    #: the models its default hostname (Buddy) or its profile (OctoPrint) suggests
    choices: tuple[str, ...] = ()
    firmware: str | None = None
    serial: str | None = None
    uuid: str | None = None
    #: "announcement", "unauthenticated request", "credentials"
    identified_by: str = "announcement"
    #: why asking with credentials failed, if it did
    error: str | None = None
    name: str = ""

    @property
    def suggested_model(self) -> str | None:
        """The model to offer: the only choice, else None."""
        return self.choices[0] if len(self.choices) == 1 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "type": self.type,
            "hostname": self.hostname,
            "model": self.model,
            "suggested_model": self.suggested_model,
            "model_choices": list(self.choices),
            "kind": self.kind,
            "firmware": self.firmware,
            "serial": self.serial,
            "uuid": self.uuid,
            "services": list(self.services),
            "identified_by": self.identified_by,
            "error": self.error,
        }


def merge(sightings: Sequence[Sighting]) -> list[Found]:
    """One `Found` per address and port (a printer announcing several services is one)."""
    groups: dict[tuple[str, int], list[Sighting]] = {}
    for sighting in sightings:
        groups.setdefault((sighting.address, sighting.port), []).append(sighting)
    found = [_from_announcements(group) for group in groups.values()]
    return unique_names(sorted(found, key=lambda f: (f.hostname, f.address, f.port)))


def _from_announcements(group: Sequence[Sighting]) -> Found:
    # the first type in the registry's order that one of its services announces
    services = {s.service for s in group}
    printer_type = next(t for t in PRINTER_TYPES.values() if t.service in services)
    main = next(s for s in group if s.service == printer_type.service)
    txt: dict[str, str] = {}
    for sighting in group:
        txt.update(sighting.txt)
    kind = printer_type.announced_kind(s.instance for s in group)
    # Buddy: the instance is the hostname; the others name the host in the record
    hostname = main.instance if kind.instance_is_hostname else (main.server or main.instance)
    choices: tuple[str, ...] = ()
    family = family_of(hostname) if kind.model_from == "hostname" else None
    if family is not None:
        choices = family.choices
    elif kind.model_from == "txt" and txt.get("model"):
        said = lookup_model(txt["model"])
        choices = (said.name,) if said else ()
    host = main.address if main.port == 80 else f"{main.address}:{main.port}"
    return Found(
        host=host,
        type=printer_type.name,
        hostname=hostname,
        services=tuple(sorted({s.service.removesuffix(".local.") for s in group})),
        address=main.address,
        port=main.port,
        kind=kind.kind,
        choices=choices,
        firmware=txt.get("version") or None,
        uuid=txt.get("uuid") or None,
    )


def unique_names(found: Sequence[Found], taken: Collection[str] = ()) -> list[Found]:
    """Each printer named after its hostname, made unique (`prusa-mk4`, `prusa-mk4-2`)
    and not one of `taken`."""
    used = set(taken)
    out = []
    for printer in found:
        base = _name_of(printer.hostname) or f"printer-{printer.address.replace('.', '-')}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        out.append(replace(printer, name=name))
    return out


def _name_of(hostname: str) -> str:
    """A config key from a hostname: lower case, letters, digits, '-', '_' and '.'."""
    text = hostname.strip().lower().removesuffix(".local")
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


async def identify(found: Sequence[Found], credentials: Mapping[str, Credentials]) -> list[Found]:
    """Each printer asked what it is: `credentials` by host (as `Found.host`) or by
    type (`prusalink`, `octoprint`, `moonraker`) for every printer of that type."""
    return list(
        await asyncio.gather(
            *(_identify(f, credentials.get(f.host) or credentials.get(f.type)) for f in found)
        )
    )


async def _identify(found: Found, credentials: Credentials | None) -> Found:
    version = await PRINTER_TYPES[found.type].version_said(found.host, REQUEST_SECONDS)
    if version is not None:  # it answers without credentials (Moonraker)
        found = replace(
            found, firmware=version or found.firmware, identified_by="unauthenticated request"
        )
    if not credentials:
        return found
    from link_sync.backends import open_backend
    from link_sync.config import PrinterConfig
    from link_sync.errors import PrinterError

    printer = PrinterConfig(
        name=found.name or "found",
        host=found.host,
        type=found.type,
        username=credentials.username,
        password=credentials.password,
        api_key=credentials.api_key,
        timeout=REQUEST_SECONDS,
        connect_timeout=REQUEST_SECONDS,
    )
    backend = None
    serial: str | None = None
    try:
        backend = await open_backend(printer)
        info = await backend.probe()
        serial = await _serial(backend)
    except PrinterError as exc:
        return replace(found, error=str(exc))
    finally:
        if backend is not None:
            with contextlib.suppress(Exception):
                await backend.aclose()
    said = lookup_model(info.model) if backend.capabilities.names_model else None
    return replace(
        found,
        kind=info.kind,
        model=said.name if said else found.model,
        firmware=info.firmware or found.firmware,
        serial=serial,
        identified_by="credentials",
    )


async def _serial(backend: object) -> str | None:
    """A PrusaLink printer's serial number (`/api/v1/info`), where it answers one."""
    from link_sync.backends.prusalink import PrusaLinkBackend
    from link_sync.errors import PrinterError

    if not isinstance(backend, PrusaLinkBackend):
        return None
    try:
        body = await backend.get_json("/api/v1/info", "read info")
    except PrinterError:
        return None
    serial = body.get("serial") if isinstance(body, dict) else None
    return str(serial) if serial else None
