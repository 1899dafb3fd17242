"""TLS for https:// printers: verified by default, a custom CA, no checks, or a pinned
certificate.

Python's `ssl` has no verification callback, so a pin cannot be checked inside the
handshake. Instead, for a printer with `fingerprint:`, the connection pool's network
backend checks the certificate of every new connection right after the handshake,
before httpcore writes a single request byte, and closes the connection on a mismatch.
Secrets (the X-Api-Key header, a digest answer) are therefore never sent to a server
that presents another certificate.
"""

from __future__ import annotations

import functools
import hashlib
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi
import httpcore
import httpx

if TYPE_CHECKING:
    from link_sync.config import PrinterConfig

_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How to check a printer's certificate; hashable, so contexts can be shared."""

    verify: bool = True
    ca_file: Path | None = None
    #: SHA-256 of the printer's DER certificate, lower-case hex without colons.
    fingerprint: str | None = None
    #: A plain http:// printer: no handshake ever happens, so no CA is loaded.
    plain: bool = False


class CertificateMismatch(httpcore.ConnectError):
    """The server's certificate is not the pinned one; the connection was closed unused.

    A `httpcore.ConnectError`, so httpx reports it as `httpx.ConnectError` with this
    exception as its cause (see `link_sync.backends.http.translate_transport_errors`).
    """

    def __init__(self, expected: str, presented: str | None) -> None:
        super().__init__(f"certificate sha256 {presented or 'none'} is not the pinned {expected}")
        self.expected = expected
        self.presented = presented


def normalize_fingerprint(value: str) -> str:
    """'AB:CD:...' or 'sha256/abcd...' → 'abcd...'; ValueError if not 64 hex digits."""
    digest = value.replace(":", "").replace(" ", "").strip().lower()
    digest = digest.removeprefix("sha256").lstrip("/=")
    if not _HEX.match(digest):
        raise ValueError("a fingerprint is the SHA-256 of the certificate (64 hex digits)")
    return digest


def certificate_fingerprint(der: bytes) -> str:
    """The fingerprint `fingerprint:` expects for a DER certificate."""
    return hashlib.sha256(der).hexdigest()


@functools.lru_cache(maxsize=32)
def ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    """The context for `settings`, built once per process (loading CAs is not free)."""
    if settings.plain:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # never used: nothing to verify
    if settings.fingerprint is not None or not settings.verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # A pin replaces CA checks (the point is a self-signed printer certificate);
        # the pin itself is checked by `_PinnedStream` on every new connection.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.ca_file is not None:
        # Only this CA: `ca_file:` says who may vouch for this printer.
        return ssl.create_default_context(cafile=str(settings.ca_file))
    # The system store (a farm's own CA is often installed there) plus certifi's,
    # which is what httpx alone would use.
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    return context


def tls_settings(printer: PrinterConfig) -> TlsSettings:
    """The TLS settings of one printer; plain http:// printers share the default."""
    if not printer.base_url.lower().startswith("https://"):
        return TlsSettings(plain=True)
    fingerprint = printer.fingerprint
    return TlsSettings(
        verify=bool(printer.verify),
        ca_file=printer.ca_file if printer.verify else None,
        fingerprint=normalize_fingerprint(fingerprint) if fingerprint else None,
    )


class TlsSetupError(httpx.ConnectError):
    """The printer's TLS settings cannot be used (e.g. `ca_file:` holds no certificate)."""


class PrinterTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, with the TLS settings of one printer and no proxy.

    A `ca_file:` that cannot be loaded fails this printer's requests (with
    `TlsSetupError`), not the whole run.
    """

    def __init__(self, settings: TlsSettings, limits: httpx.Limits) -> None:
        self._setup_error: str | None = None
        try:
            context = ssl_context(settings)
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            self._setup_error = f"cannot load ca_file {settings.ca_file}: {reason}"
            context = ssl_context(TlsSettings())  # never used: every request fails first
        super().__init__(verify=context, limits=limits, trust_env=False)
        if settings.fingerprint is not None:
            # httpx takes no network backend; rebuild its pool (same arguments as
            # httpx.AsyncHTTPTransport.__init__) with one that checks the pin.
            # tests/test_security.py fails if this stops taking effect.
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=PinningBackend(settings.fingerprint),
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._setup_error is not None:
            raise TlsSetupError(self._setup_error, request=request)
        return await super().handle_async_request(request)


class PinningBackend(httpcore.AsyncNetworkBackend):
    """Opens connections like httpcore's anyio backend; TLS ones must show the pinned cert."""

    def __init__(self, fingerprint: str, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.fingerprint = normalize_fingerprint(fingerprint)
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _PinnedStream(stream, self.fingerprint)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _PinnedStream(stream, self.fingerprint)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedStream(httpcore.AsyncNetworkStream):
    """A plain connection whose `start_tls` only returns if the certificate matches."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, fingerprint: str) -> None:
        self._inner = inner
        self._fingerprint = fingerprint

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        ssl_object = tls.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        presented = certificate_fingerprint(der) if der else None
        if presented != self._fingerprint:
            await tls.aclose()
            raise CertificateMismatch(self._fingerprint, presented)
        return tls
