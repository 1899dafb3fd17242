"""PrusaLinkBackend against the real Raspberry-Pi PrusaLink 0.8.1 (fake MK3S)."""

from __future__ import annotations

from link_sync.backends.base import BackendOptions
from link_sync.backends.prusalink import PI_CAPABILITIES, PrusaLinkBackend

from .servers import PrusaLinkServer


async def test_probe_finds_the_local_storage(prusalink_server: PrusaLinkServer) -> None:
    # 0.8.1 names its storages "PrusaLink gcodes" and "SD Card"; only the
    # `path` ("/local") is the name used in file URLs.
    options = BackendOptions(
        name="pi", base_url=prusalink_server.url, api_key=prusalink_server.api_key
    )
    backend = PrusaLinkBackend(options)
    try:
        info = await backend.probe()
        assert (info.kind, info.firmware, info.storage) == ("prusalink-pi", "0.8.1", "local")
        assert info.free_space is not None and info.free_space > 0
        assert backend.capabilities == PI_CAPABILITIES
        # IDLE, or FINISHED / STOPPED for ~11 s after another test's print
        assert (await backend.status()).state in ("IDLE", "FINISHED", "STOPPED")
    finally:
        await backend.aclose()
