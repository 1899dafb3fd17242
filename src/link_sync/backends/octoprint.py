"""OctoPrint (tested against 1.11.8): the files of its `local` storage, over its REST API.

OctoPrint keeps G-code on the host, so files can change while the printer is
offline; only the file being printed (and its folders) is locked (409). Its
listing carries each file's SHA-1, which makes comparisons exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import httpx

from link_sync import errors
from link_sync.backends.base import BackendOptions, Capabilities, ProgressCallback
from link_sync.backends.http import (
    make_client,
    parse_json,
    raise_for_status,
    stream_to,
    translate_transport_errors,
)
from link_sync.backends.multipart import MultipartFile
from link_sync.backends.urls import quote_path
from link_sync.model import PrinterInfo, PrinterStatus, RemoteEntry

#: OctoPrint knows these as machine code; anything else (.bgcode, .gc) is refused with 415.
OCTOPRINT_EXTENSIONS = frozenset({".gcode", ".gco", ".g"})

CAPABILITIES = Capabilities(
    max_parallel_uploads=1,
    case_insensitive=False,
    extensions=OCTOPRINT_EXTENSIONS,
    listing_has_size=True,
    content_hash="sha1",
    mkdir_before_upload=False,  # an upload creates missing folders
    rmdir_needs_empty=False,  # a folder is deleted with its contents
)

# OctoPrint passes every name through pathvalidate.sanitize_filename: these
# characters are dropped, so the file would land under another name.
FORBIDDEN = set('\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)}
MAX_NAME_BYTES = 255


class OctoPrintBackend:
    """One OctoPrint host; `api_key` is sent as X-Api-Key."""

    def __init__(self, options: BackendOptions) -> None:
        self.name = options.name
        self.options = options
        self.capabilities = CAPABILITIES
        self._client = make_client(options)
        if options.api_key:
            self._client.headers["X-Api-Key"] = options.api_key

    # -- discovery -------------------------------------------------------

    async def probe(self) -> PrinterInfo:
        version = _as_dict(await self._get_json("/api/version", "read version"), "read version")
        if not self.options.api_key:
            # /api/version answers anonymous clients too; file access would not.
            raise errors.AuthFailed("OctoPrint needs an api_key in the config")
        files = _as_dict(await self._get_json("/api/files/local", "read storage"), "read storage")
        profiles = await self._get_json("/api/printerprofiles", "read printer profiles")
        free = files.get("free")
        return PrinterInfo(
            kind="octoprint",
            model=_current_profile_model(profiles),
            firmware=_str(version.get("server")),
            storage="local",
            free_space=free if isinstance(free, int) else None,
        )

    async def status(self) -> PrinterStatus:
        with translate_transport_errors("read printer state"):
            response = await self._client.get(
                "/api/printer", params={"exclude": "temperature,sd,history"}
            )
        if response.status_code == 409:
            # "Printer is not operational": OctoPrint is not connected to the printer,
            # so nothing can be printing and its files are safe to change.
            return PrinterStatus(state="IDLE")
        raise_for_status(response, "read printer state")
        printer = _as_dict(parse_json(response, "read printer state"), "read printer state")
        state = _state_from_flags(_as_dict(printer.get("state"), "read printer state"))
        job = _as_dict(await self._get_json("/api/job", "read job"), "read job")
        job_path: str | None = None
        completion: float | None = None
        if state in ("PRINTING", "PAUSED", "BUSY"):
            file = job.get("job", {}).get("file") if isinstance(job.get("job"), dict) else None
            if isinstance(file, dict) and file.get("origin") == "local":
                job_path = _str(file.get("path"))
            progress = job.get("progress")
            value = progress.get("completion") if isinstance(progress, dict) else None
            completion = float(value) if isinstance(value, int | float) else None
        return PrinterStatus(state=state, job_path=job_path, job_progress=completion)

    # -- listing ---------------------------------------------------------

    async def list_tree(self, folder: str) -> list[RemoteEntry]:
        url = "/api/files/local"
        if folder.strip("/"):
            url += "/" + quote_path(folder)
        what = f"list {folder or '/'}"
        with translate_transport_errors(what):
            response = await self._client.get(url, params={"recursive": "true"})
        if response.status_code == 404:
            return []
        raise_for_status(response, what)
        body = _as_dict(parse_json(response, what), what)
        if folder.strip("/"):
            if body.get("type") != "folder":
                return []
            children = body.get("children", [])
        else:
            children = body.get("files", [])
        entries: list[RemoteEntry] = []
        _collect(children, entries, what)
        return entries

    async def stat(self, path: str) -> RemoteEntry | None:
        what = f"read {path}"
        with translate_transport_errors(what):
            response = await self._client.get(f"/api/files/local/{quote_path(path)}")
        if response.status_code == 404:
            return None
        raise_for_status(response, what)
        return _entry(_as_dict(parse_json(response, what), what), what)

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
        folder, _, name = path.strip("/").rpartition("/")
        fields = {"path": folder, "select": "false", "print": "false"}
        if not overwrite:
            fields["noOverwrite"] = "true"
        body = MultipartFile(fields, "file", name, source, size, progress)
        what = f"upload {path}"
        with translate_transport_errors(what):
            response = await self._client.post(
                "/api/files/local", content=body.body(), headers=body.headers
            )
        self._raise(response, what)
        answer = _as_dict(parse_json(response, what), what)
        stored = answer.get("files", {}).get("local", {}) if isinstance(answer, dict) else {}
        stored_path = _str(stored.get("path")) if isinstance(stored, dict) else None
        if stored_path is not None and stored_path != path.strip("/"):
            # OctoPrint renamed it (check_name should have caught this first).
            raise errors.Refused(f"{what}: OctoPrint stored it as {stored_path!r}")

    async def download(
        self, entry: RemoteEntry, target: BinaryIO, progress: ProgressCallback | None = None
    ) -> int:
        url = f"/downloads/files/local/{quote_path(entry.path)}"
        return await stream_to(self._client, url, target, f"download {entry.path}", progress)

    async def delete(self, path: str) -> None:
        await self._delete(path, f"delete {path}")

    async def rmdir(self, path: str) -> None:
        # OctoPrint removes folders recursively; the engine only asks for empty ones.
        await self._delete(path, f"remove folder {path}")

    async def _delete(self, path: str, what: str) -> None:
        with translate_transport_errors(what):
            response = await self._client.delete(f"/api/files/local/{quote_path(path)}")
        self._raise(response, what)

    async def mkdir(self, path: str) -> None:
        """Create `path` and any missing parents (OctoPrint makes one level at a time)."""
        folder, _, name = path.strip("/").rpartition("/")
        what = f"create folder {path}"
        with translate_transport_errors(what):
            response = await self._client.post(
                "/api/files/local", files={"foldername": (None, name), "path": (None, folder)}
            )
        if response.status_code == 500 and folder and "No such file" in response.text:
            await self.mkdir(folder)
            with translate_transport_errors(what):
                response = await self._client.post(
                    "/api/files/local", files={"foldername": (None, name), "path": (None, folder)}
                )
        self._raise(response, what)  # an existing folder answers 201 too

    def check_name(self, path: str) -> str | None:
        for part in path.strip("/").split("/"):
            bad = sorted({c for c in part if c in FORBIDDEN})
            if bad:
                shown = " ".join(repr(c) for c in bad)
                return f"name has characters OctoPrint drops from file names: {shown}"
            if part.startswith("."):
                return "OctoPrint hides names starting with a dot"
            if part != part.rstrip(". "):
                return "OctoPrint drops trailing dots and spaces from names"
            if part.split(".", 1)[0].upper() in RESERVED:
                return f"{part.split('.', 1)[0]!r} is a reserved name OctoPrint renames"
            if len(part.encode()) > MAX_NAME_BYTES:
                return f"name longer than {MAX_NAME_BYTES} bytes"
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- helpers ---------------------------------------------------------

    async def _get_json(self, url: str, what: str) -> object:
        with translate_transport_errors(what):
            response = await self._client.get(url)
        raise_for_status(response, what)
        return parse_json(response, what)

    @staticmethod
    def _raise(response: httpx.Response, what: str) -> None:
        if response.status_code == 409:
            text = response.text.lower()
            if "exists" in text:
                raise errors.Refused(f"{what}: HTTP 409, the file already exists", status=409)
            # On files and folders, OctoPrint's 409 means "in use by the current print".
            raise errors.FileBusy(f"{what}: HTTP 409, in use by the current print", status=409)
        raise_for_status(response, what)


def _collect(children: object, out: list[RemoteEntry], what: str) -> None:
    if not isinstance(children, list):
        raise errors.ProtocolError(f"{what}: 'children' is not a list")
    for child in children:
        if not isinstance(child, dict):
            continue
        entry = _entry(child, what)
        out.append(entry)
        if entry.is_dir:
            _collect(child.get("children", []), out, what)


def _entry(item: dict[str, Any], what: str) -> RemoteEntry:
    path = item.get("path")
    if not isinstance(path, str) or not path:
        raise errors.ProtocolError(f"{what}: an entry has no path")
    is_dir = item.get("type") == "folder"
    size, date, sha1 = item.get("size"), item.get("date"), item.get("hash")
    return RemoteEntry(
        path=path.strip("/"),
        is_dir=is_dir,
        size=size if isinstance(size, int) and not is_dir else None,
        # `date` is the upload time, epoch seconds
        mtime=float(date) if isinstance(date, int | float) else None,
        content_hash=f"sha1:{sha1.lower()}" if isinstance(sha1, str) and sha1 else None,
        print_file=is_dir or item.get("type") == "machinecode",
    )


def _state_from_flags(state: dict[str, Any]) -> str:
    flags = state.get("flags")
    if not isinstance(flags, dict):
        raise errors.ProtocolError("read printer state: no state flags in the answer")
    if flags.get("paused") or flags.get("pausing"):
        return "PAUSED"
    if flags.get("cancelling") or flags.get("finishing") or flags.get("resuming"):
        return "BUSY"
    if flags.get("printing"):
        return "PRINTING"
    if flags.get("error"):
        return "ERROR"
    if flags.get("operational"):
        return "IDLE"
    # Connecting, detecting the port, or closed: nothing is printing.
    return "IDLE" if flags.get("closedOrError") else "BUSY"


def _current_profile_model(profiles: object) -> str | None:
    entries = profiles.get("profiles") if isinstance(profiles, dict) else None
    if not isinstance(entries, dict):
        return None
    for profile in entries.values():
        if isinstance(profile, dict) and profile.get("current"):
            return _str(profile.get("model")) or _str(profile.get("name"))
    return None


def _as_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.ProtocolError(f"{what}: unexpected answer (not a JSON object)")
    return value


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
