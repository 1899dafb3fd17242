"""link-sync's own .bgcode writer, checked against Prusa's libbgcode (pybgcode)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from link_sync.bgcode import meatpack
from link_sync.bgcode.writer import convert
from link_sync.core.targets import read_target
from link_sync.sample_gcode import PRUSA_THUMBNAILS, prusaslicer_gcode, write_sample

from bgcode_reference import decode, is_valid


def _convert(tmp_path: Path, content: bytes, name: str = "a") -> tuple[Path, Path]:
    src = tmp_path / f"{name}.gcode"
    src.write_bytes(content)
    dst = tmp_path / f"{name}.bgcode"
    convert(src, dst)
    return src, dst


@pytest.mark.parametrize(("model", "nozzle"), [("MINI", 0.4), ("MK4S", 0.6), ("XL5IS", 0.4)])
def test_prusaslicer_gcode_decodes_with_libbgcode_to_the_same_bytes(
    tmp_path: Path, model: str, nozzle: float
) -> None:
    content = prusaslicer_gcode(model, nozzle, moves=20000, layers=True)
    src, dst = _convert(tmp_path, content)
    decoded = decode(dst)
    assert decoded.gcode == content
    assert decoded.printer_metadata["printer_model"] == model
    assert float(decoded.printer_metadata["nozzle_diameter"]) == nozzle
    assert [(w, h) for _, w, h in decoded.thumbnails] == [
        (t.width, t.height) for t in PRUSA_THUMBNAILS[:2]
    ]
    # the spec's order: file metadata, printer metadata, thumbnails, print, slicer, G-code
    assert decoded.block_types[:2] == [0, 3] and decoded.block_types[-1] == 1
    assert read_target(dst).model == read_target(src).model
    assert read_target(dst).nozzle == read_target(src).nozzle
    assert dst.stat().st_size < len(content) / 2


def test_a_file_without_header_metadata_gets_model_and_nozzle_from_its_checks(
    tmp_path: Path,
) -> None:
    content = prusaslicer_gcode("MK4S", 0.4, header_metadata=False, config_block=False)
    _, dst = _convert(tmp_path, content)
    decoded = decode(dst)
    assert decoded.gcode == content
    assert decoded.printer_metadata["printer_model"] == "MK4S"
    assert decoded.printer_metadata["nozzle_diameter"] == "0.4"


ODD_FILES = {
    "crlf": b"G28\r\nG1 X10 Y10 E1\r\n\r\n; done\r\n",
    "blank lines": b"G28\n\n\nG1 X1 Y2\n   \n;\n",
    "no final newline": b"G28\nG1 X1 Y2",
    "spaces libbgcode would add": b"G1X10Y10\nG1 X10  Y10 ; PAUSE Z\nGX1\n",
    # pybgcode hands G-code back as UTF-8 text, so only valid UTF-8 can be compared here
    "control characters": bytes(range(128)) + b"\nG1 X1\n",
    "a line longer than a block": b"; " + b"x" * 200_000 + b"\nG1 X1\n",
    "empty": b"",
    "unicode comments": "; Zkouška tisku ✓\nG1 X1 Y1\n".encode(),
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_odd_files_still_decode_exactly(tmp_path: Path, name: str) -> None:
    content = ODD_FILES[name]
    _, dst = _convert(tmp_path, content)
    assert is_valid(dst)
    assert decode(dst).gcode == content


def test_blocks_meatpacked_where_exact_plain_elsewhere(tmp_path: Path) -> None:
    body = b"".join(b"G1 X%d.5 Y%d E.0123\n" % (i, i) for i in range(5000))
    src = tmp_path / "a.gcode"
    src.write_bytes(b"G28\n\n\n" + body)  # the blank lines keep the first block unpacked
    converted = convert(src, tmp_path / "a.bgcode")
    assert converted.plain_blocks == 1 and converted.meatpacked_blocks == 2
    assert decode(tmp_path / "a.bgcode").gcode == src.read_bytes()


def test_meatpack_round_trip_rule_matches_libbgcode(tmp_path: Path) -> None:
    """Where `round_trips` says no, libbgcode's decoder really rewrites the text."""
    for text in (b"G1X1\n", b"G1 X1\n\nG1 X2\n", b"G4 S1 ; PAUSE\n"):
        assert not meatpack.round_trips(text)
        assert meatpack.decode(meatpack.encode(text)) != text
    assert meatpack.round_trips(b"G1 X1 Y2 ; go\nM104 S200\n;TYPE:Perimeter\n")
    assert not meatpack.round_trips(b"; \xff\n")  # 0xFF is MeatPack's command byte


def _peak_memory_converting(tmp_path: Path, size: int) -> int:
    src = write_sample(
        tmp_path / f"big{size}.gcode", prusaslicer_gcode("MINI", moves=200), size=size
    )
    tracemalloc.start()
    try:
        converted = convert(src, tmp_path / f"big{size}.bgcode")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert converted.source_size == size
    return peak


def test_memory_stays_flat_for_a_big_file(tmp_path: Path) -> None:
    """One block and the bounded head/tail reads, whatever the size (not the file)."""
    small = _peak_memory_converting(tmp_path, 5_000_000)
    big = _peak_memory_converting(tmp_path, 60_000_000)
    assert big < 16_000_000, big
    assert big < small + 1_000_000, (small, big)
