"""PrusaLink's v1 HTTP API, as the Buddy firmware (`buddy.BuddyBackend`) and the
Raspberry-Pi PrusaLink for MK3/MK3S (`prusalink_pi.PiBackend`) both serve it.

`type: prusalink` covers both: `PrusaLinkBackend.open` asks `/api/v1/storage` which one it
is (Buddy stores on `usb`, the Pi on `local`) and returns that backend. What the
two share lives here; what differs is data on the subclass, or a short override.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from link_sync import errors
from link_sync.backends import limits
from link_sync.backends.base import Upload
from link_sync.backends.client import PrinterClient
from link_sync.backends.http import (
    HttpBackend,
    api_key_header,
    as_object,
    error_message,
    file_body,
    first_str,
    parse_json,
)
from link_sync.backends.names import NameRules
from link_sync.backends.urls import quote_path
from link_sync.core.model import PrinterInfo, PrinterStatus, RemoteEntry, remote_entry

if TYPE_CHECKING:
    from aiohttp import ClientRequest, ClientResponse

    from link_sync.backends.client import Response
    from link_sync.config import PrinterConfig

    Handler = Callable[[ClientRequest], Awaitable[ClientResponse]]

#: storage id (its path: "usb", "local") -> the storage's entry in /api/v1/storage
Storages = dict[str, dict[str, Any]]


class QuotedDigestAuth:
    """Digest auth (aiohttp's middleware, preemptive) with `algorithm` quoted.

    Buddy firmware before 6.0.0 rejected the unquoted `algorithm=MD5` that the
    RFC allows (Prusa-Firmware-Buddy commit 8bac9e14d; pyprusalink carries the same
    workaround). `challenged_at` is when the printer last sent a nonce.
    """

    def __init__(self, username: str, password: str) -> None:
        import aiohttp

        self._digest = aiohttp.DigestAuthMiddleware(username, password)
        self.challenged_at = 0.0
        #: the last answer was a 401 (a wrong or changed password): an upload must not
        #: be the request that finds out, since its streamed body cannot be sent again
        self.refused = False

    async def __call__(self, request: ClientRequest, handler: Handler) -> ClientResponse:
        sent = False

        async def send(request: ClientRequest) -> ClientResponse:
            nonlocal sent
            if sent and _streamed(request):
                # The printer asked to authenticate again mid-upload (its nonce ran out);
                # the body cannot be replayed. The retry renews it first.
                raise errors.ServerError("authentication renewed during upload")
            sent = True
            header = request.headers.get("Authorization")
            if header:
                request.headers["Authorization"] = _ALGORITHM.sub(r'algorithm="\1"', header)
            response = await handler(request)
            self.refused = response.status == 401
            if self.refused:  # every challenge carries a fresh nonce
                self.challenged_at = time.monotonic()
            return response

        return await self._digest(request, send)


_ALGORITHM = re.compile(r'algorithm=([^",\s]+)')


def _streamed(request: ClientRequest) -> bool:
    """The request's body streams from a file, so it can be sent only once."""
    from aiohttp.payload import AsyncIterablePayload

    return isinstance(request.body, AsyncIterablePayload)


def prusalink_client(printer: PrinterConfig) -> PrinterClient:
    """A client with the printer's API key, else digest auth (user "maker" by default)."""
    if printer.api_key:
        return PrinterClient(printer, headers=api_key_header(printer))
    if printer.password is None:
        return PrinterClient(printer)
    return PrinterClient(
        printer, auth=QuotedDigestAuth(printer.username or "maker", printer.password)
    )


class PrusaLinkBackend(HttpBackend):
    """What Buddy and Pi PrusaLink share; the subclasses fill in the class data."""

    #: `PrinterInfo.kind` ("buddy", "prusalink-pi")
    kind: ClassVar[str]
    #: the storage used when the config names none
    default_storage: ClassVar[str]
    #: /api/version keys that hold the firmware version, first match wins
    #: the /api/version keys that name the printer's model, and its firmware version
    model_keys: ClassVar[tuple[str, ...]]
    firmware_keys: ClassVar[tuple[str, ...]]
    #: seconds a digest nonce is safely valid (the printer's lifetime minus a margin)
    nonce_lifetime: ClassVar[float]
    #: tries (PI_SETTLE_DELAY apart) before a file just written counts as missing
    appear_attempts: ClassVar[int] = 1
    #: Buddy refuses a file of 0 bytes
    stores_empty_files: ClassVar[bool] = True
    #: why a storage listed with "available": false cannot be synced
    unavailable_storage: ClassVar[str] = "storage {storage!r} is not available"

    def __init__(
        self,
        printer: PrinterConfig,
        *,
        client: PrinterClient | None = None,
        storages: Storages | None = None,
    ) -> None:
        super().__init__(printer, client=client or prusalink_client(printer))
        self.storage = printer.storage or self.default_storage
        #: the storage's `name` ("PrusaLink gcodes" on the Pi), which job paths start with
        self._storage_label = self.storage
        #: the storage list `open` read, so the first probe need not ask again
        self._storages_seen = storages
        self.name_rules = self.rules_for(self.storage)

    @staticmethod
    def rules_for(storage: str) -> NameRules:
        """The names the printer takes on `storage` (Buddy's depend on its URL length)."""
        return _ANY_NAME

    @classmethod
    async def open(cls, printer: PrinterConfig) -> PrusaLinkBackend:
        """The Buddy or the Pi backend, whichever the printer's storage list shows it is."""
        from link_sync.backends.buddy import BuddyBackend
        from link_sync.backends.prusalink_pi import PiBackend

        client = prusalink_client(printer)
        try:
            storages = await _StorageReader(printer, client=client).storages()
            kind: type[PrusaLinkBackend]
            if "usb" in storages:
                kind = BuddyBackend
            elif "local" in storages:
                kind = PiBackend
            else:
                raise errors.ProtocolError(
                    f"read storage list: no writable storage (found {sorted(storages) or 'none'})"
                )
        except BaseException:
            await client.aclose()
            raise
        return kind(printer, client=client, storages=storages)

    def classify(self, response: Response, what: str) -> errors.PrinterError | None:
        if response.status_code != 409:
            return None
        detail = error_message(response)
        lowered = detail.lower()
        message = f"{what}: HTTP 409 {detail}"
        if "transfer" in lowered and "progress" in lowered:  # "Another transfer in progress"
            return errors.TransferInProgress(message, status=409)
        if "busy" in lowered or "print" in lowered:  # "File is busy": printed or open
            return errors.FileBusy(message, status=409)
        return None

    # -- discovery -------------------------------------------------------

    async def storages(self) -> Storages:
        """The printer's storages by id (the name used in file URLs)."""
        body = await self.get_json("/api/v1/storage", "read storage list")
        storage_list = body.get("storage_list")
        if not isinstance(storage_list, list):
            raise errors.ProtocolError("read storage list: no storage_list in the answer")
        return {_storage_id(s): s for s in storage_list if isinstance(s, dict)}

    async def probe(self) -> PrinterInfo:
        version = await self.get_json("/api/version", "read version")
        storages, self._storages_seen = self._storages_seen, None
        if storages is None:
            storages = await self.storages()
        if self.storage not in storages:
            raise errors.Refused(
                f"storage {self.storage!r} not on this printer "
                f"(it has {', '.join(sorted(storages))})"
            )
        storage = storages[self.storage]
        label = storage.get("name")
        self._storage_label = label if isinstance(label, str) and label else self.storage
        if storage.get("read_only") or storage.get("ro"):
            raise errors.Refused(f"storage {self.storage!r} is read-only")
        if storage.get("available") is False:
            # Checked before any listing or upload: a Buddy printer without its stick
            # lists an empty root and refuses every write (basic_gets.cpp usb_available).
            raise errors.Refused(self.unavailable_storage.format(storage=self.storage))
        free = storage.get("free_space")
        hostname = version.get("hostname")
        return PrinterInfo(
            kind=self.kind,
            model=first_str(version, *self.model_keys),
            firmware=first_str(version, *self.firmware_keys),
            storage=self.storage,
            free_space=free if isinstance(free, int) else None,
            extra={"hostname": str(hostname)} if hostname else {},
            # Buddy says it in /api/version (basic_gets.cpp get_version).
            nozzle_diameter=_nozzle(version.get("nozzle_diameter")),
        )

    async def status(self) -> PrinterStatus:
        body = await self.get_json("/api/v1/status", "read status")
        printer = body.get("printer")
        state = printer.get("state") if isinstance(printer, dict) else None
        if not isinstance(state, str):
            raise errors.ProtocolError("read status: no printer state in the answer")
        job = body.get("job")
        job_path: str | None = None
        progress: float | None = None
        # The same answer names the storage, which the job's path starts with: read
        # here, the label need not wait for the probe's storage read (they run at once).
        self._learn_storage_label(body.get("storage"))
        if isinstance(job, dict):
            raw = job.get("progress")
            progress = float(raw) if isinstance(raw, int | float) else None
            job_path = await self._job_path()
        return PrinterStatus(state=state.upper(), job_path=job_path, job_progress=progress)

    def _learn_storage_label(self, storages: object) -> None:
        """Take this storage's `name` from a status answer's storage (a list on the Pi,
        one object on Buddy), where it is given."""
        listed = storages if isinstance(storages, list) else [storages]
        for storage in listed:
            if not isinstance(storage, dict):
                continue
            label = storage.get("name")
            if str(storage.get("path", "")).strip("/") == self.storage and isinstance(label, str):
                self._storage_label = label or self.storage

    async def _job_path(self) -> str | None:
        """The storage-relative display path of the file being printed."""
        response = await self.request("GET", "/api/v1/job", "read job")
        if response.status_code == 204:
            return None
        body = parse_json(response, "read job")
        file = body.get("file") if isinstance(body, dict) else None
        if not isinstance(file, dict):
            return None
        # Buddy: path "/usb/PARTS" + display_name; Pi 0.8.1: path
        # "/PrusaLink gcodes/parts/x.gcode" (the storage's name, not "local").
        folder = str(file.get("path") or "")
        name = file.get("display_name") or file.get("name")
        full = folder if not name or folder.endswith(str(name)) else f"{folder}/{name}"
        parts = [p for p in full.split("/") if p]
        if parts and parts[0] in (self.storage, self._storage_label):
            parts = parts[1:]
        # Buddy reports the folder by its short name; map it to long names when we can.
        return "/".join(parts) or None

    # -- listing ---------------------------------------------------------

    async def list_tree(self, folder: str) -> list[RemoteEntry]:
        entries: list[RemoteEntry] = []
        bounds = limits.ListingBounds(f"list {folder or '/'}")
        # (display path, request path, depth); Buddy folders are visited by short
        # name so that deep URLs stay within the firmware's 168-byte limit.
        pending: list[tuple[str, str, int]] = [(folder, folder, 0)]
        while pending:
            display, request_path, depth = pending.pop()
            bounds.depth(depth)
            answer = await self._list_folder(request_path)
            if answer is None:
                if display == folder:
                    return []
                continue
            listing, size = answer
            bounds.folder(len(listing), display, size)
            for child in listing:
                entry = _entry(display, request_path, child)
                if entry is None:
                    # Skipping it would hide a file: we might re-send or miss it.
                    raise errors.ProtocolError(
                        f"list {display or '/'}: an entry without a readable name"
                    )
                entries.append(entry)
                if entry.is_dir:
                    pending.append((entry.path, entry.short_path or entry.path, depth + 1))
        return entries

    async def _list_folder(self, path: str) -> tuple[list[dict[str, Any]], int] | None:
        """The folder's entries and the size of the answer; None if it is not there."""
        what = f"list {path or '/'}"
        response = await self.request(
            "GET", self._url(path) + "/", what, accept=(404,), limit=limits.LISTING_ANSWER
        )
        if response.status_code == 404:
            return None
        body = parse_json(response, what)
        # No `children` is an answer we cannot read, not an empty folder: taking it for
        # one would plan uploads of files the printer already holds.
        children = body.get("children") if isinstance(body, dict) else None
        if not isinstance(children, list):
            raise errors.ProtocolError(f"{what}: 'children' is missing or not a list")
        if not all(isinstance(c, dict) for c in children):
            raise errors.ProtocolError(f"{what}: an entry is not a JSON object")
        return children, len(response.content)

    async def stat(self, path: str) -> RemoteEntry | None:
        what = f"read {path}"
        response = await self._until_listed(self._url(path), what)
        if response is None:
            return None
        body = as_object(parse_json(response, what), what)
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        entry = _entry(parent, parent, body)
        if entry is None:
            raise errors.ProtocolError(f"{what}: no name in the answer")
        return entry

    async def _until_listed(self, url: str, what: str) -> Response | None:
        """GET `url`, again while it is 404 (up to `appear_attempts`); None if it stays so."""
        for attempt in range(self.appear_attempts):
            response = await self.request("GET", url, what, accept=(404,))
            if response.status_code != 404:
                return response
            if attempt + 1 < self.appear_attempts:
                await asyncio.sleep(PI_SETTLE_DELAY)
        return None

    # -- changes ---------------------------------------------------------

    async def send(self, upload: Upload) -> None:
        path, source, size = upload.path, upload.source, upload.size
        if size == 0 and not self.stores_empty_files:
            raise errors.Refused(f"upload {path}: the printer cannot store empty files")
        await self._refresh_nonce()
        headers = {
            "Content-Length": str(size),
            # The Pi needs this exact type; with application/octet-stream and
            # Overwrite, PrusaLink 0.8.1 answers 415 AND deletes the old file.
            "Content-Type": "text/x.gcode",
            "Print-After-Upload": "?0",
        }
        if upload.overwrite:
            headers["Overwrite"] = "?1"
        content = file_body(source, size, upload.progress)
        await self.request(
            "PUT", self._url(path), f"upload {path}", content=content, headers=headers
        )
        await self._uploaded(path, size)

    async def _uploaded(self, path: str, size: int) -> None:
        """After an upload the printer accepted (the Pi waits for its listing)."""

    def download_url(self, entry: RemoteEntry) -> str:
        if entry.download_ref:
            # The printer's own link: Buddy "/usb/PARTS~1/CLIP~1.GCO", Pi ".../raw".
            return urllib.parse.quote(entry.download_ref, safe="/%~")
        return self._download_url(entry)

    def _download_url(self, entry: RemoteEntry) -> str:
        """The URL of a file the listing gave no link for."""
        raise NotImplementedError

    async def delete(self, path: str) -> None:
        await self._delete(path, f"delete {path}")

    async def rmdir(self, path: str) -> None:
        await self._delete(path, f"remove folder {path}")

    async def _delete(self, path: str, what: str) -> None:
        await self.request("DELETE", self._url(path), what)

    async def _create_folder(self, path: str, what: str, *, accept: tuple[int, ...] = ()) -> int:
        """PUT a new folder; returns the status (one in `accept`, or a success)."""
        headers = {"Create-Folder": "?1", "Content-Length": "0"}
        response = await self.request("PUT", self._url(path), what, headers=headers, accept=accept)
        return response.status_code

    # -- helpers ---------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"/api/v1/files/{self.storage}/{quote_path(path)}".rstrip("/")

    async def _refresh_nonce(self) -> None:
        """Renew the digest nonce before an upload if it may expire meanwhile.

        A stale nonce makes the printer answer 401 to the PUT, and a streamed
        body cannot be sent again; a cheap GET renews the nonce first (and after a
        401, says AuthFailed if the password is wrong).
        """
        auth = self._client.auth
        if not isinstance(auth, QuotedDigestAuth):
            return
        if auth.refused or time.monotonic() - auth.challenged_at > self.nonce_lifetime:
            await self.request("GET", "/api/v1/status", "read status")
            auth.challenged_at = time.monotonic()


_ANY_NAME = NameRules()


class _StorageReader(PrusaLinkBackend):
    """Only reads the storage list, to tell which backend the printer needs."""

    kind = "prusalink"
    default_storage = ""
    model_keys = ()
    firmware_keys = ()
    nonce_lifetime = 0.0


# The Pi's listing follows the disk through inotify; a file just uploaded may
# take about a second to appear there, longer on a busy Raspberry Pi. The waits end
# as soon as the change shows, so the long bound costs only when it never does.
PI_SETTLE_ATTEMPTS = 34
PI_SETTLE_DELAY = 0.15


def _storage_id(storage: dict[str, Any]) -> str:
    """The storage's name in file URLs: its `path` ("/usb/" on Buddy, "/local" on
    the Pi). Its `name` is only a label on the Pi ("PrusaLink gcodes", "SD Card")."""
    path = storage.get("path")
    if isinstance(path, str) and path.strip("/"):
        return path.strip("/")
    return str(storage.get("name"))


def _entry(parent: str, parent_request: str, child: dict[str, Any]) -> RemoteEntry | None:
    """A listing's (or a file info's) entry; None if it has no usable name.

    Runs once per file and printer (50,000 times on 50 printers of 1,000 files):
    each field is looked up once, and the entry is built by `remote_entry`.
    """
    get = child.get
    short = get("name")
    display = get("display_name") or short
    if not short:
        short = display
    if not display or type(display) is not str or type(short) is not str:
        return None
    kind = get("type")
    is_dir = kind == "FOLDER"
    size = get("size")
    mtime: Any = get("m_timestamp")
    refs = get("refs")
    download = refs.get("download") if type(refs) is dict else None
    return remote_entry(
        f"{parent}/{display}" if parent else display,
        is_dir,
        size if type(size) is int and not is_dir else None,
        float(mtime) if type(mtime) in _NUMBER else None,
        None,
        f"{parent_request}/{short}" if parent_request else short,
        bool(get("ro") or get("read_only")),
        is_dir or kind == "PRINT_FILE",
        download if type(download) is str and download else None,
    )


#: JSON numbers as `json` decodes them (bool, a subclass of int, is not one)
_NUMBER = (int, float)


def _nozzle(value: object) -> float | None:
    """A nozzle diameter in mm, or None for anything that is not a plausible one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 5:
        return float(value)
    return None
