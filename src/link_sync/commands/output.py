"""What the commands share around their output: the debug log, whether to draw on
the terminal, and the `link-sync: ...` lines on stderr."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click


def error(message: str) -> None:
    """One line on stderr: `link-sync: <message>`."""
    click.echo(f"link-sync: {message}", err=True)


def setup_logging(verbose: bool) -> None:
    if verbose:
        import logging

        from link_sync import redact

        logging.basicConfig(
            level=logging.DEBUG,
            format="%(asctime)s %(name)s %(message)s",
            stream=sys.stderr,
        )
        # Every secret a backend learns is masked in every log line from the first one
        # on, also in other libraries' records (link-sync's own loggers mask by themselves).
        redact.install(logging.getLogger().handlers)


def use_terminal_ui(as_json: bool, quiet: bool) -> bool:
    return (
        not as_json
        and not quiet
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM") != "dumb"
    )


@dataclass(frozen=True, slots=True)
class Output:
    """--json, -q, -v as given: how a command shows what it does."""

    as_json: bool = False
    quiet: bool = False
    verbose: bool = False

    @property
    def terminal(self) -> bool:
        """Draw live tables (a terminal that wants colour, neither --json nor -q)."""
        return use_terminal_ui(self.as_json, self.quiet)
