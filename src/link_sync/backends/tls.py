"""TLS for https:// printers: verified by default, a custom CA, no checks, or a pinned
certificate.

Python's `ssl` has no verification callback, so a pin cannot be checked inside the
handshake. Instead, for a printer with `fingerprint:`, aiohttp checks the certificate
of every new connection right after the handshake, before it writes a single request
byte, and closes the connection on a mismatch. Secrets (the X-Api-Key header, a digest
answer) are therefore never sent to a server that presents another certificate.
"""

from __future__ import annotations

import functools
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import certifi

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


def normalize_fingerprint(value: str) -> str:
    """'AB:CD:...' or 'sha256/abcd...' → 'abcd...'; ValueError if not 64 hex digits."""
    digest = value.replace(":", "").replace(" ", "").strip().lower()
    digest = digest.removeprefix("sha256").lstrip("/=")
    if not _HEX.match(digest):
        raise ValueError("a fingerprint is the SHA-256 of the certificate (64 hex digits)")
    return digest


@functools.lru_cache(maxsize=32)
def ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    """The context for `settings`, built once per process (loading CAs is not free)."""
    if settings.plain:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # never used: nothing to verify
    if settings.fingerprint is not None or not settings.verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # A pin replaces CA checks (the point is a self-signed printer certificate);
        # the pin itself is checked by aiohttp's `Fingerprint` on every new connection.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.ca_file is not None:
        # Only this CA: `ca_file:` says who may vouch for this printer.
        return ssl.create_default_context(cafile=str(settings.ca_file))
    # The system store (a farm's own CA is often installed there) plus certifi's,
    # which is what most Python HTTP clients use.
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


NOT_TRUSTED_HINT = "use ca_file: or fingerprint: in the config"


class TlsSetupError(Exception):
    """The printer's TLS settings cannot be used (e.g. `ca_file:` holds no certificate)."""


def connector_ssl(settings: TlsSettings) -> ssl.SSLContext | aiohttp.Fingerprint:
    """What aiohttp's connector checks a printer's connections with.

    A pin is aiohttp's `Fingerprint`: it compares the SHA-256 of the certificate of
    every new connection right after the handshake, before a single request byte is
    written, and closes the connection on a mismatch (`ServerFingerprintMismatch`).
    Raises `TlsSetupError` for a `ca_file:` that cannot be loaded, so that only this
    printer fails.
    """
    if settings.fingerprint is not None:
        return aiohttp.Fingerprint(bytes.fromhex(settings.fingerprint))
    try:
        return ssl_context(settings)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise TlsSetupError(f"cannot load ca_file {settings.ca_file}: {reason}") from exc
