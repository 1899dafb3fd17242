"""A test-only post-condition: a printer reported `synced` holds exactly the master.

After a run, every printer whose report says `synced` is read again (the emulated
printer's own storage, not the engine's listing) and its print files in the managed
destination are compared with the master's print files: exact paths and sizes. Files
the printer cannot hold (reported as skipped) are left out of the master's side; with
`--no-delete`, files the master lacks may stay. Any other difference fails the test.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from link_sync.core.model import is_print_file
from link_sync.result import RunResult


def master_sizes(root: Path) -> dict[str, int]:
    """Print files below `root` (dot names skipped, as the scanner does): path -> size."""
    found: dict[str, int] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and is_print_file(path.name):
            found[relative.as_posix()] = path.stat().st_size
    return found


def managed_sizes(files: Mapping[str, bytes], destination: str) -> dict[str, int]:
    """The printer's print files below `destination` (storage-relative): path -> size."""
    prefix = destination.strip("/") + "/" if destination.strip("/") else ""
    return {
        path[len(prefix) :]: len(data)
        for path, data in files.items()
        if path.startswith(prefix) and is_print_file(path.rsplit("/", 1)[-1])
    }


def storage_relative(destination: str, storage: str) -> str:
    """'/usb/prints' -> 'prints' on storage 'usb'; '/' -> ''."""
    parts = [p for p in destination.split("/") if p]
    if parts and parts[0].casefold() == storage.casefold():
        parts = parts[1:]
    return "/".join(parts)


def _as_binary(
    expected: dict[str, int], source: Path, files: Mapping[str, bytes], prefix: str
) -> dict[str, int]:
    """`expected` on a `send_as: bgcode` printer: each plain file as `.bgcode` (unless the
    master holds that too), which libbgcode must decode to exactly the master's bytes."""
    from link_sync.core.send_as import binary_name

    from bgcode_reference import decode

    mapped: dict[str, int] = {}
    lead = prefix + "/" if prefix else ""
    for path, size in expected.items():
        binary = binary_name(path)
        if binary is None:
            mapped[path] = size
            continue
        if binary in expected:
            continue  # the master's own .bgcode goes instead
        data = files.get(lead + binary)
        if data is None and lead + path in files:
            mapped[path] = size  # a file that does not convert goes as it is
            continue
        if data is None:
            mapped[binary] = -1  # missing: reported below
            continue
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "held.bgcode"
            copy.write_bytes(data)
            assert decode(copy).gcode == (source / path).read_bytes(), (
                f"{binary} does not decode to the master's {path}"
            )
        mapped[binary] = len(data)
    return mapped


def assert_synced_printers_hold_the_master(
    result: RunResult,
    printers: Iterable[Any],
    config: Mapping[str, Any],
    *,
    delete: bool = True,
) -> None:
    """Fail when a printer reported `synced` differs from its master.

    `printers` are emulated printers (`.name`, `.pi`, `.files()`); `config` is the
    link-sync config (as a mapping) the run was given.
    """
    by_name = {p.name: p for p in printers}
    top_source = Path(config["source"]).expanduser()
    for report in result.printers:
        if report.status != "synced" or report.name not in by_name:
            continue
        printer = by_name[report.name]
        entry = config["printers"][report.name]
        source = top_source / entry["source"] if entry.get("source") else top_source
        destination = str(entry.get("destination", config.get("destination", "/")))
        storage = "local" if printer.pi else "usb"
        expected = master_sizes(source)
        for path, _reason in report.skipped:
            expected.pop(path, None)
        files = printer.files()
        prefix = storage_relative(destination, storage)
        held = managed_sizes(files, prefix)
        send_as = entry.get("send_as", config.get("defaults", {}).get("send_as"))
        if send_as == "bgcode" and not printer.pi:
            expected = _as_binary(expected, source, files, prefix)
        if not delete:
            held = {path: size for path, size in held.items() if path in expected}
        missing = sorted(set(expected) - set(held))
        excess = sorted(set(held) - set(expected))
        other_size = sorted(p for p in set(expected) & set(held) if expected[p] != held[p])
        assert not (missing or excess or other_size), (
            f"{report.name} reported synced but differs from the master: missing {missing}, "
            f"excess {excess}, other size {other_size}; report: {report.to_json()}"
        )
