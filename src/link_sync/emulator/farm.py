"""Farm: several emulated printers served from one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from link_sync.emulator.printer import EmulatedPrinter
from link_sync.emulator.spec import PrinterSpec


class Farm:
    """`async with Farm([PrinterSpec(...), ...]) as farm:` serves each printer on its own port.

    base_port 0 picks free ports; otherwise printer i listens on base_port + i.
    `preview` is the default for specs that leave `preview` unset: whether an upload to an
    idle Buddy printer opens the print preview (on, as the firmware does).
    """

    def __init__(
        self,
        specs: Sequence[PrinterSpec],
        storage_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        base_port: int = 0,
        preview: bool = True,
    ) -> None:
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate printer name(s): {', '.join(dupes)}")
        self.host = host
        self.base_port = base_port
        self.storage_dir = Path(storage_dir) if storage_dir is not None else None
        self.specs = list(specs)
        self.preview = preview
        self.printers: list[EmulatedPrinter] = []
        self._by_name: dict[str, EmulatedPrinter] = {}

    async def start(self) -> None:
        for i, spec in enumerate(self.specs):
            port = self.base_port + i if self.base_port else 0
            printer = EmulatedPrinter(
                spec,
                host=self.host,
                port=port,
                storage_dir=self.storage_dir,
                preview=self.preview,
            )
            self.printers.append(printer)
            self._by_name[spec.name] = printer
            try:
                printer.listener.open()
            except OSError as exc:
                await self.stop()
                raise OSError(f"{spec.name}: cannot listen on {self.host}:{port}: {exc}") from exc
        await asyncio.gather(*(p.start() for p in self.printers))

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.printers), return_exceptions=True)

    async def __aenter__(self) -> Farm:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __getitem__(self, name: str) -> EmulatedPrinter:
        return self._by_name[name]

    def __iter__(self) -> Iterator[EmulatedPrinter]:
        return iter(self.printers)

    def __len__(self) -> int:
        return len(self.printers)

    def config(self, source: str | Path | None = None) -> dict[str, Any]:
        """A link-sync config (CONTRACT format) that reaches this farm; each Buddy printer
        with its `model:` (and `nozzle:` when not 0.4), as a real farm's must say."""
        printers: dict[str, Any] = {}
        for p in self.printers:
            entry: dict[str, Any] = {
                "host": p.url,
                "username": p.spec.username,
                "password": p.spec.password,
            }
            if p.spec.api_key:
                entry["api_key"] = p.spec.api_key
            if not p.pi:
                # A Buddy printer does not say its model: a farm's config must
                entry["model"] = p.profile.printer_type
                if p.spec.nozzle_diameter != 0.4:
                    entry["nozzle"] = p.spec.nozzle_diameter
            printers[p.name] = entry
        out: dict[str, Any] = {}
        if source is not None:
            out["source"] = str(source)
        out["printers"] = printers
        return out
