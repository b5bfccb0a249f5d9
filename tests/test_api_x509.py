"""The X.509 side of the HTTP API of docs/reference/wire.md §3 through the real server: /sign, /renew and
/rekey, /revoke, and names that cannot go on a certificate.

One CA serves the whole module; each test leaves it usable for the next. Every refusal is checked for
step's status and error shape, and — where a request could have written something — for an unchanged
database.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.storage.names import x509_column, x509_names
from plica.testing import (
    ProvKey,
    b64url_decode,
    csr_pem,
    db_counts,
    db_row,
    ec_key,
    make_csr,
    pem_cert,
    renew_token,
    write_leaf,
)

from .api_helpers import Env, api_env, refused

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")
UTC = dt.UTC


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with api_env(tmp_path_factory) as e:
        yield e


def expected_provisioner_extension(name: str, credential: str, type_id: int = 1) -> bytes:
    """step's extension DER, built by hand: SEQUENCE { INTEGER type, OCTET STRING name, OCTET STRING cred }."""

    def tlv(tag: int, value: bytes) -> bytes:
        assert len(value) < 128
        return bytes([tag, len(value)]) + value

    return tlv(0x30, tlv(0x02, bytes([type_id])) + tlv(0x04, name.encode()) + tlv(0x04, credential.encode()))


# ============================================================================ /sign


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_sign_answers_step_sign_response(env: Env, prefix: str) -> None:
    before = db_counts(env.files)
    key = ec_key()
    csr = make_csr(key, "api.example.com", ["api.example.com", "10.0.0.7"])
    ott = env.admin.token("api.example.com", env.api.aud("/sign"), sans=["api.example.com", "10.0.0.7"])
    r = await env.api.post(prefix + "/sign", {"csr": csr_pem(csr), "ott": ott})
    assert r.status == 201, r.raw
    body = r.json
    assert set(body) == {"crt", "ca", "certChain", "tlsOptions"}
    inter_pem = env.files.intermediate.read_text()
    assert body["ca"] == inter_pem and body["certChain"] == [body["crt"], inter_pem]
    assert body["tlsOptions"] == {
        "cipherSuites": [
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ],
        "minVersion": 1.2,
        "maxVersion": 1.3,
        "renegotiation": False,
    }
    leaf = pem_cert(body["crt"])
    inter = pem_cert(inter_pem)
    leaf.verify_directly_issued_by(inter)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "api.example.com"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    ext = leaf.extensions.get_extension_for_oid(PROVISIONER_OID).value
    assert ext.value == expected_provisioner_extension("admin", env.admin.kid)  # type: ignore[attr-defined]
    now = dt.datetime.now(UTC)
    assert abs((leaf.not_valid_before_utc - (now - dt.timedelta(minutes=1))).total_seconds()) < 10
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(hours=24, minutes=1)
    # Stored, together with the token's jti, in one go.
    after = db_counts(env.files)
    assert after["x509_certs"] == before["x509_certs"] + 1
    assert after["used_tokens"] == before["used_tokens"] + 1
    row = db_row(env.files, "SELECT provisioner_name, provisioner_type, token_id, der FROM x509_certs WHERE serial = ?",
                 (str(leaf.serial_number),))  # fmt: skip
    assert row is not None and row[:2] == ("admin", "JWK")
    assert row[3] == leaf.public_bytes(serialization.Encoding.DER)
    claims = orjson.loads(b64url_decode(ott.split(".")[1]))
    assert row[2] == claims["jti"]
    assert db_row(env.files, "SELECT 1 FROM used_tokens WHERE id = ?", (claims["jti"],)) == (1,)


@pytest.mark.parametrize(
    ("cn", "sans"),
    [
        ("Mixed.Example.com", ["Mixed.Example.com", "10.0.0.8", "2001:db8::1", "ops@example.com",
                               "spiffe://example.com/api", "www.example.com"]),
        ("", ["only-sans.example.com", "192.0.2.1"]),
    ],
)  # fmt: skip
async def test_sign_stores_the_names_the_leaf_carries(env: Env, cn: str, sans: list[str]) -> None:
    """The inventory's names are taken from what went into the leaf, not decoded back out of it: they are
    exactly what decoding the issued leaf gives."""
    csr = make_csr(ec_key(), cn or None, sans)
    ott = env.admin.token(cn or sans[0], env.api.aud("/sign"), sans=sans)
    r = await env.api.post("/1.0/sign", {"csr": csr_pem(csr), "ott": ott})
    assert r.status == 201, r.raw
    leaf = pem_cert(r.json["crt"])
    row = db_row(env.files, "SELECT names FROM x509_certs WHERE serial = ?", (str(leaf.serial_number),))
    assert row is not None and row[0] == x509_column(*x509_names(leaf))
    assert set(row[0].split("\n")) == {n.lower() for n in [cn, *sans] if n} | (
        {sans[0].lower()} if not cn else set()
    )


@pytest.mark.parametrize("name", ["rsa", "okp"])
async def test_sign_with_rs256_and_eddsa_provisioners(env: Env, name: str) -> None:
    r, _ = await env.api.sign(env.provs[name], f"{name}.example.com")
    assert r.status == 201, r.raw
    leaf = pem_cert(r.json["crt"])
    ext = leaf.extensions.get_extension_for_oid(PROVISIONER_OID).value
    assert ext.value == expected_provisioner_extension(name, env.provs[name].kid)  # type: ignore[attr-defined]


async def test_sign_rsa_and_ed25519_leaf_keys(env: Env) -> None:
    r, _ = await env.api.sign(env.admin, "rsa-leaf.example", key=rsa.generate_private_key(65537, 2048))
    assert r.status == 201
    ku = pem_cert(r.json["crt"]).extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment  # step adds keyEncipherment for RSA keys
    r, _ = await env.api.sign(env.admin, "ed-leaf.example", key=ed25519.Ed25519PrivateKey.generate())
    assert r.status == 201


def _bad_signature_csr() -> str:
    csr = make_csr(ec_key(), "bad.example", ["bad.example"])
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature BIT STRING
    b64 = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"not json at all", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"csr"', "JSON object"),
        (b'{"csr": 5}', "csr must be a string"),
        (b"{}", "missing csr"),
    ],
)
async def test_sign_garbage_bodies_are_400(env: Env, data: bytes, fragment: str) -> None:
    assert fragment in await refused(env, None, 400, data=data)


async def test_sign_bad_csrs_are_400_and_store_nothing(env: Env) -> None:
    ott = env.admin.token("bad.example", env.api.aud("/sign"))
    assert "invalid csr" in await refused(env, {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "ott": ott}, 400)  # fmt: skip
    assert "invalid csr" in await refused(env, {"csr": "hello", "ott": ott}, 400)
    assert "signature" in await refused(env, {"csr": _bad_signature_csr(), "ott": ott}, 400)
    good = csr_pem(make_csr(ec_key(), "bad.example", ["bad.example"]))
    assert "ott" in await refused(env, {"csr": good}, 400)
    assert "templateData" in await refused(env, {"csr": good, "ott": ott, "templateData": [1]}, 400)
    assert "notAfter" in await refused(env, {"csr": good, "ott": ott, "notAfter": 3600}, 400)
    assert "invalid time" in await refused(env, {"csr": good, "ott": ott, "notAfter": "tomorrow"}, 400)
    # None of those consumed the token: it still works once, then never again.
    r = await env.api.post("/sign", {"csr": good, "ott": ott})
    assert r.status == 201
    assert "already used" in await refused(env, {"csr": good, "ott": ott}, 401)


async def test_sign_names_the_token_does_not_allow_are_403(env: Env) -> None:
    key = ec_key()
    ott = env.admin.token("ok.example", env.api.aud("/sign"), sans=["ok.example"])
    # A SAN beyond the token's.
    csr = csr_pem(make_csr(key, "ok.example", ["ok.example", "evil.example"]))
    assert "DNS names" in await refused(env, {"csr": csr, "ott": ott}, 403)
    # A CN that is neither the subject nor a SAN of the token.
    csr = csr_pem(make_csr(key, "evil.example", ["ok.example"]))
    assert "common name" in await refused(env, {"csr": csr, "ott": ott}, 403)
    # An IP the token does not name.
    csr = csr_pem(make_csr(key, "ok.example", ["10.9.9.9"]))
    assert "IP addresses" in await refused(env, {"csr": csr, "ott": ott}, 403)
    # RSA 1024 is too short (403, as step).
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = csr_pem(make_csr(small, "ok.example", ["ok.example"]))
    assert "1024" in await refused(env, {"csr": csr, "ott": ott}, 403)
    # The same token with an acceptable CSR (no SANs, empty CN: the token's names are used) still works.
    r = await env.api.post("/sign", {"csr": csr_pem(make_csr(key, None)), "ott": ott})
    assert r.status == 201
    leaf = pem_cert(r.json["crt"])
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ok.example"
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["ok.example"]


async def test_sign_body_over_one_mebibyte_is_413(env: Env) -> None:
    before = db_counts(env.files)
    big = b'{"csr": "' + b"A" * (1 << 20) + b'"}'
    for path in ("/sign", "/1.0/revoke", "/ssh/sign"):
        r = await env.api.call("POST", path, data=big, headers={"Content-Type": "application/json"})
        assert r.status == 413
        assert r.error()["status"] == 413
    assert db_counts(env.files) == before
    # The server is fine afterwards.
    assert (await env.api.get("/health")).status == 200


# ============================================================================ /renew and /rekey


async def _leaf(env: Env, prov: ProvKey, cn: str, **body: Any) -> tuple[Path, Path, x509.Certificate, Any]:
    r, key = await env.api.sign(prov, cn, **body)
    assert r.status == 201, r.raw
    crt, kf = write_leaf(env.tmp, cn, r, key)
    return crt, kf, pem_cert(r.json["crt"]), key


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_renew_with_mtls(env: Env, prefix: str) -> None:
    crt, kf, old, _ = await _leaf(env, env.admin, f"mtls{prefix.replace('/', '-')}.example")
    before = db_counts(env.files)
    r = await env.api.post(prefix + "/renew", ctx=env.api.mtls(crt, kf))
    assert r.status == 201, r.raw
    assert set(r.json) == {"crt", "ca", "certChain", "tlsOptions"}
    new = pem_cert(r.json["crt"])
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject
    assert new.public_key() == old.public_key()
    assert (new.not_valid_after_utc - new.not_valid_before_utc) == (
        old.not_valid_after_utc - old.not_valid_before_utc
    )
    assert (
        new.not_valid_after_utc > old.not_valid_after_utc
        or new.not_valid_after_utc == old.not_valid_after_utc
    )
    for cls in (x509.SubjectAlternativeName, x509.KeyUsage, x509.ExtendedKeyUsage):
        assert new.extensions.get_extension_for_class(cls) == old.extensions.get_extension_for_class(cls)
    assert new.extensions.get_extension_for_oid(PROVISIONER_OID) == old.extensions.get_extension_for_oid(
        PROVISIONER_OID
    )
    new.verify_directly_issued_by(pem_cert(env.files.intermediate.read_text()))
    assert db_counts(env.files)["x509_certs"] == before["x509_certs"] + 1
    # the inventory's searchable names are stored with the renewed certificate, as with the first
    cn = f"mtls{prefix.replace('/', '-')}.example"
    for cert in (old, new):
        assert db_row(
            env.files, "SELECT names FROM x509_certs WHERE serial = ?", (str(cert.serial_number),)
        ) == (cn,)


async def test_renew_with_a_look_alike_chain_from_another_ca_is_refused(env: Env) -> None:
    """Roots and intermediates are each trust anchors (partial chains, as in step-ca's pool), so what counts is
    the signature by the anchor: a chain whose names copy this CA's, signed by other keys, gets no renewal."""
    _, _, old, key = await _leaf(env, env.admin, "lookalike.example")
    ours = pem_cert(env.files.intermediate.read_text())
    fake_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    fake_inter = (
        x509.CertificateBuilder()
        .subject_name(ours.subject)
        .issuer_name(ours.issuer)
        .public_key(fake_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(fake_key, hashes.SHA256())
    )
    forged = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ours.subject)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
    )
    for e in old.extensions:
        forged = forged.add_extension(e.value, critical=e.critical)
    forged_cert = forged.sign(fake_key, hashes.SHA256())
    crt = env.tmp / "lookalike-forged.crt"
    crt.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (forged_cert, fake_inter)))
    kf = env.tmp / "lookalike-forged.key"
    kf.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    before = db_counts(env.files)
    try:
        r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
    except (OSError, aiohttp.ClientError):  # the handshake refuses the certificate
        pass
    else:
        assert r.status in (400, 401), r.raw
    assert db_counts(env.files) == before


async def test_renew_without_credentials_is_400(env: Env) -> None:
    r = await env.api.post("/renew")
    assert r.status == 400 and "client certificate" in r.error()["message"]


async def test_renew_with_bearer_renew_token(env: Env) -> None:
    _, _, old, key = await _leaf(env, env.admin, "bearer.example")
    chain = [old, pem_cert(env.files.intermediate.read_text())]
    tok = renew_token(chain, key, env.api.aud("/renew"))
    before = db_counts(env.files)
    r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 201, r.raw
    new = pem_cert(r.json["crt"])
    assert new.subject == old.subject and new.serial_number != old.serial_number
    after = db_counts(env.files)
    assert (
        after["x509_certs"] == before["x509_certs"] + 1 and after["used_tokens"] == before["used_tokens"] + 1
    )
    # The renew token is single use.
    r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 401 and "already used" in r.error()["message"]


async def test_renew_token_refusals(env: Env) -> None:
    _, _, leaf, key = await _leaf(env, env.admin, "bearer-bad.example")
    chain = [leaf]
    aud = env.api.aud("/renew")
    cases = {
        "subject": renew_token(chain, key, aud, sub="someone-else"),
        "audience": renew_token(chain, key, env.api.aud("/sign")),
        "expired": renew_token(chain, key, aud, exp=int(dt.datetime.now(UTC).timestamp()) - 600),
        "other key": renew_token(chain, ec_key(), aud),
    }
    # A self-signed certificate with the same subject: not issued by this CA.
    own = ec_key()
    selfsigned = (
        x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(leaf.issuer).public_key(own.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc).sign(own, hashes.SHA256())
    )  # fmt: skip
    cases["foreign chain"] = renew_token([selfsigned], own, aud)
    before = db_counts(env.files)
    for what, tok in cases.items():
        r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
        assert r.status == 401, (what, r.raw)
        r.error()
    r = await env.api.post("/renew", headers={"Authorization": "Bearer not.a.token"})
    assert r.status == 401
    assert db_counts(env.files) == before


async def test_renew_refused_when_disabled_or_revoked(env: Env) -> None:
    crt, kf, leaf, key = await _leaf(env, env.provs["norenew"], "norenew.example")
    r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
    assert r.status == 401 and "norenew" in r.error()["message"]
    # Revoked: refused through mTLS and through a renew token.
    crt, kf, leaf, key = await _leaf(env, env.admin, "revoked-renew.example")
    r = await env.api.post(
        "/revoke", {"serial": str(leaf.serial_number), "passive": True}, ctx=env.api.mtls(crt, kf)
    )
    assert r.status == 200, r.raw
    r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
    assert r.status == 401 and "revoked" in r.error()["message"]
    tok = renew_token([leaf], key, env.api.aud("/renew"))
    r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 401 and "revoked" in r.error()["message"]


def _expired_leaf(env: Env, prov: str, kid: str, cn: str) -> tuple[x509.Certificate, Any]:
    """A leaf this CA's intermediate signed that expired an hour ago (no API issues one in the past)."""
    key = ec_key()
    now = dt.datetime.now(UTC)
    mat = env.authority.material
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(mat.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=3))
        .not_valid_after(now - dt.timedelta(hours=1))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(PROVISIONER_OID, expected_provisioner_extension(prov, kid)),
            critical=False,
        )
    )
    return mat.sign_builder_now(b), key


async def test_renew_after_expiry_only_when_allowed(env: Env) -> None:
    leaf, key = _expired_leaf(env, "admin", env.admin.kid, "expired.example")
    tok = renew_token([leaf], key, env.api.aud("/renew"))
    r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 401 and "expired" in r.error()["message"]
    leaf, key = _expired_leaf(env, "afterexpiry", env.provs["afterexpiry"].kid, "expired-ok.example")
    tok = renew_token([leaf], key, env.api.aud("/renew"))
    r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 201, r.raw
    new = pem_cert(r.json["crt"])
    assert new.not_valid_after_utc > dt.datetime.now(UTC)
    assert new.not_valid_after_utc - new.not_valid_before_utc == dt.timedelta(hours=2)


async def test_renew_before_not_before_is_401(env: Env) -> None:
    _, _, leaf, key = await _leaf(env, env.admin, "future.example", notBefore="1h", notAfter="2h")
    assert leaf.not_valid_before_utc > dt.datetime.now(UTC)
    tok = renew_token([leaf], key, env.api.aud("/renew"))
    r = await env.api.post("/renew", headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 401 and "not yet valid" in r.error()["message"]


async def test_renew_without_the_provisioner_extension(env: Env) -> None:
    # disableSmallstepExtensions: no extension, so renewal cannot find a provisioner and allows it (step's noop).
    crt, kf, old, _ = await _leaf(env, env.provs["noext"], "noext.example")
    with pytest.raises(x509.ExtensionNotFound):
        old.extensions.get_extension_for_oid(PROVISIONER_OID)
    r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
    assert r.status == 201, r.raw
    new = pem_cert(r.json["crt"])
    assert new.subject == old.subject and new.serial_number != old.serial_number
    with pytest.raises(x509.ExtensionNotFound):
        new.extensions.get_extension_for_oid(PROVISIONER_OID)


@pytest.mark.parametrize("prov", ["admin", "noext"])
async def test_a_renewal_stores_the_names_its_certificate_carries(env: Env, prov: str) -> None:
    """The renewal's inventory names are taken from the certificate it renews (same subject and SANs, as
    encoded): they must be what decoding the new certificate itself gives, with and without a provisioner."""
    sans = ["multi.example", "www.multi.example", "10.1.2.3", "ops@multi.example", "spiffe://multi/x"]
    crt, kf, _, _ = await _leaf(env, env.provs[prov] if prov != "admin" else env.admin, "multi", sans=sans)
    r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
    assert r.status == 201, r.raw
    new = pem_cert(r.json["crt"])
    stored = db_row(env.files, "SELECT names FROM x509_certs WHERE serial = ?", (str(new.serial_number),))
    assert stored == (x509_column(*x509_names(new)),)
    assert set(stored[0].split("\n")) == {"multi", *sans}


async def test_renew_when_the_provisioner_was_removed(env: Env) -> None:
    from plica import config as config_mod

    crt, kf, _, _ = await _leaf(env, env.provs["gone"], "gone.example")
    current = env.authority.snapshot
    cfg = env.files.config()
    cfg["authority"]["provisioners"] = [p for p in cfg["authority"]["provisioners"] if p["name"] != "gone"]
    path = env.tmp / "without-gone.json"
    path.write_bytes(orjson.dumps(cfg))
    env.authority.install(env.authority.load_snapshot(config_mod.load(path)))  # what SIGHUP does
    try:
        r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
        assert r.status == 401 and "gone" in r.error()["message"]
    finally:
        env.authority.install(current)
    r = await env.api.post("/renew", ctx=env.api.mtls(crt, kf))
    assert r.status == 201


async def test_rekey(env: Env) -> None:
    crt, kf, old, _ = await _leaf(env, env.admin, "rekey.example")
    new_key = ec_key()
    ctx = env.api.mtls(crt, kf)
    for prefix in ("", "/1.0"):
        r = await env.api.post(
            prefix + "/rekey", {"csr": csr_pem(make_csr(new_key, "rekey.example"))}, ctx=ctx
        )
        assert r.status == 201, r.raw
        new = pem_cert(r.json["crt"])
        assert new.public_key() == new_key.public_key() and new.subject == old.subject
        ski = new.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(new_key.public_key())
        row = db_row(env.files, "SELECT names FROM x509_certs WHERE serial = ?", (str(new.serial_number),))
        assert row == ("rekey.example",)
    before = db_counts(env.files)
    r = await env.api.post("/rekey", {"csr": csr_pem(make_csr(new_key, "rekey.example"))})
    assert r.status == 400 and "client certificate" in r.error()["message"]
    r = await env.api.post("/rekey", {}, ctx=ctx)
    assert r.status == 400 and "csr" in r.error()["message"]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    r = await env.api.post("/rekey", {"csr": csr_pem(make_csr(weak, "rekey.example"))}, ctx=ctx)
    assert r.status == 403
    r.error()
    assert db_counts(env.files) == before


# ============================================================================ /revoke


async def test_revoke_with_token(env: Env) -> None:
    _, _, leaf, _ = await _leaf(env, env.admin, "revoke-me.example")
    serial = str(leaf.serial_number)
    aud = env.api.aud("/revoke")
    tok = env.admin.token(serial, aud)
    before = db_counts(env.files)
    r = await env.api.post(
        "/revoke", {"serial": serial, "ott": tok, "reasonCode": 4, "reason": "superseded", "passive": True}
    )
    assert r.status == 200 and r.json == {"status": "ok"}
    row = db_row(
        env.files,
        "SELECT reason_code, reason, mtls, provisioner_id FROM revoked_x509_certs WHERE serial = ?",
        (serial,),
    )
    assert row is not None and row[:3] == (4, "superseded", 0)
    after = db_counts(env.files)
    assert after["revoked_x509_certs"] == before["revoked_x509_certs"] + 1
    assert after["used_tokens"] == before["used_tokens"] + 1
    # Already revoked: 400, naming the serial; nothing more is written (the new token is not consumed).
    msg = await refused(
        env, {"serial": serial, "ott": env.admin.token(serial, aud), "passive": True}, 400, path="/revoke"
    )
    assert serial in msg and "already revoked" in msg


async def test_revoke_hex_serials(env: Env) -> None:
    _, _, leaf, _ = await _leaf(env, env.admin, "hex.example")
    hexs = f"0x{leaf.serial_number:x}"
    tok = env.admin.token(str(leaf.serial_number), env.api.aud("/revoke"))
    r = await env.api.post("/1.0/revoke", {"serial": hexs, "ott": tok, "passive": True})
    assert r.status == 200, r.raw
    assert db_row(
        env.files, "SELECT 1 FROM revoked_x509_certs WHERE serial = ?", (str(leaf.serial_number),)
    ) == (1,)
    # A hex token subject matches a decimal serial too.
    _, _, leaf, _ = await _leaf(env, env.admin, "hex2.example")
    tok = env.admin.token(f"0X{leaf.serial_number:X}", env.api.aud("/revoke"))
    r = await env.api.post("/revoke", {"serial": str(leaf.serial_number), "ott": tok, "passive": True})
    assert r.status == 200, r.raw


async def test_revoke_refusals(env: Env) -> None:
    _, _, leaf, _ = await _leaf(env, env.admin, "norevoke.example")
    serial = str(leaf.serial_number)
    aud = env.api.aud("/revoke")
    tok = env.admin.token(serial, aud)
    assert "passive" in await refused(
        env, {"serial": serial, "ott": tok, "passive": False}, 501, path="/revoke"
    )
    assert "passive" in await refused(env, {"serial": serial, "ott": tok}, 501, path="/revoke")
    other = env.admin.token(str(leaf.serial_number + 1), aud)
    assert "does not match" in await refused(
        env, {"serial": serial, "ott": other, "passive": True}, 403, path="/revoke"
    )
    assert "reasonCode" in await refused(
        env, {"serial": serial, "ott": tok, "passive": True, "reasonCode": 11}, 400, path="/revoke"
    )
    assert "serial" in await refused(
        env, {"serial": "12ab", "ott": tok, "passive": True}, 400, path="/revoke"
    )
    assert "serial" in await refused(env, {"ott": tok, "passive": True}, 400, path="/revoke")
    assert await refused(env, {"serial": serial, "passive": True}, 401, path="/revoke")
    # A sign token is not a revoke token (audience).
    sign_tok = env.admin.token(serial, env.api.aud("/sign"))
    await refused(env, {"serial": serial, "ott": sign_tok, "passive": True}, 401, path="/revoke")
    # The untouched token still revokes.
    r = await env.api.post("/revoke", {"serial": serial, "ott": tok, "passive": True})
    assert r.status == 200


async def test_revoke_with_mtls(env: Env) -> None:
    crt, kf, leaf, _ = await _leaf(env, env.admin, "mtls-revoke.example")
    ctx = env.api.mtls(crt, kf)
    msg = await _refused_ctx(env, {"serial": str(leaf.serial_number + 1), "passive": True}, 403, ctx)
    assert "serial" in msg
    r = await env.api.post(
        "/revoke", {"serial": f"0x{leaf.serial_number:x}", "passive": True, "reasonCode": 1}, ctx=ctx
    )
    assert r.status == 200, r.raw
    row = db_row(
        env.files,
        "SELECT mtls, reason_code FROM revoked_x509_certs WHERE serial = ?",
        (str(leaf.serial_number),),
    )
    assert row == (1, 1)


async def _refused_ctx(env: Env, body: Any, status: int, ctx: Any) -> str:
    before = db_counts(env.files)
    r = await env.api.post("/revoke", body, ctx=ctx)
    assert r.status == status, r.raw
    assert db_counts(env.files) == before
    return r.error()["message"]


# ============================================================================ names that cannot go on a certificate


async def test_every_kind_of_san_from_the_token(env: Env) -> None:
    sans = ["a.example", "mail@example.com", "spiffe://example.org/ns/x", "10.0.0.1", "::1", "[2001:db8::7]"]
    ott = env.admin.token("a.example", env.api.aud("/sign"), sans=sans)
    r = await env.api.post("/sign", {"csr": csr_pem(make_csr(ec_key(), None)), "ott": ott})
    assert r.status == 201, r.raw
    san = pem_cert(r.json["crt"]).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.example"]
    assert san.get_values_for_type(x509.RFC822Name) == ["mail@example.com"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://example.org/ns/x"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.1", "::1", "2001:db8::7"]


@pytest.mark.parametrize(
    ("sub", "sans", "fragment"),
    [
        ("bücher.example", ["bücher.example"], "subject alternative name"),  # an IDN must come as its A-label
        ("x" * 65, ["x.example"], "subject"),  # ub-common-name is 64
        ("odd.example", ["http://[::1"], None),  # not a URL: step's SplitSANs makes it a DNS name
    ],
)
async def test_names_a_certificate_cannot_hold_are_400(
    env: Env, sub: str, sans: list[str], fragment: str | None
) -> None:
    ott = env.admin.token(sub, env.api.aud("/sign"), sans=sans)
    body = {"csr": csr_pem(make_csr(ec_key(), None)), "ott": ott}
    if fragment is None:
        r = await env.api.post("/sign", body)
        assert r.status == 201, r.raw
        san = pem_cert(r.json["crt"]).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == sans
    else:
        assert fragment in await refused(env, body, 400)
