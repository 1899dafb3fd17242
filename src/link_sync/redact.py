"""Keep passwords and API keys out of log output.

Backends register every secret they are given (`register`); `SecretFilter` replaces
any registered secret in a record's formatted message, and in its exception text,
with `***`. This is the last line of defence: link-sync's own messages never include
secrets in the first place.

The filter sits on link-sync's own loggers (`logger(name)`), never on the root
logger or the caller's handlers: a program that imports link-sync keeps its
logging as it was. The CLI, which owns the process, also puts it on the handlers
it creates (`install`), so that other libraries' records (aiohttp, asyncio) are masked too.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable

MASK = "***"
#: Shorter values are not masked: replacing every "ab" in a log helps no one,
#: and a secret that short is guessable anyway.
MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    """Mask these values in link-sync's log output from now on."""
    fresh = {value for value in values if value and len(value) >= MIN_LENGTH}
    if fresh:
        with _lock:
            _secrets.update(fresh)


def registered() -> list[str]:
    """The registered secrets, longest first."""
    with _lock:
        return sorted(_secrets, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret (registered ones by default) replaced by `***`.

    Case is ignored: a printer that echoes a secret may have upper-cased it (a state
    word is normalised to upper case), and it is no less a secret then.
    """
    if secrets is None:
        with _lock:
            secrets = frozenset(_secrets)
    else:
        secrets = frozenset(secret for secret in secrets if secret)
    if not secrets:
        return text
    return _pattern(secrets).sub(MASK, text)


@functools.lru_cache(maxsize=16)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str]:
    # Longest first: a secret that contains another one is masked whole.
    ordered = sorted(secrets, key=len, reverse=True)
    return re.compile("|".join(re.escape(secret) for secret in ordered), re.IGNORECASE)


class SecretFilter(logging.Filter):
    """Rewrites records so that no registered secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        _escape_arguments(record)
        if not _secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info is not None and record.exc_text is None:
            # Format the traceback now so the formatter reuses the redacted text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _escape_arguments(record: logging.LogRecord) -> None:
    """Control characters in a record's arguments (a printer's words) made visible, so
    that one record stays one line; the format string is link-sync's own."""
    from link_sync.printable import escape_controls

    args = record.args
    if not args or isinstance(args, dict):
        return
    escaped = tuple(_escaped(arg, escape_controls) for arg in args)
    if any(new is not old for new, old in zip(escaped, args, strict=True)):
        record.args = escaped


def _escaped(arg: object, escape: Callable[[str], str]) -> object:
    if arg is None or isinstance(arg, int | float | bytes):
        return arg
    text = str(arg)
    safe = escape(text)
    return arg if safe == text else safe


_FILTER = SecretFilter()


#: The loggers link-sync logs to; a module's own logger comes from `logger()`.
OWN_LOGGERS = ("link_sync", "link_sync.http", "link_sync.watch", "link_sync.web")


def logger(name: str) -> logging.Logger:
    """The logger `name` (one of link-sync's), masking registered secrets.

    A logger's filters see only the records logged on it, not its children's,
    so each of link-sync's loggers gets the filter itself.
    """
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log


for _name in OWN_LOGGERS:
    logger(_name)


def install(handlers: Iterable[logging.Handler]) -> None:
    """Add the filter to `handlers`, once each (for the CLI's own handlers)."""
    for handler in handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
