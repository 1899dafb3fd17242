"""The printer types link-sync knows: the single list that config validation,
`link-sync init`'s template, `--help` and the README's table read.

Adding a printer type is one backend module (a class built on
`http.HttpBackend`) and one `PrinterType` line below. Modules are imported only when a
printer of their type is opened, so the command line starts fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from link_sync.backends.base import Backend
    from link_sync.config import PrinterConfig


@dataclass(frozen=True, slots=True)
class AnnouncedKind:
    """One kind of printer as its mDNS announcement shows it (`discover`, `init --discover`)."""

    #: the kind its backend reports (`PrinterInfo.kind`)
    kind: str
    #: an announcement whose instance name starts so is of this kind ("": any)
    instance_prefix: str = ""
    #: its instance name is its hostname (Buddy firmware); else the record names the host
    instance_is_hostname: bool = False
    #: where its model is learned, if anywhere: "hostname" (the family its default
    #: hostname names: Buddy firmware's `prusa-mk4`), "txt" (its TXT record's `model`, its
    #: profile's: OctoPrint), "credentials" (its API, asked with them: the Pi PrusaLink)
    model_from: Literal["hostname", "txt", "credentials"] | None = None


@dataclass(frozen=True, slots=True)
class CredentialVars:
    """The environment variables of a type's credentials: `discover` reads them for the
    printers no config names, `init --discover` writes them as `${VAR}` references."""

    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    #: the user when only a password is set (Buddy's digest user is always "maker")
    default_username: str | None = None
    #: the API key is optional: `init --discover` writes its line commented, with this note
    optional_key_note: str | None = None


@dataclass(frozen=True, slots=True)
class PrinterType:
    """One value of a printer's `type:` key."""

    name: str
    #: One line for `init`'s template, `--help` and the README.
    description: str
    #: Its backend class, "module:Class"; its `open(printer)` gives the backend.
    backend: str
    #: The names of the storage used when the config names none. A printer has one of
    #: them (PrusaLink: a Buddy's `usb` or the Pi's `local`), so each names that storage.
    default_storages: tuple[str, ...]
    #: Whether the `storage:` key is read (OctoPrint and Moonraker have one storage).
    reads_storage: bool = False
    #: Whether paths on the storage may be case-insensitive (a Buddy's FAT stick).
    case_insensitive: bool = False
    #: Whether a printer of this type may print binary G-code (`send_as: bgcode`): a
    #: PrusaLink printer does when it runs Buddy firmware (its backend says so at the
    #: probe), OctoPrint and Moonraker hosts never.
    may_print_bgcode: bool = False
    #: The mDNS service type its printers announce ("_prusalink._tcp.local.").
    service: str = ""
    #: The kinds an announcement of `service` may be; the first whose prefix matches.
    announced: tuple[AnnouncedKind, ...] = ()
    credentials: CredentialVars = CredentialVars()
    #: `init --discover` asks a terminal for the model of such a printer when it does not
    #: say it (PrusaLink: Buddy firmware never does).
    asks_model: bool = False
    #: "module:function" (host, timeout) -> the version the host says without
    #: credentials ("" when it answers none), None when it does not answer (Moonraker).
    version_without_credentials: str | None = None

    async def open(self, printer: PrinterConfig) -> Backend:
        backend_class = _load(self.backend)
        return cast("Backend", await backend_class.open(printer))

    def announced_kind(self, instances: Iterable[str]) -> AnnouncedKind:
        """The kind of a printer of this type announced under these instance names."""
        names = tuple(instances)
        return next(
            kind
            for kind in self.announced
            if any(name.startswith(kind.instance_prefix) for name in names)
        )

    async def version_said(self, host: str, timeout: float) -> str | None:
        """See `version_without_credentials`; None for a type that says nothing."""
        if self.version_without_credentials is None:
            return None
        ask = _load(self.version_without_credentials)
        return cast("str | None", await ask(host, timeout))


def _load(reference: str) -> Any:
    """The object a "module:name" reference names (its module imported on first use)."""
    module_name, _, name = reference.partition(":")
    return getattr(importlib.import_module(module_name), name)


PRINTER_TYPES: dict[str, PrinterType] = {
    t.name: t
    for t in (
        PrinterType(
            "prusalink",
            "Prusa printers through PrusaLink (Buddy firmware or Raspberry-Pi PrusaLink)",
            "link_sync.backends.prusalink:PrusaLinkBackend",
            default_storages=("usb", "local"),
            reads_storage=True,
            case_insensitive=True,
            may_print_bgcode=True,
            service="_prusalink._tcp.local.",
            announced=(
                # the Pi announces "PrusaLink at <host>"; Buddy firmware, its hostname
                AnnouncedKind("prusalink-pi", "PrusaLink at ", model_from="credentials"),
                AnnouncedKind("buddy", instance_is_hostname=True, model_from="hostname"),
            ),
            credentials=CredentialVars(
                username="FARM_USERNAME", password="FARM_PASSWORD", default_username="maker"
            ),
            asks_model=True,
        ),
        PrinterType(
            "octoprint",
            "OctoPrint hosts (API key)",
            "link_sync.backends.octoprint:OctoPrintBackend",
            default_storages=("local",),
            service="_octoprint._tcp.local.",
            announced=(AnnouncedKind("octoprint", model_from="txt"),),
            credentials=CredentialVars(api_key="OCTOPRINT_API_KEY"),
        ),
        PrinterType(
            "moonraker",
            "Moonraker / Klipper hosts (API key)",
            "link_sync.backends.moonraker:MoonrakerBackend",
            default_storages=("gcodes",),
            service="_moonraker._tcp.local.",
            announced=(AnnouncedKind("moonraker"),),
            credentials=CredentialVars(
                api_key="MOONRAKER_API_KEY", optional_key_note="if your Moonraker asks for one"
            ),
            version_without_credentials="link_sync.backends.moonraker:version_without_key",
        ),
    )
}
#: The type of a printer whose config says none.
DEFAULT_TYPE = "prusalink"


def type_names() -> tuple[str, ...]:
    """Every `type:` value, the default first."""
    return tuple(PRINTER_TYPES)


def announced_kind(kind: str | None) -> AnnouncedKind | None:
    """What an announcement of this kind tells (None: a kind no announcement has)."""
    return next((k for t in PRINTER_TYPES.values() for k in t.announced if k.kind == kind), None)
