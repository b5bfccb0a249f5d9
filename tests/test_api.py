"""The HTTP API of docs/reference/wire.md §3 through the real server (in this event loop, real TLS, real SQLite).

One CA serves the whole module; each test leaves it usable for the next. Every refusal is checked for
step's status and error shape, and — where a request could have written something — for an unchanged
database.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import subprocess
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
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificateType
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.testing import (
    Api,
    CAFiles,
    ProvKey,
    admin_key,
    b64url_decode,
    csr_pem,
    db_counts,
    db_row,
    ec_key,
    in_process_ca,
    make_ca,
    make_csr,
    new_jwk_provisioner,
    pem_cert,
    renew_token,
    write_leaf,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")
UTC = dt.UTC


@define
class Env:
    files: CAFiles
    api: Api
    authority: Any
    admin: ProvKey
    provs: dict[str, ProvKey]
    tmp: Path
    federated: x509.Certificate


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("api")
    files = make_ca(tmp)
    # A federated root made by openssl, as an operator would bring one from another PKI.
    fed_crt, fed_key = tmp / "federated.crt", tmp / "federated.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=Federated Root", "-days", "2", "-keyout", str(fed_key), "-out", str(fed_crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    cfg = files.config()
    cfg["federatedRoots"] = [str(fed_crt)]
    files.write_config(cfg)
    provs: dict[str, ProvKey] = {}
    for name, kw in {
        "norenew": {"claims": {"disableRenewal": True}},
        "afterexpiry": {"claims": {"allowRenewalAfterExpiry": True}},
        "nossh": {},
        "rsa": {"kty": "RSA"},
        "okp": {"kty": "OKP"},
        "noext": {"claims": {"disableSmallstepExtensions": True}},
        "gone": {},
    }.items():
        block, key = new_jwk_provisioner(name, **kw)
        files.add_provisioner(block)
        provs[name] = key
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        yield Env(
            files=files,
            api=Api(files, session),
            authority=authority,
            admin=admin_key(files),
            provs=provs,
            tmp=tmp,
            federated=x509.load_pem_x509_certificate(fed_crt.read_bytes()),
        )


def fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def pem_bytes(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def expected_provisioner_extension(name: str, credential: str, type_id: int = 1) -> bytes:
    """step's extension DER, built by hand: SEQUENCE { INTEGER type, OCTET STRING name, OCTET STRING cred }."""

    def tlv(tag: int, value: bytes) -> bytes:
        assert len(value) < 128
        return bytes([tag, len(value)]) + value

    return tlv(0x30, tlv(0x02, bytes([type_id])) + tlv(0x04, name.encode()) + tlv(0x04, credential.encode()))


# ============================================================================ public GET endpoints


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_health_and_version(env: Env, prefix: str) -> None:
    r = await env.api.get(prefix + "/health")
    assert r.status == 200 and r.json == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json") and r.raw.endswith(b"\n")
    r = await env.api.get(prefix + "/version")
    assert r.status == 200
    assert set(r.json) == {"version"} and r.json["version"]  # requireClientAuthentication omitted when false


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_roots_federation_intermediates(env: Env, prefix: str) -> None:
    root = x509.load_pem_x509_certificate(env.files.root.read_bytes())
    inter = x509.load_pem_x509_certificate(env.files.intermediate.read_bytes())
    r = await env.api.get(prefix + "/roots")
    assert r.status == 201 and set(r.json) == {"crts"}
    assert [fp(pem_cert(c)) for c in r.json["crts"]] == [fp(root)]
    r = await env.api.get(prefix + "/roots.pem")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    assert [fp(c) for c in x509.load_pem_x509_certificates(r.raw)] == [fp(root)]
    r = await env.api.get(prefix + "/federation")
    assert r.status == 201
    assert [fp(pem_cert(c)) for c in r.json["crts"]] == [fp(root), fp(env.federated)]
    r = await env.api.get(prefix + "/intermediates")
    assert r.status == 201 and [fp(pem_cert(c)) for c in r.json["crts"]] == [fp(inter)]
    r = await env.api.get(prefix + "/intermediates.pem")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    assert [fp(c) for c in x509.load_pem_x509_certificates(r.raw)] == [fp(inter)]


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_root_by_fingerprint_normalises_dashes_and_case(env: Env, prefix: str) -> None:
    root = x509.load_pem_x509_certificate(env.files.root.read_bytes())
    sha = fp(root)
    assert sha == env.files.fingerprint
    dashed_upper = "-".join(sha[i : i + 8] for i in range(0, 64, 8)).upper()
    for form in (sha, sha.upper(), dashed_upper):
        r = await env.api.get(f"{prefix}/root/{form}")
        assert r.status == 200, form
        assert fp(pem_cert(r.json["ca"])) == sha
    # Federated roots are found too.
    r = await env.api.get(f"{prefix}/root/{fp(env.federated)}")
    assert r.status == 200 and fp(pem_cert(r.json["ca"])) == fp(env.federated)
    missing = hashlib.sha256(b"not a root").hexdigest()
    r = await env.api.get(f"{prefix}/root/{missing.upper()}")
    assert r.status == 404
    assert missing in r.error()["message"]


async def test_ssh_roots_and_federation(env: Env) -> None:
    certs = env.files.home / "certs"
    user = (certs / "ssh_user_ca_key.pub").read_text().split()[1]
    host = (certs / "ssh_host_ca_key.pub").read_text().split()[1]
    for path in ("/ssh/roots", "/1.0/ssh/roots", "/ssh/federation", "/1.0/ssh/federation"):
        r = await env.api.get(path)
        assert r.status == 200 and r.json == {"userKey": [user], "hostKey": [host]}, path


@pytest.mark.parametrize(
    "path",
    ["/health", "/version", "/roots", "/roots.pem", "/federation", "/intermediates", "/intermediates.pem",
     "/provisioners", "/capabilities", "/ssh/roots", "/ssh/federation"],
)  # fmt: skip
async def test_head_answers_every_get(env: Env, path: str) -> None:
    for prefix in ("", "/1.0"):
        get = await env.api.get(prefix + path)
        head = await env.api.call("HEAD", prefix + path)
        assert head.status == get.status and head.raw == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]


async def test_request_id_is_echoed_or_generated(env: Env) -> None:
    r = await env.api.get("/health", headers={"X-Request-Id": "req-42"})
    assert r.headers["X-Request-Id"] == "req-42"
    r = await env.api.get("/health", headers={"X-Smallstep-Id": "legacy-7"})
    assert r.headers["X-Request-Id"] == "legacy-7"
    a = (await env.api.get("/health")).headers["X-Request-Id"]
    b = (await env.api.get("/health")).headers["X-Request-Id"]
    assert a and b and a != b
    # Errors carry it too.
    r = await env.api.post("/sign", {}, headers={"X-Request-Id": "req-err"})
    assert r.status == 400 and r.headers["X-Request-Id"] == "req-err"


async def test_unknown_path_is_a_json_404(env: Env) -> None:
    r = await env.api.get("/no/such/thing")
    assert r.status == 404
    r.error()


async def test_provisioners_list_and_encrypted_key(env: Env) -> None:
    for prefix in ("", "/1.0"):
        r = await env.api.get(prefix + "/provisioners")
        assert r.status == 200 and set(r.json) == {"provisioners", "nextCursor"}
        assert r.json["nextCursor"] == ""
        want = env.files.config()["authority"]["provisioners"]
        assert r.json["provisioners"] == want  # ca.json blocks as they are, encryptedKey included (§10.5)
    admin = next(p for p in want if p["name"] == "admin")
    r = await env.api.get(f"/provisioners/{admin['key']['kid']}/encrypted-key")
    assert r.status == 200 and r.json == {"key": admin["encryptedKey"]}
    r = await env.api.get(f"/1.0/provisioners/{env.provs['rsa'].kid}/encrypted-key")
    assert r.status == 404  # published without an encrypted key
    r.error()
    r = await env.api.get("/provisioners/no-such-kid/encrypted-key")
    assert r.status == 404
    r.error()


@pytest.mark.parametrize("limit", ["x", "1.5", "ten"])
async def test_provisioners_limit_must_be_an_integer(env: Env, limit: str) -> None:
    r = await env.api.get(f"/provisioners?limit={limit}")
    assert r.status == 400
    assert f"limit '{limit}' is not an integer" in r.error()["message"]


async def test_capabilities_lists_jwk(env: Env) -> None:
    r = await env.api.get("/capabilities")
    assert r.status == 200
    rows = {row["type"]: row for row in r.json["provisionerTypes"]}
    assert rows["JWK"]["distribution"] == "plica-jwk"
    assert rows["JWK"]["capabilities"] == [
        "x509-sign", "x509-renew", "x509-revoke", "ssh-user-cert-sign", "ssh-host-cert-sign", "ssh-revoke",
    ]  # fmt: skip
    idents = {row["identifier"]: row["columns"] for row in r.json["identifierTypes"]}
    assert idents["ip-address"]["JWK"] is True


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


async def _refused(
    env: Env, body: Any, status: int, *, data: bytes | None = None, path: str = "/sign"
) -> str:
    """Send a bad request; it must get `status` in step's error shape and leave the database as it was."""
    before = db_counts(env.files)
    if data is not None:
        r = await env.api.call("POST", path, data=data, headers={"Content-Type": "application/json"})
    else:
        r = await env.api.post(path, body)
    assert r.status == status, r.raw
    msg = r.error()["message"]
    assert db_counts(env.files) == before, "a refused request wrote to the database"
    return msg


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"not json at all", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"csr"', "JSON object"),
        (b'{"csr": 5}', "missing csr"),
        (b"{}", "missing csr"),
    ],
)
async def test_sign_garbage_bodies_are_400(env: Env, data: bytes, fragment: str) -> None:
    assert fragment in await _refused(env, None, 400, data=data)


async def test_sign_bad_csrs_are_400_and_store_nothing(env: Env) -> None:
    ott = env.admin.token("bad.example", env.api.aud("/sign"))
    assert "invalid csr" in await _refused(env, {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "ott": ott}, 400)  # fmt: skip
    assert "invalid csr" in await _refused(env, {"csr": "hello", "ott": ott}, 400)
    assert "signature" in await _refused(env, {"csr": _bad_signature_csr(), "ott": ott}, 400)
    good = csr_pem(make_csr(ec_key(), "bad.example", ["bad.example"]))
    assert "ott" in await _refused(env, {"csr": good}, 400)
    assert "templateData" in await _refused(env, {"csr": good, "ott": ott, "templateData": [1]}, 400)
    assert "notAfter" in await _refused(env, {"csr": good, "ott": ott, "notAfter": 3600}, 400)
    assert "invalid time" in await _refused(env, {"csr": good, "ott": ott, "notAfter": "tomorrow"}, 400)
    # None of those consumed the token: it still works once, then never again.
    r = await env.api.post("/sign", {"csr": good, "ott": ott})
    assert r.status == 201
    assert "already used" in await _refused(env, {"csr": good, "ott": ott}, 401)


async def test_sign_names_the_token_does_not_allow_are_403(env: Env) -> None:
    key = ec_key()
    ott = env.admin.token("ok.example", env.api.aud("/sign"), sans=["ok.example"])
    # A SAN beyond the token's.
    csr = csr_pem(make_csr(key, "ok.example", ["ok.example", "evil.example"]))
    assert "DNS names" in await _refused(env, {"csr": csr, "ott": ott}, 403)
    # A CN that is neither the subject nor a SAN of the token.
    csr = csr_pem(make_csr(key, "evil.example", ["ok.example"]))
    assert "common name" in await _refused(env, {"csr": csr, "ott": ott}, 403)
    # An IP the token does not name.
    csr = csr_pem(make_csr(key, "ok.example", ["10.9.9.9"]))
    assert "IP addresses" in await _refused(env, {"csr": csr, "ott": ott}, 403)
    # RSA 1024 is too short (403, as step).
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = csr_pem(make_csr(small, "ok.example", ["ok.example"]))
    assert "1024" in await _refused(env, {"csr": csr, "ott": ott}, 403)
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
    return mat.sign_builder(b), key


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
    msg = await _refused(
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
    assert "passive" in await _refused(
        env, {"serial": serial, "ott": tok, "passive": False}, 501, path="/revoke"
    )
    assert "passive" in await _refused(env, {"serial": serial, "ott": tok}, 501, path="/revoke")
    other = env.admin.token(str(leaf.serial_number + 1), aud)
    assert "does not match" in await _refused(
        env, {"serial": serial, "ott": other, "passive": True}, 403, path="/revoke"
    )
    assert "reasonCode" in await _refused(
        env, {"serial": serial, "ott": tok, "passive": True, "reasonCode": 11}, 400, path="/revoke"
    )
    assert "serial" in await _refused(
        env, {"serial": "12ab", "ott": tok, "passive": True}, 400, path="/revoke"
    )
    assert "serial" in await _refused(env, {"ott": tok, "passive": True}, 400, path="/revoke")
    assert await _refused(env, {"serial": serial, "passive": True}, 401, path="/revoke")
    # A sign token is not a revoke token (audience).
    sign_tok = env.admin.token(serial, env.api.aud("/sign"))
    await _refused(env, {"serial": serial, "ott": sign_tok, "passive": True}, 401, path="/revoke")
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


# ============================================================================ SSH


def ssh_pub(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
        .decode()
    )


def load_ssh_cert(b64: str) -> Any:
    blob = base64.b64decode(b64)
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
    return serialization.load_ssh_public_identity(kind + b" " + b64.encode())


def ca_pub(env: Env, kind: str) -> Any:
    return serialization.load_ssh_public_key(
        (env.files.home / "certs" / f"ssh_{kind}_ca_key.pub").read_bytes()
    )


def ssh_token(
    prov: ProvKey,
    env: Env,
    sub: str,
    cert_type: str,
    principals: list[str],
    aud: str = "/ssh/sign",
    **opts: Any,
) -> str:
    step = {"ssh": {"certType": cert_type, "keyID": sub, "principals": principals, **opts}}
    return prov.token(sub, env.api.aud(aud), step=step)


@pytest.mark.parametrize("path", ["/ssh/sign", "/1.0/ssh/sign", "/sign-ssh"])
async def test_ssh_user_certificate(env: Env, path: str) -> None:
    key, extra = ed25519.Ed25519PrivateKey.generate(), ec_key()
    before = db_counts(env.files)
    tok = ssh_token(env.admin, env, "alice", "user", ["alice", "root"])
    r = await env.api.post(path, {"publicKey": ssh_pub(key), "ott": tok, "certType": "user", "keyID": "alice",
                                  "principals": ["alice"], "addUserPublicKey": ssh_pub(extra)})  # fmt: skip
    assert r.status == 201, r.raw
    assert set(r.json) == {"crt", "addUserCrt"}
    cert = load_ssh_cert(r.json["crt"])
    cert.verify_cert_signature()
    assert cert.signature_key() == ca_pub(env, "user")
    assert cert.type == SSHCertificateType.USER and cert.key_id == b"alice"
    # As step's default template: the token's principals; the request's are only checked to be a subset.
    assert cert.valid_principals == [b"alice", b"root"]
    assert cert.public_key() == key.public_key()
    assert sorted(cert.extensions) == sorted(
        [
            b"permit-X11-forwarding",
            b"permit-agent-forwarding",
            b"permit-port-forwarding",
            b"permit-pty",
            b"permit-user-rc",
        ]
    )
    assert cert.valid_before - cert.valid_after == 16 * 3600 + 60  # defaultUserSSHCertDuration + backdate
    add = load_ssh_cert(r.json["addUserCrt"])
    add.verify_cert_signature()
    assert add.public_key() == extra.public_key()
    assert add.valid_principals == [b"provisioner"] and add.key_id == b"alice-provisioner"
    assert add.critical_options == {b"force-command": b"sudo useradd -m alice; nc -q0 localhost 22"}
    assert (add.valid_after, add.valid_before) == (cert.valid_after, cert.valid_before)
    after = db_counts(env.files)
    assert after["ssh_certs"] == before["ssh_certs"] + 2 and after["used_tokens"] == before["used_tokens"] + 1


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384", "p521"])
async def test_ssh_key_types(env: Env, kind: str) -> None:
    key = {
        "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    }[kind]()
    r = await env.api.post(
        "/ssh/sign", {"publicKey": ssh_pub(key), "ott": ssh_token(env.admin, env, "k", "user", ["k"])}
    )
    assert r.status == 201, r.raw
    assert load_ssh_cert(r.json["crt"]).public_key() == key.public_key()


async def test_ssh_host_certificate_check_host_and_revoke(env: Env) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    tok = ssh_token(env.admin, env, "web.internal", "host", ["web.internal", "10.1.1.1"])
    r = await env.api.post("/ssh/sign", {"publicKey": ssh_pub(key), "ott": tok, "certType": "host"})
    assert r.status == 201, r.raw
    cert = load_ssh_cert(r.json["crt"])
    cert.verify_cert_signature()
    assert cert.signature_key() == ca_pub(env, "host")
    assert cert.type == SSHCertificateType.HOST and cert.extensions == {}
    assert cert.valid_principals == [b"web.internal", b"10.1.1.1"]
    assert cert.valid_before - cert.valid_after == 720 * 3600 + 60
    for prefix in ("", "/1.0"):
        r = await env.api.post(prefix + "/ssh/check-host", {"type": "host", "principal": "web.internal"})
        assert r.status == 200 and r.json == {"exists": True}
    r = await env.api.post("/ssh/check-host", {"type": "host", "principal": "nobody.internal"})
    assert r.status == 200 and r.json == {"exists": False}
    r = await env.api.post("/ssh/check-host", {"type": "user", "principal": "web.internal"})
    assert r.status == 400
    r.error()
    r = await env.api.post("/ssh/check-host", {"type": "host", "principal": ""})
    assert r.status == 400
    # Revoke it: the host disappears from check-host.
    serial = str(cert.serial)
    rtok = env.admin.token(serial, env.api.aud("/ssh/revoke"))
    assert "passive" in await _refused(
        env, {"serial": serial, "ott": rtok, "passive": False}, 501, path="/ssh/revoke"
    )
    assert "ott" in await _refused(env, {"serial": serial, "passive": True}, 400, path="/ssh/revoke")
    wrong = env.admin.token("123", env.api.aud("/ssh/revoke"))
    await _refused(env, {"serial": serial, "ott": wrong, "passive": True}, 403, path="/ssh/revoke")
    r = await env.api.post(
        "/1.0/ssh/revoke", {"serial": serial, "ott": rtok, "passive": True, "reasonCode": 1}
    )
    assert r.status == 200 and r.json == {"status": "ok"}
    assert db_row(env.files, "SELECT reason_code FROM revoked_ssh_certs WHERE serial = ?", (serial,)) == (1,)
    r = await env.api.post("/ssh/check-host", {"type": "host", "principal": "web.internal"})
    assert r.json == {"exists": False}
    again = env.admin.token(serial, env.api.aud("/ssh/revoke"))
    assert "already revoked" in await _refused(
        env, {"serial": serial, "ott": again, "passive": True}, 400, path="/ssh/revoke"
    )


@pytest.mark.filterwarnings("ignore:SSH DSA key")  # cryptography deprecates DSA: which is the point
async def test_ssh_refusals(env: Env) -> None:
    key = ssh_pub(ed25519.Ed25519PrivateKey.generate())
    user_tok = ssh_token(env.admin, env, "bob", "user", ["bob"])
    # A principal the token does not grant.
    assert "principals" in await _refused(
        env, {"publicKey": key, "ott": user_tok, "principals": ["root"]}, 403, path="/ssh/sign"
    )
    # A user token used for a host certificate.
    assert "user" in await _refused(
        env, {"publicKey": key, "ott": user_tok, "certType": "host"}, 403, path="/ssh/sign"
    )
    # An X.509 token (no step.ssh claim).
    x509_tok = env.admin.token("bob", env.api.aud("/ssh/sign"))
    assert "SSH" in await _refused(env, {"publicKey": key, "ott": x509_tok}, 401, path="/ssh/sign")
    # A provisioner without enableSSHCA.
    nossh = ssh_token(env.provs["nossh"], env, "bob", "user", ["bob"])
    assert "enableSSHCA" in await _refused(env, {"publicKey": key, "ott": nossh}, 401, path="/ssh/sign")
    # Bad bodies.
    assert "publicKey" in await _refused(env, {"ott": user_tok}, 400, path="/ssh/sign")
    assert "publicKey" in await _refused(
        env, {"publicKey": "bm90IGEga2V5", "ott": user_tok}, 400, path="/ssh/sign"
    )
    assert "certType" in await _refused(
        env, {"publicKey": key, "ott": user_tok, "certType": "robot"}, 400, path="/ssh/sign"
    )
    assert "ott" in await _refused(env, {"publicKey": key}, 400, path="/ssh/sign")
    # Keys step's sshDefaultPublicKeyValidator refuses: short RSA (403) and DSA (400) — also as addUserPublicKey,
    # where a bad second key must not leave the first certificate behind.
    short = ssh_pub(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert "2048" in await _refused(env, {"publicKey": short, "ott": user_tok}, 403, path="/ssh/sign")
    assert "2048" in await _refused(
        env, {"publicKey": key, "ott": user_tok, "addUserPublicKey": short}, 403, path="/ssh/sign"
    )
    old = ssh_pub(dsa.generate_private_key(key_size=1024))
    assert "not supported" in await _refused(env, {"publicKey": old, "ott": user_tok}, 400, path="/ssh/sign")
    assert "addUserPublicKey" in await _refused(
        env, {"publicKey": key, "ott": user_tok, "addUserPublicKey": "AAAA"}, 400, path="/ssh/sign"
    )
    # Durations beyond the claims.
    assert "maximum" in await _refused(
        env, {"publicKey": key, "ott": user_tok, "validBefore": "48h"}, 403, path="/ssh/sign"
    )
    # After all that, the token is unused.
    r = await env.api.post("/ssh/sign", {"publicKey": key, "ott": user_tok})
    assert r.status == 201
    cert = load_ssh_cert(r.json["crt"])
    assert cert.valid_principals == [b"bob"] and cert.key_id == b"bob"


# ============================================================================ /provisioners pagination


@define
class Paged:
    api: Api
    names: list[str]
    uids: list[str]


def step_uid(index: int, pid: str) -> str:
    """docs/reference/wire.md §10.7: hex(SHA-1(id)) with its first 4 bytes replaced by the big-endian insertion index."""
    digest = bytearray(hashlib.sha1(pid.encode()).digest())
    digest[:4] = index.to_bytes(4, "big")
    return digest.hex()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def paged(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Paged]:
    files = make_ca(tmp_path_factory.mktemp("paged"), ssh=False)
    cfg = files.config()
    for i in range(104):
        block, _ = new_jwk_provisioner(f"p{i:03d}")
        cfg["authority"]["provisioners"].append(block)
    files.write_config(cfg)
    blocks = cfg["authority"]["provisioners"]
    # step's JWK id is "<name>:<kid>"; the uid orders the list and makes the cursor.
    uids = [step_uid(i, f"{b['name']}:{b['key']['kid']}") for i, b in enumerate(blocks)]
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        yield Paged(api=Api(files, session), names=[b["name"] for b in blocks], uids=uids)


async def test_provisioners_default_page_is_20(paged: Paged) -> None:
    assert len(paged.names) == 105
    for q in ("", "?limit=0", "?limit=-3", "?limit=", "?cursor="):
        r = await paged.api.get("/provisioners" + q)
        assert r.status == 200, q
        assert [p["name"] for p in r.json["provisioners"]] == paged.names[:20], q
        assert r.json["nextCursor"] == paged.uids[20].lstrip("0"), q


async def test_provisioners_limit_is_capped_at_100(paged: Paged) -> None:
    r = await paged.api.get("/1.0/provisioners?limit=1000")
    assert [p["name"] for p in r.json["provisioners"]] == paged.names[:100]
    assert r.json["nextCursor"] == paged.uids[100].lstrip("0")
    r = await paged.api.get("/provisioners?limit=7")
    assert len(r.json["provisioners"]) == 7 and r.json["nextCursor"] == paged.uids[7].lstrip("0")


async def test_provisioners_cursor_walk_sees_each_once(paged: Paged) -> None:
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        r = await paged.api.get(f"/provisioners?limit=25&cursor={cursor}")
        assert r.status == 200
        seen += [p["name"] for p in r.json["provisioners"]]
        cursor = r.json["nextCursor"]
        pages += 1
        if not cursor:
            break
    assert seen == paged.names and pages == 5
    # A cursor is left-padded to 40 hex digits, so its leading zeros may be given or not.
    padded = paged.uids[42]
    for c in (padded, padded.lstrip("0")):
        r = await paged.api.get(f"/provisioners?limit=3&cursor={c}")
        assert [p["name"] for p in r.json["provisioners"]] == paged.names[42:45]
    # A cursor past the end gives an empty last page.
    r = await paged.api.get("/provisioners?cursor=" + "f" * 40)
    assert r.json == {"provisioners": [], "nextCursor": ""}


# ============================================================================ hostile bodies: never a 500

POSTS = ["/sign", "/renew", "/rekey", "/revoke", "/ssh/sign", "/ssh/renew", "/ssh/rekey", "/ssh/revoke",
         "/ssh/check-host", "/sign-ssh", "/re-sign"]  # fmt: skip
HOSTILE: list[Any] = [
    {"csr": 5, "ott": 5},
    {"csr": ["x"], "ott": {"a": 1}},
    {"csr": "-----BEGIN CERTIFICATE REQUEST-----\n\n-----END CERTIFICATE REQUEST-----\n", "ott": "a.b.c"},
    {"ott": "e30.e30.AA", "csr": None, "notBefore": {}, "notAfter": []},
    {"serial": 5, "reasonCode": "1", "passive": "true", "ott": 1},
    {"serial": "0x", "passive": True, "reasonCode": True},
    {"serial": "-1", "passive": True, "ott": "x"},
    {"serial": "9" * 400, "passive": True, "ott": "x"},
    {"publicKey": 5, "ott": 5, "principals": "root", "certType": 1},
    {"publicKey": "AAAA", "ott": "x.y.z", "validAfter": 5, "validBefore": {}, "keyID": []},
    {"publicKey": "AAAAC3NzaC1lZDI1NTE5AAAAIA==", "ott": "x"},
    {"type": 5, "principal": ["a"]},
    {"type": "host", "principal": 5},
    {"templateData": "x", "csr": "x", "ott": "x"},
    {"\u0000": "\ud7ff", "csr": "\u0000"},
]


@pytest.mark.parametrize("path", POSTS)
async def test_hostile_bodies_get_a_4xx_and_store_nothing(env: Env, path: str) -> None:
    before = db_counts(env.files)
    for body in HOSTILE:
        r = await env.api.post(path, body)
        assert 400 <= r.status < 500 or r.status == 501, (path, body, r.raw)
        r.error()
    for raw in (b"\xff\xfe", b"{" * 5000, b"null", b"1e999", b'{"csr": "' + "é".encode() * 10 + b'"}'):
        r = await env.api.call("POST", path, data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= r.status < 500, (path, raw[:20], r.raw)
        r.error()
    assert db_counts(env.files) == before


async def test_ssh_renew_and_rekey_need_a_type_that_has_them(env: Env) -> None:
    # JWK has neither capability (docs/reference/wire.md §5): the kernel answers 401, naming it.
    key = ssh_pub(ed25519.Ed25519PrivateKey.generate())
    tok = env.admin.token("web.internal", env.api.aud("/ssh/renew"))
    msg = await _refused(env, {"ott": tok}, 401, path="/ssh/renew")
    assert "ssh-host-cert-renew" in msg
    tok = env.admin.token("web.internal", env.api.aud("/ssh/rekey"))
    msg = await _refused(env, {"ott": tok, "publicKey": key}, 401, path="/1.0/ssh/rekey")
    assert "ssh-rekey" in msg
    assert "ott" in await _refused(env, {}, 400, path="/ssh/renew")


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
        assert fragment in await _refused(env, body, 400)
