"""A small ACME client for the API tests: it speaks the protocol the way certbot and lego do, and can also
get it wrong on purpose (stale nonces, wrong urls, bad signatures) to test the server's answers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plica.api import PrivateKey, b64url_encode, default_alg, public_jwk, sign_compact, thumbprint

PROBLEM = "urn:ietf:params:acme:error:"


@define
class Resp:
    status: int
    headers: Any
    body: Any
    raw: bytes

    @property
    def problem(self) -> str:
        t = self.body.get("type", "") if isinstance(self.body, dict) else ""
        return t.removeprefix(PROBLEM)

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def links(self, rel: str) -> list[str]:
        out = []
        for v in self.headers.getall("Link", []):
            url, _, params = v.partition(";")
            if f'rel="{rel}"' in params.replace(" ", ""):
                out.append(url.strip().strip("<>"))
        return out


def flattened(header: dict[str, Any], payload: bytes, key: PrivateKey) -> dict[str, str]:
    p, pl, s = sign_compact(header, payload, key).split(".")
    return {"protected": p, "payload": pl, "signature": s}


def csr_der(key: Any, names: list[str], cn: str | None = None) -> bytes:
    import ipaddress

    gns: list[x509.GeneralName] = []
    for n in names:
        try:
            gns.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            gns.append(x509.DNSName(n))
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    )
    if gns:
        b = b.add_extension(x509.SubjectAlternativeName(gns), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@define
class Acme:
    session: aiohttp.ClientSession
    directory_url: str
    ssl: ssl.SSLContext
    key: PrivateKey = field(factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kid: str | None = None
    dir: dict[str, Any] = field(factory=dict)
    _nonces: list[str] = field(factory=list)

    @property
    def thumbprint(self) -> str:
        return thumbprint(public_jwk(self.key))

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    def dns01_value(self, token: str) -> str:
        return b64url_encode(hashlib.sha256(self.key_authorization(token).encode()).digest())

    async def directory(self) -> dict[str, Any]:
        async with self.session.get(self.directory_url, ssl=self.ssl) as r:
            assert r.status == 200, await r.text()
            self.dir = await r.json()
        return self.dir

    async def nonce(self) -> str:
        if self._nonces:
            return self._nonces.pop()
        if not self.dir:
            await self.directory()
        async with self.session.head(self.dir["newNonce"], ssl=self.ssl) as r:
            return r.headers["Replay-Nonce"]

    def signed(
        self,
        url: str,
        payload: Any,
        nonce: str | None,
        *,
        use_jwk: bool = False,
        key: PrivateKey | None = None,
        header: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        key = key or self.key
        h: dict[str, Any] = {"alg": default_alg(public_jwk(key)), "url": url}
        if nonce is not None:
            h["nonce"] = nonce
        if use_jwk or self.kid is None:
            h["jwk"] = public_jwk(key)
        else:
            h["kid"] = self.kid
        h.update(header or {})
        h = {k: v for k, v in h.items() if v is not None}
        body = b"" if payload is None else orjson.dumps(payload)
        return flattened(h, body, key)

    async def post(
        self,
        url: str,
        payload: Any = None,
        *,
        nonce: str | None = "",
        use_jwk: bool = False,
        key: PrivateKey | None = None,
        header: dict[str, Any] | None = None,
        tamper: Callable[[dict[str, str]], dict[str, str]] | None = None,
        content_type: str = "application/jose+json",
    ) -> Resp:
        """POST a JWS (payload None = POST-as-GET). `nonce=""` takes a fresh one, None sends none."""
        if nonce == "":
            nonce = await self.nonce()
        body = self.signed(url, payload, nonce, use_jwk=use_jwk, key=key, header=header)
        if tamper is not None:
            body = tamper(body)
        async with self.session.post(
            url, data=orjson.dumps(body), headers={"Content-Type": content_type}, ssl=self.ssl
        ) as r:
            raw = await r.read()
            if "Replay-Nonce" in r.headers:
                self._nonces.append(r.headers["Replay-Nonce"])
            ctype = r.headers.get("Content-Type", "")
            parsed: Any = orjson.loads(raw) if "json" in ctype and raw else raw
            return Resp(r.status, r.headers, parsed, raw)

    # ------------------------------------------------------------------ the happy path
    async def register(self, **payload: Any) -> Resp:
        if not self.dir:
            await self.directory()
        payload.setdefault("termsOfServiceAgreed", True)
        r = await self.post(self.dir["newAccount"], payload, use_jwk=True)
        if r.status in (200, 201):
            self.kid = r.location
        return r

    def eab(self, key_id: str, hmac_key: bytes, alg: str = "HS256") -> dict[str, str]:
        header = {"alg": alg, "kid": key_id, "url": self.dir["newAccount"]}
        p = b64url_encode(orjson.dumps(header))
        pl = b64url_encode(orjson.dumps(public_jwk(self.key)))
        h = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        sig = hmac.new(hmac_key, f"{p}.{pl}".encode(), h).digest()
        return {"protected": p, "payload": pl, "signature": b64url_encode(sig)}

    async def new_order(self, *names: str, **extra: Any) -> Resp:
        import ipaddress

        idents = []
        for n in names:
            try:
                ipaddress.ip_address(n)
                idents.append({"type": "ip", "value": n})
            except ValueError:
                idents.append({"type": "dns", "value": n})
        return await self.post(self.dir["newOrder"], {"identifiers": idents, **extra})

    async def get(self, url: str) -> Resp:
        return await self.post(url, None)

    async def poll(
        self, url: str, done: tuple[str, ...] = ("valid", "invalid"), timeout: float = 15.0
    ) -> Resp:
        deadline = time.monotonic() + timeout
        while True:
            r = await self.get(url)
            assert r.status == 200, r.body
            if r.body["status"] in done or time.monotonic() > deadline:
                return r
            await asyncio.sleep(0.1)

    async def authorizations(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for url in order["authorizations"]:
            r = await self.get(url)
            assert r.status == 200, r.body
            out.append({**r.body, "url": url})
        return out

    @staticmethod
    def challenge(authz: dict[str, Any], ch_type: str) -> dict[str, Any]:
        return next(c for c in authz["challenges"] if c["type"] == ch_type)

    async def finalize(
        self, order: dict[str, Any], key: Any, names: list[str], cn: str | None = None
    ) -> Resp:
        return await self.post(order["finalize"], {"csr": b64url_encode(csr_der(key, names, cn))})
