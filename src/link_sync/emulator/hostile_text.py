"""A printer whose words are hostile: faults `echo_credentials` and `control_chars`.

Both rewrite the words of every JSON answer a person would be shown: the firmware and
server text, the state, and the long (display) names of files and of the job. Short
names and download paths are left alone, so the printer still works; only what it says
about itself is poisoned.

- `echo_credentials`: each word carries the printer's password (and API key): a
  firmware that echoes what it was sent (`6.0.0-<password>`).
- `control_chars`: each word carries a newline, a forged log line of another printer,
  a terminal title change, a screen clear, a carriage return and a C1 CSI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from link_sync.emulator.printer import EmulatedPrinter

#: Keys whose string values are words shown to a person.
SHOWN_KEYS = frozenset({"firmware", "text", "server", "state", "display_name", "display_path"})

#: What `control_chars` puts into each word.
CONTROL_PAYLOAD = (
    "\n2026-01-01T00:00:00.000Z mk4-99: uploaded fake.gcode"
    "\x1b]0;pwned\x07\x1b[2J\x1b[H\r\x9b31m\x7f"
)


def payload(kind: str, printer: EmulatedPrinter) -> str:
    """What a fault of `kind` adds to each shown word."""
    if kind == "echo_credentials":
        spec = printer.spec
        return "-" + "-".join(secret for secret in (spec.password, spec.api_key) if secret)
    return CONTROL_PAYLOAD


def rewrite(data: Any, extra: str) -> Any:
    """`data` (a JSON answer) with `extra` in each shown word; file names keep their
    extension (the payload goes before it), so a print file is still one."""
    if isinstance(data, dict):
        return {
            key: _word(value, extra)
            if key in SHOWN_KEYS and isinstance(value, str)
            else rewrite(value, extra)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [rewrite(value, extra) for value in data]
    return data


def _word(value: str, extra: str) -> str:
    stem, dot, ext = value.rpartition(".")
    if dot and stem and "/" not in ext and ext.isalnum():
        return f"{stem}{extra}.{ext}"
    return value + extra
