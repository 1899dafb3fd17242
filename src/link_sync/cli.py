"""Command line: the commands, their options and help, and how errors end a command.

Each command parses its options and hands them to its module in `commands/`
(sync and plan, status, demo, init, pull; `watch/cli.py`, `emulator/cli.py`),
which loads the config, calls the core, renders the result as a live table,
plain lines or JSON, and exits with the contract's code. `reports_errors` turns
link-sync's errors into one line and the exit code; signal handlers are installed
here and nowhere else; how the console script tunes its own process is
`_process`.
"""

from __future__ import annotations

import functools
import importlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

# Only what parsing the command line needs is imported here: `--version`, `--help`
# and a mistyped option answer at Python's own start-up speed. Each command imports
# the engine (asyncio, pydantic, aiohttp, rich) when it runs;
# tests/test_cli_startup.py guards that.
from link_sync import __version__, legacy_cli
from link_sync._process import engine_ready, hold_collection, resume_collection
from link_sync.commands import output as _output
from link_sync.commands.init import printer_type_lines
from link_sync.commands.output import error, setup_logging
from link_sync.errors import LinkSyncError, SafetyRefusal, UsageError

if TYPE_CHECKING:
    from link_sync.commands.output import Output
    from link_sync.commands.selection import Selection

F = TypeVar("F", bound=Callable[..., Any])


class LazyGroup(click.Group):
    """A group whose heavy subcommands are imported only when used: `emulate` pulls in
    the aiohttp server and `watch` the filesystem watcher, which no other command needs
    at start-up. `--help` lists them by the one line kept here (a test checks it is
    the command's own first line)."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "emulate": (
            "link_sync.emulator.cli:emulate_command",
            "Serve emulated PrusaLink printers on 127.0.0.1 until SIGINT/SIGTERM.",
        ),
        "watch": (
            "link_sync.watch.cli:watch_command",
            "Stay running: sync each printer as soon as it is idle and out of date.",
        ),
    }
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The original link-sync 0.2.5 had no commands; its cron lines still work.
        if legacy_cli.is_legacy(args):
            try:
                translation = legacy_cli.translate(args)
            except UsageError as exc:
                raise click.UsageError(str(exc), ctx) from None
            if not translation.quiet:
                error(translation.hint)
            args = translation.args
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            target, summary = self.lazy[cmd_name]
            if self._listing:
                return click.Command(cmd_name, help=summary)
            module_name, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nPrinter types (a printer's `type:` in the config):\n"
    + printer_type_lines("  ").rstrip("\n"),
)
@click.version_option(__version__, "-V", "--version", prog_name="link-sync")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Keep every printer of a 3D-print farm in line with one master folder of G-code.

    \b
    Examples:
      link-sync demo                 try it on an emulated farm
      link-sync init                 write a commented link-sync.yml
      link-sync plan                 show what a sync would do
      link-sync sync                 do it, on every idle printer at once
      link-sync sync -p mk4-01 -q    one printer, errors only (for cron)
    """
    if ctx.invoked_subcommand not in _RESUME_GC_THEMSELVES:
        resume_collection()


#: Commands that call `engine_ready` once their engine is loaded.
_RESUME_GC_THEMSELVES = frozenset({"sync", "plan", "status", "pull"})


def run() -> None:
    """The `link-sync` console script and `python -m link_sync`: `main`, in a process
    that is the command line's own to tune (`_process`: collection held off while
    the command starts)."""
    hold_collection()
    main(prog_name="link-sync")


def discover_options(func: F) -> F:
    """--timeout and --interface, of `discover` and `init --discover`."""
    func = click.option(
        "--interface",
        metavar="ADDR",
        default=None,
        help="The address of this machine to listen on (default: every interface).",
    )(func)
    return click.option(
        "--timeout",
        type=click.FloatRange(0.1, 600),
        default=3.0,
        show_default=True,
        help="Seconds to listen for printers.",
    )(func)


def selection_options(func: F) -> F:
    """-c, -s, -p, -x, --json, -q, -v: shared by sync, plan, status and pull."""
    decorators = [
        click.option(
            "-c",
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Config file (default: $LINK_SYNC_CONFIG, else link-sync.yml and friends here).",
        ),
        click.option(
            "-s",
            "--source",
            callback=_folder_argument,
            help="The master folder (overrides the config's 'source').",
        ),
        click.option(
            "-p", "--printer", "include", multiple=True, metavar="NAME", help="Only this printer."
        ),
        click.option(
            "-x", "--exclude", multiple=True, metavar="NAME", help="All printers but this one."
        ),
        click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout."),
        click.option("-q", "--quiet", is_flag=True, help="Print errors only."),
        click.option(
            "-v", "--verbose", is_flag=True, help="Debug log with HTTP trace (no secrets)."
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def bundled(func: F) -> F:
    """Hands the command the options of `selection_options` as two values:
    `selection` (-c, -s, -p, -x, and --destination where the command has it) and
    `output` (--json, -q, -v); where the command has `sync_options`, those as
    `run` (the engine's `SyncOptions`); and for `watch`, the selection, `run` and
    the watch's own options as one `request` (a `WatchRequest`)."""

    @functools.wraps(func)
    def wrapper(**options: Any) -> Any:
        from link_sync.commands.output import Output
        from link_sync.commands.selection import Selection

        selection = Selection(
            options.pop("config"),
            options.pop("source"),
            options.pop("include"),
            options.pop("exclude"),
            options.pop("destination", None),
        )
        output = Output(options.pop("as_json"), options.pop("quiet"), options.pop("verbose"))
        if "include_busy" in options:
            from link_sync.engine.options import SyncOptions

            options["run"] = SyncOptions(
                include_busy=options.pop("include_busy"),
                delete=not options.pop("no_delete"),
                max_delete=options.pop("max_delete"),
                allow_empty=options.pop("allow_empty"),
                parallel=options.pop("jobs"),
            )
        if "settle" in options:
            from link_sync.watch.run import WatchRequest

            options["request"] = WatchRequest(
                selection=selection,
                sync=options.pop("run"),
                settle=options.pop("settle"),
                poll_interval=options.pop("poll_interval"),
                poll=options.pop("poll"),
                http=options.pop("http"),
            )
            return func(output=output, **options)
        return func(selection=selection, output=output, **options)

    return wrapper  # type: ignore[return-value]


def _folder_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    # Taken as text: click.Path would turn "" into "." and sync the working folder.
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("needs a folder, not an empty string")
    return Path(value)


#: The signal that stopped this run (SIGTERM takes Ctrl-C's path, see below).
_stopped_by = [signal.SIGINT]


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (systemd stop, `kill`) stops the run exactly as Ctrl-C does.

    Python's default for SIGTERM is to die on the spot; as SIGINT, asyncio cancels
    the run: uploads in flight are abandoned (the printer drops the partial file),
    the journal and the lock are closed, and the exit code says which signal it was.
    """
    _stopped_by[0] = signal.Signals(signum)
    signal.raise_signal(signal.SIGINT)


def reports_errors(func: F) -> F:
    """Turn link-sync's errors into one line on stderr and the contract's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from link_sync.result import EXIT_FAILED, EXIT_SAFETY, EXIT_USAGE

        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
        try:
            return func(*args, **kwargs)
        except SafetyRefusal as exc:
            error(f"refused: {exc}")
            sys.exit(EXIT_SAFETY)
        except UsageError as exc:
            error(str(exc))
            sys.exit(EXIT_USAGE)
        except LinkSyncError as exc:
            error(str(exc))
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            by = "" if _stopped_by[0] == signal.SIGINT else f" by {_stopped_by[0].name}"
            error(f"interrupted{by}; printers keep what was completely uploaded")
            sys.exit(128 + _stopped_by[0])

    return wrapper  # type: ignore[return-value]


def sync_options(func: F) -> F:
    """The options `sync` and `plan` share (a plan is a sync that changes nothing)."""
    decorators = [
        click.option(
            "--destination",
            metavar="PATH",
            help="The folder on every printer that link-sync manages (the config's 'destination').",
        ),
        click.option(
            "--include-busy",
            is_flag=True,
            help="Also printers that are printing (the file in use is never touched).",
        ),
        click.option("--no-delete", is_flag=True, help="Never delete files on printers."),
        click.option(
            "--max-delete",
            type=click.IntRange(min=0),
            metavar="N",
            help="Refuse a printer with more than N deletes.",
        ),
        click.option(
            "--allow-empty", is_flag=True, help="Permit a master folder with no print files."
        ),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            metavar="N",
            help="Printers worked on at once (default: all).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@main.command("sync")
@selection_options
@click.option("-n", "--dry-run", is_flag=True, help="Only show what would be done.")
@sync_options
@reports_errors
@bundled
def sync_command(**options: Any) -> None:
    """Bring every selected printer in line with the master folder.

    Uploads what is missing, replaces what is stale with one overwriting upload,
    and deletes what no longer belongs, after that printer's uploads succeeded.
    Printers that are printing are left alone unless --include-busy.

    \b
    Examples:
      link-sync sync                       all idle printers
      link-sync sync -p mk4-01 -p mk4-02   two printers
      link-sync sync --max-delete 20 -q    for cron: refuse mass deletes, errors only
      link-sync sync --json > run.json     machine-readable record
    """
    from link_sync.commands.sync import run_sync

    run_sync(**options)


@main.command("plan")
@selection_options
@sync_options
@reports_errors
@bundled
def plan_command(**options: Any) -> None:
    """Show, file by file, what `sync` would do. Changes nothing on any printer.

    \b
    Examples:
      link-sync plan
      link-sync plan -p xl-01 --json
    """
    from link_sync.commands.sync import run_sync

    run_sync(dry_run=True, **options)


@main.command("status")
@selection_options
@click.option(
    "--files",
    "by_file",
    is_flag=True,
    help="One row per master file: which printers hold it, wait for it, refuse it "
    "(--json: the /api/files document).",
)
@reports_errors
@bundled
def status_command(selection: Selection, output: Output, by_file: bool) -> None:
    """One row per printer: reachable, model, firmware, state, job, files, in sync.

    Asks every printer at once and changes nothing.

    \b
    Examples:
      link-sync status
      link-sync status --json | jq '.printers[] | select(.in_sync == false) | .name'
      link-sync status --files
    """
    if by_file:
        from link_sync.commands.files_status import run_files_status

        run_files_status(selection, output)
        return
    from link_sync.commands.status import run_status

    run_status(selection, output)


@main.command("pull")
@selection_options
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy into DIR instead of the master folder.",
)
@click.option("-n", "--dry-run", is_flag=True, help="Only list what would be copied.")
@reports_errors
@bundled
def pull_command(selection: Selection, output: Output, into: Path | None, dry_run: bool) -> None:
    """Copy print files that exist only on printers back into the master (or DIR).

    Never overwrites a local file. A file found on several printers is fetched
    once if the copies agree; if they differ, both are kept, the extra one named
    after its printer ("clip (from mk4-02).gcode"). Names that would leave the
    target folder are refused.

    \b
    Examples:
      link-sync pull -n                      what would be copied
      link-sync pull -p mk4-01 --into ~/rescued
    """
    import asyncio

    from link_sync.commands.pull import PullRequest, pull_async
    from link_sync.commands.selection import configured
    from link_sync.report import PlainLog, print_json

    setup_logging(output.verbose)
    config = configured(selection)
    request = PullRequest(config, selection.include, selection.exclude, into, dry_run)
    engine_ready(request.config)
    if output.as_json:
        result = asyncio.run(pull_async(request))
        print_json(result.to_json())
    else:
        log = PlainLog(sys.stdout, quiet=output.quiet, dry_run=dry_run)
        result = asyncio.run(pull_async(request, log))
    sys.exit(result.exit_code)


@main.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the sample master, printers and state (default: a new temp folder).",
)
@reports_errors
def demo_command(workdir: Path | None) -> None:
    """Sync a sample master folder to six emulated printers, live, on 127.0.0.1.

    Nothing outside this machine is contacted. The farm: MK4, MK4S, MK3.9, MINI,
    an XL that is printing (left alone), and an MK3S with the Raspberry-Pi PrusaLink.

    \b
    Example:
      link-sync demo
    """
    from link_sync.commands.demo import run_demo_command

    run_demo_command(workdir)


@main.command("init")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default="link-sync.yml")
@click.option(
    "-s", "--source", default="~/farm/gcodes", show_default=True, help="The master folder."
)
@click.option(
    "-p",
    "--printer",
    "printers",
    multiple=True,
    metavar="NAME=HOST",
    help="A printer to put in the config (repeatable); default: commented examples.",
)
@click.option(
    "--discover",
    is_flag=True,
    help="Put the printers found on the network in the config (added to an existing one).",
)
@discover_options
@reports_errors
def init_command(
    file: Path,
    source: str,
    printers: tuple[str, ...],
    discover: bool,
    timeout: float,
    interface: str | None,
) -> None:
    """Write a commented example config (YAML) explaining every key.

    Refuses to overwrite an existing file; with --discover it adds the printers found
    on the network that the file does not have yet, leaving the rest as it is. The file
    is created readable by you only, since it may hold printer passwords.

    \b
    Examples:
      link-sync init --discover
      link-sync init farm.yml -s /mnt/nas/gcodes -p mk4-01=192.168.1.50 -p xl-01=192.168.1.60
    """
    from link_sync.commands.init import parse_printer_arguments, render_config, write_config

    if discover:
        if printers:
            raise UsageError("--discover and --printer do not go together")
        from link_sync.commands.init_discover_run import run_init_discover

        run_init_discover(file, source, timeout, interface)
        return
    write_config(file, render_config(source, parse_printer_arguments(printers)))
    click.echo(f"wrote {file}; edit it, then check it with: link-sync plan -c {file}")


@main.command("discover")
@discover_options
@click.option(
    "-c",
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="A config whose printers' credentials identify them (default: the usual one).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@reports_errors
def discover_command(
    timeout: float, interface: str | None, config: Path | None, as_json: bool
) -> None:
    """Find printers on the local network by mDNS and say what each is.

    Listens for PrusaLink (Buddy firmware and the Raspberry-Pi PrusaLink), OctoPrint
    and Moonraker announcements. Credentials from the config or the environment
    (FARM_PASSWORD, OCTOPRINT_API_KEY, MOONRAKER_API_KEY) let it ask each printer more.

    \b
    Examples:
      link-sync discover
      link-sync discover --json --timeout 5 --interface 192.168.1.10
    """
    from link_sync.commands.discover import run_discover

    run_discover(timeout, interface, config, as_json)


#: What watch/cli.py takes from here.
_setup_logging = setup_logging
use_terminal_ui = _output.use_terminal_ui
