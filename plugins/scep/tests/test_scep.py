"""SCEP against the real server on an RSA chain, over `insecureAddress` (plain HTTP) as most clients speak it:
micromdm's scepclient enrols with each reply encryption and renews; GetCACert and GetCACaps; every bad
request is a CertRep FAILURE with its failInfo (checked with `openssl cms`) or a 400, and stores nothing."""

from __future__ import annotations

import base64
import logging
import os
import random
import subprocess
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import yarl
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.api import PROVISIONER_OID, ProvisionerExtension
from plica.testing import Api, CAFiles, db_counts, db_row, in_process_ca, make_ca
from plica.testing.external import openssl_verify

from .scepkit import make_csr, open_envelope, pki_message, read_cert_rep, rsa_key, scepclient, self_signed

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHALLENGE = "secret1234"
# A provisioner template: the names SCEP puts in the template data, and an extension of its own.
TEMPLATE = """{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyEncipherment"],
  "extKeyUsage": ["clientAuth"],
  "extensions": [{"id": "1.3.6.1.4.1.55555.1", "value": {{ toJson (b64enc "\u0005\u0000") }}}]
}"""


@define
class Env:
    files: CAFiles
    http: str  # the plain-HTTP listener
    api: Api
    session: aiohttp.ClientSession
    tmp: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("scep")
    files = make_ca(tmp, kty="RSA", ssh=False)
    http = files.enable_insecure()
    for alg in range(5):
        files.add_provisioner(
            {
                "type": "SCEP",
                "name": f"scep{alg}",
                "challenge": CHALLENGE,
                "encryptionAlgorithmIdentifier": alg,
            }
        )
    files.add_provisioner({"type": "SCEP", "name": "rooted", "challenge": CHALLENGE, "includeRoot": True})
    files.add_provisioner(
        {"type": "SCEP", "name": "strict", "challenge": CHALLENGE, "minimumPublicKeyLength": 3072}
    )
    files.add_provisioner(
        {
            "type": "SCEP",
            "name": "templated",
            "challenge": CHALLENGE,
            "options": {"x509": {"template": TEMPLATE}},
        }
    )
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        yield Env(files=files, http=http, api=Api(files, session), session=session, tmp=tmp)


def _verify_leaf(env: Env, path: Path, provisioner: str) -> x509.Certificate:
    leaf = openssl_verify(env.files, path)
    ext = ProvisionerExtension.from_certificate(leaf)
    assert ext is not None and ext.name == provisioner and ext.type == 10
    assert leaf.extensions.get_extension_for_oid(PROVISIONER_OID)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    return leaf


@pytest.mark.parametrize("alg", [0, 2, 4])
async def test_scepclient_enrols_over_plain_http_and_renews(
    env: Env, alg: int, caplog: pytest.LogCaptureFixture
) -> None:
    work = env.tmp / f"client{alg}"
    work.mkdir()
    before = db_counts(env.files)["x509_certs"]
    code, out = await scepclient(f"{env.http}/scep/scep{alg}", work, CHALLENGE)
    assert code == 0, out
    first = _verify_leaf(env, work / "client.crt", f"scep{alg}")
    assert first.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "scepclient"
    assert db_counts(env.files)["x509_certs"] == before + 1
    names = db_row(env.files, "SELECT names FROM x509_certs WHERE serial = ?", (str(first.serial_number),))
    assert names is not None and "scepclient" in names[0].split("\n")  # what the inventory searches

    # With its certificate and key in place, scepclient sends a RenewalReq signed with that certificate.
    with caplog.at_level(logging.INFO, logger="plica.scep"):
        code, out = await scepclient(f"{env.http}/scep/scep{alg}/pkiclient.exe", work, CHALLENGE)
    assert code == 0, out
    assert any("RenewalReq" in r.getMessage() and "issued" in r.getMessage() for r in caplog.records)
    renewed = _verify_leaf(env, work / "client.crt", f"scep{alg}")
    assert renewed.serial_number != first.serial_number
    assert renewed.public_key() == first.public_key()
    assert db_counts(env.files)["x509_certs"] == before + 2


async def test_template_extensions(env: Env) -> None:
    work = env.tmp / "templated"
    work.mkdir()
    code, out = await scepclient(f"{env.http}/scep/templated", work, CHALLENGE, cn="router1.example")
    assert code == 0, out
    leaf = _verify_leaf(env, work / "client.crt", "templated")
    assert (
        leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")).value.value
        == b"\x05\x00"
    )
    assert leaf.subject.rfc4514_string() == "CN=router1.example"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["router1.example"]


async def test_wrong_challenge_is_bad_request_and_stores_nothing(env: Env) -> None:
    work = env.tmp / "wrong"
    work.mkdir()
    before = db_counts(env.files)
    code, out = await scepclient(f"{env.http}/scep/scep2", work, "not the secret")
    assert code != 0 and "badRequest" in out, out
    assert db_counts(env.files) == before


async def test_get_ca_caps(env: Env) -> None:
    async with env.session.get(f"{env.http}/scep/scep0?operation=GetCACaps") as r:
        assert r.status == 200 and r.content_type == "text/plain"
        caps = (await r.text()).split("\r\n")
    assert set(caps) == {"Renewal", "SHA-256", "SHA-512", "AES", "DES3", "SCEPStandard", "POSTPKIOperation"}


async def test_get_ca_cert_follows_include_root(env: Env) -> None:
    root = x509.load_pem_x509_certificate(env.files.root.read_bytes())
    inter = x509.load_pem_x509_certificate(env.files.intermediate.read_bytes())
    async with env.session.get(f"{env.http}/scep/scep0?operation=GetCACert") as r:
        assert r.status == 200 and r.content_type == "application/x-x509-ca-cert"
        assert x509.load_der_x509_certificate(await r.read()) == inter
    async with env.session.get(f"{env.http}/scep/rooted?operation=GetCACert") as r:
        assert r.status == 200 and r.content_type == "application/x-x509-ca-ra-cert"
        der = await r.read()
    out = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-print_certs"], input=der, capture_output=True, check=True
    )
    assert x509.load_pem_x509_certificates(out.stdout) == [inter, root]


def _intermediate(env: Env) -> x509.Certificate:
    return x509.load_pem_x509_certificate(env.files.intermediate.read_bytes())


async def _post(env: Env, name: str, body: bytes) -> tuple[int, bytes, str]:
    async with env.session.post(f"{env.http}/scep/{name}?operation=PKIOperation", data=body) as r:
        return r.status, await r.read(), r.content_type


async def test_python_client_over_get_in_macos_half_escaped_form(env: Env) -> None:
    key = rsa_key()
    signer = self_signed(key)
    csr = make_csr(key, "mac.example", CHALLENGE, dns=("mac.example",))
    msg = pki_message(csr.public_bytes(serialization.Encoding.DER), signer_cert=signer, signer_key=key,
                      recipient=_intermediate(env), transaction_id="mac-1", nonce=b"n" * 16)  # fmt: skip
    b64 = base64.b64encode(msg).decode()
    half = b64.replace("=", "%3D")  # macOS: only the padding is escaped, `+` and `/` go as they are
    url = yarl.URL(f"{env.http}/scep/scep1?operation=PKIOperation&message={half}", encoded=True)
    async with env.session.get(url) as r:
        assert r.status == 200 and r.content_type == "application/x-pki-message", await r.text()
        rep = read_cert_rep(await r.read(), env.tmp, env.files.root)
    assert (rep.status, rep.transaction_id, rep.recipient_nonce, rep.message_type) == (
        "0",
        "mac-1",
        b"n" * 16,
        "3",
    )
    leaf = open_envelope(rep, env.tmp, signer, key)
    path = env.tmp / "mac.crt"
    path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    _verify_leaf(env, path, "scep1")
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["mac.example"]
    # The fully escaped form works as well.
    msg2 = pki_message(make_csr(key, "mac2", CHALLENGE).public_bytes(serialization.Encoding.DER),
                       signer_cert=signer, signer_key=key, recipient=_intermediate(env))  # fmt: skip
    q = urllib.parse.quote(base64.b64encode(msg2).decode(), safe="")
    url = yarl.URL(f"{env.http}/scep/scep1?operation=PKIOperation&message={q}", encoded=True)
    async with env.session.get(url) as r:
        assert read_cert_rep(await r.read(), env.tmp, env.files.root).status == "0"


@pytest.mark.parametrize("oaep", ["sha1", "sha256", "sha384"])
async def test_oaep_key_transport_is_decrypted_through_the_key_manager(env: Env, oaep: str) -> None:
    """RSAES-OAEP key transport (RFC 8017 defaults, and SHA-256/384 with MGF1 of the same hash)."""
    key = rsa_key()
    signer = self_signed(key)
    csr = make_csr(key, f"oaep-{oaep}.example", CHALLENGE)
    msg = pki_message(csr.public_bytes(serialization.Encoding.DER), signer_cert=signer, signer_key=key,
                      recipient=_intermediate(env), oaep=oaep)  # fmt: skip
    status, body, _ = await _post(env, "scep2", msg)
    assert status == 200, body
    rep = read_cert_rep(body, env.tmp, env.files.root)
    assert rep.status == "0", rep
    leaf = open_envelope(rep, env.tmp, signer, key)
    assert (
        leaf.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == f"oaep-{oaep}.example"
    )


async def _failure(env: Env, name: str, msg: bytes, fail_info: str) -> None:
    before = db_counts(env.files)
    status, body, ctype = await _post(env, name, msg)
    assert status == 200 and ctype == "application/x-pki-message", body
    rep = read_cert_rep(body, env.tmp, env.files.root)
    assert (rep.status, rep.fail_info) == ("2", fail_info)
    assert db_counts(env.files) == before


async def test_refusals_are_failures_with_their_fail_info(env: Env) -> None:
    key = rsa_key()
    signer = self_signed(key)
    inter = _intermediate(env)
    good = make_csr(key, "dev", CHALLENGE).public_bytes(serialization.Encoding.DER)
    # signed with a key that is not the CSR's
    other = rsa_key()
    await _failure(
        env,
        "scep2",
        pki_message(good, signer_cert=self_signed(other), signer_key=other, recipient=inter),
        "1",
    )
    # a signature that does not verify (signed by one key, carrying another's certificate)
    await _failure(
        env, "scep2", pki_message(good, signer_cert=self_signed(other), signer_key=key, recipient=inter), "1"
    )
    # a wrong challenge, and none at all
    for ch in ("wrong", None):
        csr = make_csr(key, "dev", ch).public_bytes(serialization.Encoding.DER)
        await _failure(
            env, "scep2", pki_message(csr, signer_cert=signer, signer_key=key, recipient=inter), "2"
        )
    # a key shorter than the provisioner's minimumPublicKeyLength, and shorter than the CA's 2048 bits
    await _failure(env, "strict", pki_message(good, signer_cert=signer, signer_key=key, recipient=inter), "2")
    small = rsa_key(1024)
    short = make_csr(small, "dev", CHALLENGE).public_bytes(serialization.Encoding.DER)
    await _failure(
        env,
        "scep2",
        pki_message(short, signer_cert=self_signed(small), signer_key=small, recipient=inter),
        "2",
    )
    # encrypted to somebody else
    await _failure(env, "scep2", pki_message(good, signer_cert=signer, signer_key=key, recipient=signer), "1")
    # a RenewalReq signed with a certificate this CA did not issue
    await _failure(
        env,
        "scep2",
        pki_message(good, signer_cert=signer, signer_key=key, recipient=inter, message_type="17"),
        "4",
    )
    # an ECDSA requester: the reply could not be encrypted to it, so nothing is issued
    eckey = ec.generate_private_key(ec.SECP256R1())
    eccsr = make_csr(eckey, "dev", CHALLENGE).public_bytes(serialization.Encoding.DER)
    await _failure(
        env,
        "scep2",
        pki_message(eccsr, signer_cert=self_signed(eckey), signer_key=eckey, recipient=inter),
        "0",
    )
    # a CSR whose key is on a curve nobody knows (its OID changed): not a server error
    odd = bytearray(eccsr)
    at = odd.find(bytes.fromhex("2a8648ce3d030107"))  # prime256v1
    odd[at + 7] = 0x09
    await _failure(
        env,
        "scep2",
        pki_message(bytes(odd), signer_cert=signer, signer_key=key, recipient=inter),
        "2",
    )
    # a message type the CA does not serve (GetCRL)
    await _failure(
        env,
        "scep2",
        pki_message(good, signer_cert=signer, signer_key=key, recipient=inter, message_type="22"),
        "2",
    )


async def test_a_replayed_message_is_refused(env: Env) -> None:
    key = rsa_key()
    signer = self_signed(key)
    csr = make_csr(key, "replay", CHALLENGE).public_bytes(serialization.Encoding.DER)
    msg = pki_message(csr, signer_cert=signer, signer_key=key, recipient=_intermediate(env))
    _status, body, _ = await _post(env, "scep2", msg)
    assert read_cert_rep(body, env.tmp, env.files.root).status == "0"
    await _failure(env, "scep2", msg, "2")


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", os.urandom(300), b"\x30\x82\x01\x00\x06\x09"],
    ids=["empty", "garbage", "random", "truncated"],
)
async def test_what_is_not_scep_is_a_400(env: Env, body: bytes) -> None:
    before = db_counts(env.files)
    status, raw, ctype = await _post(env, "scep2", body)
    assert status == 400 and ctype == "application/json", raw
    assert db_counts(env.files) == before


async def test_truncated_real_message_is_a_400(env: Env) -> None:
    key = rsa_key()
    msg = pki_message(make_csr(key, "t", CHALLENGE).public_bytes(serialization.Encoding.DER),
                      signer_cert=self_signed(key), signer_key=key, recipient=_intermediate(env))  # fmt: skip
    for cut in (len(msg) // 2, len(msg) - 1):
        status, raw, _ = await _post(env, "scep2", msg[:cut])
        assert status == 400, raw


async def test_plain_http_serves_only_scep(env: Env) -> None:
    for method, path in (("GET", "/provisioners"), ("GET", "/health"), ("POST", "/sign"), ("POST", "/1.0/sign"),
                         ("GET", "/roots"), ("POST", "/revoke")):  # fmt: skip
        async with env.session.request(method, env.http + path, json={}) as r:
            assert r.status == 404, (path, await r.text())
    # ... while the TLS listener serves SCEP too, and an unknown provisioner or operation is a clear 4xx.
    r2 = await env.api.get("/scep/scep0?operation=GetCACaps")
    assert r2.status == 200 and b"POSTPKIOperation" in r2.raw
    assert (await env.api.get("/scep/nobody?operation=GetCACaps")).status == 404
    assert (await env.api.get("/scep/admin?operation=GetCACaps")).status == 404
    bad = await env.api.get("/scep/scep0?operation=GetSomething")
    assert bad.status == 400 and "GetSomething" in bad.error()["message"]


async def test_provisioners_redacts_the_secrets(env: Env) -> None:
    provs = await env.api.provisioners()
    mine = next(p for p in provs if p["name"] == "scep2")
    assert mine["challenge"] == "*** REDACTED ***"
    assert base64.b64decode(mine["decrypterKeyPEM"]) == b"*** REDACTED ***"
    assert mine["encryptionAlgorithmIdentifier"] == 2 and mine["minimumPublicKeyLength"] == 2048
    assert CHALLENGE not in str(provs)


async def test_mutated_messages_are_never_a_server_error(env: Env) -> None:
    """Bytes of a good message flipped or cut at random: every answer is a CertRep or a 400, never a 500,
    and at most the one message that still verifies gets a certificate (its replays do not)."""
    rng = random.Random(8894)
    key = rsa_key()
    csr = make_csr(key, "fuzz", CHALLENGE).public_bytes(serialization.Encoding.DER)
    msg = pki_message(csr, signer_cert=self_signed(key), signer_key=key, recipient=_intermediate(env))
    before = db_counts(env.files)["x509_certs"]
    for i in range(150):
        data = bytearray(msg)
        if i % 5 == 4:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        status, raw, ctype = await _post(env, "scep2", bytes(data))
        assert (status, ctype) in ((200, "application/x-pki-message"), (400, "application/json")), (
            i,
            status,
            raw,
        )
    assert db_counts(env.files)["x509_certs"] - before <= 1
