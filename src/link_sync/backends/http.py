"""HTTP plumbing shared by every backend: one client per printer, streaming
upload bodies, and the single place where HTTP statuses and transport errors
become `link_sync.errors` exceptions."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from link_sync import __version__, errors, redact
from link_sync.backends import tls
from link_sync.backends.base import BackendOptions, ProgressCallback

log = logging.getLogger("link_sync.http")

CHUNK_SIZE = 64 * 1024
USER_AGENT = f"link-sync/{__version__}"
#: How long an idle connection is kept for the next request. httpx's default (5 s)
#: equals `watch`'s default poll interval, so every state poll opened a new TCP
#: connection (2/3 of a poll's CPU). A connection the printer closed meanwhile is
#: noticed (readable at EOF) and replaced by httpcore before it is reused.
KEEPALIVE_SECONDS = 60.0


def make_client(options: BackendOptions, *, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    """A client for one printer: bounded connections, connect and inactivity timeouts.

    Buddy firmware serves at most 3 connections at once; two leave one for the
    printer's own web page or another tool.
    """
    redact.register(options.password, options.api_key)
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=None,
    )
    limits = httpx.Limits(
        max_connections=2, max_keepalive_connections=2, keepalive_expiry=KEEPALIVE_SECONDS
    )
    return httpx.AsyncClient(
        base_url=options.base_url,
        auth=auth,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        # Certificate checks, `ca_file:` and `fingerprint:` pins live in the transport.
        transport=tls.PrinterTransport(tls.tls_settings(options), limits),
        event_hooks={"response": [_log_response]},
        trust_env=False,  # never send printer traffic through a proxy from the environment
    )


async def _log_response(response: httpx.Response) -> None:
    # Method, URL and status only: headers carry credentials and are never logged.
    if log.isEnabledFor(logging.DEBUG):
        request = response.request
        log.debug("%s %s -> %d", request.method, request.url, response.status_code)


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
    """The human part of a printer's error body (Buddy text, Buddy/Pi JSON, HTML)."""
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


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Turn a failed answer into the matching `PrinterError`; `what` names the action."""
    status = response.status_code
    if status < 400:
        return
    # A printer's text goes into reports; one that echoes our credentials back
    # (a misbehaving proxy, a hostile device) must not make us print them.
    detail = redact.redact(error_message(response))
    message = f"{what}: HTTP {status} {detail}"
    exc: type[errors.PrinterError]
    if status in (401, 403):
        exc = errors.AuthFailed
        message = f"{what}: HTTP {status}, wrong password or API key ({detail})"
    elif status == 404:
        exc = errors.NotFound
    elif status == 408:
        exc = errors.RequestTimeout
    elif status == 409 and "transfer" in detail.lower() and "progress" in detail.lower():
        exc = errors.TransferInProgress
    elif status == 409 and ("busy" in detail.lower() or "print" in detail.lower()):
        exc = errors.FileBusy
    elif status == 507:
        exc = errors.StorageFull
    elif status >= 500:
        exc = errors.ServerError
    else:
        exc = errors.Refused
    raise exc(message, status=status)


@contextlib.contextmanager
def translate_transport_errors(what: str) -> Iterator[None]:
    """Map httpx's transport exceptions to `Unreachable` / `RequestTimeout`, once."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise errors.RequestTimeout(f"{what}: no answer in time ({type(exc).__name__})") from exc
    except httpx.StreamConsumed as exc:
        # The printer asked to authenticate again mid-upload; the body cannot be replayed.
        raise errors.ServerError(f"{what}: authentication renewed during upload") from exc
    except httpx.ConnectError as exc:
        trust_problem = _tls_trust_problem(exc)
        if trust_problem is not None:
            # Not retryable and not "unreachable": the printer answered, but is not
            # the one we trust, so no credentials were (or will be) sent to it.
            raise errors.AuthFailed(f"{what}: {trust_problem}") from exc
        raise errors.Unreachable(f"{what}: connection failed ({_reason(exc)})") from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise errors.Unreachable(f"{what}: connection failed ({_reason(exc)})") from exc


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


async def stream_to(
    client: httpx.AsyncClient,
    url: str,
    target: BinaryIO,
    what: str,
    progress: ProgressCallback | None = None,
) -> int:
    """GET `url` and write the body into `target` chunk by chunk; return the byte count."""
    written = 0
    with translate_transport_errors(what):
        async with client.stream("GET", url) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for_status(response, what)
            async for chunk in response.aiter_bytes(CHUNK_SIZE):
                target.write(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(len(chunk))
    return written
