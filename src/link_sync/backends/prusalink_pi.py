"""The Raspberry-Pi PrusaLink (tested against 0.8.1) for MK3/MK3S printers.

Storage `local` on the Pi's own disk: POSIX names, sizes in listings, its own API
key or digest auth (nonces valid for 60 s), `Content-Type: text/x.gcode` required
on PUT, folders created one level at a time, and listings that follow the disk
through inotify, so they lag a moment behind every change.
"""

from __future__ import annotations

import asyncio

from link_sync import errors
from link_sync.backends.base import Capabilities
from link_sync.backends.names import CONTROL, NameRules
from link_sync.backends.prusalink import PI_SETTLE_ATTEMPTS, PI_SETTLE_DELAY, PrusaLinkBackend
from link_sync.backends.urls import quote_path
from link_sync.core.model import RemoteEntry

CAPABILITIES = Capabilities(
    case_insensitive=False,
    # The Pi lists .gcode .gc .g .gco as print files and knows no binary G-code.
    extensions=frozenset({".gcode", ".gc", ".g", ".gco"}),
    mkdir_before_upload=True,
    names_model=True,
    # its files live on the Pi; whether a slow Pi Zero takes them during a print is the
    # operator's call (`while_printing: upload`)
    prints_from_host_disk=True,
)

NAME_RULES = NameRules(
    forbidden=frozenset('\\?"%¯°#ˇ') | CONTROL,
    forbidden_message="name has characters PrusaLink refuses: {chars}",
    leading_dot="PrusaLink stores names starting with a dot but never lists them",
    max_name_bytes=248,
    max_folder_bytes=255,
)


class PiBackend(PrusaLinkBackend):
    """One MK3/MK3S through the Raspberry-Pi PrusaLink."""

    kind = "prusalink-pi"
    default_storage = "local"
    # PrusaLink 0.8.1: "original": "PrusaLink I3MK3S", the type the printer told it
    model_keys = ("original",)
    firmware_keys = ("server",)
    nonce_lifetime = 45.0  # PrusaLink's 60 s, with a margin
    appear_attempts = PI_SETTLE_ATTEMPTS
    capabilities = CAPABILITIES

    @staticmethod
    def rules_for(storage: str) -> NameRules:
        return NAME_RULES

    def _download_url(self, entry: RemoteEntry) -> str:
        return f"/api/files/{self.storage}/{quote_path(entry.path)}/raw"

    async def _uploaded(self, path: str, size: int) -> None:
        """Wait until the printer shows the size just written.

        PrusaLink 0.8.1 answers from an index that follows the disk through
        inotify: straight after an upload it may still show the old file (an
        overwrite) or the new one at 0 bytes (created before its content was
        written) for about a second, and a caller checking the upload would take
        it for a broken one. Gives up quietly after the usual wait: the caller's
        check decides.
        """
        for attempt in range(PI_SETTLE_ATTEMPTS):
            entry = await self.stat(path)
            if entry is not None and entry.size == size:
                return
            if attempt + 1 < PI_SETTLE_ATTEMPTS:
                await asyncio.sleep(PI_SETTLE_DELAY)

    async def _delete(self, path: str, what: str) -> None:
        await super()._delete(path, what)
        await self._settle_gone(path)

    async def _settle_gone(self, path: str) -> None:
        """Wait until the listing drops what was just deleted.

        PrusaLink 0.8.1 lists a deleted entry for up to ~1 s more; a run
        straight after this one would otherwise find it and delete it again.
        """
        parent, _, name = path.strip("/").rpartition("/")
        for attempt in range(PI_SETTLE_ATTEMPTS):
            answer = await self._list_folder(parent)
            if answer is None or all(
                name not in (child.get("display_name"), child.get("name")) for child in answer[0]
            ):
                return
            if attempt + 1 < PI_SETTLE_ATTEMPTS:
                await asyncio.sleep(PI_SETTLE_DELAY)

    async def mkdir(self, path: str) -> None:
        """Create one folder, and wait until it is listed.

        PrusaLink 0.8.1 watches each folder with inotify once its index has
        seen it; a folder or file created inside a new folder before that is
        written to disk but never listed (until a restart). So nothing goes
        into a new folder until the folder itself is listed.
        """
        what = f"create folder {path}"
        await self._create_folder(path, what)
        if await self._until_listed(self._url(path) + "/", what) is None:
            raise errors.ProtocolError(f"{what}: created, but the printer does not list it")
