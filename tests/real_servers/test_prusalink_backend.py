"""The PrusaLink backend against the real Raspberry-Pi PrusaLink 0.8.1 (fake MK3S)."""

from __future__ import annotations

from link_sync.backends import open_backend
from link_sync.backends.prusalink_pi import CAPABILITIES, PiBackend
from link_sync.config import PrinterConfig

from .servers import PrusaLinkServer


async def test_probe_finds_the_local_storage(prusalink_server: PrusaLinkServer) -> None:
    # 0.8.1 names its storages "PrusaLink gcodes" and "SD Card"; only the
    # `path` ("/local") is the name used in file URLs.
    printer = PrinterConfig(
        name="pi", type="prusalink", host=prusalink_server.url, api_key=prusalink_server.api_key
    )
    backend = await open_backend(printer)
    try:
        # `type: prusalink` on a Pi gets the Pi backend, its capabilities final at once.
        assert isinstance(backend, PiBackend)
        assert backend.capabilities == CAPABILITIES
        info = await backend.probe()
        assert (info.kind, info.firmware, info.storage) == ("prusalink-pi", "0.8.1", "local")
        assert info.free_space is not None and info.free_space > 0
        # IDLE, or FINISHED / STOPPED for ~11 s after another test's print
        assert (await backend.status()).state in ("IDLE", "FINISHED", "STOPPED")
    finally:
        await backend.aclose()
