"""The five targets of the conformance suite, what each is known to do, and how to
reach, inspect and disturb it.

A target is a printer API the engine talks to through a `Backend`: the emulated
Buddy printer, the emulated Raspberry-Pi PrusaLink (both `link_sync.emulator`),
and the REAL PrusaLink 0.8.1, OctoPrint 1.11.8 and 2.0.0rc7 and Moonraker 0.11.0 of
tests/real_servers/. Each target's storage is read directly (the emulator's
state, the server's folder on disk) to judge what a backend call really did.

Faults: the emulator injects them itself, in the firmware's own wording. A real
server is put behind a loopback `TcpProxy` that answers or stalls one request
the server never sees: the real servers cannot be made to answer 5xx or to hang
on demand, and the proxy is the honest way to show what the backend does then.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol, cast

from link_sync import errors
from link_sync.backends.base import Backend
from link_sync.config import PrinterConfig
from link_sync.emulator import EmulatedPrinter, Fault
from tcp_proxy import TcpProxy

from real_servers._files import visible_tree
from real_servers.servers import (
    OCTOPRINT_VERSION,
    MoonrakerServer,
    OctoPrintServer,
    PrusaLinkServer,
    slow_gcode,
)

#: The backend class of each printer kind (PrinterInfo.kind).
BACKEND_CLASSES = {
    "buddy": "link_sync.backends.buddy:BuddyBackend",
    "prusalink-pi": "link_sync.backends.prusalink_pi:PiBackend",
    "octoprint": "link_sync.backends.octoprint:OctoPrintBackend",
    "moonraker": "link_sync.backends.moonraker:MoonrakerBackend",
}


def build_backend(kind: str, printer: PrinterConfig) -> Backend:
    """THE one place the suite makes a backend (adapt here when construction changes).

    Built directly, without a request, so that a test can hand it wrong credentials
    or an address that fails; `open_backend(printer)`, which the engine uses, picks
    the same class (test_probe_identifies_the_printer checks it).
    """
    module, _, name = BACKEND_CLASSES[kind].partition(":")
    return cast("Backend", getattr(importlib.import_module(module), name)(printer))


@dataclass(frozen=True)
class Credentials:
    label: str  # "password" (HTTP digest) or "api key"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    #: refused by probe() only: the backend knows without asking (no API key at all),
    #: and probe is the first call of every run
    probe_only: bool = False

    @property
    def secret(self) -> str:
        return self.api_key or self.password or ""


@dataclass(frozen=True)
class Expect:
    """What the target is known to do; the suite asserts every line against it."""

    type: str  # the config's `type:`
    kind: str  # PrinterInfo.kind after probing
    firmware: str | None
    storage: str
    free_space: bool  # probe reports free space
    case_insensitive: bool  # names compare case-insensitively (FAT)
    short_names: bool  # listings carry FAT 8.3 paths
    listing_sizes: bool  # listings carry file sizes
    content_hash: str | None
    extensions: frozenset[str]  # what the backend says the printer can hold and list again
    mkdir_before_upload: bool
    idle_states: frozenset[str]  # status of a target nobody prints on
    #: overwrite=False onto an existing file is refused (409); else the reason why not
    refuses_existing: bool | str
    #: what our upload raises while another client's is under way; else why it succeeds
    one_transfer: type[errors.PrinterError] | str
    #: what replacing the file being printed raises; else why the printer allows it
    busy_upload: type[errors.PrinterError] | str
    #: rmdir of a folder with files: the error it raises; else the reason it deletes them
    rmdir_not_empty: type[errors.PrinterError] | str
    #: what probe() reports besides, at least
    info_extra: dict[str, str] = field(default_factory=dict)
    #: two uploads at once clash on the printer: either may fail (retryably) or be mixed up
    #: the listing (and a file's answer) carries the `content_hash` of each file
    listing_hashes: bool = True
    concurrent_uploads_clash: bool = False
    #: names check_name refuses although this target keeps them: name -> why on purpose
    strict_names: dict[str, str] = field(default_factory=dict)
    #: the printer prints binary G-code (`send_as: bgcode` applies): Buddy firmware
    prints_bgcode: bool = False
    #: it prints from a host's disk: files other than the printed one can be uploaded,
    #: replaced and deleted during a print (`while_printing: upload` is allowed)
    prints_from_host_disk: bool = False
    #: ... and it takes them by default (`while_printing` defaults to upload)
    uploads_while_printing: bool = False
    #: a DELETE of a finished print's file leaves the print screen that holds it
    delete_leaves_print_screen: bool = False


#: Request operations faults can hit.
OPS = ("probe", "list", "upload", "delete", "status")


class Faults(Protocol):
    """Faults for the next request of one operation; `url` reaches the target through them."""

    url: str

    def answer(self, op: str, status: int) -> None: ...

    def stall(self, op: str) -> None: ...

    def offline(self) -> None:
        """Refuse every connection from now on."""
        ...


class Target:
    id: str
    expect: Expect
    #: working credentials, the first being the default
    credentials: list[Credentials]
    #: credentials the target must refuse
    wrong_credentials: list[Credentials]
    url: str
    #: a wait the target always answers within, even on a loaded machine (for stalls)
    short_wait = 1.0

    def config(
        self,
        credentials: Credentials | None = None,
        *,
        url: str | None = None,
        read_timeout: float = 30.0,
    ) -> PrinterConfig:
        """The printer as a config names it."""
        creds = credentials or self.credentials[0]
        return PrinterConfig(
            name=self.id,
            type=self.expect.type,
            host=url or self.url,
            username=creds.username,
            password=creds.password,
            api_key=creds.api_key,
            timeout=read_timeout,
        )

    def backend(
        self,
        credentials: Credentials | None = None,
        *,
        url: str | None = None,
        read_timeout: float = 30.0,
    ) -> Backend:
        printer = self.config(credentials, url=url, read_timeout=read_timeout)
        return build_backend(self.expect.kind, printer)

    # -- ground truth ----------------------------------------------------------------

    def files(self, below: str) -> dict[str, bytes]:
        """Files under `below` as the target stores them: storage path -> content."""
        raise NotImplementedError

    def folders(self, below: str) -> set[str]:
        raise NotImplementedError

    def short_path(self, path: str) -> str | None:
        """The FAT 8.3 path of `path` (short-name targets only)."""
        return None

    # -- control ---------------------------------------------------------------------

    def print_job(self) -> bytes:
        """Content for a file that is going to be printed (long enough to stay busy)."""
        return slow_gcode(120)

    async def start_printing(self, path: str) -> None:
        raise NotImplementedError

    async def stop_printing(self) -> None:
        raise NotImplementedError

    def faults(self) -> contextlib.AbstractAsyncContextManager[Faults]:
        raise NotImplementedError

    def transfer_in_progress(self) -> bool | None:
        """Whether the printer says an upload is under way (None: it cannot tell)."""
        return None


def _below(paths: dict[str, bytes] | set[str], below: str) -> list[str]:
    prefix = below.strip("/") + "/" if below.strip("/") else ""
    return [p for p in paths if p.startswith(prefix)]


# -- the emulated printers -----------------------------------------------------------------

_EMU_OPS = {"probe": "info", "list": "list", "upload": "upload", "delete": "delete"}


class EmulatorFaults:
    def __init__(self, printer: EmulatedPrinter) -> None:
        self.printer = printer
        self.url = printer.url

    def answer(self, op: str, status: int) -> None:
        self.printer.add_fault(Fault("status", op=_EMU_OPS.get(op, op), status=status))

    def stall(self, op: str) -> None:
        self.printer.add_fault(Fault("stall", op=_EMU_OPS.get(op, op)))

    def offline(self) -> None:
        self.printer.go_offline()


class EmulatedTarget(Target):
    short_wait = 0.4  # in-process: answers in milliseconds

    def __init__(self, id: str, printer: EmulatedPrinter, expect: Expect) -> None:
        self.id = id
        self.printer = printer
        self.expect = expect
        self.url = printer.url
        spec = printer.spec
        self.credentials = [Credentials("password", spec.username, spec.password)]
        if spec.api_key:
            self.credentials.append(Credentials("api key", api_key=spec.api_key))
        self.wrong_credentials = [
            Credentials("password", spec.username, "wrong-pass-4711"),
            Credentials("api key", api_key="Wrong-Key-4711"),
        ]

    def files(self, below: str) -> dict[str, bytes]:
        everything = self.printer.files()
        return {p: everything[p] for p in _below(everything, below)}

    def folders(self, below: str) -> set[str]:
        storage = self.printer.storage
        every = {storage.path_of(n) for n in storage.walk() if n.is_dir}
        return set(_below(every, below))

    def short_path(self, path: str) -> str | None:
        if not self.expect.short_names:
            return None
        storage = self.printer.storage
        node = storage.find(path.split("/"))
        return None if node is None else storage.path_of(node, short=True)

    def print_job(self) -> bytes:
        return b"G28\nG1 X10 Y10\n" * 50

    def transfer_in_progress(self) -> bool | None:
        return self.printer.transfer is not None

    async def start_printing(self, path: str) -> None:
        self.printer.start_print(path)

    async def stop_printing(self) -> None:
        self.printer.set_state("IDLE")

    @contextlib.asynccontextmanager
    async def faults(self) -> AsyncIterator[Faults]:
        try:
            yield EmulatorFaults(self.printer)
        finally:
            self.printer.clear_faults()
            if not self.printer.online:
                self.printer.go_online()


BUDDY = Expect(
    type="prusalink",
    kind="buddy",
    firmware=None,  # the firmware names no version of itself (basic_gets.cpp get_version)
    storage="usb",
    free_space=False,  # Buddy's storage list has no free space
    case_insensitive=True,
    short_names=True,
    listing_sizes=False,
    content_hash=None,
    extensions=frozenset({".gcode", ".bgcode", ".g", ".gc", ".gco", ".bgc"}),
    mkdir_before_upload=False,
    idle_states=frozenset({"IDLE"}),
    prints_bgcode=True,
    refuses_existing=True,
    one_transfer=errors.TransferInProgress,  # 409 "Another transfer in progress"
    busy_upload=errors.FileBusy,  # 409 "File is busy"
    # The firmware answers 404 for a folder that is not empty (the emulator copies it).
    rmdir_not_empty=errors.NotFound,
    strict_names={
        "back\\slash.gcode": "FAT forbids '\\'; the emulator keeps it (told emu)",
    },
    delete_leaves_print_screen=True,
)
PI = replace(
    BUDDY,
    free_space=True,
    rmdir_not_empty=errors.Refused,  # 409 "Directory is not empty"
    # 0.8.1 does not catch its own TransferRunningError: 500, retryable all the same
    one_transfer=errors.ServerError,
    strict_names={
        "ü" * 125 + ".gcode": "Linux keeps at most 255 bytes; the emulator keeps more (told emu)",
    },
    busy_upload=(
        "PrusaLink 0.8.1 replaces the file it is printing without a word; the engine "
        "never asks it to (it keeps the job file, from status().job_path)"
    ),
    kind="prusalink-pi",
    firmware="0.8.1",
    storage="local",
    case_insensitive=False,
    short_names=False,
    listing_sizes=True,
    extensions=frozenset({".gcode", ".gc", ".g", ".gco"}),
    mkdir_before_upload=True,
    prints_bgcode=False,
    prints_from_host_disk=True,  # a Pi's disk; `upload` is the operator's call
    delete_leaves_print_screen=False,
)


# -- the real servers ----------------------------------------------------------------------

RealServer = PrusaLinkServer | OctoPrintServer | MoonrakerServer
Rule = Callable[[str, str], bool]


def _request(method: str, *prefixes: str) -> Rule:
    return lambda m, path: m == method and path.startswith(prefixes)


class ProxyFaults:
    """A loopback proxy in front of a real server; each fault hits one request, once."""

    def __init__(self, proxy: TcpProxy, ops: dict[str, Rule]) -> None:
        self.proxy = proxy
        self.ops = ops
        self.url = proxy.url

    def _once(self, op: str) -> Rule:
        match, used = self.ops[op], [False]

        def rule(method: str, path: str) -> bool:
            if used[0] or not match(method, path):
                return False
            used[0] = True
            return True

        return rule

    def answer(self, op: str, status: int) -> None:
        rule = self._once(op)
        self.proxy.answer = lambda method, path: status if rule(method, path) else None

    def stall(self, op: str) -> None:
        self.proxy.stall_response = self._once(op)

    def offline(self) -> None:
        self.proxy.go_offline()


class RealTarget(Target):
    server: RealServer
    #: op -> which requests belong to it (method, path with query)
    ops: ClassVar[dict[str, Rule]]

    def files(self, below: str) -> dict[str, bytes]:
        root = self.server.storage
        return {
            p: (root / p).read_bytes()
            for p in visible_tree(root, below.strip("/"))
            if (root / p).is_file()
        }

    def folders(self, below: str) -> set[str]:
        root = self.server.storage
        base = below.strip("/")
        if base and not (root / base).is_dir():
            return set()
        return {p for p in visible_tree(root, base) if (root / p).is_dir()}

    async def start_printing(self, path: str) -> None:
        await asyncio.to_thread(self.server.start_printing, path)

    async def stop_printing(self) -> None:
        await asyncio.to_thread(self.server.stop_printing)

    @contextlib.asynccontextmanager
    async def faults(self) -> AsyncIterator[Faults]:
        proxy = TcpProxy(self.server.port)
        await proxy.start()
        try:
            yield ProxyFaults(proxy, self.ops)
        finally:
            await proxy.stop()


class RealPrusaLink(RealTarget):
    id = "prusalink-0.8.1"
    expect = replace(PI, idle_states=frozenset({"IDLE", "FINISHED", "STOPPED"}), strict_names={})
    ops: ClassVar[dict[str, Rule]] = {
        "probe": _request("GET", "/api/version"),
        "list": _request("GET", "/api/v1/files/"),
        "upload": _request("PUT", "/api/v1/files/"),
        "delete": _request("DELETE", "/api/v1/files/"),
        "status": _request("GET", "/api/v1/status"),
    }

    def transfer_in_progress(self) -> bool | None:
        with self.server.client() as client:
            return client.get("/api/v1/transfer").status_code == 200

    def __init__(self, server: PrusaLinkServer) -> None:
        self.server = server
        self.url = server.url
        self.credentials = [
            Credentials("api key", api_key=server.api_key),
            Credentials("password", server.username, server.password),
        ]
        self.wrong_credentials = [
            Credentials("api key", api_key="Wrong-Key-4711"),
            Credentials("password", server.username, "wrong-pass-4711"),
        ]


#: What OctoPrint 2.0 does differently from 1.11, as this suite found it.
OCTOPRINT_2_DIFFERS: dict[str, object] = {
    # its file listing carries no SHA-1 any more (octoprint/server/api/files.py builds
    # ApiStorageFile without the metadata's hash): the backend reads one where it is
    # given (1.x), else comparisons go by size and the journal
    "listing_hashes": False,
}


class RealOctoPrint(RealTarget):
    id = "octoprint"  # and the version: see __init__
    expect = Expect(
        type="octoprint",
        kind="octoprint",
        firmware=OCTOPRINT_VERSION,  # each target says its own (see __init__)
        storage="local",
        free_space=True,
        case_insensitive=False,
        short_names=False,
        listing_sizes=True,
        content_hash="sha1",
        extensions=frozenset({".gcode", ".gco", ".g"}),
        mkdir_before_upload=False,
        idle_states=frozenset({"IDLE"}),
        refuses_existing=True,
        one_transfer=(
            "OctoPrint takes any number of uploads at once (each is a request of its own); "
            "it has no single transfer slot to be busy"
        ),
        busy_upload=errors.FileBusy,  # 409
        rmdir_not_empty=(
            "OctoPrint deletes a folder with everything in it (the engine only asks "
            "to remove folders it emptied)"
        ),
        prints_from_host_disk=True,
        uploads_while_printing=True,
    )
    ops: ClassVar[dict[str, Rule]] = {
        "probe": _request("GET", "/api/version"),
        "list": _request("GET", "/api/files/local"),
        "upload": _request("POST", "/api/files/local"),
        "delete": _request("DELETE", "/api/files/local/"),
        "status": _request("GET", "/api/printer"),
    }

    def __init__(self, server: OctoPrintServer) -> None:
        # one target per OctoPrint version the harness pins (1.11.8, 2.0.0rc7)
        self.id = f"octoprint-{server.version}"
        changes: dict[str, object] = {"firmware": server.version}
        if not server.version.startswith("1."):
            changes.update(OCTOPRINT_2_DIFFERS)
        self.expect = replace(type(self).expect, **changes)  # type: ignore[arg-type]
        self.server = server
        self.url = server.url
        self.credentials = [Credentials("api key", api_key=server.api_key)]
        self.wrong_credentials = [
            Credentials("api key", api_key="Wrong-Key-4711"),
            Credentials("no api key", probe_only=True),
        ]


class RealMoonraker(RealTarget):
    id = "moonraker-0.11.0"
    expect = Expect(
        type="moonraker",
        kind="moonraker",
        firmware="0.11.0",
        storage="gcodes",
        free_space=True,
        case_insensitive=False,
        short_names=False,
        listing_sizes=True,
        content_hash=None,
        extensions=frozenset({".gcode", ".gco", ".g"}),
        mkdir_before_upload=False,
        idle_states=frozenset({"IDLE"}),
        refuses_existing=(
            "Moonraker's upload API has no way to refuse an existing file: it always replaces it"
        ),
        one_transfer=(
            "Moonraker has no single transfer slot; but 0.11.0 receives every upload into "
            "$TMPDIR/moonraker.upload-<whole second>.mru, so two in the same second share "
            "that file: one of them fails (500) or ends up holding bytes of the other"
        ),
        concurrent_uploads_clash=True,
        info_extra={"klippy_state": "ready"},
        busy_upload=errors.FileBusy,  # 403 "File is loaded, upload not permitted"
        rmdir_not_empty=errors.Refused,  # 400 "Directory not empty"
        prints_from_host_disk=True,
        uploads_while_printing=True,
    )
    ops: ClassVar[dict[str, Rule]] = {
        "probe": _request("GET", "/server/info"),
        "list": _request("GET", "/server/files/directory"),
        "upload": _request("POST", "/server/files/upload"),
        "delete": _request("DELETE", "/server/files/gcodes/"),
        "status": _request("GET", "/printer/objects/query"),
    }

    def __init__(self, server: MoonrakerServer) -> None:
        self.server = server
        self.url = server.url
        self.credentials = [Credentials("api key", api_key=server.api_key)]
        self.wrong_credentials = [Credentials("api key", api_key="Wrong-Key-4711")]

    def print_job(self) -> bytes:
        return b"G28\nG1 X10 Y10\n" * 50  # the fake Klippy only reports it
