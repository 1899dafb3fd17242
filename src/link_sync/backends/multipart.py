"""multipart/form-data bodies: an upload streamed from disk (OctoPrint, Moonraker), and
a form of text fields (OctoPrint's new folder)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from link_sync.backends.base import ProgressCallback
from link_sync.backends.http import file_body


class MultipartFile:
    """A multipart/form-data body: form fields, then one file streamed from disk.

    The length is known up front (Content-Length, no chunking) and the file is
    never read whole. With `sha256_field`, the file's SHA-256, computed while it
    streams, is sent as a last field (Moonraker checks it against what it got).
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        file_field: str,
        filename: str,
        source: Path,
        size: int,
        progress: ProgressCallback | None = None,
        *,
        sha256_field: str | None = None,
    ) -> None:
        self.boundary = secrets.token_hex(16)
        self.source, self.size, self.progress = source, size, progress
        self.sha256_field = sha256_field
        head = b"".join(self._field(name, value) for name, value in fields.items())
        self.head = head + self._part_header(
            f'name="{file_field}"; filename="{_quote_param(filename)}"',
            "Content-Type: application/octet-stream\r\n",
        )
        self.tail_length = len(self._tail("0" * 64))

    @property
    def headers(self) -> dict[str, str]:
        length = len(self.head) + self.size + self.tail_length
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(length),
        }

    async def body(self) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        yield self.head
        async for chunk in file_body(self.source, self.size, self.progress):
            digest.update(chunk)
            yield chunk
        yield self._tail(digest.hexdigest())

    def _tail(self, sha256: str) -> bytes:
        closing = f"\r\n--{self.boundary}--\r\n".encode()
        if self.sha256_field is None:
            return closing
        return b"\r\n" + self._field(self.sha256_field, sha256)[:-2] + closing

    def _field(self, name: str, value: str) -> bytes:
        return self._part_header(f'name="{name}"') + value.encode() + b"\r\n"

    def _part_header(self, disposition: str, extra: str = "") -> bytes:
        return (
            f"--{self.boundary}\r\nContent-Disposition: form-data; {disposition}\r\n{extra}\r\n"
        ).encode()


def form_fields(fields: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of text fields only, and its headers."""
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_param(name)}"\r\n\r\n'
        f"{value}\r\n"
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }
    return body, headers


def _quote_param(value: str) -> str:
    # HTML5 form encoding, as browsers send names: UTF-8, with quote
    # and line breaks percent-encoded.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
