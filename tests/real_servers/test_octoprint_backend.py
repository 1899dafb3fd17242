"""OctoPrintBackend against a real OctoPrint 1.11.8 (virtual printer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from link_sync import errors
from link_sync.backends.octoprint import OctoPrintBackend
from link_sync.config import PrinterConfig

from ._files import NESTED, make_file, sha1, visible_tree
from .servers import OctoPrintServer, slow_gcode


@pytest.fixture
async def backend(octoprint_server: OctoPrintServer) -> AsyncIterator[OctoPrintBackend]:
    options = PrinterConfig(
        type="octoprint", name="op", host=octoprint_server.url, api_key=octoprint_server.api_key
    )
    backend = OctoPrintBackend(options)
    yield backend
    await backend.aclose()


async def test_probe_and_capabilities(backend: OctoPrintBackend) -> None:
    info = await backend.probe()
    assert (info.kind, info.firmware, info.storage) == ("octoprint", "1.11.8", "local")
    assert info.free_space is not None and info.free_space > 0
    assert backend.capabilities.content_hash == "sha1"
    assert ".bgcode" not in backend.capabilities.extensions
    assert (await backend.status()).state == "IDLE"


async def test_upload_nested_list_stat_and_overwrite(
    backend: OctoPrintBackend, octoprint_server: OctoPrintServer, tmp_path: Path
) -> None:
    path = f"t-upload/{NESTED}"
    first = make_file(tmp_path, "a.gcode", b"G28\nG1 X10\n" * 5000)
    sent: list[int] = []
    await backend.upload(path, first, first.stat().st_size, overwrite=False, progress=sent.append)
    assert sum(sent) == first.stat().st_size
    assert (octoprint_server.storage / path).read_bytes() == first.read_bytes()

    entry = await backend.stat(path)
    assert entry is not None and entry.size == first.stat().st_size
    assert entry.content_hash == sha1(first.read_bytes())
    listed = {e.path: e for e in await backend.list_tree("t-upload")}
    assert set(listed) == {
        "t-upload/Teile und Halter",
        "t-upload/Teile und Halter/Größe #2",
        f"t-upload/{NESTED}",
    }
    assert listed["t-upload/Teile und Halter"].is_dir
    assert listed[path].content_hash == sha1(first.read_bytes())
    assert {e.path for e in await backend.list_tree("")} >= set(listed)

    second = make_file(tmp_path, "b.gcode", b"G28\n")
    with pytest.raises(errors.Refused):  # overwrite=False keeps the existing file
        await backend.upload(path, second, 4, overwrite=False)
    await backend.upload(path, second, 4, overwrite=True)
    assert (octoprint_server.storage / path).read_bytes() == b"G28\n"
    entry = await backend.stat(path)
    assert entry is not None and entry.content_hash == sha1(b"G28\n")


async def test_mkdir_delete_rmdir(
    backend: OctoPrintBackend, octoprint_server: OctoPrintServer, tmp_path: Path
) -> None:
    await backend.mkdir("t-dirs/ä b/c #1")
    await backend.mkdir("t-dirs/ä b/c #1")  # already there: fine
    assert visible_tree(octoprint_server.storage, "t-dirs") == {
        "t-dirs/ä b",
        "t-dirs/ä b/c #1",
    }
    source = make_file(tmp_path, "x.gcode", b"G28\n")
    await backend.upload("t-dirs/ä b/x?.gcode".replace("?", ""), source, 4, overwrite=False)
    await backend.delete("t-dirs/ä b/x.gcode")
    assert not (octoprint_server.storage / "t-dirs/ä b/x.gcode").exists()
    with pytest.raises(errors.NotFound):
        await backend.delete("t-dirs/ä b/x.gcode")
    await backend.rmdir("t-dirs/ä b/c #1")
    await backend.rmdir("t-dirs/ä b")
    assert visible_tree(octoprint_server.storage, "t-dirs") == set()
    assert await backend.list_tree("t-dirs/ä b") == []
    assert await backend.stat("t-dirs/none.gcode") is None


async def test_printing_file_is_refused_and_untouched(
    backend: OctoPrintBackend, octoprint_server: OctoPrintServer, tmp_path: Path
) -> None:
    path = "t-busy/in use/job #1.gcode"
    job = make_file(tmp_path, "job.gcode", slow_gcode(120))
    await backend.upload(path, job, job.stat().st_size, overwrite=False)
    octoprint_server.start_printing(path)
    try:
        status = await backend.status()
        assert status.state == "PRINTING"
        assert status.job_path == path
        other = make_file(tmp_path, "other.gcode", b"G28\n")
        with pytest.raises(errors.FileBusy):
            await backend.upload(path, other, 4, overwrite=True)
        with pytest.raises(errors.FileBusy):
            await backend.delete(path)
        with pytest.raises(errors.FileBusy):
            await backend.rmdir("t-busy/in use")
        assert (octoprint_server.storage / path).read_bytes() == job.read_bytes()
    finally:
        octoprint_server.stop_printing()
    await backend.delete(path)
    assert not (octoprint_server.storage / path).exists()


async def test_wrong_api_key_is_auth_failed(octoprint_server: OctoPrintServer) -> None:
    backend = OctoPrintBackend(
        PrinterConfig(type="octoprint", name="op", host=octoprint_server.url, api_key="not-the-key")
    )
    try:
        with pytest.raises(errors.AuthFailed):
            await backend.probe()
        with pytest.raises(errors.AuthFailed):
            await backend.list_tree("")
    finally:
        await backend.aclose()


async def test_bgcode_and_unknown_extensions_are_refused(
    backend: OctoPrintBackend, octoprint_server: OctoPrintServer, tmp_path: Path
) -> None:
    source = make_file(tmp_path, "x.bgcode", b"GCDE")
    for name in ("t-ext/x.bgcode", "t-ext/x.gc"):
        with pytest.raises(errors.Refused):
            await backend.upload(name, source, 4, overwrite=False)
        assert not (octoprint_server.storage / name).exists()


def test_check_name(backend: OctoPrintBackend) -> None:
    assert backend.check_name("ok/Größe #2/Würfel 20 mm.gcode") is None
    assert backend.check_name("a/what?.gcode") is not None
    assert backend.check_name("a:b/x.gcode") is not None
    assert backend.check_name(".hidden.gcode") is not None
    assert backend.check_name("trailing ./x.gcode") is not None
