"""A local EC2 instance metadata service for the AWS tests: the IMDSv2 session-token handshake, IMDSv1, the
instance identity document and its signature, signed with an RSA key and certificate the test made (the
CA trusts them through the provisioner's `iidRoots`, the same code path as AWS's own certificates).

The service is an aiohttp application on 127.0.0.1 in a thread of its own, so that the `plica` client in a
subprocess, a synchronous test and an asynchronous one (whose loop serves the CA) can all reach it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import secrets
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from plica.testing import free_port

TOKEN_PATH = "/latest/api/token"
DOCUMENT_PATH = "/latest/dynamic/instance-identity/document"
SIGNATURE_PATH = "/latest/dynamic/instance-identity/signature"


@define
class SigningCert:
    """An RSA key and a self-signed certificate standing in for one of AWS's regional certificates."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "Test EC2 identity") -> SigningCert:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem())
        return path

    def sign(self, document: bytes) -> bytes:
        return self.key.sign(document, padding.PKCS1v15(), hashes.SHA256())


def document(
    *,
    instance_id: str = "i-0123456789abcdef0",
    account_id: str = "123456789012",
    private_ip: str = "10.0.1.23",
    region: str = "us-west-2",
    pending_time: dt.datetime | None = None,
    **extra: Any,
) -> bytes:
    """An instance identity document as EC2 serves it (pretty-printed JSON, the fields of the spec's example).
    `extra` overrides or adds fields (None values stay null, as in AWS's documents)."""
    pending = pending_time or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    doc: dict[str, Any] = {
        "accountId": account_id,
        "architecture": "x86_64",
        "availabilityZone": f"{region}b",
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": "ami-5fb8c835",
        "instanceId": instance_id,
        "instanceType": "t2.micro",
        "kernelId": None,
        "pendingTime": pending.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "privateIp": private_ip,
        "ramdiskId": None,
        "region": region,
        "version": "2017-09-30",
    }
    doc.update(extra)
    return json.dumps(doc, indent=2).encode()


def signature_text(signature: bytes) -> bytes:
    """The signature as the service serves it: base64 in lines of 64 characters."""
    b64 = base64.b64encode(signature)
    return b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))


@define
class IMDS:
    """What the metadata service serves and what it saw. `versions`: "v2" (a session token is required, as
    on instances with IMDSv2 enforced), "v1" (no token service: PUT answers 404, as before IMDSv2) or
    "both". `requests` records (method, path, headers: case-insensitive) of every request."""

    doc: bytes
    signature: bytes
    versions: str = "v2"
    requests: list[tuple[str, str, Mapping[str, str]]] = field(factory=list)
    tokens: set[str] = field(factory=set)

    @classmethod
    def signed(cls, signer: SigningCert, doc: bytes | None = None, **kw: Any) -> IMDS:
        doc = doc if doc is not None else document()
        return cls(doc, signer.sign(doc), **kw)

    def serve(self, doc: bytes, signature: bytes) -> None:
        """Serve another document (another instance, or the same one later)."""
        self.doc, self.signature = doc, signature

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(("PUT", request.path, request.headers.copy()))
        if self.versions == "v1":
            return web.Response(status=404)
        ttl = request.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return web.Response(status=400)
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return web.Response(text=token, headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl})

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("X-aws-ec2-metadata-token")
        if token is not None:
            return token in self.tokens
        return self.versions != "v2"

    async def _document(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, request.headers.copy()))
        if not self._authorized(request):
            return web.Response(status=401)
        return web.Response(body=self.doc, content_type="text/plain")

    async def _signature(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, request.headers.copy()))
        if not self._authorized(request):
            return web.Response(status=401)
        return web.Response(body=signature_text(self.signature), content_type="text/plain")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_put(TOKEN_PATH, self._token)
        app.router.add_get(DOCUMENT_PATH, self._document)
        app.router.add_get(SIGNATURE_PATH, self._signature)
        return app


@contextlib.contextmanager
def running(imds: IMDS) -> Iterator[str]:
    """Serve `imds` on 127.0.0.1 from a thread with its own event loop; yields its base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(imds.app(), access_log=None)
    started = threading.Event()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), "the metadata service did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
