"""Conformance: every error class a printer can cause, on every target.

The engine decides by class and `retryable` only, so each backend must raise the
same class for the same trouble. Faults the real servers cannot be made to show
(a 5xx on demand, an answer that never comes, a refused connection) are produced
by a loopback proxy in front of them (`targets.ProxyFaults`); the emulator
injects them itself, in the firmware's own wording.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from pathlib import Path

import pytest

from link_sync import errors
from link_sync.backends.base import Backend
from link_sync.core.model import RemoteEntry

from .files import put, source
from .targets import OPS, Credentials, Target

G = b"G28\nG1 X10 Y10 F3000\n"


# -- wrong credentials ---------------------------------------------------------------------


async def _first_call(
    target: Target, credentials: Credentials, what: str, path: str, tmp: Path
) -> None:
    """`what` as the first call of a run made with `credentials`."""
    backend = target.backend(credentials)
    try:
        if what == "probe":
            await backend.probe()
        elif what == "list":
            await backend.list_tree("")
        elif what == "upload":
            await backend.upload(path, source(tmp, G), len(G), overwrite=False)
        else:
            await backend.delete(path)
    finally:
        await backend.aclose()


@pytest.mark.parametrize("what", ["probe", "list", "delete"])
async def test_wrong_credentials_are_auth_failed(
    target: Target, folder: str, tmp_path: Path, what: str
) -> None:
    for credentials in target.wrong_credentials:
        if credentials.probe_only and what != "probe":
            continue
        with pytest.raises(errors.AuthFailed) as caught:
            await _first_call(target, credentials, what, f"{folder}/x.gcode", tmp_path)
        assert not caught.value.retryable, credentials.label
        if credentials.secret:
            assert credentials.secret not in str(caught.value), credentials.label


async def test_upload_with_wrong_credentials_is_auth_failed(
    target: Target, folder: str, tmp_path: Path
) -> None:
    for credentials in target.wrong_credentials:
        if credentials.probe_only:
            continue
        with pytest.raises(errors.AuthFailed) as caught:
            await _first_call(target, credentials, "upload", f"{folder}/x.gcode", tmp_path)
        assert not caught.value.retryable, credentials.label
    assert target.files(folder) == {}


async def test_upload_after_a_refused_request_is_still_auth_failed(
    target: Target, folder: str, tmp_path: Path
) -> None:
    # A password changed while link-sync runs: the next upload must say so, not retry.
    for credentials in target.wrong_credentials:
        if credentials.probe_only:
            continue
        backend = target.backend(credentials)
        try:
            with pytest.raises(errors.AuthFailed):
                await backend.probe()
            with pytest.raises(errors.AuthFailed):
                path = f"{folder}/x.gcode"
                await backend.upload(path, source(tmp_path, G), len(G), overwrite=False)
        finally:
            await backend.aclose()
    assert target.files(folder) == {}


# -- 404 -----------------------------------------------------------------------------------


async def test_what_is_not_there_is_not_found(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    await put(backend, tmp_path, f"{folder}/here.gcode", G)
    with pytest.raises(errors.NotFound):
        await backend.delete(f"{folder}/not here.gcode")
    with pytest.raises(errors.NotFound):
        await backend.delete(f"{folder}/no folder/not here.gcode")
    with pytest.raises(errors.NotFound):
        await backend.rmdir(f"{folder}/no folder")
    with pytest.raises(errors.NotFound):
        missing = RemoteEntry(path=f"{folder}/not here.gcode", is_dir=False, size=4)
        await backend.download(missing, io.BytesIO())
    assert target.files(folder) == {f"{folder}/here.gcode": G}


# -- 409 -----------------------------------------------------------------------------------


async def test_upload_without_overwrite_keeps_the_existing_file(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    path = f"{folder}/exists.gcode"
    await put(backend, tmp_path, path, G * 10)
    refuses = target.expect.refuses_existing
    if refuses is True:
        with pytest.raises(errors.Refused) as caught:
            await backend.upload(path, source(tmp_path, b"G28\n"), 4, overwrite=False)
        assert caught.value.status == 409
        assert target.files(folder) == {path: G * 10}
    else:
        # Not applicable: the printer cannot refuse (why: `refuses`); it replaces the file.
        assert refuses
        await backend.upload(path, source(tmp_path, b"G28\n"), 4, overwrite=False)
        assert target.files(folder) == {path: b"G28\n"}


async def test_the_file_being_printed_is_busy(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    job, other = f"{folder}/in use/job 1.gcode", f"{folder}/in use/other.gcode"
    content = target.print_job()
    await put(backend, tmp_path, job, content)
    await target.start_printing(job)
    try:
        status = await backend.status()
        assert status.state == "PRINTING"
        if target.expect.short_names and status.job_path != job:
            # Buddy names the job's folders by their 8.3 names (the engine matches
            # them against the listing's short paths)
            short_folder = target.short_path(job.rpartition("/")[0])
            assert short_folder is not None and status.job_path is not None
            assert status.job_path.lower() == f"{short_folder}/job 1.gcode".lower()
        else:
            assert status.job_path == job
        with pytest.raises(errors.FileBusy) as caught:
            await backend.delete(job)
        assert not caught.value.retryable
        # nor with its folder (OctoPrint, which deletes folders whole, says busy too)
        busy_folder = errors.FileBusy if isinstance(target.expect.rmdir_not_empty, str) else None
        with pytest.raises(busy_folder or errors.PrinterError):
            await backend.rmdir(job.rpartition("/")[0])
        assert target.files(folder)[job] == content
        refusal = target.expect.busy_upload
        if not isinstance(refusal, str):
            with pytest.raises(refusal):
                await backend.upload(job, source(tmp_path, b"G28\n"), 4, overwrite=True)
            assert target.files(folder)[job] == content
        else:
            # Not applicable: the printer lets it be replaced (why: `refusal`); shown here.
            assert refusal
            await backend.upload(job, source(tmp_path, b"G28\n"), 4, overwrite=True)
            assert target.files(folder)[job] == b"G28\n"
        # other files stay writable during a print (what `while_printing: upload` does
        # on a printer whose files live on a host's disk)
        await put(backend, tmp_path, other, G)
        if target.expect.prints_from_host_disk:
            await backend.upload(other, source(tmp_path, b"G1 X9\n"), 6, overwrite=True)
            assert target.files(folder)[other] == b"G1 X9\n"
        await backend.delete(other)
        assert (await backend.status()).state == "PRINTING"  # the print went on
    finally:
        await target.stop_printing()
    await backend.delete(job)
    assert target.files(folder) == {}


class OtherUpload:
    """Someone else's upload (a slicer, another link-sync) held open half-way: a second
    backend in a thread of its own, reading its file from a pipe we feed."""

    def __init__(self, target: Target, path: str, tmp: Path, size: int) -> None:
        self.target, self.path, self.size = target, path, size
        self.fifo = tmp / "other-upload.gcode"
        os.mkfifo(self.fifo)
        self.writer = os.open(self.fifo, os.O_RDWR)  # open without waiting for a reader
        self.sent: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        async def upload() -> None:
            backend = self.target.backend()
            try:
                await backend.probe()
                await backend.upload(
                    self.path, self.fifo, self.size, overwrite=False, progress=self.sent.append
                )
            finally:
                await backend.aclose()

        try:
            asyncio.run(upload())
        except BaseException as exc:  # reported by finish()
            self.error = exc

    async def start(self, first: bytes) -> None:
        self.thread.start()
        await asyncio.to_thread(os.write, self.writer, first)
        for _ in range(200):
            if sum(self.sent) >= len(first) and self.target.transfer_in_progress() is not False:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the other upload did not start (sent {sum(self.sent)})")

    async def finish(self, rest: bytes) -> None:
        view = memoryview(rest)
        while view:
            written = await asyncio.to_thread(os.write, self.writer, view[: 1 << 16])
            view = view[written:]
        await asyncio.to_thread(self.thread.join, 60)
        os.close(self.writer)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


async def test_another_transfer_in_progress(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    theirs, ours = f"{folder}/theirs.gcode", f"{folder}/ours.gcode"
    data = G * 20000  # 420 kB; 128 KiB of it (two whole chunks) sent before ours starts
    first = 128 * 1024
    if target.expect.mkdir_before_upload:
        await backend.mkdir(folder)
    other = OtherUpload(target, theirs, tmp_path, len(data))
    await other.start(data[:first])
    one_transfer = target.expect.one_transfer
    try:
        if not isinstance(one_transfer, str):
            with pytest.raises(one_transfer) as caught:
                await backend.upload(ours, source(tmp_path, G), len(G), overwrite=False)
            assert caught.value.retryable
        else:
            # Not applicable: the printer takes several uploads at once (why: `one_transfer`).
            assert one_transfer
            try:
                await backend.upload(ours, source(tmp_path, G), len(G), overwrite=False)
            except errors.PrinterError as exc:
                # the clash: a 500, or the backend seeing a wrong size stored (ProtocolError)
                assert target.expect.concurrent_uploads_clash, exc
    finally:
        try:
            await other.finish(data[first:])
        except errors.PrinterError as exc:
            assert target.expect.concurrent_uploads_clash, exc
    stored = target.files(folder)
    if not isinstance(one_transfer, str):
        assert stored == {theirs: data}
    elif not target.expect.concurrent_uploads_clash:
        assert stored == {theirs: data, ours: G}
    else:
        # Moonraker 0.11.0 may even mix the two into one file (both write the same temp
        # file); no client can prevent that, so only the names are asserted here.
        assert set(stored) <= {theirs, ours}


# -- 5xx, no answer, no connection ----------------------------------------------------------


async def _call(backend: Backend, op: str, folder: str, tmp_path: Path) -> object:
    """Run the backend call that sends `op`'s request."""
    if op == "probe":
        return await backend.probe()
    if op == "list":
        return await backend.list_tree(folder)
    if op == "upload":
        path = f"{folder}/up.gcode"
        return await backend.upload(path, source(tmp_path, G), len(G), overwrite=True)
    if op == "delete":
        return await backend.delete(f"{folder}/del.gcode")
    assert op == "status"
    return await backend.status()


#: 503 on every operation; 500 too where a server's own failure is most likely
SERVER_ERRORS = [(op, 503) for op in OPS] + [("upload", 500), ("delete", 500)]


@pytest.mark.parametrize(("op", "status"), SERVER_ERRORS)
async def test_server_error_is_retryable_and_passes(
    backend: Backend, target: Target, folder: str, tmp_path: Path, op: str, status: int
) -> None:
    await put(backend, tmp_path, f"{folder}/del.gcode", G)
    async with target.faults() as faults:
        faulty = target.backend(url=faults.url)
        try:
            if op != "probe":
                await faulty.probe()
            faults.answer(op, status)
            with pytest.raises(errors.ServerError) as caught:
                await _call(faulty, op, folder, tmp_path)
            assert caught.value.retryable
            assert caught.value.status == status
            assert target.files(folder) == {f"{folder}/del.gcode": G}  # nothing changed
            await _call(faulty, op, folder, tmp_path)  # the next try goes through
        finally:
            await faulty.aclose()
    if op == "upload":
        assert target.files(folder)[f"{folder}/up.gcode"] == G
    if op == "delete":
        assert f"{folder}/del.gcode" not in target.files(folder)


async def test_408_is_a_retryable_request_timeout(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    # Buddy answers 408 when an upload body stops coming; a proxy in front of the real
    # servers says it for them (they never do)
    if target.expect.mkdir_before_upload:
        await backend.mkdir(folder)
    async with target.faults() as faults:
        faulty = target.backend(url=faults.url)
        try:
            await faulty.probe()
            faults.answer("upload", 408)
            with pytest.raises(errors.RequestTimeout) as caught:
                await _call(faulty, "upload", folder, tmp_path)
            assert caught.value.retryable
            assert target.files(folder) == {}
        finally:
            await faulty.aclose()


@pytest.mark.parametrize("op", ["probe", "list", "upload", "status"])
async def test_no_answer_is_no_answer_and_not_retried(
    backend: Backend, target: Target, folder: str, tmp_path: Path, op: str
) -> None:
    if target.expect.mkdir_before_upload:
        await backend.mkdir(folder)
    async with target.faults() as faults:
        faulty = target.backend(url=faults.url, read_timeout=target.short_wait)
        try:
            if op != "probe":
                await faulty.probe()
            faults.stall(op)
            with pytest.raises(errors.NoAnswer) as caught:
                await _call(faulty, op, folder, tmp_path)
            # a hung printer costs one wait per run, never one per retry (issue 12)
            assert not caught.value.retryable
            await _call(faulty, op, folder, tmp_path)  # a new connection gets an answer
        finally:
            await faulty.aclose()


async def test_no_connection_is_unreachable(target: Target) -> None:
    async with target.faults() as faults:
        faulty = target.backend(url=faults.url)
        try:
            await faulty.probe()
            faults.offline()
            for call in (faulty.probe(), faulty.list_tree(""), faulty.status()):
                with pytest.raises(errors.Unreachable) as caught:
                    await call
                assert caught.value.retryable
        finally:
            await faulty.aclose()
