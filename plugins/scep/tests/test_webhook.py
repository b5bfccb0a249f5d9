"""A challenge an MDM checks: step-ca's SCEPCHALLENGE webhook, served here by a local HTTPS server the test
starts (its certificate issued by the test CA) that checks the HMAC signature and the body as step-ca
sends them. scepclient enrols with a one-time challenge; the same challenge is refused the second time
(even by a webhook that would allow it again), as is one the webhook does not allow; neither stores
anything."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plica.testing import CAFiles, db_counts, in_process_ca, load_key, make_ca
from plica.testing.external import openssl_verify

from .scepkit import scepclient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = os.urandom(32)
WEBHOOK_ID = "7c1f4a52-0c0e-4b0f-9a44-3e1d0f2b9a10"


@define
class MDM:
    """The webhook server: the challenges it hands out, and every request it saw."""

    allowed: set[str] = field(factory=set)
    seen: list[dict] = field(factory=list)
    bad_signatures: int = 0


def _server_tls(files: CAFiles, tmp: Path) -> ssl.SSLContext:
    inter = x509.load_pem_x509_certificate(files.intermediate.read_bytes())
    ikey = load_key(files.home / "secrets" / "intermediate_ca_key", files.password)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdm.test")]))
        .issuer_name(inter.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ikey, hashes.SHA256())  # type: ignore[arg-type]
    )
    chain, pem = tmp / "mdm.crt", tmp / "mdm.key"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + files.intermediate.read_bytes())
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain, pem)
    return ctx


@define
class Env:
    files: CAFiles
    http: str
    mdm: MDM
    tmp: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("webhook")
    files = make_ca(tmp, kty="RSA", ssh=False)
    mdm = MDM()

    async def challenge(request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Smallstep-Signature", ""), expected):
            mdm.bad_signatures += 1
            return web.Response(status=401)
        assert request.headers["X-Smallstep-Webhook-ID"] == WEBHOOK_ID
        data = orjson.loads(body)
        mdm.seen.append(data)
        return web.json_response({"allow": data["scepChallenge"] in mdm.allowed})

    app = web.Application()
    app.router.add_post("/scep/challenge", challenge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_server_tls(files, tmp))
    await site.start()
    port = runner.addresses[0][1]
    http = files.enable_insecure()
    files.add_provisioner(
        {
            "type": "SCEP",
            "name": "mdm",
            "encryptionAlgorithmIdentifier": 2,
            "options": {
                "webhooks": [
                    {
                        "id": WEBHOOK_ID,
                        "name": "mdm-challenge",
                        "kind": "SCEPCHALLENGE",
                        "url": f"https://127.0.0.1:{port}/scep/challenge",
                        "certType": "X509",
                        "secret": base64.b64encode(SECRET).decode(),
                    }
                ]
            },
        }
    )
    try:
        async with in_process_ca(files):
            yield Env(files=files, http=http, mdm=mdm, tmp=tmp)
    finally:
        await runner.cleanup()


async def test_a_webhook_challenge_works_once(env: Env) -> None:
    env.mdm.allowed.add("one-time-1")
    first = env.tmp / "first"
    first.mkdir()
    before = db_counts(env.files)
    code, out = await scepclient(f"{env.http}/scep/mdm", first, "one-time-1")
    assert code == 0, out
    leaf = openssl_verify(env.files, first / "client.crt")
    csr_der = x509.load_pem_x509_csr((first / "csr.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    seen = env.mdm.seen[-1]
    assert seen["provisionerName"] == "mdm" and seen["scepChallenge"] == "one-time-1"
    assert seen["scepTransactionID"] and seen["timestamp"].endswith("Z")
    assert base64.b64decode(seen["x509CertificateRequest"]["raw"]) == csr_der
    assert seen["x509CertificateRequest"]["subject"] == {"commonName": "scepclient"}
    assert seen["x509CertificateRequest"]["publicKeyAlgorithm"] == "RSA"
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "scepclient"
    after_first = db_counts(env.files)
    assert after_first["x509_certs"] == before["x509_certs"] + 1

    # The same challenge again, from another device: the webhook would allow it, the CA does not.
    second = env.tmp / "second"
    second.mkdir()
    code, out = await scepclient(f"{env.http}/scep/mdm", second, "one-time-1")
    assert code != 0 and "badRequest" in out, out
    assert db_counts(env.files) == after_first
    assert env.mdm.bad_signatures == 0


async def test_a_challenge_the_webhook_refuses(env: Env) -> None:
    work = env.tmp / "refused"
    work.mkdir()
    before = db_counts(env.files)
    code, out = await scepclient(f"{env.http}/scep/mdm", work, "made-up")
    assert code != 0 and "badRequest" in out, out
    assert env.mdm.seen[-1]["scepChallenge"] == "made-up"
    assert db_counts(env.files) == before


async def test_provisioners_hides_the_webhook_secret(env: Env) -> None:
    import aiohttp

    from plica.testing import Api

    async with aiohttp.ClientSession() as session:
        provs = await Api(env.files, session).provisioners()
    text = orjson.dumps(provs).decode()
    assert base64.b64encode(SECRET).decode() not in text and '"secret"' not in text
    (mdm,) = [p for p in provs if p["name"] == "mdm"]
    assert mdm["options"]["webhooks"][0]["kind"] == "SCEPCHALLENGE"
