"""The CA's HTTP API through a real TLS connection that trusts only the CA's root, and step's error shape."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from attrs import define
from cryptography.hazmat.primitives import serialization

from plica.testing.csrs import csr_pem, ec_key, make_csr
from plica.testing.tokens import ProvKey

if TYPE_CHECKING:
    from plica.testing import CAFiles


@define
class Reply:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)

    def error(self) -> dict[str, Any]:
        """The step error body; asserts its exact shape (`{"status": N, "message": "..."}`, N the status)."""
        body = self.json
        assert isinstance(body, dict) and set(body) == {"status", "message"}, body
        assert body["status"] == self.status and isinstance(body["message"], str) and body["message"], body
        return body


class Api:
    """The CA's HTTP API through a real TLS connection that trusts only the CA's root."""

    def __init__(self, files: CAFiles, session: aiohttp.ClientSession) -> None:
        self.files = files
        self.session = session
        self.ctx = ssl.create_default_context(cafile=str(files.root))

    def mtls(self, crt: Path, key: Path) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.files.root))
        ctx.load_cert_chain(str(crt), str(key))
        return ctx

    def aud(self, path: str) -> str:
        return f"{self.files.url}/1.0{path}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        ctx: ssl.SSLContext | None = None,
    ) -> Reply:
        body = orjson.dumps(json) if json is not None else data
        async with self.session.request(
            method, self.files.url + path, data=body, headers=headers, ssl=ctx or self.ctx
        ) as r:
            return Reply(status=r.status, headers=r.headers, raw=await r.read())

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json=json, **kw)

    async def sign(
        self, prov: ProvKey, cn: str, sans: list[str] | None = None, *, key: Any = None, **body: Any
    ) -> tuple[Reply, Any]:
        """A well-formed /sign for `cn` (SANs default to [cn]); returns the reply and the leaf's key."""
        key = key or ec_key()
        names = sans if sans is not None else [cn]
        ott = prov.token(cn, self.aud("/sign"), sans=names)
        r = await self.post("/sign", {"csr": csr_pem(make_csr(key, cn, names)), "ott": ott, **body})
        return r, key

    async def provisioners(self) -> list[dict[str, Any]]:
        """Every provisioner `/provisioners` publishes (all pages)."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            r = await self.get(f"/provisioners?limit=100&cursor={cursor}")
            assert r.status == 200, r.raw
            out += r.json["provisioners"]
            cursor = r.json.get("nextCursor") or ""
            if not cursor:
                return out


def write_leaf(tmp: Path, name: str, reply: Reply, key: Any) -> tuple[Path, Path]:
    """The certificate chain of a /sign reply and its key, as files for mTLS or a client command."""
    crt, kf = tmp / f"{name}.crt", tmp / f"{name}.key"
    crt.write_text("".join(reply.json["certChain"]))
    kf.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return crt, kf
