"""The exceptions link-sync raises, and what the caller should do about each.

    LinkSyncError                 anything link-sync reports to the user
    ├── UsageError                bad arguments or config (exit 2, nothing contacted)
    │   └── ConfigError           names the file, the printer and the key
    ├── SafetyRefusal             refused to act to protect data (exit 3)
    │   ├── SourceMissing         the master folder is missing, not a folder, or unreadable
    │   └── LockHeld              another run holds the lock
    ├── JournalError              the journal could not be written (disk full, folder gone)
    └── PrinterError              one printer (or one action on it) failed
        ├── Unreachable           could not connect / connection dropped   (retryable)
        │   └── NoAnswer          no byte for a whole wait, or no route to the host:
        │                         a hung or absent printer, not retried in this run
        ├── RequestTimeout        the printer said 408                     (retryable)
        ├── TransferInProgress    409 "Another transfer in progress"      (retryable)
        ├── ServerError           5xx                                      (retryable)
        ├── AuthFailed            wrong password or API key (401/403)
        ├── FileBusy              the file is being printed (409)
        ├── NotFound              404
        ├── Refused               the printer will not take this file (415, 414, bad name)
        ├── StorageFull           507
        └── ProtocolError         an answer link-sync cannot understand

Backends translate HTTP statuses into these once, where responses enter
(`link_sync.backends.http.HttpBackend.request`); the engine only looks at
`retryable` and the class.
"""

from __future__ import annotations


class LinkSyncError(Exception):
    """Base of every error link-sync reports to the user."""


class UsageError(LinkSyncError):
    """Bad command-line arguments or configuration: exit 2, nothing contacted."""


class ConfigError(UsageError):
    """The config file is invalid; the message names the file, printer and key.

    A value the message quotes is cut short (`MAX_QUOTED` characters, then "…"), and
    the whole message too: a 50 MB `model:` makes a one-line error, not a 50 MB one.
    """

    MAX_QUOTED = 80
    MAX_MESSAGE = 1_000

    def __init__(self, message: str) -> None:
        super().__init__(_cut_short(message, self.MAX_QUOTED, self.MAX_MESSAGE))


def _cut_short(message: str, quoted: int, whole: int) -> str:
    """`message` with each quoted value ('…' or "…") and any long unbroken run cut to
    `quoted` characters, and the whole cut to `whole`."""
    import re  # only when a config error is told

    def cut(match: re.Match[str]) -> str:
        text = match.group()
        mark = text[0] if text[0] in "'\"" else ""
        inner = text[len(mark) : len(text) - len(mark)]
        return f"{mark}{inner[:quoted]}…{mark}"

    if len(message) <= quoted:
        return message
    long_run = quoted + 1
    pattern = rf"'[^'\n]{{{long_run},}}'|\"[^\"\n]{{{long_run},}}\"|\S{{{long_run * 2},}}"
    message = re.sub(pattern, cut, message)
    return message if len(message) <= whole else message[:whole] + "…"


class SafetyRefusal(LinkSyncError):
    """link-sync refused to act because acting could lose data: exit 3."""


class SourceMissing(SafetyRefusal):
    """The master folder is missing, not a folder, or cannot be listed."""


class LockHeld(SafetyRefusal):
    """Another link-sync run holds the lock."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        #: who holds it: "link-sync run, pid 123 on farm-pc (started ...)", when known
        self.holder = holder


class JournalError(LinkSyncError):
    """The journal could not be written (disk full, folder removed, ...)."""


class PrinterError(LinkSyncError):
    """Something went wrong talking to one printer."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(PrinterError):
    retryable = True


class NoAnswer(Unreachable):
    """The printer took a connection (or none) and then sent nothing for the whole
    wait: its web server hangs, or it is switched off. Waiting again would cost the
    same wait again, so the run gives up on it (the `watch` service comes back later)."""

    retryable = False


class RequestTimeout(PrinterError):
    retryable = True


class TransferInProgress(PrinterError):
    retryable = True


class ServerError(PrinterError):
    retryable = True


class AuthFailed(PrinterError):
    pass


class FileBusy(PrinterError):
    pass


class NotFound(PrinterError):
    pass


class Refused(PrinterError):
    pass


class StorageFull(PrinterError):
    pass


class ProtocolError(PrinterError):
    pass
