"""MoonrakerBackend against a real Moonraker 0.11.0 (with the fake Klippy): what only
Moonraker has. Everything every backend does is in tests/conformance/."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from link_sync import errors
from link_sync.backends import multipart as multipart_module
from link_sync.backends.moonraker import MoonrakerBackend
from link_sync.config import PrinterConfig

from ._files import make_file
from .servers import MoonrakerServer


@pytest.fixture
async def backend(moonraker_server: MoonrakerServer) -> AsyncIterator[MoonrakerBackend]:
    options = PrinterConfig(
        type="moonraker", name="mr", host=moonraker_server.url, api_key=moonraker_server.api_key
    )
    backend = MoonrakerBackend(options)
    yield backend
    await backend.aclose()


async def test_without_klippy_files_still_sync(
    backend: MoonrakerBackend, moonraker_server: MoonrakerServer, tmp_path: Path
) -> None:
    moonraker_server.stop_klippy()
    try:
        assert (await backend.status()).state == "IDLE"
        info = await backend.probe()
        assert info.extra["klippy_state"] != "ready"
        source = make_file(tmp_path, "x.gcode", b"G28\n")
        await backend.upload("t-noklippy/x.gcode", source, 4, overwrite=False)
        assert (moonraker_server.storage / "t-noklippy/x.gcode").exists()
    finally:
        moonraker_server.stop_printing()  # restarts the fake Klippy, idle


async def test_checksum_mismatch_is_retryable(
    backend: MoonrakerBackend,
    moonraker_server: MoonrakerServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_tail = multipart_module.MultipartFile._tail
    monkeypatch.setattr(
        multipart_module.MultipartFile, "_tail", lambda self, _sha: real_tail(self, "0" * 64)
    )
    source = make_file(tmp_path, "x.gcode", b"G28\n")
    with pytest.raises(errors.ServerError, match="SHA-256") as caught:
        await backend.upload("t-checksum/x.gcode", source, 4, overwrite=False)
    assert caught.value.retryable
    assert not (moonraker_server.storage / "t-checksum/x.gcode").exists()


async def test_large_upload_streams_with_flat_memory(
    backend: MoonrakerBackend, moonraker_server: MoonrakerServer, tmp_path: Path
) -> None:
    size = 200 * 1024 * 1024
    big = tmp_path / "big.gcode"
    with big.open("wb") as handle:  # sparse: cheap to make, read like any file
        handle.truncate(size)
    sent: list[int] = []
    tracemalloc.start()
    try:
        await backend.upload("t-big/big.gcode", big, size, overwrite=False, progress=sent.append)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(sent) == size
    assert peak < 8 * 1024 * 1024, f"upload held {peak} bytes at once"
    assert os.path.getsize(moonraker_server.storage / "t-big/big.gcode") == size
    await backend.delete("t-big/big.gcode")
