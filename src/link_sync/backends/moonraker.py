"""Moonraker (tested against 0.11.0), the API host of Klipper printers: its `gcodes` root.

Moonraker serves files whether or not Klipper is connected. Uploads carry a
SHA-256 that Moonraker checks against what it received. Its errors are terse:
most failures are a 400 with a message, told apart here by that message.
"""

from __future__ import annotations

from typing import Any

from link_sync import errors
from link_sync.backends import limits
from link_sync.backends.base import Capabilities, Upload
from link_sync.backends.client import Response
from link_sync.backends.http import HttpBackend, parse_json
from link_sync.backends.names import NameRules
from link_sync.backends.urls import quote_path
from link_sync.core.model import PrinterInfo, PrinterStatus, RemoteEntry

#: Moonraker's VALID_GCODE_EXTS minus .ufp/.nc. Others (.bgcode) are stored but
#: never listed as G-code, so a sync would send them again on every run.
MOONRAKER_EXTENSIONS = frozenset({".gcode", ".gco", ".g"})

CAPABILITIES = Capabilities(
    case_insensitive=False,
    extensions=MOONRAKER_EXTENSIONS,
    mkdir_before_upload=False,  # an upload creates missing folders
    prints_from_host_disk=True,
    uploads_while_printing=True,
)

NAME_RULES = NameRules(
    # NUL ends a name; '"' and '\\' do not survive the multipart file name (Moonraker
    # stores 'say %22hi%22.gcode' and 'backslash.gcode').
    forbidden=frozenset('\x00"\\'),
    forbidden_message="name has characters Moonraker does not keep: {chars}",
    leading_dot="Moonraker hides names starting with a dot",
    surrounding_space="name starts or ends with a space",
    max_name_bytes=255,
    max_folder_bytes=255,
)

ROOT = "gcodes"

#: print_stats.state -> link-sync state
STATES = {
    "standby": "IDLE",
    "printing": "PRINTING",
    "paused": "PAUSED",
    "complete": "FINISHED",
    "cancelled": "STOPPED",
    "error": "ERROR",
}


class MoonrakerBackend(HttpBackend):
    """One Moonraker host; `api_key` is sent as X-Api-Key (or none on a trusted network)."""

    capabilities = CAPABILITIES
    name_rules = NAME_RULES

    def classify(self, response: Response, what: str) -> errors.PrinterError | None:
        # Moonraker's errors are terse: most are a 400 told apart by their message.
        status, text = response.status_code, response.text
        if status == 403 and ("in use" in text or "loaded" in text):
            # 403 here is the file lock of the current print; a wrong key is 401.
            return errors.FileBusy(f"{what}: HTTP 403, in use by the current print", status=403)
        if status == 400 and ("Invalid file path" in text or "does not exist" in text):
            return errors.NotFound(f"{what}: not on the printer", status=404)
        if status == 422 and "checksum" in text.lower():
            return errors.ServerError(
                f"{what}: the file arrived damaged (SHA-256 mismatch); Moonraker discarded it",
                status=422,
            )
        return None

    # -- discovery -------------------------------------------------------

    async def probe(self) -> PrinterInfo:
        info = await self._result("/server/info", "read server info")
        root = await self._directory("", "read storage")
        usage = root.get("disk_usage") if root is not None else None
        free = usage.get("free") if isinstance(usage, dict) else None
        extra = {"klippy_state": str(info.get("klippy_state", "unknown"))}
        model: str | None = None
        if info.get("klippy_connected"):
            what = "read printer info"
            # 503: Klippy went away meanwhile; the model stays unknown.
            printer = await self.request("GET", "/printer/info", what, accept=(503,))
            if printer.status_code == 200:
                details = _result(printer, what)
                model = "Klipper"
                extra["klipper"] = str(details.get("software_version", ""))
                extra["hostname"] = str(details.get("hostname", ""))
        version = info.get("moonraker_version")
        return PrinterInfo(
            kind="moonraker",
            model=model,
            firmware=version if isinstance(version, str) else None,
            storage=ROOT,
            free_space=free if isinstance(free, int) else None,
            extra=extra,
        )

    async def status(self) -> PrinterStatus:
        what = "read print state"
        response = await self.request(
            "GET",
            "/printer/objects/query",
            what,
            params={"print_stats": "", "virtual_sdcard": ""},
            accept=(400, 503),
        )
        if response.status_code in (400, 503) and "klippy" in response.text.lower():
            # Klipper is not connected (host booting, MCU down, service stopped).
            # Moonraker still serves files, and with no Klipper nothing can be
            # printing: Moonraker itself then allows changing every file. IDLE
            # lets the engine sync; `probe()` reports the Klippy state alongside.
            return PrinterStatus(state="IDLE")
        self.check(response, what)
        status = _result(response, what).get("status")
        stats = status.get("print_stats") if isinstance(status, dict) else None
        if not isinstance(stats, dict) or not isinstance(stats.get("state"), str):
            raise errors.ProtocolError(f"{what}: no print_stats.state in the answer")
        state = STATES.get(stats["state"], stats["state"].upper())
        filename = stats.get("filename")
        job_path = filename if isinstance(filename, str) and filename else None
        progress: float | None = None
        sdcard = status.get("virtual_sdcard") if isinstance(status, dict) else None
        if isinstance(sdcard, dict) and isinstance(sdcard.get("progress"), int | float):
            progress = float(sdcard["progress"]) * 100
        if state not in ("PRINTING", "PAUSED"):
            return PrinterStatus(state=state, job_path=job_path)
        return PrinterStatus(state=state, job_path=job_path, job_progress=progress)

    # -- listing ---------------------------------------------------------

    async def list_tree(self, folder: str) -> list[RemoteEntry]:
        entries: list[RemoteEntry] = []
        bounds = limits.ListingBounds(f"list {folder.strip('/') or '/'}")
        pending = [(folder.strip("/"), 0)]
        while pending:
            current, depth = pending.pop()
            bounds.depth(depth)
            answer = await self._sized_directory(current, f"list {current or '/'}")
            if answer is None:
                continue  # gone meanwhile, or `folder` does not exist
            listing, size = answer
            dirs, files = listing.get("dirs", []), listing.get("files", [])
            count = (len(dirs) if isinstance(dirs, list) else 0) + (
                len(files) if isinstance(files, list) else 0
            )
            bounds.folder(count, current, size)
            prefix = f"{current}/" if current else ""
            for item in listing.get("dirs", []):
                entry = _entry(prefix, item, "dirname", is_dir=True)
                if entry is not None:
                    entries.append(entry)
                    pending.append((entry.path, depth + 1))
            for item in listing.get("files", []):
                entry = _entry(prefix, item, "filename", is_dir=False)
                if entry is not None:
                    entries.append(entry)
        return entries

    async def stat(self, path: str) -> RemoteEntry | None:
        folder, _, name = path.strip("/").rpartition("/")
        listing = await self._directory(folder, f"read {path}")
        if listing is None:
            return None
        for item in listing.get("files", []):
            if isinstance(item, dict) and item.get("filename") == name:
                return _entry(f"{folder}/" if folder else "", item, "filename", is_dir=False)
        return None

    async def _directory(self, folder: str, what: str) -> dict[str, Any] | None:
        """One level of `folder` (dirs, files, disk_usage), or None if it does not exist."""
        answer = await self._sized_directory(folder, what)
        return None if answer is None else answer[0]

    async def _sized_directory(self, folder: str, what: str) -> tuple[dict[str, Any], int] | None:
        """`_directory` and the size of the answer."""
        path = f"{ROOT}/{folder}" if folder else ROOT
        response = await self.request(
            "GET",
            "/server/files/directory",
            what,
            params={"path": path, "extended": "false"},
            accept=(400, 404),
            limit=limits.LISTING_ANSWER,
        )
        if response.status_code in (400, 404) and "does not exist" in response.text:
            return None
        self.check(response, what)
        return _result(response, what), len(response.content)

    async def _result(self, url: str, what: str) -> dict[str, Any]:
        return _result(await self.request("GET", url, what), what)

    # -- changes ---------------------------------------------------------

    async def send(self, upload: Upload) -> None:
        # Moonraker always overwrites; `overwrite` only matters to printers that ask.
        # It checks the SHA-256 sent after the file against what it received.
        path, size = upload.path, upload.size
        fields = {"root": ROOT, "path": path.strip("/").rpartition("/")[0]}
        what = f"upload {path}"
        try:
            answer = await self.post_file(
                "/server/files/upload", upload, fields, sha256_field="checksum"
            )
        except errors.Unreachable:
            # Moonraker answers a wrong key with 401 and closes the connection while
            # the body is still being sent, so the client may see only the drop. One
            # cheap request tells a refused key (AuthFailed, not retried) from a drop.
            await self._directory("", f"{what}: check the API key")
            raise
        # The upload answer is not wrapped in "result" like the others.
        item = answer.get("item") if isinstance(answer, dict) else None
        stored = item.get("size") if isinstance(item, dict) else None
        if isinstance(stored, int) and stored != size:
            raise errors.ProtocolError(f"{what}: Moonraker stored {stored} bytes, sent {size}")

    def download_url(self, entry: RemoteEntry) -> str:
        return f"/server/files/gcodes/{quote_path(entry.path)}"

    async def delete(self, path: str) -> None:
        await self.request("DELETE", f"/server/files/{ROOT}/{quote_path(path)}", f"delete {path}")

    async def mkdir(self, path: str) -> None:
        """Create `path` and any missing parents (Moonraker makes one level at a time)."""
        what = f"create folder {path}"

        async def create(folder: str) -> Response:
            return await self._directory_call("POST", folder, what)

        response = await self.make_folder_with_parents(
            path, create, lambda answer: answer.status_code == 400 and "No such file" in answer.text
        )
        if response.status_code == 400 and "File exists" in response.text:
            return
        self.check(response, what)

    async def rmdir(self, path: str) -> None:
        what = f"remove folder {path}"
        response = await self._directory_call("DELETE", path, what)
        if response.status_code == 400 and "not empty" in response.text:
            # Moonraker leaves a hidden `.thumbs` folder behind when a G-code file is
            # deleted; a folder holding nothing but such dot entries is empty to us.
            listing = await self._directory(path.strip("/"), what)
            names = [
                str(item.get("dirname") or item.get("filename") or "")
                for key in ("dirs", "files")
                for item in (listing or {}).get(key, [])
                if isinstance(item, dict)
            ]
            if listing is not None and all(name.startswith(".") for name in names):
                response = await self._directory_call("DELETE", path, what, force=True)
        self.check(response, what)

    async def _directory_call(
        self, method: str, path: str, what: str, *, force: bool = False
    ) -> Response:
        """POST or DELETE one folder; a 400 is returned for the caller to read."""
        params = {"path": f"{ROOT}/{path.strip('/')}"}
        if force:
            params["force"] = "true"
        return await self.request(
            method, "/server/files/directory", what, params=params, accept=(400,)
        )


def _entry(prefix: str, item: object, key: str, *, is_dir: bool) -> RemoteEntry | None:
    if not isinstance(item, dict):
        return None
    name = item.get(key)
    if not isinstance(name, str) or not name or name.startswith("."):
        return None  # Moonraker's own (.thumbs) and hidden files
    size, modified = item.get("size"), item.get("modified")
    dot = name.rfind(".")
    return RemoteEntry(
        path=prefix + name,
        is_dir=is_dir,
        size=size if isinstance(size, int) and not is_dir else None,
        mtime=float(modified) if isinstance(modified, int | float) else None,
        read_only="w" not in str(item.get("permissions", "rw")),
        print_file=is_dir or (dot > 0 and name[dot:].lower() in MOONRAKER_EXTENSIONS),
    )


def _result(response: Response, what: str) -> dict[str, Any]:
    """The `result` object Moonraker wraps its answers in."""
    body = parse_json(response, what)
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise errors.ProtocolError(f"{what}: no 'result' object in the answer")
    return result


async def version_without_key(host: str, timeout: float) -> str | None:
    """Moonraker's version from `/server/info`, which answers without a key unless the
    server is set to require one: "" when it answers none, None when it does not answer
    (`discover`, before any credentials)."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(f"http://{host}/server/info") as response,
        ):
            if response.status != 200:
                return None
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        return None
    version = result.get("moonraker_version")
    return str(version) if version else ""
