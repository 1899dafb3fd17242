"""The command line of the original link-sync 0.2.5, read as today's commands.

0.2.5 had no commands: `link-sync -c printers.yml -s DIR -d /usb/ -g` synced, and
the same line without `-g` only showed what it would do. Cron lines written for it
keep working: such a command line becomes `sync` (with `-g`) or `plan` (without),
`-d` becomes `--destination`, `--ignore-state` becomes `--include-busy`, and
`-p`/`-x` with several names (argparse's `nargs="*"`) become one option per name.
Every other option is passed on as it is, so `--json`, `-q`, `-v` and
`--max-delete` work alongside. Today's safety rules apply to the translated run.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from link_sync.errors import UsageError

#: Leading arguments that belong to today's command line, not to 0.2.5's.
_OWN_FLAGS = frozenset({"-h", "--help", "-V", "--version"})
#: 0.2.5's options that take one value, and what they are called today.
_ONE_VALUE = {
    "-c": "-c",
    "--config": "--config",
    "-s": "-s",
    "--source": "--source",
    "-d": "--destination",
    "--destination": "--destination",
}
#: 0.2.5's options that take names until the next option (argparse nargs="*").
_NAMES = {"-p": "-p", "--printer": "-p", "-x": "-x", "--exclude": "-x"}
_GO = frozenset({"-g", "--go"})
_QUIET = frozenset({"-q", "--quiet"})


@dataclass(frozen=True, slots=True)
class Translation:
    """Today's arguments for a 0.2.5 command line, and the hint that says so."""

    args: list[str]
    quiet: bool

    @property
    def hint(self) -> str:
        return f"the 0.2.5 command line; this is 'link-sync {shlex.join(self.args)}'"


def is_legacy(args: Sequence[str]) -> bool:
    """True when the arguments start with an option, as 0.2.5's did (no command)."""
    return bool(args) and args[0].startswith("-") and args[0] not in _OWN_FLAGS


def translate(args: Sequence[str]) -> Translation:
    """Today's `sync`/`plan` arguments for a 0.2.5 command line."""
    go = False
    quiet = False
    out: list[str] = []
    rest = list(args)
    while rest:
        token = rest.pop(0)
        name, eq, attached = token.partition("=")
        if not eq and len(token) > 2 and token[:2] in ("-c", "-s", "-d") and token[1] != "-":
            name, attached, eq = token[:2], token[2:], "="  # argparse's -cFILE
        if token in _GO:
            go = True
        elif token == "--ignore-state":
            out.append("--include-busy")
        elif name in ("-r", "--relative-to"):
            raise UsageError(
                "the 0.2.5 option -r/--relative-to is not supported; point -s at the "
                "folder whose contents belong on the printers"
            )
        elif name in _ONE_VALUE:
            if eq:
                value = attached
            elif rest:
                value = rest.pop(0)
            else:
                raise UsageError(f"option {name} needs a value")
            out.extend([_ONE_VALUE[name], value])
        elif token in _NAMES:
            names = []
            while rest and not rest[0].startswith("-"):
                names.append(rest.pop(0))
            if not names:
                raise UsageError(f"option {token} needs a printer name")
            for printer in names:
                out.extend([_NAMES[token], printer])
        else:
            quiet = quiet or token in _QUIET
            out.append(token)
    return Translation(["sync" if go else "plan", *out], quiet)
