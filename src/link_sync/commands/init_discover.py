"""`link-sync init --discover`: the printers found on the network, written into a new
config, or added to an existing one.

An existing file is never re-serialised: the new printers' lines are inserted at the
end of its `printers:` block (or a `printers:` block is appended), so its comments and
layout stay as they are; the result is parsed again and must hold the old printers
unchanged plus the new ones, or nothing is written. A printer already in the file (the
same host, or the serial written in its comment when it was found) is not added again.

`model:` is written where the printer says it, or where a Buddy firmware's default
hostname names one compatibility group (`prusa-mini`: a MINI), with a comment saying
so. Otherwise it is asked on a terminal (offering the family of a default hostname),
or written as a commented line to complete.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from link_sync.backends.registry import DEFAULT_TYPE, PRINTER_TYPES, announced_kind
from link_sync.config.hosts import normalize_host
from link_sync.core.printer_models import lookup_model
from link_sync.discovery.hostnames import family_of
from link_sync.discovery.identify import Found
from link_sync.errors import UsageError

#: A serial number in an entry's comment, as `entry_lines` writes it.
_SERIAL = re.compile(r"^\s*# found as .*, serial (\S+)\s*$", re.MULTILINE)

#: Asks the user for a printer's model: (printer, suggestion) -> answer ("" = leave it)
Ask = Callable[[Found, str | None], str]


@dataclass(frozen=True, slots=True)
class Existing:
    """What an existing config already has: printer names, hosts and serials."""

    names: frozenset[str]
    hosts: frozenset[str]
    has_password: bool
    #: serial numbers named in the file's comments (`# found as ..., serial S`): a
    #: printer whose address changed is still the same printer
    serials: frozenset[str] = frozenset()

    def holds(self, printer: Found) -> bool:
        return _url(printer.host) in self.hosts or (
            printer.serial is not None and printer.serial in self.serials
        )


def _url(host: str) -> str:
    try:
        return normalize_host(host)
    except ValueError:
        return host


def read_existing(path: Path) -> tuple[str, Existing]:
    """The file's text and what it holds; only YAML is added to."""
    if path.suffix.lower() not in (".yml", ".yaml"):
        raise UsageError(f"{path}: init --discover adds printers to YAML files only")
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: not a link-sync config (no mapping at the top)")
    printers = raw.get("printers") or {}
    if not isinstance(printers, dict):
        raise UsageError(f"{path}: `printers` is not a mapping")
    hosts = {
        _url(str(entry["host"]))
        for entry in printers.values()
        if isinstance(entry, dict) and entry.get("host")
    }
    defaults = raw.get("defaults") or {}
    has_password = isinstance(defaults, dict) and bool(
        defaults.get("password") or defaults.get("password_file")
    )
    serials = frozenset(_SERIAL.findall(text))
    return text, Existing(frozenset(map(str, printers)), frozenset(hosts), has_password, serials)


def model_lines(printer: Found, ask: Ask | None) -> list[str]:
    """The `model:` line of a printer (active, or commented to complete)."""
    if printer.model:
        return [f"model: {printer.model}   # as the printer says"]
    kind = announced_kind(printer.kind)
    if kind is not None and kind.model_from == "credentials":
        return ["# model: not needed: the Raspberry-Pi PrusaLink says it (with credentials)"]
    family = family_of(printer.hostname) if kind and kind.model_from == "hostname" else None
    suggestion = printer.suggested_model
    if ask is not None and PRINTER_TYPES[printer.type].asks_model:
        answer = ask(printer, suggestion).strip()
        if answer:
            return [f"model: {answer}"]
    elif family is not None and family.model is not None:
        return [
            f"model: {family.model}   # from its default hostname {family.hostname} "
            "(a Buddy printer does not say its model)"
        ]
    if family is not None:
        choices = ", ".join(family.choices)
        return [
            f"# model: {family.choices[0]}   # complete: one of {choices} (its default "
            f"hostname {family.hostname} is their firmware build); without it, it gets "
            "every file"
        ]
    hint = f" (its profile says {suggestion})" if suggestion else ""
    return [
        f"# model: MK4S   # complete: this printer's model{hint}; without it, it gets every file"
    ]


def entry_lines(printer: Found, existing: Existing | None, ask: Ask | None) -> list[str]:
    """One printer's lines, indented below its name."""
    lines = [f"host: {printer.host}"]
    if printer.type != DEFAULT_TYPE:
        lines.append(f"type: {printer.type}")
    names = PRINTER_TYPES[printer.type].credentials
    if names.api_key and names.optional_key_note:
        lines.append(f"# api_key: ${{{names.api_key}}}   # {names.optional_key_note}")
    elif names.api_key:
        lines.append(f"api_key: ${{{names.api_key}}}")
    elif names.password and existing is not None and not existing.has_password:
        lines.append(f"password: ${{{names.password}}}")
    lines.extend(model_lines(printer, ask))
    found_as = f"found as {printer.hostname}"
    if printer.firmware:
        found_as += f", firmware {printer.firmware}"
    if printer.serial:
        found_as += f", serial {printer.serial}"
    return [f"# {found_as}", *lines]


def render_entries(
    printers: Sequence[Found], indent: str, existing: Existing | None, ask: Ask | None
) -> str:
    out = []
    for printer in printers:
        out.append(f"{indent}{printer.name}:\n")
        out.extend(f"{indent * 2}{line}\n" for line in entry_lines(printer, existing, ask))
    return "".join(out)


def insert_printers(text: str, entries: Callable[[str], str]) -> str:
    """`text` with the new entries at the end of its `printers:` block (or a new block).

    `entries(indent)` renders them with the block's indent."""
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if line.rstrip() in ("printers:", "printers: {}")), None
    )
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{tail}printers:\n{entries('  ')}"
    if lines[start].rstrip() == "printers: {}":
        lines[start] = "printers:\n"
    end = start + 1  # after the block's last indented, non-comment line
    indent = ""
    for i in range(start + 1, len(lines)):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            break
        if not indent:
            indent = line[: len(line) - len(line.lstrip())]
        end = i + 1
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines.insert(end, entries(indent or "  "))
    return "".join(lines)


def add_to_file(path: Path, printers: Sequence[Found], ask: Ask | None) -> tuple[int, int]:
    """Add the printers `path` does not hold yet; (added, already there)."""
    text, existing = read_existing(path)
    new = [p for p in printers if not existing.holds(p)]
    if not new:
        return 0, len(printers)
    updated = insert_printers(text, lambda indent: render_entries(new, indent, existing, ask))
    _check_added(path, text, updated, [p.name for p in new])
    _replace(path, updated)
    return len(new), len(printers) - len(new)


def _check_added(path: Path, before: str, after: str, names: Sequence[str]) -> None:
    """The new text must parse to the old document plus the new printers."""
    old: dict[str, Any] = yaml.safe_load(before) or {}
    try:
        new: dict[str, Any] = yaml.safe_load(after) or {}
    except yaml.YAMLError:
        new = {}
    old_printers = dict(old.get("printers") or {})
    new_printers = dict(new.get("printers") or {})
    same_rest = {k: v for k, v in old.items() if k != "printers"} == {
        k: v for k, v in new.items() if k != "printers"
    }
    kept = all(new_printers.get(k) == v for k, v in old_printers.items())
    if not (same_rest and kept and set(new_printers) == set(old_printers) | set(names)):
        raise UsageError(
            f"{path}: cannot add the printers without rewriting the file (its `printers:` "
            "is not a block at the top level); add them by hand"
        )


def _replace(path: Path, text: str) -> None:
    """Write `text` over `path` at once (a temporary file, then a rename), keeping its mode."""
    mode = path.stat().st_mode & 0o777
    temporary = path.with_name(f".{path.name}.link-sync-new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def ask_on_terminal(printer: Found, suggestion: str | None) -> str:
    """Asks for a Buddy printer's model until the answer is one link-sync knows (or empty)."""
    import click

    family = family_of(printer.hostname)
    offer = f" ({', '.join(family.choices)})" if family else ""
    while True:
        answer: str = click.prompt(
            f"{printer.name} at {printer.host}: its model{offer}, empty to leave it",
            default=suggestion or "",
            show_default=bool(suggestion),
        )
        if not answer.strip() or lookup_model(answer):
            found = lookup_model(answer)
            return found.name if found else ""
        click.echo(f"{answer!r} is not a model link-sync knows (MK4S, MINI, XL, COREONE, ...)")
