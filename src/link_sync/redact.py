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

import logging
import threading
from collections.abc import Iterable

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


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret (registered ones by default) replaced by `***`."""
    if secrets is None:
        with _lock:
            secrets = list(_secrets)
    # Longest first: a secret that contains another one is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Rewrites records so that no registered secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
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
