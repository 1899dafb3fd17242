"""Pydantic's validation errors as the one plain line a user reads.

`reword` keeps the first problem, names the key (and the printer or `defaults`
entry), suggests the key meant when one is unknown, and never quotes the value:
a mistyped secret must not end up in a terminal or a log.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

_TYPE_WORDS = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "path_type": "must be text (a path)",
    "greater_than": "must be more than 0",
    "less_than_equal": "is too large",
    "greater_than_equal": "must not be negative",
    "finite_number": "must be a finite number",
}


def reword(exc: ValidationError) -> str:
    """Pydantic's first error as one plain sentence, never quoting the input value."""
    errors = exc.errors(include_input=False, include_url=False)
    # An unknown key explains a "missing" one better ('hots' → missing 'host').
    errors.sort(key=lambda error: error["type"] != "extra_forbidden")
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    key = loc[0] if loc else "?"
    if key == "http" and len(loc) > 1:
        key = f"http.{loc[1]}"
    kind = first["type"]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    suffix = more if len(errors) > 1 else ""
    if kind == "extra_forbidden":
        return f"unknown key '{key}'{_did_you_mean(key)}{suffix}"
    if kind == "missing":
        return f"missing '{key}'{suffix}"
    if kind == "literal_error":
        expected = str((first.get("ctx") or {}).get("expected", ""))
        choices = ", ".join(part.strip(" '") for part in re.split(r",| or ", expected))
        return f"key '{key}' must be one of {choices}{suffix}"
    if kind == "value_error":
        words = first["msg"].removeprefix("Value error, ")
    else:
        words = _TYPE_WORDS.get(kind, first["msg"].lower())
    if len(loc) > 1 and key in ("defaults", "printers"):
        return f"key '{key}' entry '{loc[1]}' {words}{suffix}"
    return f"key '{key}' {words}{suffix}"


def _did_you_mean(key: str) -> str:
    import difflib  # only when a key is unknown

    from link_sync.config.model import KNOWN_KEYS  # the models word their errors with this

    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def kind_of(value: Any) -> str:
    """'a list', 'a text', 'a number': what was given where a mapping belongs."""
    names: dict[type, str] = {list: "a list", str: "a text", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")
