"""The Nebula provisioner through the real server (in this event loop, real TLS, real SQLite), with Nebula
certificates from the real `nebula-cert` and the issued X.509 certificates checked by `openssl verify`.

nebula-cert 1.6.1 only makes curve25519 certificates with one IP; the two-IP host certificate is signed with
nebula-cert's CA key by the library (and accepted by `nebula-cert verify`), the P-256 PKI entirely by the
library (see conftest.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import secrets
import subprocess
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

from plica.api import PROVISIONER_OID, ConfigError, b64url_encode
from plica.testing import CAFiles, in_process_ca, make_ca
from plica_nebula.cert import xeddsa_sign
from plica_nebula.client import load_credentials, make_token

pytestmark = pytest.mark.asyncio(loop_scope="module")

UTC = dt.UTC


@define
class Env:
    files: CAFiles
    session: aiohttp.ClientSession
    tmp: Path

    @property
    def url(self) -> str:
        return self.files.url

    async def post(self, path: str, body: dict[str, Any], ctx: Any = None) -> tuple[int, dict[str, Any]]:
        import ssl

        ctx = ctx or ssl.create_default_context(cafile=str(self.files.root))
        async with self.session.post(self.url + path, data=orjson.dumps(body), ssl=ctx) as r:
            return r.status, orjson.loads(await r.read())


X509_TEMPLATE = """{
  "subject": {"commonName": {{ toJson .Subject.CommonName }},
              "organizationalUnit": {{ toJson .AuthorizationCrt.Details.Groups }}},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature"],
  "extKeyUsage": ["serverAuth", "clientAuth"]
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, pki: Any, p256: Any) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("ca")
    files = make_ca(tmp)
    files.add_provisioner(
        {"type": "Nebula", "name": "nebula", "roots": pki.roots_b64, "claims": {"enableSSHCA": True}}
    )
    files.add_provisioner({"type": "Nebula", "name": "nebula-p256", "roots": p256.roots_b64})
    files.add_provisioner(
        {
            "type": "Nebula",
            "name": "nebula-tmpl",
            "roots": pki.roots_b64,
            "options": {"x509": {"template": X509_TEMPLATE}},
        }
    )
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        yield Env(files=files, session=session, tmp=tmp)


def claims(env: Env, prov: str, sub: str, path: str = "/sign", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    c = {
        "iss": prov,
        "sub": sub,
        "aud": f"{env.url}/1.0{path}#nebula/{prov}",
        "jti": secrets.token_hex(32),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def token(host: Any, c: dict[str, Any]) -> str:
    cert, curve, key = load_credentials(str(host.crt), str(host.key))
    return make_token(cert, curve, key, c)


def csr(cn: str, sans: list[str]) -> tuple[str, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for s in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            names.append(x509.DNSName(s))
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    )
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode(), key


def sans_of(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(ext.get_values_for_type(x509.DNSName)), sorted(
        str(i) for i in ext.get_values_for_type(x509.IPAddress)
    )


def openssl_verify(env: Env, chain_pem: list[str], name: str) -> None:
    leaf, inter = env.tmp / f"{name}.crt", env.tmp / f"{name}-inter.crt"
    leaf.write_text(chain_pem[0])
    inter.write_text("".join(chain_pem[1:]))
    r = subprocess.run(
        ["openssl", "verify", "-CAfile", str(env.files.root), "-untrusted", str(inter), str(leaf)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


async def sign(env: Env, host: Any, cn: str, csr_names: list[str], prov: str = "nebula", **extra: Any) -> Any:
    pem, _ = csr(cn, csr_names)
    return await env.post("/1.0/sign", {"csr": pem, "ott": token(host, claims(env, prov, cn, **extra))})


def extension_type(cert: x509.Certificate) -> int:
    der = cert.extensions.get_extension_for_oid(PROVISIONER_OID).value.value  # type: ignore[attr-defined]
    assert der[2] == 0x02 and der[3] == 1
    return der[4]


# ============================================================================ X.509 sign


async def test_nebula_cert_host_gets_x509_for_its_name_and_ip(env: Env, host: Any) -> None:
    status, body = await sign(env, host, "host1.example", ["host1.example", "10.1.0.5"])
    assert status == 201, body
    openssl_verify(env, body["certChain"], "host1")
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "host1.example"
    assert sans_of(leaf) == (["host1.example"], ["10.1.0.5"])
    assert extension_type(leaf) == 11


async def test_default_sans_are_name_and_networks(env: Env, host_two_ips: Any) -> None:
    """No `sans` claim and a CSR with just a CN: the leaf gets [name, every network address]."""
    status, body = await sign(env, host_two_ips, "host2.example", [])
    assert status == 201, body
    openssl_verify(env, body["certChain"], "host2")
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    assert sans_of(leaf) == (["host2.example"], ["10.1.0.6", "10.2.0.6"])


async def test_two_ips_requested_explicitly(env: Env, host_two_ips: Any) -> None:
    names = ["host2.example", "10.1.0.6", "10.2.0.6"]
    status, body = await sign(env, host_two_ips, "host2.example", names, sans=names)
    assert status == 201, body
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    assert sans_of(leaf) == (["host2.example"], ["10.1.0.6", "10.2.0.6"])


async def test_another_ip_is_forbidden(env: Env, host: Any) -> None:
    status, body = await sign(env, host, "host1.example", ["host1.example", "192.168.9.9"])
    assert status == 403, body
    assert "host1.example" in body["message"] and "192.168.9.9" in body["message"]


async def test_token_sans_outside_the_certificate_are_forbidden(env: Env, host: Any) -> None:
    """The host signs its own token: a `sans` claim naming someone else is refused, CSR or not."""
    status, body = await sign(env, host, "host1.example", [], sans=["host1.example", "10.99.0.1"])
    assert status == 403, body
    assert "10.99.0.1" in body["message"]
    status, body = await sign(env, host, "host1.example", [], sans=["other.example"])
    assert status == 403 and "other.example" in body["message"], body


async def test_other_dns_name_and_subject_are_forbidden(env: Env, host: Any) -> None:
    status, body = await sign(env, host, "host1.example", ["host1.example", "evil.example"])
    assert status == 403 and "evil.example" in body["message"], body
    status, body = await sign(env, host, "evil.example", [])
    assert status == 403 and "evil.example" in body["message"], body
    # CN different from the token subject.
    pem, _ = csr("other.example", [])
    status, body = await env.post(
        "/1.0/sign", {"csr": pem, "ott": token(host, claims(env, "nebula", "host1.example"))}
    )
    assert status == 403 and "common name" in body["message"], body


async def test_wrong_ca_is_unauthorized(env: Env, other_pki: Any) -> None:
    stranger = other_pki.sign("host1.example", "10.1.0.5/16")
    status, body = await sign(env, stranger, "host1.example", ["host1.example"])
    assert status == 401, body
    assert "does not verify against the provisioner's CA" in body["message"]


async def test_expired_nebula_certificate_is_unauthorized(env: Env, pki: Any) -> None:
    now = dt.datetime.now(UTC)
    old = pki.sign_many(
        "old.example",
        ["10.1.0.8/16"],
        not_before=now - dt.timedelta(days=2),
        not_after=now - dt.timedelta(days=1),
    )
    status, body = await sign(env, old, "old.example", [])
    assert status == 401 and "expired" in body["message"], body


async def test_token_signed_by_another_key_is_unauthorized(env: Env, host: Any, pki: Any) -> None:
    """The header carries host1's certificate but another host's key signs: possession is not proven."""
    other = pki.sign("intruder.example", "10.1.0.66/16")
    cert, _, _ = load_credentials(str(host.crt), str(host.key))
    _, _, other_key = load_credentials(str(other.crt), str(other.key))
    header = {"alg": "XEdDSA", "typ": "JWT", "nebula": base64.b64encode(cert.raw).decode()}
    si = f"{b64url_encode(orjson.dumps(header))}.{b64url_encode(orjson.dumps(claims(env, 'nebula', 'host1.example')))}"
    forged = f"{si}.{b64url_encode(xeddsa_sign(other_key, si.encode()))}"
    pem, _ = csr("host1.example", [])
    status, body = await env.post("/1.0/sign", {"csr": pem, "ott": forged})
    assert status == 401 and "signature" in body["message"], body
    # The right key but a lying 'alg' (EdDSA is for CA keys) fails too.
    header["alg"] = "EdDSA"
    si = f"{b64url_encode(orjson.dumps(header))}.{b64url_encode(orjson.dumps(claims(env, 'nebula', 'host1.example')))}"
    sig = ed25519.Ed25519PrivateKey.generate().sign(si.encode())
    status, body = await env.post("/1.0/sign", {"csr": pem, "ott": f"{si}.{b64url_encode(sig)}"})
    assert status == 401, body


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"iss": "someone-else"}, 401, "issuer"),
        ({"sub": ""}, 401, "subject"),
        ({"exp": int(time.time()) - 3600, "nbf": None}, 401, "expired"),
        ({"aud": "https://127.0.0.1/1.0/sign#nebula/nebula-p256"}, 401, ""),
        ({"aud": "https://elsewhere.example/1.0/sign#nebula/nebula"}, 401, "audience"),
    ],
)
async def test_bad_claims_are_unauthorized(
    env: Env, host: Any, change: dict[str, Any], status: int, needle: str
) -> None:
    pem, _ = csr("", [])
    c = claims(env, "nebula", "host1.example")
    c.update(change)
    c = {k: v for k, v in c.items() if v is not None}
    got, body = await env.post("/1.0/sign", {"csr": pem, "ott": token(host, c)})
    assert got == status, body
    assert needle in body["message"]


async def test_bad_nebula_header_is_unauthorized(env: Env, host: Any) -> None:
    good = token(host, claims(env, "nebula", "host1.example"))
    h, p, s = good.split(".")
    for value, needle in [
        (None, "missing"),
        (42, "base64"),
        ("!!!", "base64"),
        ("AAAA", "no Nebula certificate"),
    ]:
        header = orjson.loads(base64.urlsafe_b64decode(h + "=="))
        if value is None:
            del header["nebula"]
        else:
            header["nebula"] = value
        bad = f"{b64url_encode(orjson.dumps(header))}.{p}.{s}"
        pem, _ = csr("", [])
        got, body = await env.post("/1.0/sign", {"csr": pem, "ott": bad})
        assert got == 401 and needle in body["message"], (value, body)


async def test_token_is_single_use(env: Env, host: Any) -> None:
    ott = token(host, claims(env, "nebula", "host1.example"))
    pem, _ = csr("host1.example", [])
    status, body = await env.post("/1.0/sign", {"csr": pem, "ott": ott})
    assert status == 201, body
    status, body = await env.post("/1.0/sign", {"csr": pem, "ott": ott})
    assert status == 401 and "already used" in body["message"], body


async def test_validity_is_clamped_to_the_nebula_certificate(env: Env, pki: Any) -> None:
    short = pki.sign("short.example", "10.1.0.9/16", "-duration", "2h")
    nebula_not_after = short.cert.not_after
    status, body = await sign(env, short, "short.example", [])
    assert status == 201, body
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    # The default 24h is cut at the Nebula certificate's expiry.
    assert leaf.not_valid_after_utc == nebula_not_after
    # Asking for more than the Nebula certificate's lifetime is refused.
    pem, _ = csr("short.example", [])
    ott = token(short, claims(env, "nebula", "short.example"))
    status, body = await env.post("/1.0/sign", {"csr": pem, "ott": ott, "notAfter": "10h"})
    assert status == 403 and "notAfter" in body["message"], body


async def test_p256_certificate_and_es256_token(env: Env, p256: Any) -> None:
    status, body = await sign(env, p256.host, "p256host.example", [], prov="nebula-p256")
    assert status == 201, body
    openssl_verify(env, body["certChain"], "p256")
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    assert sans_of(leaf) == (["p256host.example"], ["10.7.0.7"])
    # A curve25519 certificate is not trusted by the P-256 provisioner.


async def test_template_sees_the_nebula_certificate(env: Env, host_two_ips: Any) -> None:
    status, body = await sign(env, host_two_ips, "host2.example", [], prov="nebula-tmpl")
    assert status == 201, body
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    ou = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ou] == ["servers"]


async def test_revoke_is_not_a_nebula_capability(env: Env, host: Any) -> None:
    status, body = await sign(env, host, "host1.example", [])
    assert status == 201
    serial = str(x509.load_pem_x509_certificate(body["crt"].encode()).serial_number)
    ott = token(host, claims(env, "nebula", serial, "/revoke"))
    status, body = await env.post("/1.0/revoke", {"serial": serial, "ott": ott, "passive": True})
    assert status == 401 and "x509-revoke" in body["message"], body


async def test_renew_over_mtls(env: Env, host: Any) -> None:
    import ssl

    pem, key = csr("host1.example", [])
    status, body = await env.post(
        "/1.0/sign", {"csr": pem, "ott": token(host, claims(env, "nebula", "host1.example"))}
    )
    assert status == 201
    crt, kf = env.tmp / "renew.crt", env.tmp / "renew.key"
    crt.write_text("".join(body["certChain"]))
    kf.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(cafile=str(env.files.root))
    ctx.load_cert_chain(str(crt), str(kf))
    status, renewed = await env.post("/1.0/renew", {}, ctx=ctx)
    assert status == 201, renewed
    old = x509.load_pem_x509_certificate(body["crt"].encode())
    new = x509.load_pem_x509_certificate(renewed["crt"].encode())
    assert new.serial_number != old.serial_number and sans_of(new) == sans_of(old)
    assert extension_type(new) == 11


# ============================================================================ SSH


def ssh_pub() -> str:
    k = ed25519.Ed25519PrivateKey.generate()
    line = k.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.split(b" ")[1].decode()


def ssh_claims(env: Env, sub: str, opts: dict[str, Any] | None) -> dict[str, Any]:
    c = claims(env, "nebula", sub, "/ssh/sign")
    if opts is not None:
        c["step"] = {"ssh": opts}
    return c


async def test_ssh_host_certificate_for_its_name(env: Env, host: Any) -> None:
    opts = {"certType": "host", "keyID": "host1.example", "principals": ["host1.example", "10.1.0.5"]}
    body = {"publicKey": ssh_pub(), "ott": token(host, ssh_claims(env, "host1.example", opts)), "certType": "host",
            "keyID": "host1.example", "principals": ["host1.example", "10.1.0.5"]}  # fmt: skip
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 201, resp
    cert_file = env.tmp / "host1-cert.pub"
    cert_file.write_text(f"ssh-ed25519-cert-v01@openssh.com {resp['crt']}\n")
    r = subprocess.run(["ssh-keygen", "-L", "-f", str(cert_file)], capture_output=True, text=True, check=True)
    assert "host certificate" in r.stdout
    principals = r.stdout.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["host1.example", "10.1.0.5"]
    # Signed by the CA's SSH host key.
    fp = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(env.files.home / "certs" / "ssh_host_ca_key.pub")],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]  # fmt: skip
    assert f"Signing CA: ECDSA {fp}" in r.stdout


async def test_ssh_default_principals_without_step_claim(env: Env, host: Any) -> None:
    body = {
        "publicKey": ssh_pub(),
        "ott": token(host, ssh_claims(env, "host1.example", None)),
        "certType": "host",
    }
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 201, resp
    cert_file = env.tmp / "host1b-cert.pub"
    cert_file.write_text(f"ssh-ed25519-cert-v01@openssh.com {resp['crt']}\n")
    out = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(cert_file)], capture_output=True, text=True, check=True
    ).stdout
    principals = out.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["host1.example", "10.1.0.5"]


async def test_ssh_other_principal_is_forbidden(env: Env, host: Any) -> None:
    opts = {"certType": "host", "keyID": "host1.example", "principals": ["db.example"]}
    body = {
        "publicKey": ssh_pub(),
        "ott": token(host, ssh_claims(env, "host1.example", opts)),
        "certType": "host",
    }
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 403 and "db.example" in resp["message"], resp
    # Without step.ssh, a request asking for more than the certificate allows is refused by the kernel.
    body = {"publicKey": ssh_pub(), "ott": token(host, ssh_claims(env, "host1.example", None)), "certType": "host",
            "principals": ["10.1.0.77"]}  # fmt: skip
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 403, resp


async def test_ssh_user_certificates_are_not_offered(env: Env, host: Any) -> None:
    opts = {"certType": "user", "keyID": "host1.example", "principals": ["host1.example"]}
    body = {
        "publicKey": ssh_pub(),
        "ott": token(host, ssh_claims(env, "host1.example", opts)),
        "certType": "user",
    }
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 401 and "ssh-user-cert-sign" in resp["message"], resp
    # A user certType inside the token, host in the request: 403, as step-ca.
    body = {
        "publicKey": ssh_pub(),
        "ott": token(host, ssh_claims(env, "host1.example", opts)),
        "certType": "host",
    }
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 403, resp


async def test_ssh_needs_enable_ssh_ca(env: Env, p256: Any) -> None:
    c = claims(env, "nebula-p256", "p256host.example", "/ssh/sign")
    body = {"publicKey": ssh_pub(), "ott": token(p256.host, c), "certType": "host"}
    status, resp = await env.post("/1.0/ssh/sign", body)
    assert status == 401 and "enableSSHCA" in resp["message"], resp


# ============================================================================ configuration


async def test_bad_roots_fail_at_start(tmp_path: Path, pki: Any, host: Any) -> None:
    cases: list[tuple[Any, str]] = [
        (None, "is required"),
        ("not base64!", "base64"),
        (pki.ca_crt.read_text(), "not the PEM text itself"),
        (
            base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").decode(),
            "Nebula",
        ),
        (base64.b64encode(host.crt.read_bytes()).decode(), "not a CA"),
    ]
    for i, (roots, needle) in enumerate(cases):
        files = make_ca(tmp_path / str(i))
        block: dict[str, Any] = {"type": "Nebula", "name": "nebula"}
        if roots is not None:
            block["roots"] = roots
        files.add_provisioner(block)
        with pytest.raises(ConfigError) as e:
            async with in_process_ca(files):
                pass
        assert e.value.path.endswith("].roots") and needle in e.value.message, (roots, str(e.value))
