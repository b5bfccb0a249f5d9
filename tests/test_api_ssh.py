"""The SSH side of the HTTP API of docs/reference/wire.md §3 through the real server: /ssh/sign (and
/sign-ssh), /ssh/check-host, /ssh/revoke, and /ssh/renew and /ssh/rekey for a type without them.

One CA serves the whole module; each test leaves it usable for the next. Every refusal is checked for
step's status and error shape, and — where a request could have written something — for an unchanged
database.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType

from plica.testing import ProvKey, compressed_ec_point, db_counts, db_row, ec_key, ssh_wire

from .api_helpers import Env, api_env, refused

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with api_env(tmp_path_factory) as e:
        yield e


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


async def test_a_certificate_sent_as_the_key_certifies_the_key_inside(env: Env) -> None:
    """cryptography's loader reads an SSH certificate's blob as the key it certifies: the new certificate
    is for that key, encoded afresh (never a copy of the old certificate's fields)."""
    key = ec.generate_private_key(ec.SECP256R1())
    old = (
        SSHCertificateBuilder().public_key(key.public_key()).serial(1).type(SSHCertificateType.USER)
        .key_id(b"old").valid_principals([b"k"]).valid_after(0).valid_before(2**40).sign(ec_key())
    )  # fmt: skip
    blob = old.public_bytes().split()[1].decode()
    r = await env.api.post(
        "/ssh/sign", {"publicKey": blob, "ott": ssh_token(env.admin, env, "k", "user", ["k"])}
    )
    assert r.status == 201, r.raw
    cert = load_ssh_cert(r.json["crt"])
    assert base64.b64decode(r.json["crt"])[4:23] == b"ecdsa-sha2-nistp256"
    assert cert.public_key() == key.public_key() and cert.key_id == b"k"


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
    assert "passive" in await refused(
        env, {"serial": serial, "ott": rtok, "passive": False}, 501, path="/ssh/revoke"
    )
    assert "ott" in await refused(env, {"serial": serial, "passive": True}, 400, path="/ssh/revoke")
    wrong = env.admin.token("123", env.api.aud("/ssh/revoke"))
    await refused(env, {"serial": serial, "ott": wrong, "passive": True}, 403, path="/ssh/revoke")
    r = await env.api.post(
        "/1.0/ssh/revoke", {"serial": serial, "ott": rtok, "passive": True, "reasonCode": 1}
    )
    assert r.status == 200 and r.json == {"status": "ok"}
    assert db_row(env.files, "SELECT reason_code FROM revoked_ssh_certs WHERE serial = ?", (serial,)) == (1,)
    r = await env.api.post("/ssh/check-host", {"type": "host", "principal": "web.internal"})
    assert r.json == {"exists": False}
    again = env.admin.token(serial, env.api.aud("/ssh/revoke"))
    assert "already revoked" in await refused(
        env, {"serial": serial, "ott": again, "passive": True}, 400, path="/ssh/revoke"
    )


@pytest.mark.filterwarnings("ignore:SSH DSA key")  # cryptography deprecates DSA: which is the point
async def test_ssh_refusals(env: Env) -> None:
    key = ssh_pub(ed25519.Ed25519PrivateKey.generate())
    user_tok = ssh_token(env.admin, env, "bob", "user", ["bob"])
    # A principal the token does not grant.
    assert "principals" in await refused(
        env, {"publicKey": key, "ott": user_tok, "principals": ["root"]}, 403, path="/ssh/sign"
    )
    # A user token used for a host certificate.
    assert "user" in await refused(
        env, {"publicKey": key, "ott": user_tok, "certType": "host"}, 403, path="/ssh/sign"
    )
    # An X.509 token (no step.ssh claim).
    x509_tok = env.admin.token("bob", env.api.aud("/ssh/sign"))
    assert "SSH" in await refused(env, {"publicKey": key, "ott": x509_tok}, 401, path="/ssh/sign")
    # A provisioner without enableSSHCA.
    nossh = ssh_token(env.provs["nossh"], env, "bob", "user", ["bob"])
    assert "enableSSHCA" in await refused(env, {"publicKey": key, "ott": nossh}, 401, path="/ssh/sign")
    # Bad bodies.
    assert "publicKey" in await refused(env, {"ott": user_tok}, 400, path="/ssh/sign")
    assert "publicKey" in await refused(
        env, {"publicKey": "bm90IGEga2V5", "ott": user_tok}, 400, path="/ssh/sign"
    )
    assert "certType" in await refused(
        env, {"publicKey": key, "ott": user_tok, "certType": "robot"}, 400, path="/ssh/sign"
    )
    assert "ott" in await refused(env, {"publicKey": key}, 400, path="/ssh/sign")
    # Keys step's sshDefaultPublicKeyValidator refuses: short RSA (403) and DSA (400) — also as addUserPublicKey,
    # where a bad second key must not leave the first certificate behind.
    short = ssh_pub(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert "2048" in await refused(env, {"publicKey": short, "ott": user_tok}, 403, path="/ssh/sign")
    assert "2048" in await refused(
        env, {"publicKey": key, "ott": user_tok, "addUserPublicKey": short}, 403, path="/ssh/sign"
    )
    old = ssh_pub(dsa.generate_private_key(key_size=1024))
    assert "not supported" in await refused(env, {"publicKey": old, "ott": user_tok}, 400, path="/ssh/sign")
    assert "addUserPublicKey" in await refused(
        env, {"publicKey": key, "ott": user_tok, "addUserPublicKey": "AAAA"}, 400, path="/ssh/sign"
    )
    # An ECDSA point in compressed form: OpenSSH and step-ca refuse it, and so does this CA (with a 400,
    # where cryptography's loader raises NotImplementedError).
    squeezed = base64.b64encode(ssh_wire(b"ecdsa-sha2-nistp256", b"nistp256", compressed_ec_point())).decode()
    assert "publicKey" in await refused(env, {"publicKey": squeezed, "ott": user_tok}, 400, path="/ssh/sign")
    # Durations beyond the claims.
    assert "maximum" in await refused(
        env, {"publicKey": key, "ott": user_tok, "validBefore": "48h"}, 403, path="/ssh/sign"
    )
    # After all that, the token is unused.
    r = await env.api.post("/ssh/sign", {"publicKey": key, "ott": user_tok})
    assert r.status == 201
    cert = load_ssh_cert(r.json["crt"])
    assert cert.valid_principals == [b"bob"] and cert.key_id == b"bob"


# ============================================================================ /ssh/renew and /ssh/rekey


async def test_ssh_renew_and_rekey_need_a_type_that_has_them(env: Env) -> None:
    # JWK has neither capability (docs/reference/wire.md §5): the kernel answers 401, naming it.
    key = ssh_pub(ed25519.Ed25519PrivateKey.generate())
    tok = env.admin.token("web.internal", env.api.aud("/ssh/renew"))
    msg = await refused(env, {"ott": tok}, 401, path="/ssh/renew")
    assert "ssh-host-cert-renew" in msg
    tok = env.admin.token("web.internal", env.api.aud("/ssh/rekey"))
    msg = await refused(env, {"ott": tok, "publicKey": key}, 401, path="/1.0/ssh/rekey")
    assert "ssh-rekey" in msg
    assert "ott" in await refused(env, {}, 400, path="/ssh/renew")
