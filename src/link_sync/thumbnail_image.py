"""A print file's thumbnail as an image every browser shows, decoded within bounds.

PNG and JPG are decoded once to prove they are whole, then served as they are; QOI
(which no browser shows) is converted to PNG. The image's own header is read first and
an image claiming more than `MAX_PIXELS` is refused before any pixel is decoded (a
decompression bomb), so a hostile file costs a few KB of work, never memory. Whatever
fails gives `NEUTRAL` (a grey square) and one log line; the caller never sees an
exception from a file's content.

`ThumbnailCache` keeps the result per file path, size and mtime: an unchanged master
costs no read and no decode.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from link_sync.thumbnails import ThumbnailError, ThumbnailRef, find_thumbnails, pick, read_thumbnail

log = logging.getLogger("link_sync.thumbnails")

#: The most pixels a thumbnail may claim (PrusaSlicer's largest is 480 x 240).
MAX_PIXELS = 1024 * 1024
MAX_SIDE = 4096

#: The neutral mark: an 8 x 8 light grey PNG, served where a thumbnail cannot be.
NEUTRAL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc00000015494441"
    "5478da63bc71e7010336c0c480030c4e0900059602a416059c920000000049454e44ae426082"
)

_PILLOW_FORMAT = {"PNG": "PNG", "JPG": "JPEG", "QOI": "QOI"}
_CONTENT_TYPE = {"PNG": "image/png", "JPG": "image/jpeg", "QOI": "image/png"}


@dataclass(frozen=True, slots=True)
class Picture:
    """An image to serve: its bytes and content type. `neutral`: the neutral mark."""

    body: bytes
    content_type: str = "image/png"
    neutral: bool = False


NEUTRAL_PICTURE = Picture(NEUTRAL, neutral=True)


class BadImage(Exception):
    """The image cannot be shown (corrupt, truncated, too large)."""


def browser_image(data: bytes, fmt: str) -> Picture:
    """`data`, a PNG, JPG or QOI image, as an image a browser shows.

    Raises BadImage when it cannot be decoded within bounds.
    """
    from PIL import Image  # Pillow: loaded only when a thumbnail is shown

    pillow_format = _PILLOW_FORMAT.get(fmt)
    if pillow_format is None:
        raise BadImage(f"unknown image format {fmt!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[pillow_format])  # header only
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                raise BadImage(f"it claims {width}x{height} pixels (at most {MAX_PIXELS})")
            image.load()
            if fmt != "QOI":
                return Picture(data, _CONTENT_TYPE[fmt])
            out = io.BytesIO()
            image.save(out, "PNG")
            return Picture(out.getvalue(), "image/png")
    except BadImage:
        raise
    except Exception as exc:  # Pillow raises many kinds for a damaged image
        raise BadImage(f"{type(exc).__name__}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Known:
    size: int
    mtime_ns: int
    ref: ThumbnailRef | None


class ThumbnailCache:
    """Each master file's chosen thumbnail (located once per size and mtime) and the
    images served (decoded once per size and mtime, the newest `max_bytes` kept).

    Thread-safe: the watch locates in a worker thread while the web app reads.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._refs: dict[str, _Known] = {}
        self._images: OrderedDict[tuple[str, int, int], Picture] = OrderedDict()
        self._image_bytes = 0
        self._lock = threading.Lock()
        #: files whose head was read to find thumbnails, and images decoded
        self.located = 0
        self.decoded = 0

    def ref(self, path: Path, size: int, mtime_ns: int) -> ThumbnailRef | None:
        """The thumbnail to show of the file (None: it has none or cannot be read)."""
        key = str(path)
        with self._lock:
            known = self._refs.get(key)
        if known is not None and known.size == size and known.mtime_ns == mtime_ns:
            return known.ref
        try:
            ref = pick(find_thumbnails(path))
        except OSError as exc:
            log.warning("cannot read the thumbnails of %s: %s", path, exc)
            ref = None
        with self._lock:
            self.located += 1
            self._refs[key] = _Known(size, mtime_ns, ref)
        return ref

    def forget_except(self, paths: set[str]) -> None:
        """Drop what is kept of files no longer in the master."""
        with self._lock:
            for key in [k for k in self._refs if k not in paths]:
                del self._refs[key]

    def picture(self, path: Path, size: int, mtime_ns: int) -> Picture:
        """The image to serve for the file: its thumbnail, or the neutral mark."""
        key = (str(path), size, mtime_ns)
        with self._lock:
            cached = self._images.get(key)
            if cached is not None:
                self._images.move_to_end(key)
                return cached
        ref = self.ref(path, size, mtime_ns)
        picture = NEUTRAL_PICTURE if ref is None else self._decode(path, ref)
        with self._lock:
            self.decoded += ref is not None
            if key not in self._images:
                self._images[key] = picture
                self._image_bytes += len(picture.body)
            while self._image_bytes > self.max_bytes and len(self._images) > 1:
                _, dropped = self._images.popitem(last=False)
                self._image_bytes -= len(dropped.body)
        return picture

    @staticmethod
    def _decode(path: Path, ref: ThumbnailRef) -> Picture:
        try:
            return browser_image(read_thumbnail(path, ref), ref.format)
        except (BadImage, ThumbnailError, OSError) as exc:
            log.warning(
                "the %s thumbnail of %s cannot be shown (%s); showing a neutral mark",
                ref.format,
                path,
                exc,
            )
            return NEUTRAL_PICTURE
