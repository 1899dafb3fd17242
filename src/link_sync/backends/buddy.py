"""PrusaLink on Buddy firmware (MK4/MK4S, MK3.5, MK3.9, XL, MINI, CORE One).

Storage `usb` on FAT: names compare case-insensitively and have 8.3 short names next
to the long ones; listings carry no sizes; one transfer at a time (409 "Another
transfer in progress"); digest auth in RFC 2069 form, nonces valid for 300 s.
"""

from __future__ import annotations

import functools

from link_sync.backends.base import Capabilities
from link_sync.backends.names import CONTROL, NameRules
from link_sync.backends.prusalink import PrusaLinkBackend
from link_sync.backends.urls import quote_path
from link_sync.core.model import PRINT_EXTENSIONS, RemoteEntry

CAPABILITIES = Capabilities(
    case_insensitive=True,
    extensions=PRINT_EXTENSIONS,
    opens_preview=True,
    delete_leaves_print_screen=True,
    # The firmware does not name its model (basic_gets.cpp `get_version`, `get_info`;
    # only Prusa Connect is told the printer type): routing needs the config's `model:`.
    names_model=False,
    # Every Buddy printer (MK4/MK4S, MK3.5/3.9, XL, MINI, CORE One) prints .bgcode.
    prints_bgcode=True,
)

#: Buddy refuses a request line whose URL is longer than this (414).
MAX_URL_BYTES = 168


@functools.cache  # one object per storage: `names.check` caches by identity
def name_rules(storage: str) -> NameRules:
    """FAT's rules, and the firmware's URL limit for files on `storage`."""
    return NameRules(
        forbidden=frozenset('"*:<>?|\\\x7f') | CONTROL,
        forbidden_message="name has characters the printer's FAT storage refuses: {chars}",
        leading_dot="PrusaLink stores names starting with a dot but never lists them",
        trailing_dot_or_space="name ends with a dot or space, which FAT storage drops",
        max_url_bytes=MAX_URL_BYTES,
        url_prefix=f"/api/v1/files/{storage}/",
    )


class BuddyBackend(PrusaLinkBackend):
    """One printer with Buddy firmware, through PrusaLink's v1 API."""

    kind = "buddy"
    default_storage = "usb"
    # The firmware names neither its model nor its version in /api/version or
    # /api/v1/info (basic_gets.cpp; only Prusa Connect is told the printer type), and
    # `server` is the lwIP version: the model comes from the config's `model:`.
    model_keys = ()
    firmware_keys = ()
    nonce_lifetime = 240.0  # the firmware's 300 s, with a margin for a long upload
    capabilities = CAPABILITIES
    stores_empty_files = False
    unavailable_storage = "no USB stick in the printer"

    @staticmethod
    def rules_for(storage: str) -> NameRules:
        return name_rules(storage)

    def _download_url(self, entry: RemoteEntry) -> str:
        return "/usb/" + quote_path(entry.short_path or entry.path)

    async def mkdir(self, path: str) -> None:
        # 409: "Already exists", which is what we want.
        await self._create_folder(path, f"create folder {path}", accept=(409,))
