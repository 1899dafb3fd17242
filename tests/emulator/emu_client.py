"""Helpers for the emulator tests: a plain HTTP client with digest auth computed by hand.

Nothing here uses link-sync's own client code: the tests check the emulator against the
firmware's wire behaviour, so the client side is written out explicitly. (A module of its
own, not conftest.py: `from conftest import` finds whichever test folder's conftest was
loaded first.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from typing import Any

import httpx

from link_sync.emulator import EmulatedPrinter


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def challenge_params(header: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header)
    }


class HandClient:
    """httpx without its auth helpers: answers the digest challenge itself."""

    def __init__(self, printer: EmulatedPrinter, *, password: str | None = None) -> None:
        self.p = printer
        self.user = printer.spec.username
        self.password = printer.spec.password if password is None else password
        self.http = httpx.AsyncClient(base_url=printer.url, timeout=10)
        self.challenge: dict[str, str] | None = None
        self.nc = 0

    def authorization(self, method: str, uri: str) -> str:
        assert self.challenge is not None
        c = self.challenge
        realm, nonce = c["realm"], c["nonce"]
        ha1 = md5(f"{self.user}:{realm}:{self.password}")
        ha2 = md5(f"{method}:{uri}")
        if c.get("qop") == "auth":  # Pi: RFC 2617, MD5-sess
            self.nc += 1
            nc, cnonce = f"{self.nc:08x}", os.urandom(8).hex()
            if c.get("algorithm", "").upper() == "MD5-SESS":
                ha1 = md5(f"{ha1}:{nonce}:{cnonce}")
            resp = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            return (
                f'Digest username="{self.user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{uri}", algorithm={c["algorithm"]}, response="{resp}", '
                f'qop=auth, nc={nc}, cnonce="{cnonce}", opaque="{c.get("opaque", "")}"'
            )
        resp = md5(f"{ha1}:{nonce}:{ha2}")  # Buddy: RFC 2069
        return (
            f'Digest username="{self.user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}"'
        )

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        for _ in range(3):
            if self.challenge is not None:
                uri = httpx.URL(self.p.url + path).raw_path.decode()  # as on the request line
                headers["Authorization"] = self.authorization(method, uri)
            r = await self.http.request(method, path, headers=headers, **kw)
            if r.status_code != 401 or "Digest" not in r.headers.get("WWW-Authenticate", ""):
                return r
            self.challenge = challenge_params(r.headers["WWW-Authenticate"])
        return r

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def put(self, path: str, data: bytes = b"", **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, content=data, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def aclose(self) -> None:
        await self.http.aclose()


async def raw_request(
    printer: EmulatedPrinter, head: str, body: bytes = b"", *, read: bool = True
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a hand-written request on a fresh socket; return (response bytes, reader, writer)."""
    reader, writer = await asyncio.open_connection(printer.host, printer.port)
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    await writer.drain()
    data = b""
    if read:
        data = await asyncio.wait_for(reader.read(65536), 5)
    return data, reader, writer
