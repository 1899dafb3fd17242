"""Thumbnails: found in plain and binary G-code, the right one picked, served as an image
a browser shows, within bounds, and cached by path, size and mtime."""

from __future__ import annotations

import base64
import io
import logging
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from link_sync.sample_gcode import prusaslicer_gcode
from link_sync.thumbnail_image import NEUTRAL, ThumbnailCache, browser_image
from link_sync.thumbnails import find_thumbnails, pick, read_thumbnail

from sliced_files import MINI_THUMBNAILS, MK4_THUMBNAILS, image, png_claiming, sliced, thumbnail


def shown(body: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(body))
    picture.load()
    assert picture.format in ("PNG", "JPEG")  # what every browser decodes
    return picture


def picture_of(path: Path, cache: ThumbnailCache | None = None) -> tuple[bytes, str, bool]:
    cache = cache or ThumbnailCache()
    stat = path.stat()
    got = cache.picture(path, stat.st_size, stat.st_mtime_ns)
    return got.body, got.content_type, got.neutral


@pytest.mark.parametrize("suffix", [".gcode", ".bgcode"])
def test_every_thumbnail_is_found_in_both_formats(tmp_path: Path, suffix: str) -> None:
    mixed = (*MK4_THUMBNAILS, thumbnail(300, 300, "PNG"), thumbnail(64, 48, "JPG"))
    path = sliced(tmp_path / f"part{suffix}", "MK4", mixed)
    refs = find_thumbnails(path)
    assert [(r.format, r.width, r.height) for r in refs] == [
        ("QOI", 16, 16),
        ("QOI", 313, 173),
        ("QOI", 480, 240),
        ("PNG", 300, 300),
        ("JPG", 64, 48),
    ]
    for ref, wanted in zip(refs, mixed, strict=True):
        assert read_thumbnail(path, ref) == wanted.image


@pytest.mark.parametrize("suffix", [".gcode", ".bgcode"])
def test_qoi_is_served_as_png_of_the_largest_that_fits(tmp_path: Path, suffix: str) -> None:
    path = sliced(tmp_path / f"mk4{suffix}", "MK4", MK4_THUMBNAILS)
    body, content_type, neutral = picture_of(path)
    assert (content_type, neutral) == ("image/png", False)
    assert shown(body).size == (480, 240)


@pytest.mark.parametrize("suffix", [".gcode", ".bgcode"])
def test_png_and_jpg_are_served_as_written(tmp_path: Path, suffix: str) -> None:
    path = sliced(tmp_path / f"mini{suffix}", "MINI", MINI_THUMBNAILS)
    body, content_type, _ = picture_of(path)
    assert content_type == "image/png" and body == MINI_THUMBNAILS[1].image
    assert shown(body).size == (220, 124)
    jpg = sliced(tmp_path / f"j{suffix}", "MINI", (thumbnail(64, 48, "JPG"),))
    body, content_type, _ = picture_of(jpg)
    assert content_type == "image/jpeg" and shown(body).size == (64, 48)


def test_pick_prefers_the_largest_that_fits() -> None:
    refs = find_thumbnails_of((thumbnail(16, 16, "QOI"), thumbnail(1000, 800, "PNG")))
    assert pick(refs) is not None and pick(refs).width == 16  # type: ignore[union-attr]
    assert pick(()) is None


def find_thumbnails_of(thumbnails: tuple[object, ...]) -> tuple[object, ...]:
    from link_sync.thumbnails import ThumbnailRef

    return tuple(
        ThumbnailRef(t.fmt, t.width, t.height, 0, t.size, False)  # type: ignore[attr-defined]
        for t in thumbnails
    )


def test_a_file_without_thumbnails_gets_the_neutral_mark(tmp_path: Path) -> None:
    plain = tmp_path / "plain.gcode"
    plain.write_text("G28\nG1 X10\n")
    assert find_thumbnails(plain) == ()
    body, content_type, neutral = picture_of(plain)
    assert neutral and body == NEUTRAL and content_type == "image/png"
    assert shown(body).size == (8, 8)


def test_thumbnails_are_searched_only_before_the_first_command(tmp_path: Path) -> None:
    late = prusaslicer_gcode("MK4", thumbnails=()) + b"; thumbnail begin 16x16 8\n; AAAA\n"
    path = tmp_path / "late.gcode"
    path.write_bytes(late)
    assert find_thumbnails(path) == ()


def damaged_files(tmp_path: Path) -> dict[str, Path]:
    good = thumbnail(313, 173, "QOI")
    whole = sliced(tmp_path / "whole.gcode", "MK4", (good,)).read_bytes()
    begin = whole.index(b"; thumbnail_QOI begin")
    truncated = tmp_path / "truncated.gcode"
    truncated.write_bytes(whole[: begin + 800])  # in the middle of its base64
    junk = thumbnail(100, 100, "PNG", os.urandom(3000))
    files = {
        "corrupt": sliced(tmp_path / "corrupt.gcode", "MK4", (junk,)),
        "truncated": truncated,
        "bomb png": sliced(
            tmp_path / "bomb.gcode",
            "MK4",
            (thumbnail(100, 100, "PNG", png_claiming(60000, 60000)),),
        ),
        "bomb in bgcode": sliced(
            tmp_path / "bomb.bgcode", "MK4", (thumbnail(90, 90, "PNG", png_claiming(4000, 3000)),)
        ),
        "bad qoi": sliced(
            tmp_path / "qoi.bgcode", "MK4", (thumbnail(64, 64, "QOI", image(64, 64, "QOI")[:40]),)
        ),
    }
    bad_base64 = whole.replace(whole[begin + 100 : begin + 104], b"!!!!", 1)
    files["bad base64"] = tmp_path / "b64.gcode"
    files["bad base64"].write_bytes(bad_base64)
    return files


def test_damaged_thumbnails_give_the_neutral_mark_and_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for what, path in damaged_files(tmp_path).items():
        caplog.clear()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="link_sync.thumbnails"):
            body, _, neutral = picture_of(path)
        assert neutral and body == NEUTRAL, what
        assert time.monotonic() - started < 2.0, what  # bounded: no huge decode
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and path.name in lines[0] and "neutral mark" in lines[0], what


def test_a_bomb_is_refused_before_any_pixel_is_decoded() -> None:
    from link_sync.thumbnail_image import BadImage

    with pytest.raises(BadImage, match="claims 5000x5000"):
        browser_image(png_claiming(5000, 5000), "PNG")  # below Pillow's own limit


def test_an_unchanged_file_is_neither_read_nor_decoded_again(tmp_path: Path) -> None:
    path = sliced(tmp_path / "part.gcode", "MK4")
    cache = ThumbnailCache()
    first = picture_of(path, cache)
    assert (cache.located, cache.decoded) == (1, 1)
    stat = path.stat()
    for _ in range(3):
        assert cache.ref(path, stat.st_size, stat.st_mtime_ns) is not None
        assert picture_of(path, cache) == first
    assert (cache.located, cache.decoded) == (1, 1)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    picture_of(path, cache)
    assert (cache.located, cache.decoded) == (2, 2)


def test_base64_lines_are_read_as_written(tmp_path: Path) -> None:
    data = image(40, 30, "PNG")
    text = base64.b64encode(data).decode()
    lines = [f"; {text[i : i + 78]}" for i in range(0, len(text), 78)]
    path = tmp_path / "hand.gcode"
    path.write_text(
        "\n".join(["; generated by hand", f"; thumbnail begin 40x30 {len(text)}", *lines])
        + "\n; thumbnail end\n\nG28\n"
    )
    (ref,) = find_thumbnails(path)
    assert read_thumbnail(path, ref) == data
