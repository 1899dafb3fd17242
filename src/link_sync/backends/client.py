"""One printer's HTTP client: aiohttp with the printer's waits, TLS and auth, no proxy,
and the ONE place where transport failures become `link_sync.errors` exceptions.

Every request reads its whole answer into a `Response` before it returns (answers
are small JSON documents), at most its cap (`limits`); downloads stream into a file
instead (`download_to`). Upload bodies stream from disk with a known length. No
redirect is followed: every request stays on the printer's configured address.
The waits aiohttp does not keep (a whole answer's deadline, an upload that waits
as long as the printer takes its body in) are `deadline.py`'s.

Why aiohttp: per request it costs about a third of the CPU httpx did
(`bench/request_bench.py`), which is what bounds a farm already in sync and
`watch` polling hundreds of printers.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import ssl
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from link_sync import __version__, errors, redact
from link_sync.backends import limits, tls
from link_sync.backends.deadline import WIRE_TRACE, Deadline, UploadPayload, WatchedBody

if TYPE_CHECKING:
    from link_sync.backends.base import ProgressCallback
    from link_sync.config import PrinterConfig

log = logging.getLogger("link_sync.http")

CHUNK_SIZE = 64 * 1024
USER_AGENT = f"link-sync/{__version__}"
#: How long an idle connection is kept for the next request. Longer than `watch`'s
#: default poll interval (5 s), so a poll reuses its connection instead of opening
#: a new one each time (2/3 of a poll's CPU).
KEEPALIVE_SECONDS = 60.0
#: Buddy firmware serves at most 3 connections at once; two leave one for the
#: printer's own web page or another tool.
MAX_CONNECTIONS = 2

#: aiohttp rounds waits of 5 s and more up to the next whole second; ours are exact.
_NEVER_ROUND = 1e9

Middleware = Callable[[aiohttp.ClientRequest, Any], Awaitable[aiohttp.ClientResponse]]


class Waits:
    """How long a printer may stay silent, from its config.

    Until a printer has answered once, every wait (TCP connect, then the first
    answer) is `first_contact`: `connect_timeout`, or `timeout` if that is shorter.
    From its first answer on, a request fails when no byte has moved for
    `inactivity` (`timeout`) while sending or receiving: a slow link keeps going, a
    hung one does not. An upload's answer is awaited by `Deadline`, not aiohttp
    (`upload`): the printer may still be taking the body in.
    """

    def __init__(self, printer: PrinterConfig) -> None:
        self.inactivity = float(printer.timeout)
        self.first_contact = min(float(printer.connect_timeout), self.inactivity)
        self.before_first_answer = self._timeout(self.first_contact)
        self.after_first_answer = self._timeout(self.inactivity)
        self.upload = self._timeout(None)

    def _timeout(self, read: float | None) -> aiohttp.ClientTimeout:
        # No total: a 2 GB upload at 25 KB/s takes a day and is fine while bytes move.
        # No pool wait either: a request waits its turn for one of the connections.
        return aiohttp.ClientTimeout(
            total=None,
            connect=None,
            sock_connect=self.first_contact,
            sock_read=read,
            ceil_threshold=_NEVER_ROUND,
        )


class Response:
    """A printer's whole answer: status, headers and body."""

    __slots__ = ("content", "headers", "method", "reason_phrase", "status_code", "url")

    def __init__(
        self,
        status_code: int,
        reason_phrase: str,
        headers: CIMultiDictProxy[str],
        content: bytes,
        method: str = "GET",
        url: str = "",
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.content = content
        self.method = method
        self.url = url

    def json(self) -> Any:
        """The body as JSON; `ValueError` if it is not (`JsonTooDeep` if it nests
        deeper than the parser can follow)."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise JsonTooDeep("nested too deeply") from None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class JsonTooDeep(ValueError):
    """An answer nested deeper than the JSON parser can follow."""


class PrinterClient:
    """The HTTP client of one printer: at most `MAX_CONNECTIONS`, kept alive, the
    printer's TLS settings, `auth` (a middleware) or an API key header, and the
    waits of `Waits`; `-v` logs which wait it is in."""

    def __init__(
        self,
        printer: PrinterConfig,
        *,
        auth: Middleware | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        redact.register(printer.password, printer.api_key)
        self.printer_name = printer.name
        self.waits = Waits(printer)
        self.auth = auth
        #: the printer has sent an answer (a status line) on this client
        self.answered = False
        self._base = printer.base_url.rstrip("/")
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._tls = tls.tls_settings(printer)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open_session(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp wants a running event loop for it."""
        if self._closed:
            raise RuntimeError(f"{self.printer_name}: the printer's client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS,
                keepalive_timeout=KEEPALIVE_SECONDS,
                # Raises tls.TlsSetupError for a `ca_file:` that cannot be loaded.
                ssl=tls.connector_ssl(self._tls),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                middlewares=(self.auth,) if self.auth is not None else (),
                cookie_jar=aiohttp.DummyCookieJar(),  # an API client, not a browser
                trust_env=False,  # never send printer traffic through a proxy from the env
                trace_configs=[WIRE_TRACE],
            )
        return self._session

    def _timeout(self) -> aiohttp.ClientTimeout:
        if self.answered:
            return self.waits.after_first_answer
        log.debug(
            "%s: waiting at most %g s to connect and for a first answer (connect_timeout)",
            self.printer_name,
            self.waits.first_contact,
        )
        return self.waits.before_first_answer

    def _url(self, path: str, params: Mapping[str, str] | None) -> URL:
        # Paths arrive percent-encoded (`urls.quote_path`); sent exactly as they are.
        url = URL(self._base + path, encoded=True)
        return url.extend_query(params) if params else url

    def _note_answer(self, method: str, url: URL, status: int) -> None:
        if not self.answered:
            self.answered = True
            log.debug(
                "%s: answered; from now on a request fails after %g s without a byte "
                "moving (timeout)",
                self.printer_name,
                self.waits.inactivity,
            )
        # Method, URL and status only: headers carry credentials and are never logged.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d", method, url, status)

    async def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int = limits.SMALL_ANSWER,
    ) -> Response:
        """Send one request and read its whole answer, at most `limit` bytes of it.
        `what` names the action in messages ("read status"); a transport failure
        raises the `PrinterError` it means, as does a redirect or an answer too big.

        A request without a streamed body must be answered whole within the
        printer's `timeout` (plus a second per `limits.ANSWER_RATE` bytes of
        answer); an upload waits as long as bytes keep moving, its answer included
        (`WatchedBody`)."""
        url = self._url(path, params)
        timeout = self._timeout()
        body: WatchedBody | None = None
        data: bytes | AsyncIterable[bytes] | UploadPayload | None = content
        streamed = content is not None and not isinstance(content, bytes)
        total = None if streamed else self.waits.inactivity
        with _translate_errors(what, self, timeout, total) as deadline:
            session = self._open_session()
            if content is not None and not isinstance(content, bytes):
                body = WatchedBody(content, deadline, self.waits.inactivity, timeout.sock_read)
                data = UploadPayload(body)
                timeout = self.waits.upload
            try:
                async with (
                    deadline.scope(),
                    session.request(
                        method,
                        url,
                        data=data,
                        headers=headers,
                        timeout=timeout,
                        allow_redirects=False,
                        trace_request_ctx=deadline,
                    ) as answer,
                ):
                    deadline.answering()
                    if body is not None:
                        body.answered()
                    self._note_answer(method, url, answer.status)
                    _refuse_redirect(answer, what)
                    payload = await _read_capped(answer, limit, what, deadline)
            except BaseException:
                if body is not None and body.local_error is not None:
                    # The master file, not the printer: the caller reports it as such.
                    raise body.local_error from None
                raise
            finally:
                deadline.stop_watching()
        return Response(answer.status, answer.reason or "", answer.headers, payload, method, path)

    async def download_to(
        self,
        path: str,
        what: str,
        target: BinaryIO,
        progress: ProgressCallback | None = None,
        limit: int | None = None,
    ) -> tuple[Response, int]:
        """GET `path` into `target` chunk by chunk: (the answer, bytes written). A failed
        answer's body is read into the `Response` and nothing is written. More than
        `limit` bytes (None: no limit) is a `ProtocolError`: the download is cut there."""
        url = self._url(path, None)
        timeout = self._timeout()
        written = 0
        with _translate_errors(what, self, timeout):
            session = self._open_session()
            async with session.get(url, timeout=timeout, allow_redirects=False) as answer:
                self._note_answer("GET", url, answer.status)
                _refuse_redirect(answer, what)
                if answer.status >= 400:
                    payload = await _read_capped(answer, limits.SMALL_ANSWER, what, None)
                else:
                    payload = b""
                    async for chunk in answer.content.iter_chunked(CHUNK_SIZE):
                        written += len(chunk)
                        if limit is not None and written > limit:
                            answer.close()
                            raise errors.ProtocolError(
                                f"{what}: the printer sent more than the {limit:,} bytes "
                                "expected; cut there"
                            )
                        target.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
        response = Response(
            answer.status, answer.reason or "", answer.headers, payload, "GET", path
        )
        return response, written

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_capped(
    answer: aiohttp.ClientResponse, cap: int, what: str, deadline: Deadline | None
) -> bytes:
    """The answer's body chunk by chunk; `ProtocolError` past `cap` bytes (decoded:
    a compressed answer counts as it unpacks)."""
    declared = answer.content_length if answer.method != "HEAD" else None
    if declared is not None and declared > cap:
        answer.close()
        raise limits.too_large(what, cap)
    payload = bytearray()
    while chunk := await answer.content.readany():
        payload += chunk
        if len(payload) > cap:
            answer.close()
            raise limits.too_large(what, cap)
        if deadline is not None:
            deadline.received(len(payload))
    return bytes(payload)


def _refuse_redirect(answer: aiohttp.ClientResponse, what: str) -> None:
    """A redirect is an error: following it would send the request (and the
    printer's credentials) wherever the printer says. (304 Not Modified is none.)"""
    if 300 <= answer.status < 400 and answer.status != 304:
        location = _shown_location(answer.headers.get("Location"))
        answer.close()
        raise errors.ProtocolError(
            f"{what}: the printer answered a redirect (HTTP {answer.status}) to {location}; "
            "link-sync follows none"
        )


def _shown_location(value: str | None) -> str:
    """A redirect's target as it may be shown: no credentials, no query, cut short."""
    if not value:
        return "nowhere"
    try:
        url = URL(value)
        if url.user is not None or url.password is not None:
            url = url.with_user(None)
        shown = str(url.with_query(None).with_fragment(None))
    except ValueError:
        return "an address link-sync cannot read"
    shown = redact.redact(shown)
    return shown if len(shown) <= 200 else shown[:200] + "..."


class _translate_errors:
    """Map aiohttp's failures to the error tree, once.

    A wait that ends without a byte (`NoAnswer`) is a hung or absent printer and is
    not retried; a connection that breaks (`Unreachable`) is, as is a refused one:
    a printer rebooting or at its connection limit refuses for a moment.
    """

    def __init__(
        self,
        what: str,
        client: PrinterClient,
        timeout: aiohttp.ClientTimeout,
        total: float | None = None,
    ) -> None:
        self.what = what
        self.client = client
        self.timeout = timeout
        self.deadline = Deadline(total)

    def __enter__(self) -> Deadline:
        return self.deadline

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, errors.PrinterError):
            return
        ours = isinstance(exc, TimeoutError) and self.deadline.fired()  # an OSError too
        if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError) and not ours:
            return  # a local file error (see WatchedBody), passed on as it is
        error = _error_for(exc, self.what, self.client, self.timeout, self.deadline)
        if error is not None:
            raise error from exc


def _error_for(
    exc: Exception,
    what: str,
    client: PrinterClient,
    timeout: aiohttp.ClientTimeout,
    deadline: Deadline,
) -> errors.PrinterError | None:
    """The error `exc` means, or None for one that is not the printer's (a bug)."""
    if isinstance(exc, tls.TlsSetupError):
        return errors.AuthFailed(f"{what}: {exc}")
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        # Not retryable and not "unreachable": the printer answered, but is not the
        # one we trust, so no credentials were (or will be) sent to it.
        return errors.AuthFailed(
            f"{what}: TLS certificate does not match the configured fingerprint "
            f"(the printer presented sha256 {exc.got.hex() or 'nothing'}); "
            "nothing was sent to it"
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        detail = getattr(cause, "verify_message", None) or "verification failed"
        return errors.AuthFailed(
            f"{what}: TLS certificate not trusted: {detail} ({tls.NOT_TRUSTED_HINT})"
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return errors.NoAnswer(f"{what}: no answer in {_seconds(timeout.sock_connect)}")
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return errors.NoAnswer(f"{what}: no answer in {_seconds(timeout.sock_read)}")
    if isinstance(exc, TimeoutError) and deadline.trickled():
        return errors.NoAnswer(
            f"{what}: the answer was not in whole after {_seconds(deadline.total)} "
            "(the printer sends too slowly)"
        )
    if isinstance(exc, TimeoutError):
        wait = (deadline.wait or client.waits.inactivity) if deadline.fired() else timeout.sock_read
        return errors.NoAnswer(f"{what}: no answer in {_seconds(wait)}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno if exc.os_error is not None else None
        if code == errno.ECONNREFUSED:
            return errors.Unreachable(f"{what}: connection refused")
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return errors.NoAnswer(f"{what}: no route to host")
        return errors.Unreachable(f"{what}: connection failed ({_reason(exc.os_error or exc)})")
    if isinstance(exc, aiohttp.ClientError | ssl.SSLError | ConnectionError):
        return errors.Unreachable(f"{what}: connection failed ({_reason(exc)})")
    if isinstance(exc, ValueError):  # a URL aiohttp cannot send
        return errors.ProtocolError(f"{what}: {_reason(exc)}")
    return None


def _seconds(value: float | None) -> str:
    return f"{value:g} s" if value is not None and math.isfinite(value) else "time"


def _reason(exc: BaseException) -> str:
    return redact.redact(str(exc)) or type(exc).__name__
