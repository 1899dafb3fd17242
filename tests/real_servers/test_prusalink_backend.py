"""PrusaLinkBackend against the real Raspberry-Pi PrusaLink 0.8.1 (fake MK3S)."""

from __future__ import annotations

from link_sync.backends.base import BackendOptions
from link_sync.backends.prusalink import PI_CAPABILITIES, PrusaLinkBackend

from .servers import PrusaLinkServer, slow_gcode


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
        assert (await backend.status()).state == "IDLE"
    finally:
        await backend.aclose()


async def test_status_names_the_job_by_its_storage_path(
    prusalink_server: PrusaLinkServer,
) -> None:
    # The job's path starts with the storage's name ("/PrusaLink gcodes/...");
    # the engine protects the file being printed by this storage-relative path.
    server = prusalink_server
    options = BackendOptions(name="pi", base_url=server.url, api_key=server.api_key)
    backend = PrusaLinkBackend(options)
    job = "t-job path/Größe 2/läuft.gcode"
    source = server.data_dir / "job-source.gcode"
    source.write_bytes(slow_gcode(60))
    try:
        await backend.probe()
        for folder in ("t-job path", "t-job path/Größe 2"):
            await backend.mkdir(folder)
        await backend.upload(job, source, source.stat().st_size, overwrite=False)
        assert await backend.stat(job) is not None
        server.start_printing(job)
        try:
            status = await backend.status()
            assert (status.state, status.job_path) == ("PRINTING", job)
        finally:
            server.stop_printing()
        await backend.delete(job)
        await backend.rmdir("t-job path/Größe 2")
        await backend.rmdir("t-job path")
    finally:
        await backend.aclose()
