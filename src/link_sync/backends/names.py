"""Which names a printer's storage refuses or changes, as data (`NameRules`), and the
one function that checks a path against them (`check`).

Each backend states its printer's rules; a file whose name breaks one is reported
as refused instead of being uploaded under another name (or failing half-way).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from link_sync.backends.urls import quote_path

#: Control characters (0-31), refused by every FAT and most web servers.
CONTROL = frozenset(chr(c) for c in range(32))


# eq=False: rules are compared (and hashed, as `check`'s cache key) by identity; each
# backend holds one object per storage, so the cache finds it without comparing fields.
@dataclass(frozen=True, slots=True, eq=False)
class NameRules:
    """A printer's limits on the names in a path; each message says why, to the user.

    Every path component is checked against the rules in the order of the fields;
    the first rule broken gives the answer.
    """

    #: Characters no name may hold, and the message ("{chars}": the ones found).
    forbidden: frozenset[str] = frozenset()
    forbidden_message: str = "name has characters the printer refuses: {chars}"
    #: Message if names may not start with a dot (the printer hides them).
    leading_dot: str | None = None
    #: Message if names may not end with a dot or space (the printer drops them).
    trailing_dot_or_space: str | None = None
    #: Message if names may not start or end with white space.
    surrounding_space: str | None = None
    #: Names (before the first dot, any case) the printer renames; "{stem}" in the message.
    reserved_stems: frozenset[str] = frozenset()
    reserved_message: str = "{stem!r} is a reserved name"
    #: Longest file name (the last component) and folder name, in UTF-8 bytes.
    max_name_bytes: int | None = None
    max_folder_bytes: int | None = None
    #: Longest request URL (`url_prefix` + the quoted path) the printer accepts.
    max_url_bytes: int | None = None
    url_prefix: str = ""


# A pure function of the path, asked for every master file on every printer: a farm
# shares one master, so each name is checked once per run, not once per printer.
@functools.lru_cache(maxsize=1 << 18)
def check(rules: NameRules, path: str) -> str | None:
    """Why `path` ('/'-separated, storage-relative) breaks `rules`, or None."""
    parts = path.strip("/").split("/")
    for index, part in enumerate(parts):
        problem = _check_part(rules, part, last=index == len(parts) - 1)
        if problem is not None:
            return problem
    if rules.max_url_bytes is not None:
        length = len((rules.url_prefix + quote_path(path)).encode())
        if length > rules.max_url_bytes:
            return (
                f"path too long for the printer: {length} bytes in the request, "
                f"at most {rules.max_url_bytes}"
            )
    return None


def _check_part(rules: NameRules, part: str, *, last: bool) -> str | None:
    bad = sorted({c for c in part if c in rules.forbidden})
    if bad:
        return rules.forbidden_message.format(chars=" ".join(repr(c) for c in bad))
    if rules.leading_dot is not None and part.startswith("."):
        return rules.leading_dot
    if rules.trailing_dot_or_space is not None and part != part.rstrip(". "):
        return rules.trailing_dot_or_space
    if rules.surrounding_space is not None and part != part.strip():
        return rules.surrounding_space
    stem = part.split(".", 1)[0]
    if stem.upper() in rules.reserved_stems:
        return rules.reserved_message.format(stem=stem)
    limit = rules.max_name_bytes if last else rules.max_folder_bytes
    if limit is not None and len(part.encode()) > limit:
        return f"name longer than {limit} bytes"
    return None
