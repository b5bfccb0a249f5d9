"""Challenge responders for the API tests: an http-01 web server and a tls-alpn-01 TLS server (RFC 8737),
both real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import ssl
import tempfile
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


class HTTP01:
    """Serves /.well-known/acme-challenge/<token> from `tokens` on 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.tokens: dict[str, str] = {}
        self.redirects: dict[str, str] = {}
        self.hits: list[str] = []
        self._runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        self.hits.append(token)
        if token in self.redirects and request.path.startswith("/.well-known/"):
            raise web.HTTPFound(self.redirects[token])
        if token not in self.tokens:
            return web.Response(status=404, text="no such token")
        return web.Response(text=self.tokens[token])

    async def __aenter__(self) -> HTTP01:
        app = web.Application()
        app.router.add_get("/.well-known/acme-challenge/{token}", self._serve)
        app.router.add_get("/moved/{token}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def alpn_certificate(identifier: str, key_auth: str, *, critical: bool = True) -> tuple[bytes, bytes]:
    """The RFC 8737 challenge certificate (PEM cert, PEM key) for `identifier`."""
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(identifier))
    except ValueError:
        san = x509.DNSName(identifier)
    digest = hashlib.sha256(key_auth.encode()).digest()
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME challenge")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER, b"\x04\x20" + digest), critical=critical)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


class TLSALPN01:
    """A TLS server on 127.0.0.1:port answering ALPN acme-tls/1 with the challenge certificate of the SNI
    name (or of `default` when the client sends none)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.contexts: dict[str, ssl.SSLContext] = {}
        self.default: str | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tmp = tempfile.TemporaryDirectory()

    def add(self, identifier: str, key_auth: str, *, sni: str | None = None, critical: bool = True) -> None:
        crt, key = alpn_certificate(identifier, key_auth, critical=critical)
        d = Path(self._tmp.name)
        (d / "c.pem").write_bytes(crt)
        (d / "k.pem").write_bytes(key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "c.pem", d / "k.pem")
        ctx.set_alpn_protocols(["acme-tls/1"])
        self.contexts[sni or identifier] = ctx
        self.default = self.default or (sni or identifier)

    def _sni(self, sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        ctx = self.contexts.get(name or "") or self.contexts.get(self.default or "")
        if ctx is not None:
            sslobj.context = ctx

    async def __aenter__(self) -> TLSALPN01:
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        crt, key = Path(self._tmp.name) / "c.pem", Path(self._tmp.name) / "k.pem"
        base.load_cert_chain(crt, key)
        base.set_alpn_protocols(["acme-tls/1"])
        base.sni_callback = self._sni

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", self.port, ssl=base)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._tmp.cleanup()
