"""`link-sync init`: write a commented example config that explains every key."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from link_sync.backends.registry import DEFAULT_TYPE, PRINTER_TYPES
from link_sync.errors import UsageError

TEMPLATE = """\
# link-sync configuration: one master folder, every printer in line with it.
# Check it with `link-sync plan` (changes nothing), then run `link-sync sync`.
# Reference: docs/configuration.md.

# The master folder: every print file below it (.gcode .bgcode .g .gc .gco .bgc,
# any case, in any sub-folder) belongs on every printer. Dot files are ignored.
# If this folder is missing or has no print files (a NAS that is not mounted),
# link-sync refuses to run rather than empty the printers.
source: {source}

# The folder on each printer that link-sync manages ("/" = the whole storage).
# Only print files inside it are ever deleted; nothing outside it is touched.
destination: /

# Seconds a master file may be newer than the printer's copy before it counts
# as stale (printer clocks drift; FAT timestamps have 2-second steps).
stale_after: 60

# Keys applied to every printer (each printer may override them).
defaults:
  # PrusaLink on Buddy firmware (MK4/MK4S, MK3.5, MK3.9, XL, MINI, CORE One):
  # user "maker" and the password shown on the printer (Settings > Network > PrusaLink).
  username: maker
  # Secrets: write ${{NAME}} to read an environment variable, or use
  # password_file: /etc/link-sync/farm-password  (first line of the file).
  password: ${{FARM_PASSWORD}}

printers:
{printers}
# Every printer key:
#   host:          192.168.1.50, 192.168.1.50:8080 or https://printer.lan (required)
#   type:          the printer's API (default: {default_type}):
{types}#   username:      digest user (PrusaLink; "maker" on Buddy firmware)
#   password:      digest password (PrusaLink)      password_file: read it from a file
#   api_key:       X-Api-Key (OctoPrint, Moonraker, Raspberry-Pi PrusaLink)
#                                                    api_key_file: read it from a file
#   source:        this printer's own master: relative to `source` above, or absolute
#   destination:   this printer's managed folder, overrides the top-level one
#   storage:       storage name (default: usb on Buddy, local on the Pi)
#   timeout:       seconds without a byte moving before a request fails (default 30)
#   connect_timeout: seconds for the connection and the first answer (default 10);
#                  a printer silent that long is reported unreachable, not retried
#   verify:        false to skip TLS certificate checks for https:// hosts
#   ca_file:       a CA bundle to verify an https:// printer with
#   fingerprint:   SHA-256 fingerprint of the printer's TLS certificate, to pin it
#   model:         the printer's model (MK4S, XL, MINI, COREONE, ...): files sliced for
#                  another model are not sent to it. Needed on Buddy printers, OctoPrint
#                  and Moonraker, which do not say it; overrides what a Pi PrusaLink says
#   nozzle:        nozzle diameter in mm, overriding what the printer says
#   accept:        other models whose files this printer takes, e.g. [MK4] on an MK4S
#   while_printing: upload (files arrive during a print too, all but the printed one;
#                  default on OctoPrint and Moonraker, allowed on a Pi PrusaLink) or
#                  wait (not until the print ends; default on PrusaLink, and the only
#                  choice on Buddy printers)
#
# Other top-level keys:
#   route:           model (default: each printer gets the files sliced for it and
#                    those that name no printer) or all (every file to every printer)
#   settle:          link-sync watch: seconds a master file must stay unchanged (2)
#   poll_interval:   link-sync watch: seconds between printer state reads (5)
#   rescan_interval: link-sync watch: seconds between full master rescans (600)
#   http:            link-sync watch --http: {{listen: 127.0.0.1:8470,
#                    token: ${{WEB_TOKEN}}, read_only: false}}
"""

EXAMPLE_PRINTERS = """\
  # A Buddy-firmware printer: its host and its model, the rest comes from defaults.
  # (A Buddy printer does not tell its model over the network: without model: it gets
  # every file, whatever printer the file was sliced for.)
  mk4-01:
    host: 192.168.1.50
    model: MK4S
  # An XL with a 0.6 mm nozzle and its own sub-folder of the master (source/xl).
  xl-01:
    host: 192.168.1.60
    model: XL
    nozzle: 0.6
    source: xl
  # An MK3S with the Raspberry-Pi PrusaLink: its own user and API key.
  mk3s-01:
    host: 192.168.1.70:8080
    username: maker
    password: ${MK3_DIGEST_PASSWORD}
    api_key: ${MK3_API_KEY}
  # OctoPrint and Moonraker (Klipper) hosts use an API key.
  # octopi-01:
  #   type: octoprint
  #   host: 192.168.1.80
  #   api_key: ${OCTOPRINT_API_KEY}
  # voron-01:
  #   type: moonraker
  #   host: 192.168.1.90:7125
  #   api_key: ${MOONRAKER_API_KEY}
"""


def render_config(
    source: str, printers: Sequence[tuple[str, str]] = (), body: str | None = None
) -> str:
    """The example config; `printers` (name, host), or a ready `body` of printer
    entries, replace the example printers."""
    if body is None and printers:
        body = "".join(
            f"  {name}:\n    host: {host}\n    # model: MK4S   # set it: routes files by model\n"
            for name, host in printers
        )
    elif body is None:
        body = EXAMPLE_PRINTERS
    return TEMPLATE.format(
        source=source, printers=body, default_type=DEFAULT_TYPE, types=printer_type_lines("#     ")
    )


def printer_type_lines(indent: str) -> str:
    """One line per printer type of the registry: its `type:` value and what it is for."""
    return "".join(f"{indent}{t.name:<11}{t.description}\n" for t in PRINTER_TYPES.values())


def parse_printer_arguments(values: Sequence[str]) -> list[tuple[str, str]]:
    """'mk4-01=192.168.1.50' -> ('mk4-01', '192.168.1.50')."""
    printers: list[tuple[str, str]] = []
    for value in values:
        name, sep, host = value.partition("=")
        if not sep or not name.strip() or not host.strip():
            raise UsageError(f"--printer takes NAME=HOST, got {value!r}")
        printers.append((name.strip(), host.strip()))
    return printers


def write_config(path: Path, text: str) -> None:
    """Create `path` with owner-only permissions; never overwrite an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; not overwriting it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
