"""PrusaLink: the Buddy firmware (MK4/MK4S, MK3.5, MK3.9, XL, MINI, CORE One) and
the Raspberry-Pi PrusaLink for MK3/MK3S, told apart from `/api/v1/storage`.

Buddy: storage `usb` on FAT (case-insensitive, 8.3 short names next to long
ones), listings without sizes, one transfer at a time, digest auth in RFC 2069
form. Pi: storage `local`, POSIX names, sizes in listings, its own API key,
`Content-Type: text/x.gcode` required on PUT, folders created one level at a
time, listings that lag a moment behind changes.
"""

from __future__ import annotations

import asyncio
import functools
import time
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from link_sync import errors
from link_sync.backends.base import BackendOptions, Capabilities, ProgressCallback
from link_sync.backends.http import (
    file_body,
    make_client,
    parse_json,
    raise_for_status,
    stream_to,
    translate_transport_errors,
)
from link_sync.backends.urls import quote_path
from link_sync.model import PRINT_EXTENSIONS, PrinterInfo, PrinterStatus, RemoteEntry

BUDDY_CAPABILITIES = Capabilities(
    max_parallel_uploads=1,
    case_insensitive=True,
    extensions=PRINT_EXTENSIONS,
    listing_has_size=False,
)
PI_CAPABILITIES = Capabilities(
    max_parallel_uploads=1,
    case_insensitive=False,
    # The Pi lists .gcode .gc .g .gco as print files and knows no binary G-code.
    extensions=frozenset({".gcode", ".gc", ".g", ".gco"}),
    listing_has_size=True,
    mkdir_before_upload=True,
)

#: Buddy refuses a request line whose URL is longer than this (414).
BUDDY_MAX_URL_BYTES = 168
BUDDY_FORBIDDEN = set('"*:<>?|\\') | {chr(c) for c in range(32)} | {"\x7f"}
PI_FORBIDDEN = set('\\?"%¯°#ˇ') | {chr(c) for c in range(32)}
PI_MAX_NAME_BYTES = 248
PI_MAX_FOLDER_BYTES = 255

# The Pi's listing follows the disk through inotify; a file just uploaded may
# take about a second to appear here, longer on a busy Raspberry Pi. The waits end
# as soon as the change shows, so the long bound costs only when it never does.
PI_SETTLE_ATTEMPTS = 34
PI_SETTLE_DELAY = 0.15


class QuotedDigestAuth(httpx.DigestAuth):
    """httpx's digest auth, with every parameter but qop and nc quoted.

    Buddy firmware before 6.0.0 rejected the unquoted `algorithm=MD5` that
    httpx sends (Prusa-Firmware-Buddy commit 8bac9e14d; pyprusalink carries
    the same workaround).
    """

    def _get_header_value(self, header_fields: dict[str, bytes]) -> str:
        unquoted = ("qop", "nc")
        return ", ".join(
            f"{name}={value.decode()}" if name in unquoted else f'{name}="{value.decode()}"'
            for name, value in header_fields.items()
        )


class PrusaLinkBackend:
    """One PrusaLink printer (Buddy or Pi), through the v1 HTTP API."""

    def __init__(self, options: BackendOptions) -> None:
        self.name = options.name
        self.options = options
        self.capabilities = BUDDY_CAPABILITIES
        self.kind = "buddy"
        self.storage = options.storage or "usb"
        headers: dict[str, str] = {}
        auth: httpx.Auth | None = None
        if options.api_key:
            headers["X-Api-Key"] = options.api_key
        elif options.password is not None:
            auth = QuotedDigestAuth(options.username or "maker", options.password)
        self._client = make_client(options, auth=auth)
        self._client.headers.update(headers)
        self._auth_at = 0.0  # when the current digest nonce was obtained
        #: the storage's `name` ("PrusaLink gcodes" on the Pi), which job paths start with
        self._storage_label = self.storage
        #: Buddy answers a PUT with the new file's info; the stat that checks the
        #: upload is served from it (once) instead of asking again.
        self._uploaded: tuple[str, RemoteEntry] | None = None

    # -- discovery -------------------------------------------------------

    async def probe(self) -> PrinterInfo:
        version = _as_dict(await self._get_json("/api/version", "read version"), "version")
        storages = await self._get_json("/api/v1/storage", "read storage list")
        info: dict[str, Any] = {}
        if _first_str(version, "original", "printer_model", "model") is None:
            # Only for the model, so only when the version does not name it: one
            # request less per printer and run (a farm of 500 printers, 500 requests).
            try:
                info = _as_dict(await self._get_json("/api/v1/info", "read info"), "info")
            except errors.PrinterError as exc:
                if isinstance(exc, errors.AuthFailed):
                    raise
        storage_list = _as_dict(storages, "storage").get("storage_list")
        if not isinstance(storage_list, list):
            raise errors.ProtocolError("read storage list: no storage_list in the answer")
        names = {_storage_id(s): s for s in storage_list if isinstance(s, dict)}
        if "usb" in names:
            self.kind, self.capabilities = "buddy", BUDDY_CAPABILITIES
            default_storage = "usb"
        elif "local" in names:
            self.kind, self.capabilities = "prusalink-pi", PI_CAPABILITIES
            default_storage = "local"
        else:
            raise errors.ProtocolError(
                f"read storage list: no writable storage (found {sorted(names) or 'none'})"
            )
        self.storage = self.options.storage or default_storage
        if self.storage not in names:
            raise errors.Refused(
                f"storage {self.storage!r} not on this printer (it has {', '.join(sorted(names))})"
            )
        storage = names[self.storage]
        label = storage.get("name")
        self._storage_label = label if isinstance(label, str) and label else self.storage
        if storage.get("read_only") or storage.get("ro"):
            raise errors.Refused(f"storage {self.storage!r} is read-only")
        free = storage.get("free_space")
        hostname = info.get("hostname") or version.get("hostname")
        return PrinterInfo(
            kind=self.kind,
            model=_first_str(version, "original", "printer_model", "model")
            or _first_str(info, "model", "printer_model"),
            firmware=_first_str(version, "firmware", "server")
            if self.kind == "buddy"
            else _first_str(version, "server"),
            storage=self.storage,
            free_space=free if isinstance(free, int) else None,
            extra={"hostname": str(hostname)} if hostname else {},
        )

    async def status(self) -> PrinterStatus:
        body = _as_dict(await self._get_json("/api/v1/status", "read status"), "status")
        printer = body.get("printer")
        state = printer.get("state") if isinstance(printer, dict) else None
        if not isinstance(state, str):
            raise errors.ProtocolError("read status: no printer state in the answer")
        job = body.get("job")
        job_path: str | None = None
        progress: float | None = None
        if isinstance(job, dict):
            raw = job.get("progress")
            progress = float(raw) if isinstance(raw, int | float) else None
            job_path = await self._job_path()
        return PrinterStatus(state=state.upper(), job_path=job_path, job_progress=progress)

    async def _job_path(self) -> str | None:
        """The storage-relative display path of the file being printed."""
        with translate_transport_errors("read job"):
            response = await self._client.get("/api/v1/job")
        if response.status_code == 204:
            return None
        raise_for_status(response, "read job")
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
        # (display path, request path); Buddy folders are visited by short name
        # so that deep URLs stay within the firmware's 168-byte limit.
        pending: list[tuple[str, str]] = [(folder, folder)]
        while pending:
            display, request_path = pending.pop()
            listing = await self._list_folder(request_path)
            if listing is None:
                if display == folder:
                    return []
                continue
            for child in listing:
                entry = self._entry(display, request_path, child)
                if entry is None:
                    # Skipping it would hide a file: we might re-send or miss it.
                    raise errors.ProtocolError(
                        f"list {display or '/'}: an entry without a readable name"
                    )
                entries.append(entry)
                if entry.is_dir:
                    pending.append((entry.path, entry.short_path or entry.path))
        return entries

    async def _list_folder(self, path: str) -> list[dict[str, Any]] | None:
        url = self._url(path) + "/"
        with translate_transport_errors(f"list {path or '/'}"):
            response = await self._client.get(url)
        if response.status_code == 404:
            return None
        raise_for_status(response, f"list {path or '/'}")
        body = parse_json(response, f"list {path or '/'}")
        # No `children` is an answer we cannot read, not an empty folder: taking it for
        # one would plan uploads of files the printer already holds.
        children = body.get("children") if isinstance(body, dict) else None
        if not isinstance(children, list):
            raise errors.ProtocolError(f"list {path or '/'}: 'children' is missing or not a list")
        if not all(isinstance(c, dict) for c in children):
            raise errors.ProtocolError(f"list {path or '/'}: an entry is not a JSON object")
        return children

    def _entry(self, parent: str, parent_request: str, child: dict[str, Any]) -> RemoteEntry | None:
        display = child.get("display_name") or child.get("name")
        short = child.get("name") or display
        if not isinstance(display, str) or not display or not isinstance(short, str):
            return None
        kind = child.get("type")
        is_dir = kind == "FOLDER"
        size = child.get("size")
        mtime = child.get("m_timestamp")
        refs = child.get("refs")
        download = refs.get("download") if isinstance(refs, dict) else None
        return RemoteEntry(
            path=f"{parent}/{display}" if parent else display,
            is_dir=is_dir,
            size=size if isinstance(size, int) and not is_dir else None,
            mtime=float(mtime) if isinstance(mtime, int | float) else None,
            short_path=f"{parent_request}/{short}" if parent_request else short,
            read_only=bool(child.get("ro") or child.get("read_only")),
            print_file=is_dir or kind == "PRINT_FILE",
            download_ref=download if isinstance(download, str) and download else None,
        )

    async def stat(self, path: str) -> RemoteEntry | None:
        uploaded, self._uploaded = self._uploaded, None
        if uploaded is not None and uploaded[0] == path:
            return uploaded[1]
        attempts = PI_SETTLE_ATTEMPTS if self.kind == "prusalink-pi" else 1
        for attempt in range(attempts):
            with translate_transport_errors(f"read {path}"):
                response = await self._client.get(self._url(path))
            if response.status_code != 404:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(PI_SETTLE_DELAY)
        if response.status_code == 404:
            return None
        raise_for_status(response, f"read {path}")
        body = _as_dict(parse_json(response, f"read {path}"), f"read {path}")
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        entry = self._entry(parent, parent, body)
        if entry is None:
            raise errors.ProtocolError(f"read {path}: no name in the answer")
        return entry

    # -- changes ---------------------------------------------------------

    async def upload(
        self,
        path: str,
        source: Path,
        size: int,
        *,
        overwrite: bool,
        progress: ProgressCallback | None = None,
    ) -> None:
        if size == 0 and self.kind == "buddy":
            raise errors.Refused(f"upload {path}: the printer cannot store empty files")
        self._uploaded = None
        await self._refresh_nonce()
        headers = {
            "Content-Length": str(size),
            # The Pi needs this exact type; with application/octet-stream and
            # Overwrite, PrusaLink 0.8.1 answers 415 AND deletes the old file.
            "Content-Type": "text/x.gcode",
            "Print-After-Upload": "?0",
        }
        if overwrite:
            headers["Overwrite"] = "?1"
        with translate_transport_errors(f"upload {path}"):
            response = await self._client.put(
                self._url(path),
                content=file_body(source, size, progress),
                headers=headers,
            )
        raise_for_status(response, f"upload {path}")
        self._uploaded = self._upload_answer(path, response)

    def _upload_answer(self, path: str, response: httpx.Response) -> tuple[str, RemoteEntry] | None:
        """The new file's entry from Buddy's 201 answer (its file info, with the size).

        That is what a stat right after the upload would return, one request (and,
        since Buddy closes the connection after a PUT, one new connection) less per
        file. The Pi answers with an empty body: None, and the stat asks.
        """
        if self.kind != "buddy" or response.status_code != 201 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("size"), int):
            return None
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        entry = self._entry(parent, parent, body)
        return (path, entry) if entry is not None else None

    async def download(
        self, entry: RemoteEntry, target: BinaryIO, progress: ProgressCallback | None = None
    ) -> int:
        if entry.download_ref:
            # The printer's own link: Buddy "/usb/PARTS~1/CLIP~1.GCO", Pi ".../raw".
            url = urllib.parse.quote(entry.download_ref, safe="/%~")
        elif self.kind == "buddy":
            url = "/usb/" + quote_path(entry.short_path or entry.path)
        else:
            url = f"/api/files/{self.storage}/{quote_path(entry.path)}/raw"
        return await stream_to(self._client, url, target, f"download {entry.path}", progress)

    async def delete(self, path: str) -> None:
        await self._delete(path, f"delete {path}")

    async def rmdir(self, path: str) -> None:
        await self._delete(path, f"remove folder {path}")

    async def _delete(self, path: str, what: str) -> None:
        self._uploaded = None
        with translate_transport_errors(what):
            response = await self._client.delete(self._url(path))
        raise_for_status(response, what)
        if self.kind == "prusalink-pi":
            await self._settle_gone(path)

    async def _settle_gone(self, path: str) -> None:
        """Wait until the Pi's listing drops what was just deleted.

        PrusaLink 0.8.1 lists a deleted entry for up to ~1 s more; a run
        straight after this one would otherwise find it and delete it again.
        """
        parent, _, name = path.strip("/").rpartition("/")
        for attempt in range(PI_SETTLE_ATTEMPTS):
            listing = await self._list_folder(parent)
            if listing is None or all(
                name not in (child.get("display_name"), child.get("name")) for child in listing
            ):
                return
            if attempt + 1 < PI_SETTLE_ATTEMPTS:
                await asyncio.sleep(PI_SETTLE_DELAY)

    async def mkdir(self, path: str) -> None:
        what = f"create folder {path}"
        with translate_transport_errors(what):
            response = await self._client.put(
                self._url(path), headers={"Create-Folder": "?1", "Content-Length": "0"}
            )
        if response.status_code == 409 and self.kind == "buddy":
            return  # Buddy: "Already exists"
        raise_for_status(response, what)
        if self.kind == "prusalink-pi":
            await self._settle_folder(path, what)

    async def _settle_folder(self, path: str, what: str) -> None:
        """Wait until the Pi lists a folder it just created.

        PrusaLink 0.8.1 watches each folder with inotify once its index has
        seen it; a folder or file created inside a new folder before that is
        written to disk but never listed (until a restart). So nothing goes
        into a new folder until the folder itself is listed.
        """
        for attempt in range(PI_SETTLE_ATTEMPTS):
            with translate_transport_errors(what):
                response = await self._client.get(self._url(path) + "/")
            if response.status_code != 404:
                raise_for_status(response, what)
                return
            if attempt + 1 < PI_SETTLE_ATTEMPTS:
                await asyncio.sleep(PI_SETTLE_DELAY)
        raise errors.ProtocolError(f"{what}: created, but the printer does not list it")

    def check_name(self, path: str) -> str | None:
        if self.kind == "buddy":
            return _buddy_name_problem(self.storage, path)
        return _pi_name_problem(path)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- helpers ---------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"/api/v1/files/{self.storage}/{quote_path(path)}".rstrip("/")

    async def _get_json(self, url: str, what: str) -> object:
        with translate_transport_errors(what):
            response = await self._client.get(url)
        if response.status_code == 401 or "www-authenticate" in response.headers:
            self._auth_at = time.monotonic()
        raise_for_status(response, what)
        if not self._auth_at:
            self._auth_at = time.monotonic()
        return parse_json(response, what)

    async def _refresh_nonce(self) -> None:
        """Renew the digest nonce before an upload if it may expire meanwhile.

        A stale nonce makes the printer answer 401 to the PUT, and a streamed
        body cannot be sent again; a cheap GET renews the nonce first.
        """
        if not isinstance(self._client.auth, httpx.DigestAuth):
            return
        lifetime = 240.0 if self.kind == "buddy" else 45.0  # Buddy 300 s, Pi 60 s
        if time.monotonic() - self._auth_at > lifetime:
            await self._get_json("/api/v1/status", "read status")
            self._auth_at = time.monotonic()


def _storage_id(storage: dict[str, Any]) -> str:
    """The storage's name in file URLs: its `path` ("/usb/" on Buddy, "/local" on
    the Pi). Its `name` is only a label on the Pi ("PrusaLink gcodes", "SD Card")."""
    path = storage.get("path")
    if isinstance(path, str) and path.strip("/"):
        return path.strip("/")
    return str(storage.get("name"))


# Pure functions of the path, asked for every master file on every printer: a farm
# shares one master, so each name is checked once per run, not once per printer.
@functools.lru_cache(maxsize=1 << 18)
def _buddy_name_problem(storage: str, path: str) -> str | None:
    for part in path.split("/"):
        bad = sorted({c for c in part if c in BUDDY_FORBIDDEN})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            return f"name has characters the printer's FAT storage refuses: {shown}"
        if part != part.rstrip(". "):
            return "name ends with a dot or space, which FAT storage drops"
    url = f"/api/v1/files/{storage}/" + quote_path(path)
    if len(url.encode()) > BUDDY_MAX_URL_BYTES:
        return (
            f"path too long for the printer: {len(url.encode())} bytes in the request, "
            f"at most {BUDDY_MAX_URL_BYTES}"
        )
    return None


@functools.lru_cache(maxsize=1 << 18)
def _pi_name_problem(path: str) -> str | None:
    parts = path.split("/")
    for index, part in enumerate(parts):
        bad = sorted({c for c in part if c in PI_FORBIDDEN})
        if bad:
            return "name has characters PrusaLink refuses: " + " ".join(repr(c) for c in bad)
        limit = PI_MAX_NAME_BYTES if index == len(parts) - 1 else PI_MAX_FOLDER_BYTES
        if len(part.encode()) > limit:
            return f"name longer than {limit} bytes"
    return None


def _as_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.ProtocolError(f"{what}: unexpected answer (not a JSON object)")
    return value


def _first_str(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
