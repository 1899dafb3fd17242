"""HTTP authentication as each firmware does it.

Buddy: RFC 2069 digest (no qop), realm "Printer API", 16-hex nonces of
`boot_random << 32 | uptime_s` valid 300 s; only `nonce` and `response` are read.
`X-Api-Key` is compared with the same password.

Pi PrusaLink: RFC 2617 digest, realm "Administrator", qop=auth, MD5-sess, 60 s nonces
bound to the User-Agent; a separate API key (wrong key: 403).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import Enum

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def parse_digest(header: str) -> dict[str, str] | None:
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "digest":
        return None
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }


class Verdict(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # 401 with a fresh nonce
    STALE = "stale"  # 401 with a fresh nonce and stale=true
    BAD_KEY = "bad_key"  # Buddy: 401 ApiKey; Pi: 403


@dataclass(slots=True)
class AuthRequest:
    method: str
    raw_uri: str  # the request-URI of the request line
    authorization: str | None
    api_key: str | None
    user_agent: str


class BuddyAuth:
    realm = "Printer API"
    lifetime = 300.0

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self._boot = secrets.randbits(32)
        self._t0 = time.monotonic()

    def nonce(self) -> str:
        uptime = int(time.monotonic() - self._t0)
        return format((self._boot << 32) | uptime, "016x")

    def challenge(self, stale: bool = False) -> str:
        flag = "true" if stale else "false"
        return f'Digest realm="{self.realm}", nonce="{self.nonce()}", stale={flag}'

    def check(self, req: AuthRequest) -> Verdict:
        if req.api_key is not None:
            ok = bool(self.password) and hmac.compare_digest(req.api_key, self.password)
            return Verdict.OK if ok else Verdict.BAD_KEY
        params = parse_digest(req.authorization or "")
        if not params or not self.password:
            return Verdict.CHALLENGE
        nonce, response = params.get("nonce", ""), params.get("response", "")
        try:
            value = int(nonce, 16)
        except ValueError:
            return Verdict.CHALLENGE
        ha1 = md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = md5(f"{req.method}:{req.raw_uri}")
        if not hmac.compare_digest(md5(f"{ha1}:{nonce}:{ha2}"), response.lower()):
            return Verdict.CHALLENGE
        if value >> 32 != self._boot:
            return Verdict.CHALLENGE
        age = (time.monotonic() - self._t0) - (value & 0xFFFFFFFF)
        return Verdict.OK if 0 <= age < self.lifetime + 1 else Verdict.STALE


class PiAuth:
    realm = "Administrator"
    lifetime = 60.0

    def __init__(self, username: str, password: str, api_key: str | None) -> None:
        self.username = username
        self.password = password
        self.api_key = api_key
        self._secret = secrets.token_hex(16)
        self.opaque = secrets.token_hex(16)

    def nonce(self, user_agent: str) -> str:
        # timestamp + keyed hash over it and the User-Agent: stateless and bound to the client
        stamp = format(int(time.time()), "08x")
        mac = hashlib.sha256(f"{self._secret}:{stamp}:{user_agent}".encode()).hexdigest()
        return (stamp + mac)[:64]

    def challenge(self, user_agent: str, stale: bool = False) -> str:
        text = (
            f'Digest realm="{self.realm}",qop="auth",algorithm="MD5-sess",'
            f'nonce="{self.nonce(user_agent)}",opaque="{self.opaque}"'
        )
        return text + (",stale=True" if stale else "")

    def check(self, req: AuthRequest) -> Verdict:
        if req.api_key is not None and self.api_key:
            ok = hmac.compare_digest(req.api_key, self.api_key)
            return Verdict.OK if ok else Verdict.BAD_KEY
        params = parse_digest(req.authorization or "")
        if not params:
            return Verdict.CHALLENGE
        nonce = params.get("nonce", "")
        if params.get("username") != self.username or len(nonce) != 64:
            return Verdict.CHALLENGE
        stamp = nonce[:8]
        mac = hashlib.sha256(f"{self._secret}:{stamp}:{req.user_agent}".encode()).hexdigest()
        if not hmac.compare_digest((stamp + mac)[:64], nonce):
            return Verdict.CHALLENGE
        ha1 = md5(f"{self.username}:{self.realm}:{self.password}")
        if params.get("algorithm", "MD5").upper() == "MD5-SESS":
            ha1 = md5(f"{ha1}:{nonce}:{params.get('cnonce', '')}")
        ha2 = md5(f"{req.method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop:
            expected = md5(
                f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{qop}:{ha2}"
            )
        else:
            expected = md5(f"{ha1}:{nonce}:{ha2}")
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return Verdict.CHALLENGE
        if time.time() - int(stamp, 16) > self.lifetime:
            return Verdict.STALE
        return Verdict.OK
