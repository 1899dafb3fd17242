"""`${VAR}` from the environment, and where secrets come from.

`substitute` replaces `${VAR}` in every string of a config, naming the place of
an undefined one ("printer 'mk4': key 'password': ${X} is not set ..."). A
password or API key is given once, as itself or as a file (`password` or
`password_file`, `api_key` or `api_key_file`); `has_literal_secret` and
`exposed` decide the warning about a file others may read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo

from link_sync.errors import ConfigError

SECRET_KEYS = ("password", "api_key")
#: A key and the key that supplies the same secret from a file: setting one in a
#: printer overrides the other one from `defaults`.
SECRET_PARTNERS = {
    "password": "password_file",
    "password_file": "password",
    "api_key": "api_key_file",
    "api_key_file": "api_key",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Context:
    """How values are resolved: relative paths, `${VAR}`, and the file for messages."""

    base: Path
    environ: Mapping[str, str]
    path: Path | None = None
    #: `${VAR}` already replaced (the file loader does it, naming the place)
    substituted: bool = False
    #: the printer being built, for messages
    name: str | None = None


def context_of(info: ValidationInfo) -> Context:
    """The context a model is validated with; for a model built in code, the process's."""
    given = info.context
    if isinstance(given, Context):
        return given
    return Context(base=Path.cwd(), environ=os.environ)


def substitute(value: Any, where: tuple[str, ...], environ: Mapping[str, str], prefix: str) -> Any:
    """Replace `${VAR}` in every string, naming the place of an undefined one."""
    if isinstance(value, dict):
        return {
            key: substitute(item, (*where, str(key)), environ, prefix)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(substitute(item, where, environ, prefix) for item in value)
    if isinstance(value, str) and "${" in value:

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(
                    f"{prefix}{_place(where)}${{{name}}} is not set in the environment"
                )
            return environ[name]

        return _VAR.sub(variable, value)
    return value


def _place(where: tuple[str, ...]) -> str:
    """('printers', 'mk4', 'password') → "printer 'mk4': key 'password': "."""
    if len(where) >= 3 and where[0] == "printers":
        return f"printer '{where[1]}': key '{where[2]}': "
    if len(where) >= 2 and where[0] == "defaults":
        return f"defaults: key '{where[1]}': "
    return f"key '{where[0]}': " if where else ""


def check_secret_pairs(section: Mapping[str, Any], where: str) -> None:
    """A secret given both as itself and as a file is refused: which one was meant?"""
    for key in SECRET_KEYS:
        partner = SECRET_PARTNERS[key]
        if section.get(key) is not None and section.get(partner) is not None:
            raise ConfigError(f"{where}set '{key}' or '{partner}', not both")


def has_literal_secret(raw: Mapping[str, Any]) -> bool:
    """True when a password or API key is written in the file (not a bare `${VAR}`)."""
    printers = raw.get("printers")
    sections = [raw.get("defaults"), *(printers.values() if isinstance(printers, dict) else ())]
    for section in sections:
        if not isinstance(section, dict):
            continue
        for key in SECRET_KEYS:
            value = section.get(key)
            if value not in (None, "") and not _VAR.fullmatch(str(value).strip()):
                return True
    return False


def exposed(path: Path) -> bool:
    """True when users other than the owner may read (or write, or run) `path`."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False
