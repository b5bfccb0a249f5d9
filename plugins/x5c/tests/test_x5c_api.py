"""The X5C provisioner against the real HTTPS server (in-process): sign, revoke, renew, SSH, and every way a
token can be wrong."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.api import ConfigError, ProvisionerExtension, sign_compact
from plica.testing import CAFiles, in_process_ca
from plica_x5c.client import x5c_token

UTC = dt.UTC


def csr_pem(key: Any, cn: str, sans: list[str]) -> str:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def audience(files: CAFiles, path: str, name: str = "x5c") -> str:
    return f"{files.url}/1.0{path}#x5c/{name}"


def token_for(files: CAFiles, outside: Any, leaf: Any, sub: str, path: str = "/sign", **kw: Any) -> str:
    return x5c_token(
        outside.chain(leaf), leaf.key, issuer="x5c", subject=sub, audience=audience(files, path), **kw
    )


async def sign(api: Any, token: str, cn: str, sans: list[str] | None = None, **body: Any) -> tuple[int, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return await api.post("/sign", {"csr": csr_pem(key, cn, sans or [cn]), "ott": token, **body})


def leaf_of(resp: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(resp["crt"].encode())


# ------------------------------------------------------------------------------------------------ sign


async def test_sign_with_outside_chain(ca: CAFiles, outside: Any, api: Any) -> None:
    leaf = outside.leaf("device-1")
    async with in_process_ca(ca):
        status, body = await sign(api(ca), token_for(ca, outside, leaf, "svc.example"), "svc.example")
    assert status == 201, body
    cert = leaf_of(body)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "svc.example"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["svc.example"]
    ext = ProvisionerExtension.from_certificate(cert)
    assert ext is not None and (ext.type, ext.name, ext.credential_id) == (7, "x5c", "")
    # The default 24h is capped at the authorizing leaf's expiry (6h).
    assert cert.not_valid_after_utc == leaf.cert.not_valid_after_utc


async def test_requested_validity_outside_the_leaf_is_forbidden(ca: CAFiles, outside: Any, api: Any) -> None:
    leaf = outside.leaf()
    async with in_process_ca(ca):
        status, body = await sign(
            api(ca), token_for(ca, outside, leaf, "a.example"), "a.example", notAfter="8h"
        )
        assert status == 403, body
        assert "notAfter" in body["message"] and "credential" in body["message"]
        status, body = await sign(
            api(ca), token_for(ca, outside, leaf, "a.example"), "a.example", notAfter="2h"
        )
    assert status == 201, body
    cert = leaf_of(body)
    assert abs((cert.not_valid_after_utc - dt.datetime.now(UTC)) - dt.timedelta(hours=2)) < dt.timedelta(
        minutes=1
    )


async def test_csr_names_must_match_the_token(ca: CAFiles, outside: Any, api: Any) -> None:
    leaf = outside.leaf()
    async with in_process_ca(ca):
        a = api(ca)
        # CN must be the subject itself (a SAN of the token is not enough, unlike JWK).
        tok = token_for(ca, outside, leaf, "a.example", sans=["a.example", "b.example"])
        status, body = await sign(a, tok, "b.example", ["a.example", "b.example"])
        assert status == 403 and "common name" in body["message"], body
        tok = token_for(ca, outside, leaf, "a.example")
        status, body = await sign(a, tok, "a.example", ["a.example", "evil.example"])
        assert status == 403 and "DNS names" in body["message"], body
        # An empty CN is allowed; the certificate gets the token's subject.
        tok = token_for(ca, outside, leaf, "a.example")
        status, body = await sign(a, tok, "", ["a.example"])
    assert status == 201, body


# ------------------------------------------------------------------------------------------------ refusals


async def _expect_401(ca: CAFiles, api: Any, token: str, *needles: str) -> str:
    status, body = await sign(api(ca), token, "a.example")
    assert status == 401, body
    assert set(body) == {"status", "message"} and body["status"] == 401
    for n in needles:
        assert n in body["message"], body["message"]
    return body["message"]


async def test_refusals_say_why(ca: CAFiles, outside: Any, api: Any) -> None:
    now = dt.datetime.now(UTC)
    other = type(outside).create("Stranger")
    async with in_process_ca(ca):
        # A chain from a PKI the provisioner does not trust.
        stranger = other.leaf("intruder")
        tok = x5c_token(other.chain(stranger), stranger.key, issuer="x5c", subject="a.example",
                        audience=audience(ca, "/sign"))  # fmt: skip
        await _expect_401(ca, api, tok, "does not verify to the roots of provisioner 'x5c'")

        # An expired and a not-yet-valid authenticating certificate.
        old = outside.leaf(not_before=now - dt.timedelta(days=2), not_after=now - dt.timedelta(days=1))
        await _expect_401(ca, api, token_for(ca, outside, old, "a.example"), "leaf certificate", "expired on")
        future = outside.leaf(not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=2))
        await _expect_401(ca, api, token_for(ca, outside, future, "a.example"), "not valid yet")

        # A forged token: a good chain, but signed with a key that is not the leaf's.
        leaf = outside.leaf()
        thief = ec.generate_private_key(ec.SECP256R1())
        header = {
            "alg": "ES256",
            "typ": "JWT",
            "x5c": [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                for c in outside.chain(leaf)
            ],
        }
        now_s = int(time.time())
        claims = {"iss": "x5c", "sub": "a.example", "aud": audience(ca, "/sign"), "jti": secrets.token_hex(32),
                  "iat": now_s, "nbf": now_s, "exp": now_s + 300}  # fmt: skip
        await _expect_401(ca, api, sign_compact(header, claims, thief), "signature does not verify", "leaf")

        # A forged certificate: names the trusted intermediate as issuer, signed by someone else.
        forged = outside.leaf(signer=ec.generate_private_key(ec.SECP256R1()))
        await _expect_401(
            ca, api, token_for(ca, outside, forged, "a.example"), "does not verify to the roots"
        )

        # A replayed token: accepted once, refused the second time.
        tok = token_for(ca, outside, leaf, "a.example")
        status, body = await sign(api(ca), tok, "a.example")
        assert status == 201, body
        await _expect_401(ca, api, tok, "token already used")

        # Usages: clientAuth EKU and digitalSignature KU are required.
        server_only = outside.leaf(eku=[ExtendedKeyUsageOID.SERVER_AUTH])
        await _expect_401(ca, api, token_for(ca, outside, server_only, "a.example"), "clientAuth")
        no_sig = x509.KeyUsage(False, False, True, False, False, False, False, False, False)
        enc_only = outside.leaf(key_usage=no_sig)
        await _expect_401(ca, api, token_for(ca, outside, enc_only, "a.example"), "digitalSignature")

        # Claims: issuer and audience fragment.
        tok = x5c_token(outside.chain(leaf), leaf.key, issuer="someone", subject="a.example",
                        audience=audience(ca, "/sign"))  # fmt: skip
        await _expect_401(ca, api, tok, "issuer")
        tok = x5c_token(outside.chain(leaf), leaf.key, issuer="x5c", subject="a.example",
                        audience=f"{ca.url}/1.0/revoke#x5c/x5c")  # fmt: skip
        await _expect_401(ca, api, tok, "audience")
        tok = x5c_token(outside.chain(leaf), leaf.key, issuer="x5c", subject="a.example",
                        audience=audience(ca, "/sign"), lifetime=-3600)  # fmt: skip
        await _expect_401(ca, api, tok, "expired")


async def test_malformed_x5c_headers_are_401_not_500(ca: CAFiles, outside: Any, api: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now_s = int(time.time())
    claims = {"iss": "x5c", "sub": "a.example", "aud": audience(ca, "/sign"), "jti": secrets.token_hex(32),
              "iat": now_s, "nbf": now_s, "exp": now_s + 300}  # fmt: skip
    async with in_process_ca(ca):
        for x5c, needle in [
            (None, "no 'x5c' header"),
            ("MIIB", "non-empty list"),
            ([], "non-empty list"),
            (["%%%not base64"], "entry 0"),
            ([base64.b64encode(b"not a certificate").decode()], "entry 0"),
            (["MIIB"] * 11, "at most 10"),
        ]:
            header: dict[str, Any] = {"alg": "ES256", "typ": "JWT"}
            if x5c is not None:
                header["x5c"] = x5c
            await _expect_401(ca, api, sign_compact(header, claims, key), needle)


async def test_missing_capability_names_provisioner_and_capability(
    ca: CAFiles, outside: Any, api: Any
) -> None:
    leaf = outside.leaf()
    async with in_process_ca(ca):
        tok = token_for(ca, outside, leaf, "a.example", "/ssh/renew")
        status, body = await api(ca).post("/ssh/renew", {"ott": tok})
    assert status == 401, body
    assert "'x5c'" in body["message"] and "ssh-host-cert-renew" in body["message"]


# ------------------------------------------------------------------------------------------------ revoke, renew


async def test_revoke_and_renew(ca: CAFiles, outside: Any, api: Any, tmp_path: Any) -> None:
    import ssl

    import aiohttp

    leaf = outside.leaf()
    key = ec.generate_private_key(ec.SECP256R1())
    async with in_process_ca(ca):
        a = api(ca)
        status, body = await a.post("/sign", {"csr": csr_pem(key, "r.example", ["r.example"]),
                                              "ott": token_for(ca, outside, leaf, "r.example")})  # fmt: skip
        assert status == 201, body
        issued = leaf_of(body)
        # Renew over mTLS with the X5C-issued certificate.
        crt, k = tmp_path / "r.crt", tmp_path / "r.key"
        crt.write_text("".join(body["certChain"]))
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))  # fmt: skip
        ctx = ssl.create_default_context(cafile=str(ca.root))
        ctx.load_cert_chain(str(crt), str(k))
        async with aiohttp.ClientSession() as s, s.post(ca.url + "/renew", ssl=ctx) as r:
            assert r.status == 201, await r.text()
            renewed = leaf_of(await r.json())
        assert renewed.subject == issued.subject and renewed.serial_number != issued.serial_number

        serial = str(issued.serial_number)
        # The revoke token's subject must be the serial (kernel rule, 403).
        wrong = token_for(ca, outside, leaf, "12345", "/revoke")
        status, body = await a.post("/revoke", {"serial": serial, "ott": wrong, "passive": True})
        assert status == 403, body
        tok = token_for(ca, outside, leaf, serial, "/revoke")
        status, body = await a.post(
            "/revoke", {"serial": serial, "ott": tok, "passive": True, "reasonCode": 4}
        )
        assert status == 200, body
        # A sign token is not a revoke token.
        tok = token_for(ca, outside, leaf, serial, "/sign")
        status, body = await a.post(
            "/revoke", {"serial": str(renewed.serial_number), "ott": tok, "passive": True}
        )
        assert status == 401 and "audience" in body["message"], body
        async with aiohttp.ClientSession() as s, s.post(ca.url + "/renew", ssl=ctx) as r:
            assert r.status == 401, await r.text()


async def test_disable_renewal(tmp_path: Any, outside: Any, api: Any) -> None:
    from plica.testing import make_ca

    files = make_ca(tmp_path)
    files.add_provisioner({"type": "X5C", "name": "x5c", "roots": outside.roots_b64(),
                           "claims": {"disableRenewal": True}})  # fmt: skip
    import ssl

    import aiohttp

    leaf = outside.leaf()
    key = ec.generate_private_key(ec.SECP256R1())
    async with in_process_ca(files):
        status, body = await api(files).post("/sign", {"csr": csr_pem(key, "r.example", ["r.example"]),
                                                       "ott": token_for(files, outside, leaf, "r.example")})  # fmt: skip
        assert status == 201, body
        crt, k = tmp_path / "r.crt", tmp_path / "r.key"
        crt.write_text("".join(body["certChain"]))
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))  # fmt: skip
        ctx = ssl.create_default_context(cafile=str(files.root))
        ctx.load_cert_chain(str(crt), str(k))
        async with aiohttp.ClientSession() as s, s.post(files.url + "/renew", ssl=ctx) as r:
            assert r.status == 401
            assert "renew is disabled" in (await r.json())["message"]


# ------------------------------------------------------------------------------------------------ SSH


def _ssh_pub(key: ed25519.Ed25519PrivateKey) -> str:
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.split(b" ")[1].decode()


def _ssh_cert(b64: str) -> Any:
    blob = base64.b64decode(b64)
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
    return serialization.load_ssh_public_identity(kind + b" " + b64.encode())


async def test_ssh_user_and_host_certificates(ca: CAFiles, outside: Any, api: Any) -> None:
    leaf = outside.leaf("alice@example.com")
    key = ed25519.Ed25519PrivateKey.generate()
    async with in_process_ca(ca):
        a = api(ca)
        ssh = {"step": {"ssh": {"certType": "user", "keyID": "alice", "principals": ["alice", "root"]}}}
        tok = token_for(ca, outside, leaf, "alice", "/ssh/sign", extra_claims=ssh)
        status, body = await a.post("/ssh/sign", {"publicKey": _ssh_pub(key), "ott": tok, "certType": "user"})
        assert status == 201, body
        cert = _ssh_cert(body["crt"])
        assert cert.key_id == b"alice" and cert.valid_principals == [b"alice", b"root"]
        # The user default (16h) is capped at the leaf's expiry (6h).
        assert cert.valid_before == int(leaf.cert.not_valid_after_utc.timestamp())

        # A host certificate: the host default (30 days) is capped likewise; a longer request is refused.
        ssh = {"step": {"ssh": {"certType": "host", "keyID": "web1", "principals": ["web1.internal"]}}}
        tok = token_for(ca, outside, leaf, "web1", "/ssh/sign", extra_claims=ssh)
        status, body = await a.post("/ssh/sign", {"publicKey": _ssh_pub(key), "ott": tok, "certType": "host",
                                                  "validBefore": "48h"})  # fmt: skip
        assert status == 403 and "expiry" in body["message"], body
        tok = token_for(ca, outside, leaf, "web1", "/ssh/sign", extra_claims=ssh)
        status, body = await a.post("/ssh/sign", {"publicKey": _ssh_pub(key), "ott": tok, "certType": "host"})
        assert status == 201, body
        host = _ssh_cert(body["crt"])
        assert host.type == serialization.SSHCertificateType.HOST
        assert host.valid_before == int(leaf.cert.not_valid_after_utc.timestamp())

        # The request's keyID must be the token subject; an X.509 token is not an SSH token.
        tok = token_for(ca, outside, leaf, "web1", "/ssh/sign", extra_claims=ssh)
        status, body = await a.post("/ssh/sign", {"publicKey": _ssh_pub(key), "ott": tok, "certType": "host",
                                                  "keyID": "other"})  # fmt: skip
        assert status == 403, body
        tok = token_for(ca, outside, leaf, "web1", "/ssh/sign")
        status, body = await a.post("/ssh/sign", {"publicKey": _ssh_pub(key), "ott": tok, "certType": "host"})
        assert status == 401 and "step.ssh" in body["message"], body


async def test_ssh_needs_enable_ssh_ca(tmp_path: Any, outside: Any, api: Any) -> None:
    from plica.testing import make_ca

    files = make_ca(tmp_path)
    files.add_provisioner({"type": "X5C", "name": "x5c", "roots": outside.roots_b64()})
    leaf = outside.leaf()
    ssh = {"step": {"ssh": {"certType": "user", "keyID": "alice", "principals": ["alice"]}}}
    async with in_process_ca(files):
        tok = token_for(files, outside, leaf, "alice", "/ssh/sign", extra_claims=ssh)
        pub = _ssh_pub(ed25519.Ed25519PrivateKey.generate())
        status, body = await api(files).post("/ssh/sign", {"publicKey": pub, "ott": tok})
    assert status == 401 and "enableSSHCA" in body["message"], body


# ------------------------------------------------------------------------------------------------ ca.json


@pytest.mark.parametrize(
    ("roots", "needle"),
    [
        (None, "is required"),
        ("", "is required"),
        ("not base64!", "not valid standard base64"),
        (base64.b64encode(b"hello").decode(), "no PEM certificate"),
        (
            base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").decode(),
            "cannot be parsed",
        ),
    ],
)
async def test_bad_roots_are_config_errors(tmp_path: Any, roots: Any, needle: str) -> None:
    from plica.testing import make_ca

    files = make_ca(tmp_path)
    block: dict[str, Any] = {"type": "X5C", "name": "x5c"}
    if roots is not None:
        block["roots"] = roots
    index = len(files.config()["authority"]["provisioners"])
    files.add_provisioner(block)
    with pytest.raises(ConfigError) as e:
        async with in_process_ca(files):
            pass
    assert f"provisioners[{index}].roots" in str(e.value) and needle in str(e.value)
