"""The SSHPOP provisioner against the real HTTPS server (in-process): /ssh/renew, /ssh/rekey, /ssh/revoke and
the ways an SSHPOP token can be wrong."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from attrs import define
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
)

from plica.api import ConfigError, sign_compact
from plica.testing import CAFiles, in_process_ca, load_key, make_ca
from plica_sshpop.client import sshpop_token
from plica_sshpop.sshcert import from_wire_b64, to_wire_b64


@define
class SSHIdentity:
    key: Any
    cert: SSHCertificate


def wire_b64(key: Any) -> str:
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split(b" ")[1].decode()


def parse_cert(b64: str) -> SSHCertificate:
    return from_wire_b64(b64)


def aud(files: CAFiles, op: str, name: str = "sshpop") -> str:
    return f"{files.url}/1.0/ssh/{op}#sshpop/{name}"


def tok(files: CAFiles, ident: Any, op: str, subject: str | None = None, **kw: Any) -> str:
    return sshpop_token(ident.cert, ident.key, issuer=kw.pop("issuer", "sshpop"),
                        subject=subject or str(ident.cert.serial), audience=aud(files, op), **kw)  # fmt: skip


def ca_signed(
    files: CAFiles, cert_type: str, valid_after: int, valid_before: int, principals: list[str]
) -> Any:
    """A certificate signed with the CA's own SSH key outside the API (to get validity periods the API refuses
    to issue, such as one that has already ended)."""
    ca_key = load_key(files.home / "secrets" / f"ssh_{cert_type}_ca_key", files.password)
    key = ed25519.Ed25519PrivateKey.generate()
    cert = (
        SSHCertificateBuilder()
        .public_key(key.public_key())
        .serial(secrets.randbits(64))
        .type(SSHCertificateType.HOST if cert_type == "host" else SSHCertificateType.USER)
        .key_id(b"old")
        .valid_principals([p.encode() for p in principals])
        .valid_after(valid_after)
        .valid_before(valid_before)
        .sign(ca_key)
    )
    return SSHIdentity(key, cert)


async def test_renew_rekey_revoke(ca: CAFiles, api: Any) -> None:
    async with in_process_ca(ca):
        a = api(ca)
        host = await a.ssh_certificate("host", "web1", ["web1.internal", "10.0.0.5"])
        # Renew: same key, key id, principals and lifetime, a new serial, starting now.
        status, body = await a.post("/ssh/renew", {"ott": tok(ca, host, "renew")})
        assert status == 201, body
        renewed = parse_cert(body["crt"])
        renewed.verify_cert_signature()
        assert renewed.type == SSHCertificateType.HOST
        assert renewed.serial != host.cert.serial
        assert renewed.key_id == b"web1" and renewed.valid_principals == [b"web1.internal", b"10.0.0.5"]
        assert wire_b64(renewed.public_key()) == wire_b64(host.key.public_key())
        assert renewed.valid_before - renewed.valid_after == host.cert.valid_before - host.cert.valid_after
        assert abs(renewed.valid_after - (time.time() - 60)) < 30
        assert wire_b64(renewed.signature_key()) == (await a.get("/ssh/roots"))[1]["hostKey"][0]

        # Rekey: a new key gets the old principals.
        new_key = ed25519.Ed25519PrivateKey.generate()
        body_ = {"ott": tok(ca, host, "rekey"), "publicKey": wire_b64(new_key.public_key())}
        status, body = await a.post("/ssh/rekey", body_)
        assert status == 201, body
        rekeyed = parse_cert(body["crt"])
        assert wire_b64(rekeyed.public_key()) == wire_b64(new_key.public_key())
        assert rekeyed.valid_principals == host.cert.valid_principals and rekeyed.key_id == b"web1"

        # Replay of a used token.
        t = tok(ca, host, "renew")
        assert (await a.post("/ssh/renew", {"ott": t}))[0] == 201
        status, body = await a.post("/ssh/renew", {"ott": t})
        assert status == 401 and "already used" in body["message"], body

        # Revoke: the subject must be this certificate's serial.
        serial = str(host.cert.serial)
        status, body = await a.post("/ssh/revoke", {"serial": "12345", "ott": tok(ca, host, "revoke", "12345"),
                                                    "passive": True})  # fmt: skip
        assert status == 403 and serial in body["message"], body
        status, body = await a.post("/ssh/revoke", {"serial": serial, "ott": tok(ca, host, "revoke"),
                                                    "passive": True, "reasonCode": 1})  # fmt: skip
        assert status == 200, body
        # Revoked: no more renewals or rekeys with it.
        status, body = await a.post("/ssh/renew", {"ott": tok(ca, host, "renew")})
        assert status == 401 and "revoked" in body["message"], body
        status, body = await a.post(
            "/ssh/rekey", {"ott": tok(ca, host, "rekey"), "publicKey": body_["publicKey"]}
        )
        assert status == 401 and "revoked" in body["message"], body


async def test_user_certificates_can_be_revoked_not_renewed(ca: CAFiles, api: Any) -> None:
    async with in_process_ca(ca):
        a = api(ca)
        user = await a.ssh_certificate("user", "alice", ["alice"])
        status, body = await a.post("/ssh/renew", {"ott": tok(ca, user, "renew")})
        assert status == 400 and "host" in body["message"], body
        pub = wire_b64(ed25519.Ed25519PrivateKey.generate().public_key())
        status, body = await a.post("/ssh/rekey", {"ott": tok(ca, user, "rekey"), "publicKey": pub})
        assert status == 400 and "host" in body["message"], body
        status, body = await a.post("/ssh/revoke", {"serial": str(user.cert.serial), "ott": tok(ca, user, "revoke"),
                                                    "passive": True})  # fmt: skip
        assert status == 200, body


async def test_refusals(ca: CAFiles, api: Any) -> None:
    now = int(time.time())
    async with in_process_ca(ca):
        a = api(ca)
        host = await a.ssh_certificate("host", "web1", ["web1"])

        # A certificate from another SSH CA.
        foreign_ca = ed25519.Ed25519PrivateKey.generate()
        k = ed25519.Ed25519PrivateKey.generate()
        foreign = (SSHCertificateBuilder().public_key(k.public_key()).serial(7).type(SSHCertificateType.HOST)
                   .key_id(b"x").valid_principals([b"web1"]).valid_after(now - 60).valid_before(now + 3600)
                   .sign(foreign_ca))  # fmt: skip
        t = sshpop_token(foreign, k, issuer="sshpop", subject="7", audience=aud(ca, "renew"))
        status, body = await a.post("/ssh/renew", {"ott": t})
        assert status == 401 and "not signed by this CA's SSH host key" in body["message"], body

        # A user certificate of this CA's user key presented as... still must be the right CA key per type:
        # a host certificate signed with the CA's *user* key is not a host certificate of this CA.
        wrong_kind = ca_signed(ca, "user", now - 60, now + 3600, ["web1"])
        forged_host = (SSHCertificateBuilder().public_key(wrong_kind.key.public_key()).serial(8)
                       .type(SSHCertificateType.HOST).key_id(b"x").valid_principals([b"web1"])
                       .valid_after(now - 60).valid_before(now + 3600)
                       .sign(load_key(ca.home / "secrets" / "ssh_user_ca_key", ca.password)))  # fmt: skip
        t = sshpop_token(forged_host, wrong_kind.key, issuer="sshpop", subject="8", audience=aud(ca, "renew"))
        status, body = await a.post("/ssh/renew", {"ott": t})
        assert status == 401 and "host key" in body["message"], body

        # A forged token: the right certificate, signed by a key that is not its own.
        thief = ed25519.Ed25519PrivateKey.generate()
        claims = {"iss": "sshpop", "sub": str(host.cert.serial), "aud": aud(ca, "renew"), "jti": secrets.token_hex(32),
                  "iat": now, "nbf": now, "exp": now + 300}  # fmt: skip
        forged = sign_compact({"alg": "EdDSA", "sshpop": to_wire_b64(host.cert)}, claims, thief)
        status, body = await a.post("/ssh/renew", {"ott": forged})
        assert status == 401 and "signature does not verify" in body["message"], body

        # Wrong issuer, wrong endpoint audience, expired token.
        status, body = await a.post("/ssh/renew", {"ott": tok(ca, host, "renew", issuer="other")})
        assert status == 401 and "issuer" in body["message"], body
        status, body = await a.post("/ssh/renew", {"ott": tok(ca, host, "rekey")})
        assert status == 401 and "audience" in body["message"], body
        status, body = await a.post("/ssh/renew", {"ott": tok(ca, host, "renew", lifetime=-3600)})
        assert status == 401 and "expired" in body["message"], body

        # Malformed headers: 401, never 500.
        key = ec.generate_private_key(ec.SECP256R1())
        for header in ({"alg": "ES256"}, {"alg": "ES256", "sshpop": 5}, {"alg": "ES256", "sshpop": "!!"},
                       {"alg": "ES256", "sshpop": wire_b64(key.public_key())}):  # fmt: skip
            status, body = await a.post(
                "/ssh/renew", {"ott": sign_compact(header, {**claims, "jti": "x" + str(len(header))}, key)}
            )
            assert status == 401 and "sshpop" in body["message"], body


async def test_validity_of_the_authenticating_certificate(tmp_path: Path, api: Any) -> None:
    files = make_ca(tmp_path, ssh=True)
    cfg = files.config()
    for p in cfg["authority"]["provisioners"]:
        if p["type"] == "SSHPOP":
            p["claims"] = {"enableSSHCA": True, "allowRenewalAfterExpiry": True}
    files.write_config(cfg)
    now = int(time.time())
    async with in_process_ca(files):
        a = api(files)
        expired = ca_signed(files, "host", now - 7200, now - 3600, ["old.internal"])
        future = ca_signed(files, "host", now + 3600, now + 7200, ["new.internal"])
        pub = wire_b64(ed25519.Ed25519PrivateKey.generate().public_key())
        # Rekey and revoke need a certificate that is valid now.
        status, body = await a.post("/ssh/rekey", {"ott": tok(files, expired, "rekey"), "publicKey": pub})
        assert status == 401 and "expired" in body["message"], body
        status, body = await a.post("/ssh/revoke", {"serial": str(expired.cert.serial),
                                                    "ott": tok(files, expired, "revoke"), "passive": True})  # fmt: skip
        assert status == 401 and "expired" in body["message"], body
        status, body = await a.post("/ssh/renew", {"ott": tok(files, future, "renew")})
        assert status == 401 and "not valid yet" in body["message"], body
        # Renewal after expiry is allowed here (allowRenewalAfterExpiry), with the old lifetime from now.
        status, body = await a.post("/ssh/renew", {"ott": tok(files, expired, "renew")})
        assert status == 201, body
        new = parse_cert(body["crt"])
        assert new.valid_before > now and new.valid_before - new.valid_after == 3600


async def test_expired_renewal_refused_by_default_and_disable_renewal(tmp_path: Path, api: Any) -> None:
    files = make_ca(tmp_path, ssh=True)
    files.add_provisioner({"type": "SSHPOP", "name": "frozen", "claims": {"disableRenewal": True}})
    now = int(time.time())
    async with in_process_ca(files):
        a = api(files)
        expired = ca_signed(files, "host", now - 7200, now - 3600, ["old.internal"])
        status, body = await a.post("/ssh/renew", {"ott": tok(files, expired, "renew")})
        assert status == 401 and "expired" in body["message"], body
        host = await a.ssh_certificate("host", "web1", ["web1"])
        t = sshpop_token(host.cert, host.key, issuer="frozen", subject=str(host.cert.serial),
                         audience=aud(files, "renew", "frozen"))  # fmt: skip
        status, body = await a.post("/ssh/renew", {"ott": t})
        assert status == 401 and "renew is disabled" in body["message"], body


async def test_capabilities_it_lacks(ca: CAFiles, api: Any) -> None:
    async with in_process_ca(ca):
        a = api(ca)
        host = await a.ssh_certificate("host", "web1", ["web1"])
        t = sshpop_token(host.cert, host.key, issuer="sshpop", subject="web1",
                         audience=f"{ca.url}/1.0/sign#sshpop/sshpop")  # fmt: skip
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        k = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web1")]))
               .sign(k, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())  # fmt: skip
        status, body = await a.post("/sign", {"csr": csr, "ott": t})
        assert status == 401, body
        assert "'sshpop'" in body["message"] and "x509-sign" in body["message"]
        t = sshpop_token(host.cert, host.key, issuer="sshpop", subject="web1",
                         audience=f"{ca.url}/1.0/ssh/sign#sshpop/sshpop")  # fmt: skip
        status, body = await a.post("/ssh/sign", {"ott": t, "publicKey": wire_b64(host.key.public_key()),
                                                  "certType": "host"})  # fmt: skip
        assert status == 401 and "ssh-host-cert-sign" in body["message"], body


async def test_needs_the_ca_ssh_keys(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    files.add_provisioner({"type": "SSHPOP", "name": "sshpop"})
    with pytest.raises(ConfigError) as e:
        async with in_process_ca(files):
            pass
    assert "provisioners[1]" in str(e.value) and "SSH keys" in str(e.value)


async def test_spec_example_block_loads(tmp_path: Path, api: Any) -> None:
    """docs/reference/provisioners.md's SSHPOP example, as printed (its SSH template file present, as the example assumes)."""
    import orjson

    example = ('{ "type": "SSHPOP", "name": "sshpop", "claims": { "enableSSHCA": true }, "options": { "ssh": '
               '{ "templateFile": "templates/certs/ssh/default.tpl" } } }')  # fmt: skip
    files = make_ca(tmp_path, ssh=True)
    cfg = files.config()
    cfg["authority"]["provisioners"] = [p for p in cfg["authority"]["provisioners"] if p["type"] != "SSHPOP"]
    cfg["authority"]["provisioners"].append(orjson.loads(example))
    files.write_config(cfg)
    tpl = files.home / "templates" / "certs" / "ssh" / "default.tpl"
    tpl.parent.mkdir(parents=True)
    tpl.write_text('{"type": {{ toJson .Type }}, "keyId": {{ toJson .KeyID }}, "principals": {{ toJson .Principals }},'
                   ' "extensions": {{ toJson .Extensions }}, "criticalOptions": {{ toJson .CriticalOptions }}}')  # fmt: skip
    async with in_process_ca(files):
        a = api(files)
        host = await a.ssh_certificate("host", "web1", ["web1"])
        status, body = await a.post("/ssh/renew", {"ott": tok(files, host, "renew")})
        assert status == 201, body


async def test_provisioner_add_cli(tmp_path: Path, api: Any) -> None:
    import subprocess
    import sys

    files = make_ca(tmp_path, ssh=True)
    r = subprocess.run([sys.executable, "-m", "plica", "provisioner", "add", "pop2", "--type", "SSHPOP",
                        "--home", str(files.home)], capture_output=True, text=True, env=files.env())  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert files.config()["authority"]["provisioners"][-1] == {"type": "SSHPOP", "name": "pop2"}
    async with in_process_ca(files):
        a = api(files)
        host = await a.ssh_certificate("host", "web1", ["web1"])
        t = sshpop_token(host.cert, host.key, issuer="pop2", subject=str(host.cert.serial),
                         audience=aud(files, "renew", "pop2"))  # fmt: skip
        status, body = await a.post("/ssh/renew", {"ott": t})
    assert status == 201, body
