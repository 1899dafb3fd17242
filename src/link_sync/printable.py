"""Make text that came from a printer safe to show (issue 29, faults 4 and 5).

A printer's firmware string, state, job and file names are the printer's words, and a
hostile or broken printer may put anything in them: the API key it was sent, or control
characters that clear a terminal, retitle it or forge a log line of another printer.
They are kept verbatim where link-sync works with them (a file name is how the file is
found again), and made safe where they are shown, at each output's one sink:

- `line(text)` for plain output and logs: every registered secret masked, every control
  character (C0, DEL, C1, the Unicode line and paragraph separators) written as a
  visible escape (`\\n`, `\\x1b`, `\\u2028`), so one event stays one line.
- `document(data)` for JSON (`--json`, JSON Lines, the watch's API and events): every
  string (and key) with secrets masked, control characters kept, since JSON escapes them
  itself and a reader gets the real string.
"""

from __future__ import annotations

import re
from typing import Any

from link_sync import redact

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with each control character written as a visible escape."""
    return _CONTROLS.sub(_escape, text)


def line(text: str) -> str:
    """`text` as it may be printed on a line: secrets masked, control characters escaped."""
    return escape_controls(redact.redact(text))


def cells(values: list[str]) -> list[str]:
    """`line` for each of a table row's cells."""
    return [line(value) for value in values]


def document(data: Any) -> Any:
    """`data` (a JSON document) with every registered secret masked in its strings.

    Most documents hold no secret: their strings are checked first, without copying.
    """
    secrets = redact.registered()
    if not secrets or not _holds_secret(data, secrets):
        return data
    return _masked(data, secrets)


def _holds_secret(data: Any, secrets: list[str]) -> bool:
    if isinstance(data, str):
        return redact.redact(data, secrets) != data
    if isinstance(data, dict):
        return any(
            _holds_secret(key, secrets) or _holds_secret(value, secrets)
            for key, value in data.items()
        )
    if isinstance(data, list | tuple):
        return any(_holds_secret(value, secrets) for value in data)
    return False


def _masked(data: Any, secrets: list[str]) -> Any:
    if isinstance(data, str):
        return redact.redact(data, secrets)
    if isinstance(data, dict):
        return {_masked(key, secrets): _masked(value, secrets) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_masked(value, secrets) for value in data]
    return data
