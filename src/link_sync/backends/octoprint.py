"""OctoPrint (tested against 1.11.8 and 2.0.0rc7): the files of its `local` storage,
over its REST API.

OctoPrint keeps G-code on the host, so files can change while the printer is
offline; only the file being printed (and its folders) is locked (409). The 1.x
listing carries each file's SHA-1, which makes comparisons exact; 2.0's does not
(its files API builds the entries without it), and comparisons go by size and the
journal as on the other printers.
"""

from __future__ import annotations

from typing import Any

from link_sync import errors, redact
from link_sync.backends import limits
from link_sync.backends.base import Capabilities, Upload
from link_sync.backends.client import Response
from link_sync.backends.http import HttpBackend, as_object, parse_json
from link_sync.backends.names import CONTROL, NameRules
from link_sync.backends.urls import quote_path
from link_sync.core.model import PrinterInfo, PrinterStatus, RemoteEntry

#: OctoPrint knows these as machine code; anything else (.bgcode, .gc) is refused with 415.
OCTOPRINT_EXTENSIONS = frozenset({".gcode", ".gco", ".g"})

CAPABILITIES = Capabilities(
    case_insensitive=False,
    extensions=OCTOPRINT_EXTENSIONS,
    content_hash="sha1",  # in 1.x listings; 2.0 lists none (entries then carry None)
    mkdir_before_upload=False,  # an upload creates missing folders
    prints_from_host_disk=True,
    uploads_while_printing=True,
)

log = redact.logger("link_sync")

# OctoPrint passes every name through pathvalidate.sanitize_filename and strips
# octoprint/util/files.py's _STRIPPED_FILE_NAME_CHARS (';|&?$*<>'): these characters
# are dropped, so the file would land under another name.
NAME_RULES = NameRules(
    forbidden=frozenset('\\:*?"<>|;&$\x7f') | CONTROL,
    forbidden_message="name has characters OctoPrint drops from file names: {chars}",
    leading_dot="OctoPrint hides names starting with a dot",
    trailing_dot_or_space="OctoPrint drops trailing dots and spaces from names",
    reserved_stems=frozenset({"CON", "PRN", "AUX", "NUL"})
    | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)},
    reserved_message="{stem!r} is a reserved name OctoPrint renames",
    max_name_bytes=255,
    max_folder_bytes=255,
)


class OctoPrintBackend(HttpBackend):
    """One OctoPrint host; `api_key` is sent as X-Api-Key."""

    capabilities = CAPABILITIES
    name_rules = NAME_RULES

    def classify(self, response: Response, what: str) -> errors.PrinterError | None:
        if response.status_code == 400 and "csrf" in response.text.lower():
            # A POST or DELETE without a valid API key fails OctoPrint's CSRF check
            # (a request with no session must carry the key) before the key is judged.
            return errors.AuthFailed(
                f"{what}: HTTP 400, wrong password or API key (CSRF validation failed)", status=400
            )
        if response.status_code == 409:
            if "exists" in response.text.lower():
                return errors.Refused(f"{what}: HTTP 409, the file already exists", status=409)
            # On files and folders, OctoPrint's 409 means "in use by the current print".
            return errors.FileBusy(f"{what}: HTTP 409, in use by the current print", status=409)
        return None

    # -- discovery -------------------------------------------------------

    async def probe(self) -> PrinterInfo:
        version = await self.get_json("/api/version", "read version")
        if not self.printer.api_key:
            # /api/version answers anonymous clients too; file access would not.
            raise errors.AuthFailed("OctoPrint needs an api_key in the config")
        # The root's listing (for its free space): as big as a listing can be.
        files = await self.get_json("/api/files/local", "read storage", limit=limits.LISTING_ANSWER)
        profiles = await self.get_json("/api/printerprofiles", "read printer profiles")
        free = files.get("free")
        return PrinterInfo(
            kind="octoprint",
            model=_current_profile_model(profiles),
            firmware=_str(version.get("server")),
            storage="local",
            free_space=free if isinstance(free, int) else None,
        )

    async def status(self) -> PrinterStatus:
        what = "read printer state"
        response = await self.request(
            "GET",
            "/api/printer",
            what,
            params={"exclude": "temperature,sd,history"},
            accept=(409,),
        )
        if response.status_code == 409:
            # "Printer is not operational": OctoPrint is not connected to the printer,
            # so nothing can be printing and its files are safe to change.
            return PrinterStatus(state="IDLE")
        printer = as_object(parse_json(response, what), what)
        state = _state_from_flags(as_object(printer.get("state"), what))
        job = await self.get_json("/api/job", "read job")
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
        response = await self.request(
            "GET",
            url,
            what,
            params={"recursive": "true"},
            accept=(404,),
            limit=limits.LISTING_ANSWER,
        )
        if response.status_code == 404:
            return []
        body = as_object(parse_json(response, what), what)
        if folder.strip("/"):
            if body.get("type") != "folder":
                return []
            children = body.get("children", [])
        else:
            children = body.get("files", [])
        entries: list[RemoteEntry] = []
        _collect(children, entries, what, limits.ListingBounds(what))
        return entries

    async def stat(self, path: str) -> RemoteEntry | None:
        what = f"read {path}"
        url = f"/api/files/local/{quote_path(path)}"
        response = await self.request("GET", url, what, accept=(404, 500))
        if response.status_code == 404:
            return None
        parent = path.strip("/").rpartition("/")[0]
        if response.status_code == 500 and parent and await self.stat(parent) is None:
            return None  # OctoPrint 1.11.8 answers 500 for a file under a missing folder
        self.check(response, what)
        return _entry(as_object(parse_json(response, what), what), what)

    # -- changes ---------------------------------------------------------

    async def send(self, upload: Upload) -> None:
        path = upload.path
        fields = {"path": path.strip("/").rpartition("/")[0], "select": "false", "print": "false"}
        if not upload.overwrite:
            fields["noOverwrite"] = "true"
        what = f"upload {path}"
        response = await self.post_file_response("/api/files/local", upload, fields, accept=(500,))
        if response.status_code == 500:
            if _thumbnail_failed(response):
                # OctoPrint 2.0 stores the file, then reads the thumbnails embedded in
                # it (gcode_thumbnail_tool) and answers 500 when one is no image
                # (octoprint/filemanager/storage/local.py add_file): the file is there
                # whole; the engine's check after the upload confirms its size.
                log.warning("%s: OctoPrint stored it but could not read its thumbnail", what)
                return
            self.check(response, what)
        answer = as_object(parse_json(response, what), what)
        files = answer.get("files")
        stored = files.get("local") if isinstance(files, dict) else None
        stored_path = _str(stored.get("path")) if isinstance(stored, dict) else None
        if stored_path is not None and stored_path != path.strip("/"):
            # OctoPrint renamed it (check_name should have caught this first).
            raise errors.Refused(f"{what}: OctoPrint stored it as {stored_path!r}")

    def download_url(self, entry: RemoteEntry) -> str:
        return f"/downloads/files/local/{quote_path(entry.path)}"

    async def delete(self, path: str) -> None:
        await self._delete(path, f"delete {path}")

    async def rmdir(self, path: str) -> None:
        # OctoPrint removes folders recursively; the engine only asks for empty ones.
        await self._delete(path, f"remove folder {path}")

    async def _delete(self, path: str, what: str) -> None:
        await self.request("DELETE", f"/api/files/local/{quote_path(path)}", what)

    async def mkdir(self, path: str) -> None:
        """Create `path` and any missing parents (OctoPrint makes one level at a time)."""
        what = f"create folder {path}"

        async def create(folder_path: str) -> Response:
            parent, _, name = folder_path.strip("/").rpartition("/")
            form = {"foldername": name, "path": parent}
            return await self.post_form("/api/files/local", form, what, accept=(500,))

        response = await self.make_folder_with_parents(
            path, create, lambda answer: answer.status_code == 500 and "No such file" in answer.text
        )
        self.check(response, what)  # an existing folder answers 201 too


def _thumbnail_failed(response: Response) -> bool:
    """OctoPrint 2.0's answer when Pillow cannot read a thumbnail embedded in an
    upload: `{"error": "cannot identify image file <...>"}`."""
    return "cannot identify image file" in response.text


def _collect(
    children: object,
    out: list[RemoteEntry],
    what: str,
    bounds: limits.ListingBounds,
    depth: int = 0,
) -> None:
    """The entries of one folder of OctoPrint's recursive listing, and below it."""
    if not isinstance(children, list):
        raise errors.ProtocolError(f"{what}: 'children' is not a list")
    bounds.depth(depth)
    text = 0  # OctoPrint sends every entry's full path
    for child in children:
        if not isinstance(child, dict):
            continue
        entry = _entry(child, what)
        out.append(entry)
        text += len(entry.path)
        if entry.is_dir:
            _collect(child.get("children", []), out, what, bounds, depth + 1)
    bounds.folder(len(children), "", text)


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


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
