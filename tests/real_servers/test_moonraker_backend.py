"""MoonrakerBackend against a real Moonraker 0.11.0 (with the fake Klippy)."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from link_sync import errors
from link_sync.backends import octoprint as multipart_module
from link_sync.backends.moonraker import MoonrakerBackend
from link_sync.config import PrinterConfig

from ._files import NESTED, make_file, visible_tree
from .servers import MoonrakerServer


@pytest.fixture
async def backend(moonraker_server: MoonrakerServer) -> AsyncIterator[MoonrakerBackend]:
    options = PrinterConfig(
        type="moonraker", name="mr", host=moonraker_server.url, api_key=moonraker_server.api_key
    )
    backend = MoonrakerBackend(options)
    yield backend
    await backend.aclose()


async def test_probe_and_capabilities(backend: MoonrakerBackend) -> None:
    info = await backend.probe()
    assert (info.kind, info.firmware, info.storage) == ("moonraker", "0.11.0", "gcodes")
    assert info.free_space is not None and info.free_space > 0
    assert info.extra["klippy_state"] == "ready"
    assert ".bgcode" not in backend.capabilities.extensions
    assert backend.capabilities.content_hash is None
    assert (await backend.status()).state == "IDLE"


async def test_upload_nested_list_stat_and_overwrite(
    backend: MoonrakerBackend, moonraker_server: MoonrakerServer, tmp_path: Path
) -> None:
    path = f"t-upload/{NESTED}"
    first = make_file(tmp_path, "a.gcode", b"G28\nG1 X10\n" * 5000)
    sent: list[int] = []
    await backend.upload(path, first, first.stat().st_size, overwrite=False, progress=sent.append)
    assert sum(sent) == first.stat().st_size
    assert (moonraker_server.storage / path).read_bytes() == first.read_bytes()

    entry = await backend.stat(path)
    assert entry is not None and entry.size == first.stat().st_size and entry.mtime
    listed = {e.path: e for e in await backend.list_tree("t-upload")}
    assert set(listed) == {
        "t-upload/Teile und Halter",
        "t-upload/Teile und Halter/Größe #2",
        f"t-upload/{NESTED}",
    }
    assert listed["t-upload/Teile und Halter"].is_dir
    assert {e.path for e in await backend.list_tree("")} >= set(listed)
    assert await backend.list_tree("t-none") == []

    second = make_file(tmp_path, "b.gcode", b"G28\n")
    await backend.upload(path, second, 4, overwrite=True)
    assert (moonraker_server.storage / path).read_bytes() == b"G28\n"
    entry = await backend.stat(path)
    assert entry is not None and entry.size == 4


async def test_mkdir_delete_rmdir(
    backend: MoonrakerBackend, moonraker_server: MoonrakerServer, tmp_path: Path
) -> None:
    await backend.mkdir("t-dirs/ä b/c #1")
    await backend.mkdir("t-dirs/ä b/c #1")  # already there: fine
    assert visible_tree(moonraker_server.storage, "t-dirs") == {"t-dirs/ä b", "t-dirs/ä b/c #1"}
    source = make_file(tmp_path, "x.gcode", b"G28\n")
    await backend.upload("t-dirs/ä b/c #1/x?.gcode", source, 4, overwrite=False)
    assert (moonraker_server.storage / "t-dirs/ä b/c #1/x?.gcode").exists()
    with pytest.raises(errors.Refused):  # not empty
        await backend.rmdir("t-dirs/ä b/c #1")
    await backend.delete("t-dirs/ä b/c #1/x?.gcode")
    with pytest.raises(errors.NotFound):  # Moonraker says 400
        await backend.delete("t-dirs/ä b/c #1/x?.gcode")
    # Moonraker left its hidden .thumbs behind; the folder still counts as empty.
    await backend.rmdir("t-dirs/ä b/c #1")
    await backend.rmdir("t-dirs/ä b")
    assert not (moonraker_server.storage / "t-dirs/ä b").exists()
    with pytest.raises(errors.NotFound):
        await backend.rmdir("t-dirs/ä b")
    assert await backend.stat("t-dirs/none.gcode") is None


async def test_printing_file_is_refused_and_untouched(
    backend: MoonrakerBackend, moonraker_server: MoonrakerServer, tmp_path: Path
) -> None:
    path = "t-busy/in use/job #1.gcode"
    job = make_file(tmp_path, "job.gcode", b"G28\nG1 X1\n" * 100)
    await backend.upload(path, job, job.stat().st_size, overwrite=False)
    moonraker_server.start_printing(path)
    try:
        status = await backend.status()
        assert (status.state, status.job_path) == ("PRINTING", path)
        other = make_file(tmp_path, "other.gcode", b"G28\n")
        with pytest.raises(errors.FileBusy):
            await backend.upload(path, other, 4, overwrite=True)
        with pytest.raises(errors.FileBusy):
            await backend.delete(path)
        assert (moonraker_server.storage / path).read_bytes() == job.read_bytes()
        # other files stay writable during a print
        await backend.upload("t-busy/free.gcode", other, 4, overwrite=False)
    finally:
        moonraker_server.stop_printing()
    await backend.delete(path)
    assert not (moonraker_server.storage / path).exists()


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


async def test_wrong_api_key_is_auth_failed(moonraker_server: MoonrakerServer) -> None:
    options = PrinterConfig(
        type="moonraker", name="mr", host=moonraker_server.url, api_key="not-the-key"
    )
    backend = MoonrakerBackend(options)
    try:
        with pytest.raises(errors.AuthFailed):
            await backend.probe()
        with pytest.raises(errors.AuthFailed):
            await backend.delete("anything.gcode")
    finally:
        await backend.aclose()


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


async def test_bgcode_is_stored_but_not_a_print_file(
    backend: MoonrakerBackend, moonraker_server: MoonrakerServer, tmp_path: Path
) -> None:
    # Why .bgcode is not in the capabilities: Moonraker takes it, but never lists
    # it as G-code (/server/files/list), so it is no print file to Klipper.
    source = make_file(tmp_path, "x.bgcode", b"GCDE")
    await backend.upload("t-bgcode/x.bgcode", source, 4, overwrite=False)
    assert (moonraker_server.storage / "t-bgcode/x.bgcode").exists()
    with moonraker_server.client() as client:
        listed = client.get("/server/files/list", params={"root": "gcodes"}).json()["result"]
    assert "t-bgcode/x.bgcode" not in {item["path"] for item in listed}
    entries = {e.path: e for e in await backend.list_tree("t-bgcode")}
    assert not entries["t-bgcode/x.bgcode"].print_file
    await backend.delete("t-bgcode/x.bgcode")


def test_check_name(backend: MoonrakerBackend) -> None:
    assert backend.check_name("ok/Größe #2/Würfel 20 mm?.gcode") is None
    assert backend.check_name(".hidden/x.gcode") is not None
    assert backend.check_name("a/" + "x" * 300 + ".gcode") is not None
