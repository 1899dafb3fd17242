"""The post-condition itself: it fails on a `synced` report that the printer belies."""

from __future__ import annotations

from pathlib import Path

import pytest

from link_sync.result import PrinterResult, RunResult

from synced_check import assert_synced_printers_hold_the_master


class FakePrinter:
    def __init__(self, name: str, files: dict[str, bytes]) -> None:
        self.name = name
        self.pi = False
        self._files = files

    def files(self) -> dict[str, bytes]:
        return self._files


def run(status: str) -> RunResult:
    return RunResult([PrinterResult(name="p", host="http://127.0.0.1", status=status)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "held",
    [
        {"prints/a.gcode": b"12345"},  # b.gcode missing
        {"prints/a.gcode": b"12345", "prints/b.gcode": b"1", "prints/old.gcode": b"x"},  # excess
        {"prints/a.gcode": b"1234", "prints/b.gcode": b"1"},  # other size
        {"prints/A.gcode": b"12345", "prints/b.gcode": b"1"},  # other path
    ],
)
def test_a_synced_printer_that_differs_from_the_master_fails(
    tmp_path: Path, held: dict[str, bytes]
) -> None:
    (tmp_path / "a.gcode").write_bytes(b"12345")
    (tmp_path / "b.gcode").write_bytes(b"1")
    config = {"source": str(tmp_path), "destination": "/usb/prints", "printers": {"p": {}}}
    printer = FakePrinter("p", {**held, "top.gcode": b"outside", "prints/n.txt": b"other"})
    with pytest.raises(AssertionError, match="reported synced but differs"):
        assert_synced_printers_hold_the_master(run("synced"), [printer], config)
    # the same printer reported busy or failed is not checked
    assert_synced_printers_hold_the_master(run("busy"), [printer], config)


def test_a_synced_printer_that_holds_the_master_passes(tmp_path: Path) -> None:
    (tmp_path / "a.gcode").write_bytes(b"12345")
    (tmp_path / ".hidden.gcode").write_bytes(b"not scanned")
    config = {"source": str(tmp_path), "destination": "/usb/prints", "printers": {"p": {}}}
    printer = FakePrinter("p", {"prints/a.gcode": b"12345", "prints/n.txt": b"other"})
    assert_synced_printers_hold_the_master(run("synced"), [printer], config)
