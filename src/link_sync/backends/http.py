"""The HTTP base every backend builds on: one client per printer (auth, timeouts, TLS,
no proxy), streaming bodies, and the ONE place where transport errors and HTTP
statuses become `link_sync.errors` exceptions (`HttpBackend.request`).

A backend adds only what its API says differently: `classify` for the wording of
its error answers, `name_rules` for the names its storage refuses, and the calls.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from link_sync import __version__, errors, redact
from link_sync.backends import names, tls
from link_sync.backends.base import Capabilities, ProgressCallback

if TYPE_CHECKING:
    from link_sync.config import PrinterConfig

log = logging.getLogger("link_sync.http")

CHUNK_SIZE = 64 * 1024
USER_AGENT = f"link-sync/{__version__}"
#: How long an idle connection is kept for the next request. httpx's default (5 s)
#: equals `watch`'s default poll interval, so every state poll opened a new TCP
#: connection (2/3 of a poll's CPU). A connection the printer closed meanwhile is
#: noticed (readable at EOF) and replaced by httpcore before it is reused.
KEEPALIVE_SECONDS = 60.0
#: The first-contact wait when a printer's config has no `connect_timeout`.
DEFAULT_CONNECT_TIMEOUT = 10.0


class Waits:
    """How long a printer may stay silent, from its config.

    Until a printer has answered once, every wait (TCP connect, then the first
    answer) is `first_contact`: `connect_timeout`, or `timeout` if that is shorter.
    From its first answer on, a request fails when no byte has moved for
    `inactivity` (`timeout`) while sending or receiving: a slow link keeps going, a
    hung one does not.
    """

    def __init__(self, printer: PrinterConfig) -> None:
        connect = getattr(printer, "connect_timeout", None) or DEFAULT_CONNECT_TIMEOUT
        self.inactivity = float(printer.timeout)
        self.first_contact = min(float(connect), self.inactivity)

    @property
    def before_first_answer(self) -> httpx.Timeout:
        return httpx.Timeout(self.first_contact, pool=None)

    @property
    def after_first_answer(self) -> httpx.Timeout:
        wait = self.inactivity
        return httpx.Timeout(connect=self.first_contact, read=wait, write=wait, pool=None)


class PrinterClient(httpx.AsyncClient):
    """An httpx client that waits `Waits.first_contact` until the printer has answered
    once, and `Waits.inactivity` from then on; `-v` logs which wait it is in."""

    def __init__(self, printer_name: str, waits: Waits, **kwargs: Any) -> None:
        super().__init__(timeout=waits.after_first_answer, **kwargs)
        self.printer_name = printer_name
        self.waits = waits
        #: the printer has sent an answer (a status line) on this client
        self.answered = False

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if not self.answered:
            # Only requests that use the client's default waits: a caller's own stays.
            if request.extensions.get("timeout") == self.timeout.as_dict():
                request.extensions["timeout"] = self.waits.before_first_answer.as_dict()
            log.debug(
                "%s: waiting at most %g s to connect and for a first answer (connect_timeout)",
                self.printer_name,
                self.waits.first_contact,
            )
        response = await super().send(request, **kwargs)
        if not self.answered:
            self.answered = True
            log.debug(
                "%s: answered; from now on a request fails after %g s without a byte "
                "moving (timeout)",
                self.printer_name,
                self.waits.inactivity,
            )
        return response


def make_client(
    printer: PrinterConfig,
    *,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
) -> PrinterClient:
    """A client for one printer: bounded connections, first-contact and inactivity waits.

    Buddy firmware serves at most 3 connections at once; two leave one for the
    printer's own web page or another tool.
    """
    redact.register(printer.password, printer.api_key)
    limits = httpx.Limits(
        max_connections=2, max_keepalive_connections=2, keepalive_expiry=KEEPALIVE_SECONDS
    )
    return PrinterClient(
        printer.name,
        Waits(printer),
        base_url=printer.base_url,
        auth=auth,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        # Certificate checks, `ca_file:` and `fingerprint:` pins live in the transport.
        transport=tls.PrinterTransport(tls.tls_settings(printer), limits),
        event_hooks={"response": [_log_response]},
        trust_env=False,  # never send printer traffic through a proxy from the environment
    )


async def _log_response(response: httpx.Response) -> None:
    # Method, URL and status only: headers carry credentials and are never logged.
    if log.isEnabledFor(logging.DEBUG):
        request = response.request
        log.debug("%s %s -> %d", request.method, request.url, response.status_code)


def api_key_header(printer: PrinterConfig) -> dict[str, str]:
    """The X-Api-Key header OctoPrint, Moonraker and PrusaLink take, if a key is set."""
    return {"X-Api-Key": printer.api_key} if printer.api_key else {}


class HttpBackend:
    """What every backend shares: the client, the error tree, JSON, names, folders.

    Subclasses set `capabilities` and `name_rules` (class attributes: known before
    any call) and override `classify` for the wording of their API's errors.
    """

    capabilities: Capabilities
    name_rules: names.NameRules

    def __init__(
        self,
        printer: PrinterConfig,
        *,
        auth: httpx.Auth | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = printer.name
        self.printer = printer
        self._client = client or make_client(printer, auth=auth, headers=api_key_header(printer))

    @classmethod
    async def open(cls, printer: PrinterConfig) -> HttpBackend:
        """The backend for `printer`; PrusaLink's asks the printer which one it needs."""
        return cls(printer)

    # -- the one place answers become errors -------------------------------

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        accept: Collection[int] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; a failed answer raises, unless its status is in `accept`.

        `what` names the action in messages ("read status", "upload a.gcode").
        """
        with translate_transport_errors(what):
            response = await self._client.request(method, url, **kwargs)
        if response.status_code not in accept:
            self.check(response, what)
        return response

    def check(self, response: httpx.Response, what: str) -> None:
        """Raise the `PrinterError` for a failed answer (status 400 and up)."""
        if response.status_code < 400:
            return
        raise self.classify(response, what) or status_error(response, what)

    def classify(self, response: httpx.Response, what: str) -> errors.PrinterError | None:
        """The error this API means by a failed answer, where its wording says more
        than the status; None for the generic meaning (`status_error`)."""
        return None

    async def get_json(self, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """GET a JSON object."""
        response = await self.request("GET", url, what, **kwargs)
        return as_object(parse_json(response, what), what)

    async def stream_to(
        self, url: str, target: BinaryIO, what: str, progress: ProgressCallback | None = None
    ) -> int:
        """GET `url` and write the body into `target` chunk by chunk; return the byte count."""
        written = 0
        with translate_transport_errors(what):
            async with self._client.stream("GET", url) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self.check(response, what)
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    target.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
        return written

    async def post_file(
        self,
        url: str,
        path: str,
        fields: dict[str, str],
        source: Path,
        size: int,
        progress: ProgressCallback | None,
        *,
        sha256_field: str | None = None,
    ) -> object:
        """POST `source` as the form's `file` (named as `path`'s last part) after
        `fields`, streamed from disk; the JSON answer (OctoPrint, Moonraker)."""
        from link_sync.backends.multipart import MultipartFile

        name = path.strip("/").rpartition("/")[2]
        body = MultipartFile(
            fields, "file", name, source, size, progress, sha256_field=sha256_field
        )
        what = f"upload {path}"
        response = await self.request("POST", url, what, content=body.body(), headers=body.headers)
        return parse_json(response, what)

    # -- shared behaviour ---------------------------------------------------

    def check_name(self, path: str) -> str | None:
        """Why `path` cannot be stored on this printer, or None if it can."""
        return names.check(self.name_rules, path)

    async def make_folder_with_parents(
        self,
        path: str,
        create: Callable[[str], Awaitable[httpx.Response]],
        parent_missing: Callable[[httpx.Response], bool],
    ) -> httpx.Response:
        """`create(path)`; if the printer answers that the parent is missing, create
        the parents (through `self.mkdir`) and ask once more.

        For APIs that make one level at a time (OctoPrint, Moonraker).
        """
        response = await create(path)
        parent = path.strip("/").rpartition("/")[0]
        if parent and parent_missing(response):
            await self.mkdir(parent)
            response = await create(path)
        return response

    async def mkdir(self, path: str) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self._client.aclose()


async def file_body(
    source: Path, size: int, progress: ProgressCallback | None = None
) -> AsyncIterator[bytes]:
    """Stream `source` in chunks, never more than `size` bytes, reporting progress.

    Raises `OSError` if the file shrank meanwhile, so a changed file is never
    sent short under a promised Content-Length.
    """
    sent = 0
    with source.open("rb") as handle:
        while sent < size:
            chunk = handle.read(min(CHUNK_SIZE, size - sent))
            if not chunk:
                raise OSError(f"{source} shrank while it was being uploaded")
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(len(chunk))


def error_message(response: httpx.Response) -> str:
    """The human part of a printer's error body (Buddy text, Buddy/Pi JSON, HTML),
    with any registered secret masked: a printer that echoes our credentials back
    (a misbehaving proxy, a hostile device) must not make us print them."""
    return redact.redact(_error_text(response))


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    text = response.text.strip()
    if text.startswith("<"):
        return response.reason_phrase or f"HTTP {response.status_code}"
    # Buddy: "409: Conflict\n\nFile already exists\n" -> the second non-empty line;
    # Pi: "Conflict\nAnother transfer in progress\n\n\nSee: <help url>" -> the same.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    heading = lines[0] if lines else ""
    if len(lines) > 1 and (
        heading.startswith(str(response.status_code)) or heading == response.reason_phrase
    ):
        return lines[1]
    return lines[0][:200] if lines else (response.reason_phrase or f"HTTP {response.status_code}")


#: The generic meaning of a failed status; anything else 4xx is `Refused`.
_BY_STATUS: dict[int, type[errors.PrinterError]] = {
    404: errors.NotFound,
    408: errors.RequestTimeout,
    507: errors.StorageFull,
}


def status_error(response: httpx.Response, what: str) -> errors.PrinterError:
    """The error a failed status means when the API's wording says nothing more."""
    status = response.status_code
    detail = error_message(response)
    if status in (401, 403):
        return errors.AuthFailed(
            f"{what}: HTTP {status}, wrong password or API key ({detail})", status=status
        )
    exc = _BY_STATUS.get(status) or (errors.ServerError if status >= 500 else errors.Refused)
    return exc(f"{what}: HTTP {status} {detail}", status=status)


@contextlib.contextmanager
def translate_transport_errors(what: str) -> Iterator[None]:
    """Map httpx's transport exceptions to the error tree, once.

    A wait that ends without a byte (`NoAnswer`) is a hung or absent printer and is
    not retried; a connection that breaks (`Unreachable`) is, as is a refused one:
    a printer rebooting or at its connection limit refuses for a moment.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise errors.NoAnswer(f"{what}: no answer in {_wait_of(exc)}") from exc
    except httpx.StreamConsumed as exc:
        # The printer asked to authenticate again mid-upload; the body cannot be replayed.
        raise errors.ServerError(f"{what}: authentication renewed during upload") from exc
    except httpx.ConnectError as exc:
        trust_problem = _tls_trust_problem(exc)
        if trust_problem is not None:
            # Not retryable and not "unreachable": the printer answered, but is not
            # the one we trust, so no credentials were (or will be) sent to it.
            raise errors.AuthFailed(f"{what}: {trust_problem}") from exc
        code = _errno(exc)
        if code == errno.ECONNREFUSED:
            raise errors.Unreachable(f"{what}: connection refused") from exc
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise errors.NoAnswer(f"{what}: no route to host") from exc
        raise errors.Unreachable(f"{what}: connection failed ({_reason(exc)})") from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise errors.Unreachable(f"{what}: connection failed ({_reason(exc)})") from exc


def _wait_of(exc: httpx.TimeoutException) -> str:
    """'10 s', the wait that ran out, from the request's own timeouts."""
    phase = {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(exc), "read")
    try:
        seconds = exc.request.extensions.get("timeout", {}).get(phase)
    except RuntimeError:  # no request attached
        seconds = None
    return f"{seconds:g} s" if isinstance(seconds, int | float) else "time"


def _errno(exc: BaseException) -> int | None:
    """The errno of the OS error behind a connection failure, if there is one."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause.errno
        cause = cause.__cause__ or cause.__context__
    return None


NOT_TRUSTED_HINT = "use ca_file: or fingerprint: in the config"


def _tls_trust_problem(exc: BaseException) -> str | None:
    """One clear sentence if `exc` comes from a certificate that is not trusted."""
    if isinstance(exc, tls.TlsSetupError):
        return str(exc)
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, tls.CertificateMismatch):
            return (
                f"TLS certificate does not match the configured fingerprint "
                f"(the printer presented sha256 {cause.presented or 'nothing'}); "
                "nothing was sent to it"
            )
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or "verification failed"
            return f"TLS certificate not trusted: {detail} ({NOT_TRUSTED_HINT})"
        cause = cause.__cause__ or cause.__context__
    return None


def _reason(exc: BaseException) -> str:
    return redact.redact(str(exc)) or type(exc).__name__


def parse_json(response: httpx.Response, what: str) -> object:
    """The JSON body, or `ProtocolError` naming the action."""
    try:
        return response.json()
    except ValueError as exc:
        raise errors.ProtocolError(f"{what}: the printer's answer is not JSON") from exc


def as_object(value: object, what: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else `ProtocolError` naming the action."""
    if not isinstance(value, dict):
        raise errors.ProtocolError(f"{what}: unexpected answer (not a JSON object)")
    return value


def first_str(data: dict[str, Any], *keys: str) -> str | None:
    """The first of `keys` whose value is a non-empty text."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
