"""Conformance: what every backend does with files and folders, on every target.

Each test runs once per target (see conftest.py); the target's storage, read
directly, judges what a backend call really did.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import pytest

from link_sync import errors
from link_sync.backends import open_backend
from link_sync.backends.base import Backend
from link_sync.bgcode.writer import convert
from link_sync.sample_gcode import prusaslicer_gcode

from .files import NESTED, all_parents, put, put_tree, source
from .targets import Target

G = b"G28\nG1 X10 Y10 F3000\n"


async def test_probe_identifies_the_printer(target: Target) -> None:
    want = target.expect
    for credentials in target.credentials:  # each way in: digest password, API key
        # what the engine gets for this printer's config: the class the suite tests
        opened = await open_backend(target.config(credentials))
        backend = target.backend(credentials)
        try:
            assert type(opened) is type(backend)
            assert opened.capabilities == backend.capabilities
            before = backend.capabilities  # known before any call, unchanged by probing
            info = await backend.probe()
            assert backend.capabilities == before
            assert (info.kind, info.firmware, info.storage) == (
                want.kind,
                want.firmware,
                want.storage,
            ), credentials.label
            if want.free_space:
                assert info.free_space is not None and info.free_space > 0
            assert info.extra.items() >= want.info_extra.items()
            caps = backend.capabilities
            assert caps.case_insensitive == want.case_insensitive
            assert caps.extensions == want.extensions
            assert caps.content_hash == want.content_hash
            assert caps.mkdir_before_upload == want.mkdir_before_upload
            assert caps.prints_bgcode == want.prints_bgcode
            assert caps.prints_from_host_disk == want.prints_from_host_disk
            assert caps.uploads_while_printing == want.uploads_while_printing
            assert caps.delete_leaves_print_screen == want.delete_leaves_print_screen
        finally:
            await backend.aclose()
            await opened.aclose()


async def test_status_of_an_idle_printer(backend: Backend, target: Target) -> None:
    status = await backend.status()
    assert status.state in target.expect.idle_states
    if status.state == "IDLE":  # (a Pi still names the last job while FINISHED/STOPPED)
        assert status.job_path is None


async def test_upload_new_file_into_new_folders(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/{NESTED}"
    data = G * 3000  # ~60 kB: several chunks
    sent = await put(backend, tmp_path, path, data)
    assert sum(sent) == len(data)
    assert target.files(folder) == {path: data}
    assert target.folders(folder) == all_parents([path]) - {folder}
    entry = await backend.stat(path)
    assert entry is not None
    assert (entry.path, entry.is_dir, entry.size) == (path, False, len(data))


async def test_list_tree_long_short_nested_non_ascii(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    tree = {
        f"{folder}/{NESTED}": G * 7,
        f"{folder}/Teile und Halter/Klammer für Kabel.gcode": G * 5,
        f"{folder}/Teile und Halter/Größe 2/tiefer/noch tiefer/Boden.gcode": G * 3,
        f"{folder}/Ünïcödé ☃/été à Zürich.gco": G * 2,
        f"{folder}/benchy.gcode": G,
        f"{folder}/PART1.G": G * 4,  # a name that is its own 8.3 short name
        f"{folder}/A rather long name for a clip, version 12 final.gcode": G * 6,
    }
    await put_tree(backend, tmp_path, tree)
    on_target = target.files(folder)
    assert on_target == tree
    folders = target.folders(folder)

    entries = await backend.list_tree(folder)
    by_path = {e.path: e for e in entries}
    assert len(by_path) == len(entries), "an entry listed twice"
    assert set(by_path) == set(tree) | folders
    assert {p for p, e in by_path.items() if e.is_dir} == folders
    now = time.time()
    for path, data in tree.items():
        entry = by_path[path]
        assert entry.print_file
        if target.expect.listing_sizes:
            assert entry.size == len(data), path
        else:
            assert entry.size in (None, len(data)), path
        assert entry.mtime is not None and abs(entry.mtime - now) < 86400, path
        if target.expect.content_hash == "sha1" and target.expect.listing_hashes:
            # OctoPrint 1.x: comparisons are exact
            assert entry.content_hash == "sha1:" + hashlib.sha1(data).hexdigest(), path
        elif target.expect.content_hash == "sha1":
            assert entry.content_hash is None, path  # OctoPrint 2.0 lists no hash
    for path, entry in by_path.items():
        if target.expect.short_names:
            # Buddy: every entry carries its 8.3 path, exactly as the FAT holds it
            # (FAT compares without case; the backend keeps the case it was asked with)
            short = target.short_path(path)
            assert short is not None and entry.short_path is not None, path
            assert entry.short_path.lower() == short.lower(), path
        else:
            assert entry.short_path in (None, path), path

    below = await backend.list_tree(f"{folder}/Teile und Halter")
    assert {e.path for e in below} == {
        p for p in by_path if p.startswith(f"{folder}/Teile und Halter/")
    }
    assert {e.path for e in await backend.list_tree("")} >= set(by_path) | {folder}
    assert await backend.list_tree(f"{folder}/no such folder") == []


async def test_stat(backend: Backend, target: Target, folder: str, tmp_path: Path) -> None:
    path = f"{folder}/sub dir/Größe.gcode"
    await put(backend, tmp_path, path, G * 11)
    entry = await backend.stat(path)
    assert entry is not None
    assert (entry.path, entry.is_dir, entry.size) == (path, False, len(G) * 11)
    assert entry.mtime is not None
    if target.expect.content_hash == "sha1" and target.expect.listing_hashes:
        assert entry.content_hash == "sha1:" + hashlib.sha1(G * 11).hexdigest()
    assert await backend.stat(f"{folder}/sub dir/missing.gcode") is None
    assert await backend.stat(f"{folder}/no dir/missing.gcode") is None


async def test_overwrite_replaces_content(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/replace me.gcode"
    await put(backend, tmp_path, path, G * 100)
    await put(backend, tmp_path, path, b"G28\n", overwrite=True)
    assert target.files(folder) == {path: b"G28\n"}
    entry = await backend.stat(path)
    assert entry is not None and entry.size == 4


async def test_download_returns_the_content(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/Ünïcödé/down load.gcode"
    data = bytes(range(256)) * 300
    await put(backend, tmp_path, path, data)
    entry = {e.path: e for e in await backend.list_tree(folder)}[path]
    got = io.BytesIO()
    progress: list[int] = []
    assert await backend.download(entry, got, progress.append) == len(data)
    assert got.getvalue() == data
    assert sum(progress) == len(data)


async def test_mkdir_nested_and_again(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    for level in (folder, f"{folder}/ä b", f"{folder}/ä b/c d"):
        await backend.mkdir(level)
    await backend.mkdir(f"{folder}/ä b/c d")  # already there: fine
    await backend.mkdir(f"{folder}/ä b")
    assert target.folders(folder) == {f"{folder}/ä b", f"{folder}/ä b/c d"}
    listed = await backend.list_tree(folder)
    assert {(e.path, e.is_dir) for e in listed} == {
        (f"{folder}/ä b", True),
        (f"{folder}/ä b/c d", True),
    }


async def test_delete_file(backend: Backend, target: Target, folder: str, tmp_path: Path) -> None:
    keep, gone = f"{folder}/d/keep.gcode", f"{folder}/d/gone.gcode"
    await put_tree(backend, tmp_path, {keep: G, gone: G * 2})
    await backend.delete(gone)
    assert target.files(folder) == {keep: G}
    assert f"{folder}/d" in target.folders(folder)  # the folder stays
    assert gone not in {e.path for e in await backend.list_tree(folder)}
    with pytest.raises(errors.NotFound):
        await backend.delete(gone)


async def test_rmdir_empty_folders(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/ä b/c #1/x.gcode".replace("#", "")
    await put(backend, tmp_path, path, G)
    await backend.delete(path)
    await backend.rmdir(f"{folder}/ä b/c 1")
    await backend.rmdir(f"{folder}/ä b")
    assert target.folders(folder) == set()
    assert await backend.list_tree(f"{folder}/ä b") == []
    with pytest.raises(errors.NotFound):
        await backend.rmdir(f"{folder}/ä b")


async def test_rmdir_of_a_folder_with_files(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/full/x.gcode"
    await put(backend, tmp_path, path, G)
    refusal = target.expect.rmdir_not_empty
    if not isinstance(refusal, str):
        with pytest.raises(refusal):
            await backend.rmdir(f"{folder}/full")
        assert target.files(folder) == {path: G}
    else:
        # Not applicable: this printer deletes a folder with its contents (why: `refusal`).
        assert refusal
        await backend.rmdir(f"{folder}/full")
        assert target.files(folder) == {}
        assert target.folders(folder) == set()


async def test_names_compare_as_the_capabilities_say(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/Mixed Case/Part Name.gcode"
    await put(backend, tmp_path, path, G)
    other_case = await backend.stat(path.lower())
    if backend.capabilities.case_insensitive:
        assert other_case is not None and other_case.size in (None, len(G))
    else:
        assert other_case is None
    assert target.expect.case_insensitive == backend.capabilities.case_insensitive


async def test_every_declared_extension_is_held_and_listed(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    names = {f"{folder}/x{ext}": G for ext in sorted(backend.capabilities.extensions)}
    await put_tree(backend, tmp_path, names)
    listed = {e.path: e for e in await backend.list_tree(folder)}
    assert set(listed) == set(names)
    assert all(entry.print_file for entry in listed.values())
    assert target.files(folder) == names


async def test_a_converted_bgcode_arrives_whole_where_it_prints(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    """`send_as: bgcode`'s upload: link-sync's conversion, stored byte for byte and
    listed as a print file, on the printers that print binary G-code."""
    if not backend.capabilities.prints_bgcode:
        assert not target.expect.prints_bgcode  # `send_as: bgcode` sends these plain files
        return
    plain = tmp_path / "part.gcode"
    plain.write_bytes(prusaslicer_gcode("MK4S", moves=300))
    converted = tmp_path / "part.bgcode"
    convert(plain, converted)
    data = converted.read_bytes()
    path = f"{folder}/part.bgcode"
    await backend.upload(path, converted, len(data), overwrite=False)
    entry = await backend.stat(path)
    assert entry is not None and entry.size == len(data) and entry.print_file
    assert target.files(folder) == {path: data}


async def test_an_undeclared_extension_is_never_a_print_file(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    # What a sync would do with a file the printer cannot hold: refused at upload,
    # or stored but never listed as a print file (so it is reported, never re-sent).
    undeclared = sorted({".bgcode", ".gc", ".g", ".gcode"} - backend.capabilities.extensions)
    assert undeclared or target.expect.extensions >= {".bgcode", ".gc"}
    for ext in undeclared:
        path = f"{folder}/y{ext}"
        try:
            await backend.upload(path, source(tmp_path, G), len(G), overwrite=False)
        except errors.Refused:
            assert path not in target.files(folder)
            continue
        entry = {e.path: e for e in await backend.list_tree(folder)}.get(path)
        assert entry is None or not entry.print_file, ext
