"""`link-sync emulate`: serve emulated PrusaLink printers on 127.0.0.1 until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from link_sync.emulator.farm import Farm
from link_sync.emulator.profiles import PROFILES
from link_sync.emulator.spec import PrinterSpec

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB](?:/s)?)?\s*$")
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def parse_rate(text: str | int | float | None) -> int | None:
    """`500k` -> 500000, `1M` -> 1000000, `0` -> None (unthrottled)."""
    if text is None:
        return None
    if isinstance(text, int | float):
        return int(text) or None
    m = _RATE.match(str(text))
    if not m:
        raise ValueError(f"not a rate: {text!r} (examples: 250000, 500k, 1M)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    return value or None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?\s*$")


def parse_size(text: str | int) -> int:
    """The farm key `capacity`: `200k` -> 200000, `2G` -> 2000000000, `0` -> 0 (full)."""
    if isinstance(text, bool):
        raise ValueError(f"capacity: not a size: {text!r}")
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"capacity: not a size: {text!r} (examples: 200000, 200k, 2G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class _RateType(click.ParamType[int | None]):
    name = "BYTES_PER_S"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return parse_rate(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def load_farm(
    path: Path, defaults: dict[str, Any], count: int, default_names: list[str]
) -> list[PrinterSpec]:
    """Printer specs from a --farm YAML file.

    Format: `defaults:` (any printer key) and `printers:` — a mapping of name to keys, or a
    list of mappings with `name`. Without `printers`, the --printers N default farm gets
    the defaults.
    """
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.UsageError(f"--farm {path}: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"defaults", "printers"}:
        raise click.UsageError(f"--farm {path}: expected a mapping with `defaults` and `printers`")
    base = {**defaults, **(doc.get("defaults") or {})}
    raw = doc.get("printers")
    entries: list[tuple[str, dict[str, Any]]]
    if raw is None:
        entries = [(n, {}) for n in default_names[:count]]
    elif isinstance(raw, dict):
        entries = [(str(k), dict(v or {})) for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or "name" not in item:
                raise click.UsageError(f"--farm {path}: printers[{i}] needs a `name`")
            item = dict(item)
            entries.append((str(item.pop("name")), item))
    else:
        raise click.UsageError(f"--farm {path}: `printers` must be a mapping or a list")
    specs = []
    for name, over in entries:
        data = {**base, **over, "name": name}
        try:
            if "rate" in data:
                data["rate"] = parse_rate(data["rate"])
            if data.get("capacity") is not None:
                data["capacity"] = parse_size(data["capacity"])
            if "latency_ms" in data:
                data["latency"] = float(data.pop("latency_ms")) / 1000
            specs.append(PrinterSpec.from_dict(data))
        except (ValueError, TypeError) as exc:
            raise click.UsageError(f"--farm {path}: printer {name}: {exc}") from None
    return specs


def _raise_fd_limit() -> None:
    with contextlib.suppress(Exception):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(farm: Farm, config_out: Path | None, announce: bool = False) -> None:
    await farm.start()
    try:
        if config_out is not None:
            config_out.write_text(yaml.safe_dump(farm.config(), sort_keys=False))
        async with contextlib.AsyncExitStack() as stack:
            if announce:
                from link_sync.emulator.announce import Announcer

                await stack.enter_async_context(Announcer(farm, farm.host))
            await _until_stopped(farm)
    finally:
        await farm.stop()


async def _until_stopped(farm: Farm) -> None:
    """Prints each printer's line, then waits for SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for p in farm:
        sys.stdout.write(f"{p.name} {p.url} {p.spec.profile}\n")
    sys.stdout.flush()
    await stop.wait()


@click.command("emulate")
@click.option(
    "--printers",
    "count",
    type=click.IntRange(1, 5000),
    default=3,
    show_default=True,
    help="Number of printers.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Base port: printer i listens on BASE+i (0: any free ports).",
)
@click.option(
    "--profile",
    type=click.Choice(list(PROFILES)),
    default="mk4",
    show_default=True,
    help="Printer model (mk3 = Raspberry-Pi PrusaLink 0.8.1).",
)
@click.option(
    "--rate",
    type=_RateType(),
    default=None,
    help="Upload speed per printer in bytes/s (500k, 1M); default unthrottled.",
)
@click.option(
    "--latency", type=click.FloatRange(0), default=0.0, help="Milliseconds added to every response."
)
@click.option(
    "--password",
    default="maker-pass",
    show_default=True,
    help="Digest password (and Buddy API key).",
)
@click.option("--api-key", default=None, help="API key (mk3 profile only).")
@click.option(
    "--storage-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep printer files under DIR/<name> (default: in memory).",
)
@click.option(
    "--farm",
    "farm_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML: per-printer overrides, initial files, state, faults, capacity, usb, "
    "preview, nozzle_diameter, hostname.",
)
@click.option(
    "--no-preview",
    is_flag=True,
    help="Buddy printers do not open the print preview after an upload (the firmware does).",
)
@click.option(
    "--config-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a link-sync config for the farm, then keep serving.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback).")
@click.option(
    "--announce",
    is_flag=True,
    help="Each printer announces itself by mDNS as its firmware does, on --host.",
)
def emulate_command(
    count: int,
    port: int,
    profile: str,
    rate: int | None,
    latency: float,
    password: str,
    api_key: str | None,
    storage_dir: Path | None,
    farm_file: Path | None,
    no_preview: bool,
    config_out: Path | None,
    host: str,
    announce: bool,
) -> None:
    """Serve emulated PrusaLink printers on 127.0.0.1 until SIGINT/SIGTERM.

    Prints `name url profile` for each printer once all are listening. Each Buddy
    printer also answers POST /emulator/screen/back and /emulator/screen/print (Back or
    Print pressed on its screen), /emulator/usb/remove and /emulator/usb/insert, without
    auth.
    """
    if api_key is not None and profile != "mk3" and farm_file is None:
        raise click.UsageError("--api-key applies to the mk3 profile only")
    defaults: dict[str, Any] = {
        "profile": profile,
        "rate": rate,
        "latency": latency / 1000,
        "password": password,
    }
    if api_key is not None:
        defaults["api_key"] = api_key
    names = [f"{profile}-{i + 1}" for i in range(count)]
    if farm_file is not None:
        specs = load_farm(farm_file, defaults, count, names)
    else:
        specs = [PrinterSpec(name=n, **defaults) for n in names]
    if port and port + len(specs) - 1 > 65535:
        raise click.UsageError(f"--port {port} leaves no room for {len(specs)} printers")
    _raise_fd_limit()
    farm = Farm(specs, storage_dir=storage_dir, host=host, base_port=port, preview=not no_preview)
    try:
        asyncio.run(_serve(farm, config_out, announce))
    except OSError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
