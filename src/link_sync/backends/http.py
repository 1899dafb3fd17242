"""The HTTP base every backend builds on: one client per printer (`client.py`: auth,
waits, TLS, no proxy, transport failures), streaming bodies, and the ONE place where
HTTP statuses become `link_sync.errors` exceptions (`HttpBackend.request`).

A backend adds only what its API says differently: `classify` for the wording of
its error answers, `name_rules` for the names its storage refuses, and the calls.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from link_sync import errors, redact
from link_sync.backends import limits, names, sent
from link_sync.backends.base import Capabilities, ProgressCallback, Upload
from link_sync.backends.client import (
    CHUNK_SIZE,
    JsonTooDeep,
    Middleware,
    PrinterClient,
    Response,
)
from link_sync.core.model import RemoteEntry

if TYPE_CHECKING:
    from link_sync.config import PrinterConfig


def api_key_header(printer: PrinterConfig) -> dict[str, str]:
    """The X-Api-Key header OctoPrint, Moonraker and PrusaLink take, if a key is set."""
    return {"X-Api-Key": printer.api_key} if printer.api_key else {}


class HttpBackend:
    """What every backend shares: the client, the error tree, JSON, names, folders.

    Subclasses set `capabilities` and `name_rules` (class attributes: known before
    any call) and override `classify` for the wording of their API's errors.
    """

    capabilities: Capabilities
    name_rules: names.NameRules

    def __init__(
        self,
        printer: PrinterConfig,
        *,
        auth: Middleware | None = None,
        client: PrinterClient | None = None,
    ) -> None:
        self.name = printer.name
        self.printer = printer
        self._client = client or PrinterClient(printer, auth=auth, headers=api_key_header(printer))

    @classmethod
    async def open(cls, printer: PrinterConfig) -> HttpBackend:
        """The backend for `printer`; PrusaLink's asks the printer which one it needs."""
        return cls(printer)

    # -- the one place answers become errors -------------------------------

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        accept: Collection[int] = (),
        params: dict[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        limit: int = limits.SMALL_ANSWER,
    ) -> Response:
        """Send one request; a failed answer raises, unless its status is in `accept`.

        `what` names the action in messages ("read status", "upload a.gcode");
        `limit` is the most read of the answer (`limits.LISTING_ANSWER` for a listing).
        """
        response = await self._client.request(
            method, url, what, params=params, content=content, headers=headers, limit=limit
        )
        if response.status_code not in accept:
            self.check(response, what)
        return response

    def check(self, response: Response, what: str) -> None:
        """Raise the `PrinterError` for a failed answer (status 400 and up)."""
        if response.status_code < 400:
            return
        raise self.classify(response, what) or status_error(response, what)

    def classify(self, response: Response, what: str) -> errors.PrinterError | None:
        """The error this API means by a failed answer, where its wording says more
        than the status; None for the generic meaning (`status_error`)."""
        return None

    async def get_json(
        self, url: str, what: str, *, limit: int = limits.SMALL_ANSWER
    ) -> dict[str, Any]:
        """GET a JSON object."""
        response = await self.request("GET", url, what, limit=limit)
        return as_object(parse_json(response, what), what)

    async def download(
        self, entry: RemoteEntry, target: BinaryIO, progress: ProgressCallback | None = None
    ) -> int:
        """`Backend.download`: GET the API's `download_url` and write the body into
        `target` chunk by chunk; return the byte count. A file listed at a size is cut a
        little past it (`limits.download_cap`)."""
        what = f"download {entry.path}"
        response, written = await self._client.download_to(
            self.download_url(entry), what, target, progress, limits.download_cap(entry.size)
        )
        self.check(response, what)
        return written

    def download_url(self, entry: RemoteEntry) -> str:
        """The URL of a listed file's content (each API its own)."""
        raise NotImplementedError

    async def upload(
        self,
        path: str,
        source: Path,
        size: int,
        *,
        overwrite: bool,
        progress: ProgressCallback | None = None,
    ) -> None:
        """`Backend.upload`: the printer API's own request is the subclass's `send`."""
        await self.send(Upload(path, source, size, overwrite, progress))

    async def send(self, upload: Upload) -> None:
        """Stream `upload.source` to `upload.path`; never read it whole."""
        raise NotImplementedError

    async def post_file(
        self, url: str, upload: Upload, fields: dict[str, str], *, sha256_field: str | None = None
    ) -> object:
        """POST the upload's file as the form's `file` (named as its path's last part)
        after `fields`, streamed from disk; the JSON answer (OctoPrint, Moonraker)."""
        response = await self.post_file_response(url, upload, fields, sha256_field=sha256_field)
        return parse_json(response, f"upload {upload.path}")

    async def post_file_response(
        self,
        url: str,
        upload: Upload,
        fields: dict[str, str],
        *,
        sha256_field: str | None = None,
        accept: Collection[int] = (),
    ) -> Response:
        """`post_file`, answering the response itself (statuses in `accept` included)."""
        from link_sync.backends.multipart import MultipartFile

        name = upload.path.strip("/").rpartition("/")[2]
        body = MultipartFile(
            fields,
            "file",
            name,
            upload.source,
            upload.size,
            upload.progress,
            sha256_field=sha256_field,
        )
        what = f"upload {upload.path}"
        return await self.request(
            "POST", url, what, content=body.body(), headers=body.headers, accept=accept
        )

    async def post_form(
        self, url: str, fields: dict[str, str], what: str, *, accept: Collection[int] = ()
    ) -> Response:
        """POST `fields` as multipart/form-data, as a browser's form sends them."""
        from link_sync.backends.multipart import form_fields

        content, headers = form_fields(fields)
        return await self.request(
            "POST", url, what, content=content, headers=headers, accept=accept
        )

    # -- shared behaviour ---------------------------------------------------

    def check_name(self, path: str) -> str | None:
        """Why `path` cannot be stored on this printer, or None if it can."""
        return names.check(self.name_rules, path)

    async def make_folder_with_parents(
        self,
        path: str,
        create: Callable[[str], Awaitable[Response]],
        parent_missing: Callable[[Response], bool],
    ) -> Response:
        """`create(path)`; if the printer answers that the parent is missing, create
        the parents (through `self.mkdir`) and ask once more.

        For APIs that make one level at a time (OctoPrint, Moonraker).
        """
        response = await create(path)
        parent = path.strip("/").rpartition("/")[0]
        if parent and parent_missing(response):
            await self.mkdir(parent)
            response = await create(path)
        return response

    async def mkdir(self, path: str) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self._client.aclose()


async def file_body(
    source: Path, size: int, progress: ProgressCallback | None = None
) -> AsyncIterator[bytes]:
    """Stream `source` in chunks, exactly `size` bytes, reporting progress.

    Raises `FileChanged` (an `OSError`) if the file is not `size` bytes, or was
    written while it was read (size, mtime or ctime moved between the open and the
    last read): before the last chunk goes out, so the printer never gets a whole
    file that mixes two versions under a promised Content-Length. Inside
    `sent.recording_sent()`, the record gets the SHA-256 of the bytes sent.
    """
    record = sent.current_record()
    digest = hashlib.new(sent.HASH)
    done = 0
    with source.open("rb") as handle:
        info = os.fstat(handle.fileno())
        # Only a regular file has a version to check (a pipe's mtime moves as it is fed).
        opened = sent.version(info) if stat.S_ISREG(info.st_mode) else None
        if opened is not None and opened[0] != size:
            raise sent.FileChanged(
                f"{source} changed since it was scanned ({opened[0]} bytes, not {size}); "
                "it will be sent next run"
            )
        while done < size:
            chunk = handle.read(min(CHUNK_SIZE, size - done))
            if not chunk:
                raise sent.changed_while_sent(source)
            done += len(chunk)
            digest.update(chunk)
            if done == size:
                if opened is not None and sent.version(os.fstat(handle.fileno())) != opened:
                    raise sent.changed_while_sent(source)
                if record is not None:
                    record.content_hash = f"{sent.HASH}:{digest.hexdigest()}"
            yield chunk
            if progress is not None:
                progress(len(chunk))
    if size == 0 and record is not None:
        record.content_hash = f"{sent.HASH}:{digest.hexdigest()}"


def error_message(response: Response) -> str:
    """The human part of a printer's error body (Buddy text, Buddy/Pi JSON, HTML),
    with any registered secret masked: a printer that echoes our credentials back
    (a misbehaving proxy, a hostile device) must not make us print them."""
    return redact.redact(_error_text(response))


def _error_text(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    text = response.text.strip()
    if text.startswith("<"):
        return response.reason_phrase or f"HTTP {response.status_code}"
    # Buddy: "409: Conflict\n\nFile already exists\n" -> the second non-empty line;
    # Pi: "Conflict\nAnother transfer in progress\n\n\nSee: <help url>" -> the same.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    heading = lines[0] if lines else ""
    if len(lines) > 1 and (
        heading.startswith(str(response.status_code)) or heading == response.reason_phrase
    ):
        return lines[1]
    return lines[0][:200] if lines else (response.reason_phrase or f"HTTP {response.status_code}")


#: The generic meaning of a failed status; anything else 4xx is `Refused`.
_BY_STATUS: dict[int, type[errors.PrinterError]] = {
    404: errors.NotFound,
    408: errors.RequestTimeout,
    507: errors.StorageFull,
}


def status_error(response: Response, what: str) -> errors.PrinterError:
    """The error a failed status means when the API's wording says nothing more."""
    status = response.status_code
    detail = error_message(response)
    if status in (401, 403):
        return errors.AuthFailed(
            f"{what}: HTTP {status}, wrong password or API key ({detail})", status=status
        )
    exc = _BY_STATUS.get(status) or (errors.ServerError if status >= 500 else errors.Refused)
    return exc(f"{what}: HTTP {status} {detail}", status=status)


def parse_json(response: Response, what: str) -> object:
    """The JSON body, or `ProtocolError` naming the action."""
    try:
        return response.json()
    except JsonTooDeep as exc:
        raise errors.ProtocolError(f"{what}: the printer's answer is nested too deeply") from exc
    except ValueError as exc:
        raise errors.ProtocolError(f"{what}: the printer's answer is not JSON") from exc


def as_object(value: object, what: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else `ProtocolError` naming the action."""
    if not isinstance(value, dict):
        raise errors.ProtocolError(f"{what}: unexpected answer (not a JSON object)")
    return value


def first_str(data: dict[str, Any], *keys: str) -> str | None:
    """The first of `keys` whose value is a non-empty text."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
