"""Keep passwords and API keys out of log output, whatever logger a text comes through.

Backends register every secret they are given (`register`); `SecretFilter`, on the
handlers of the root logger, replaces any registered secret in a record's formatted
message, and in its exception text, with `***`. This is the last line of defence:
link-sync's own messages never include secrets in the first place.
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
    """Mask these values in all log output from now on (and install the filter)."""
    fresh = {value for value in values if value and len(value) >= MIN_LENGTH}
    if fresh:
        with _lock:
            _secrets.update(fresh)
    install()


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


def install(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Add the filter to `handlers` (default: the root logger's), once each."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
