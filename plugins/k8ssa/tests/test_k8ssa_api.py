"""The K8sSA provisioner through the real server (in this event loop, real TLS, real SQLite): legacy and
bound service-account tokens (RS256 and ES256, signed by joserfc), keys from `publicKeys` and from the
cluster's discovery document / JWKS served over HTTPS by a real aiohttp server (conftest.py)."""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from plica.api import KeySource
from plica.testing import CAFiles, in_process_ca, make_ca

from .k8ssakit import LEGACY_ISSUER, Cluster, SAKey, b64, bound_claims, legacy_claims

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")


@define
class Env:
    files: CAFiles
    session: aiohttp.ClientSession
    authority: Any
    cluster: Cluster
    legacy_rsa: SAKey
    legacy_ec: SAKey

    @property
    def sign_aud(self) -> str:
        return f"{self.files.url}/1.0/sign"

    @property
    def source(self) -> KeySource:
        return self.authority.provisioners_of_type("K8sSA")[0].state.source

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ctx = ssl.create_default_context(cafile=str(self.files.root))
        async with self.session.post(self.files.url + path, data=orjson.dumps(body), ssl=ctx) as r:
            return r.status, orjson.loads(await r.read())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, cluster: Cluster) -> AsyncIterator[Env]:
    files = make_ca(tmp_path_factory.mktemp("ca"))
    legacy_rsa, legacy_ec = SAKey.rsa(), SAKey.ec()
    files.add_provisioner(
        {
            "type": "K8sSA",
            "name": "kube",
            "publicKeys": b64(legacy_rsa.public_pem() + legacy_ec.public_pem()),
            "issuers": [cluster.issuer],
            "discoveryRoots": cluster.roots_b64,
            "claims": {"enableSSHCA": True},
        }
    )
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        yield Env(files, session, authority, cluster, legacy_rsa, legacy_ec)


def csr(cn: str, dns: list[str], key: Any = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acme"),
            ]
        )
    )
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


async def sign(
    env: Env, ott: str, cn: str = "my-app.default.svc", dns: list[str] | None = None
) -> tuple[int, dict]:
    return await env.post("/1.0/sign", {"csr": csr(cn, dns if dns is not None else [cn]), "ott": ott})


def leaf_of(body: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(body["crt"].encode())


# ============================================================================ legacy tokens (as step-ca)


@pytest.mark.parametrize("which", ["legacy_rsa", "legacy_ec"])
async def test_legacy_token_signs_the_csr_as_is(env: Env, which: str) -> None:
    key: SAKey = getattr(env, which)
    ott = key.sign(legacy_claims(), kid=False)
    status, body = await sign(env, ott, "anything.example", ["anything.example", "other.example"])
    assert status == 201, body
    leaf = leaf_of(body)
    # The CSR's subject and SANs, whatever they are: a service-account token is a bearer token.
    assert leaf.subject.rfc4514_string() == "O=acme,CN=anything.example"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["anything.example", "other.example"]
    der = leaf.extensions.get_extension_for_oid(PROVISIONER_OID).value.value  # type: ignore[attr-defined]
    assert der[2:5] == bytes([0x02, 0x01, 8]) and b"kube" in der


async def test_legacy_token_has_no_replay_protection(env: Env) -> None:
    ott = env.legacy_rsa.sign(legacy_claims())
    for _ in range(2):
        status, body = await sign(env, ott)
        assert status == 201, body


@pytest.mark.parametrize(
    ("claims", "needle"),
    [
        (legacy_claims(exp=int(time.time()) - 3600), "expired"),
        (legacy_claims(nbf=int(time.time()) + 3600), "not valid yet"),
        (legacy_claims(sub=""), "subject"),
        (legacy_claims(iss="kubernetes/serviceaccount2"), "does not belong to any provisioner"),
    ],
)
async def test_legacy_token_claims_are_checked(env: Env, claims: dict[str, Any], needle: str) -> None:
    status, body = await sign(env, env.legacy_rsa.sign(claims))
    assert status == 401 and needle in body["message"], body


async def test_legacy_token_from_an_unknown_key_is_unauthorized(env: Env) -> None:
    status, body = await sign(env, SAKey.rsa().sign(legacy_claims(), kid=False))
    assert status == 401 and "does not verify" in body["message"], body
    # An HS256 token "signed" with the public key (the classic alg confusion) gets nowhere either.
    h = b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    p = b64url(orjson.dumps(legacy_claims()))
    status, body = await sign(env, f"{h}.{p}.{b64url(b'x' * 32)}")
    assert status == 401, body


def b64url(b: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# ============================================================================ bound tokens (discovery)


@pytest.mark.parametrize("index", [0, 1], ids=["RS256", "ES256"])
async def test_bound_token_with_discovered_key(env: Env, index: int) -> None:
    key = env.cluster.keys[index]
    ott = key.sign(bound_claims(env.cluster.issuer, env.sign_aud))
    status, body = await sign(env, ott)
    assert status == 201, body
    assert env.cluster.hits.get("discovery", 0) >= 1 and env.cluster.hits.get("jwks", 0) >= 1


async def test_bound_token_is_single_use_by_jti(env: Env) -> None:
    ott = env.cluster.keys[0].sign(bound_claims(env.cluster.issuer, env.sign_aud))
    status, body = await sign(env, ott)
    assert status == 201, body
    status, body = await sign(env, ott)
    assert status == 401 and "already used" in body["message"], body


async def test_bound_token_minted_before_the_ca_started(env: Env) -> None:
    """Projected tokens live for an hour and predate a CA restart: no iat-before-start rule for K8sSA."""
    early = int(time.time()) - 1800
    ott = env.cluster.keys[0].sign(bound_claims(env.cluster.issuer, env.sign_aud, iat=early, nbf=early))
    status, body = await sign(env, ott)
    assert status == 201, body


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"aud": ["https://kubernetes.default.svc"]}, "audience"),
        ({"exp": None}, "expiry"),
        (
            {"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200, "nbf": int(time.time()) - 4200},
            "expired",
        ),
        ({"iss": "https://other-cluster.example"}, "does not belong to any provisioner"),
    ],
)
async def test_bound_token_claims_are_checked(env: Env, change: dict[str, Any], needle: str) -> None:
    c = bound_claims(env.cluster.issuer, env.sign_aud)
    c.update(change)
    c = {k: v for k, v in c.items() if v is not None}
    status, body = await sign(env, env.cluster.keys[0].sign(c))
    assert status == 401 and needle in body["message"], body


async def test_bound_token_from_an_unknown_key_is_unauthorized(env: Env) -> None:
    status, body = await sign(env, SAKey.ec().sign(bound_claims(env.cluster.issuer, env.sign_aud)))
    assert status == 401 and "does not verify" in body["message"], body


# ============================================================================ key refresh


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll `predicate` (a function returning a bool, or an awaitable of one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def refresh_soon(source: KeySource) -> None:
    """Ask for an early refresh as a token with an unknown kid does, as if the last fetch were longer ago
    than the rate limit (the limit and the refresh schedule themselves are tested in the kernel's
    tests/test_keysources.py)."""
    source.last_attempt = -math.inf
    source.request_refresh()


async def test_unknown_kid_triggers_an_early_refresh(env: Env) -> None:
    rotated = SAKey.rsa()
    env.cluster.keys.append(rotated)
    env.source.last_attempt = -math.inf  # the last fetch was longer ago than the rate limit
    try:
        status, body = await sign(env, rotated.sign(bound_claims(env.cluster.issuer, env.sign_aud)))
        # max-age is an hour: only the unknown kid can have made the CA look again.
        assert status == 401, body

        async def accepted() -> bool:
            s, _ = await sign(env, rotated.sign(bound_claims(env.cluster.issuer, env.sign_aud)))
            return s == 201

        await wait_until(accepted)
    finally:
        env.cluster.keys.remove(rotated)


async def test_fetch_failure_keeps_the_last_good_keys(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="plica.k8ssa")
    env.cluster.fail = True
    before = env.cluster.hits.get("discovery", 0)
    try:
        refresh_soon(env.source)
        await wait_until(lambda: env.cluster.hits.get("discovery", 0) > before)
        await wait_until(lambda: env.source.failures >= 1)
        assert any("K8sSA: cannot refresh keys" in r.getMessage() and "HTTP 503" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
        status, body = await sign(
            env, env.cluster.keys[1].sign(bound_claims(env.cluster.issuer, env.sign_aud))
        )
        assert status == 201, body
    finally:
        env.cluster.fail = False
        refresh_soon(env.source)
    await wait_until(lambda: env.source.failures == 0)


# ============================================================================ SSH


def ssh_pub() -> str:
    k = ed25519.Ed25519PrivateKey.generate()
    return (
        k.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
        .decode()
    )


@pytest.mark.parametrize("cert_type", ["user", "host"])
async def test_ssh_certificate_from_the_request(env: Env, cert_type: str, tmp_path: Path) -> None:
    import subprocess

    ott = env.cluster.keys[0].sign(bound_claims(env.cluster.issuer, f"{env.files.url}/1.0/ssh/sign"))
    body = {
        "publicKey": ssh_pub(),
        "ott": ott,
        "certType": cert_type,
        "keyID": "my-app",
        "principals": ["my-app", "deploy"],
    }
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 201, resp
    f = tmp_path / "c-cert.pub"
    f.write_text(f"ssh-ed25519-cert-v01@openssh.com {resp['crt']}\n")
    out = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(f)], capture_output=True, text=True, check=True
    ).stdout
    assert f"{cert_type} certificate" in out and 'Key ID: "my-app"' in out
    assert out.split("Principals:")[1].split("Critical Options:")[0].split() == ["my-app", "deploy"]


@pytest.mark.parametrize("drop", ["certType", "keyID", "principals"])
async def test_ssh_request_must_name_type_key_id_and_principals(env: Env, drop: str) -> None:
    ott = env.legacy_rsa.sign(legacy_claims())
    body = {
        "publicKey": ssh_pub(),
        "ott": ott,
        "certType": "user",
        "keyID": "my-app",
        "principals": ["my-app"],
    }
    del body[drop]
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 400, resp


# ============================================================================ revoke


async def test_revoke_token_must_name_the_serial(env: Env) -> None:
    """x509-revoke is a K8sSA capability, but a service-account token's subject is never a serial number."""
    status, body = await sign(env, env.legacy_rsa.sign(legacy_claims()))
    serial = str(leaf_of(body).serial_number)
    ott = env.legacy_rsa.sign(legacy_claims())
    status, body = await env.post("/1.0/revoke", {"serial": serial, "ott": ott, "passive": True})
    assert status == 403 and "does not match the serial" in body["message"], body


# ============================================================================ a second CA: jwksURL, audiences, template


async def test_jwks_url_audiences_and_template(tmp_path: Path, cluster: Cluster) -> None:
    files = make_ca(tmp_path)
    template = '{"subject": {"commonName": {{ toJson .Subject.CommonName }}}, "sans": {{ toJson .Insecure.CR.SANs }}}'
    files.add_provisioner(
        {
            "type": "K8sSA",
            "name": "kube",
            "issuers": ["https://kubernetes.default.svc.cluster.local"],
            "audiences": ["plica", "https://ca.example"],
            "jwksURL": cluster.jwks_url,
            "discoveryRoots": cluster.roots_b64,
            "options": {"x509": {"template": template}},
        }
    )
    iss = "https://kubernetes.default.svc.cluster.local"
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        e = Env(files, session, None, cluster, SAKey.rsa(), SAKey.ec())
        status, body = await sign(
            e, cluster.keys[1].sign(bound_claims(iss, ["other", "plica"], sa="billing")), "x.example"
        )
        assert status == 201, body
        leaf = leaf_of(body)
        # The template's CN default is the service account's name from the token.
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "billing"
        # The CA's own URL is not one of the configured audiences.
        status, body = await sign(e, cluster.keys[1].sign(bound_claims(iss, e.sign_aud)))
        assert status == 401 and "audiences" in body["message"], body
        # No publicKeys: a legacy token has nothing to verify with.
        status, body = await sign(e, SAKey.rsa().sign(legacy_claims()))
        assert status == 401, body
    assert LEGACY_ISSUER == "kubernetes/serviceaccount"
