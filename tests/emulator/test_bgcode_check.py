"""Buddy checks a `.bgcode` file when it opens it (issue 30), over real HTTP on loopback.

Firmware: an upload stores whatever it is sent; the print preview and a print read the
file (`PrusaPackGcodeReader::verify_file`, `read_and_check_header`): a bad header or a
block whose CRC does not match is reported on the screen ("The file is not a valid bgcode
file.", "Invalid BGCODE file header"), so the printer asks (ATTENTION) instead of printing.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from link_sync.bgcode.writer import convert
from link_sync.emulator import PrinterSpec
from link_sync.emulator.bgcode_check import BAD_HEADER, NOT_VALID, bgcode_file_error
from link_sync.sample_gcode import prusaslicer_gcode

Factory = Any


def _valid(tmp_path: Path) -> bytes:
    plain = tmp_path / "a.gcode"
    plain.write_bytes(prusaslicer_gcode("MK4S", moves=300))
    convert(plain, tmp_path / "a.bgcode")
    return (tmp_path / "a.bgcode").read_bytes()


def _bad_crc(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])  # the last block's CRC


def _bad_header(data: bytes) -> bytes:
    return data[:4] + struct.pack("<I", 2) + data[8:]  # version 2


def test_the_check_reads_header_and_every_crc(tmp_path: Path) -> None:
    data = _valid(tmp_path)
    assert bgcode_file_error(data) is None
    assert bgcode_file_error(_bad_crc(data)) == NOT_VALID
    middle = len(data) // 2  # a byte inside some block's data
    assert bgcode_file_error(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    assert bgcode_file_error(_bad_header(data)) == BAD_HEADER
    assert bgcode_file_error(b"G1 X1\n") == NOT_VALID
    assert bgcode_file_error(data[:-7]) == NOT_VALID  # cut short


async def test_a_broken_bgcode_is_stored_but_its_preview_reports_the_file_error(
    farm_factory: Factory, client: Any, tmp_path: Path
) -> None:
    farm = await farm_factory([PrinterSpec("mk4s-1", profile="mk4s")], preview=True)
    p = farm["mk4s-1"]
    c = client(p)
    broken = _bad_crc(_valid(tmp_path))
    assert (await c.put("/api/v1/files/usb/a.bgcode", broken)).status_code == 201
    assert p.files()["a.bgcode"] == broken  # stored as sent
    assert p.state == "ATTENTION" and p.question == NOT_VALID
    status = (await c.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "ATTENTION"


async def test_printing_a_broken_bgcode_reports_the_file_error(
    farm_factory: Factory, client: Any, tmp_path: Path
) -> None:
    farm = await farm_factory([PrinterSpec("mk4s-1", profile="mk4s")])  # no preview
    p = farm["mk4s-1"]
    c = client(p)
    valid = _valid(tmp_path)
    await c.put("/api/v1/files/usb/good.bgcode", valid)
    await c.put("/api/v1/files/usb/header.bgcode", _bad_header(valid))
    assert p.state == "IDLE"  # nothing opened without the preview
    assert (await c.request("POST", "/api/v1/files/usb/header.bgcode")).status_code == 204
    assert p.state == "ATTENTION" and p.question == BAD_HEADER
    p.screen_back()
    assert (await c.request("POST", "/api/v1/files/usb/good.bgcode")).status_code == 204
    assert p.state == "PRINTING"


async def test_the_pi_does_not_check_bgcode(farm_factory: Factory, tmp_path: Path) -> None:
    farm = await farm_factory([PrinterSpec("mk3-1", profile="mk3", api_key="k")])
    p = farm["mk3-1"]
    p.write_file("x.bgcode", b"not binary")
    assert p.storage.find(["x.bgcode"]) is not None
    assert p.file_error(p.storage.find(["x.bgcode"])) is None
