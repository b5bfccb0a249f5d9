"""The classes of input that reached the catch-all as a 500 (issue 17.4), each refused where it is parsed
with a 4xx in step's error shape, and the log and error bodies a client cannot forge or flood (17.5).

Through the real server (one CA for the module); every refusal also leaves the database as it was.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization

from plica.jose import sign_compact
from plica.testing import csr_pem, ec_key, make_csr

from .api_helpers import Env, api_env, refused

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with api_env(tmp_path_factory) as e:
        yield e


def ssh_pub() -> str:
    """As step sends it: the base64 of the key's SSH wire encoding."""
    k = ec_key().public_key()
    return (
        k.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode().split()[1]
    )


def raw_token(env: Env, claims: bytes, **header: Any) -> str:
    """A token of the admin provisioner over any claim bytes, signed with its real key."""
    key = env.admin
    return sign_compact({"alg": key.alg, "kid": key.kid, "typ": "JWT", **header}, claims, key.private)


def claims(env: Env, path: str, sub: str = "ok.example.com", **extra: Any) -> dict[str, Any]:
    return env.admin.claims(sub, env.api.aud(path), sans=[sub], **extra)


NON_ASCII = "eyJhbGciOiJFUzI1NiJ9.é.sig"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sign", {"csr": "x", "ott": NON_ASCII}),
        ("/revoke", {"serial": "1", "ott": NON_ASCII, "passive": True}),
        ("/ssh/sign", {"publicKey": "x", "ott": NON_ASCII}),
        ("/ssh/renew", {"ott": NON_ASCII}),
        ("/ssh/rekey", {"ott": NON_ASCII, "publicKey": "x"}),
        ("/ssh/revoke", {"serial": "1", "ott": NON_ASCII, "passive": True}),
    ],
)
async def test_non_ascii_tokens(env: Env, path: str, body: dict[str, Any]) -> None:
    if path in ("/sign", "/ssh/sign", "/ssh/rekey"):
        body = {
            **body,
            "csr": csr_pem(make_csr(ec_key(), "a.example.com", ["a.example.com"])),
            "publicKey": ssh_pub(),
        }
    msg = await refused(env, body, 401, path=path)
    assert "malformed" in msg


async def test_non_ascii_renew_bearer_token(env: Env) -> None:
    r = await env.api.call(
        "POST", "/renew", headers={"Authorization": "Bearer " + NON_ASCII.replace("é", "%C3")}
    )
    assert r.status == 401
    r = await env.api.call(
        "POST", "/renew", headers={"Authorization": ("Bearer " + NON_ASCII).encode().decode("latin-1")}
    )
    assert r.status == 401, r.raw


@pytest.mark.parametrize(
    "times",
    [
        {"notBefore": "9999-12-31T23:59:59-23:00"},
        {"notAfter": "87600000h"},
        {"notAfter": "99999999999999999999h"},
        {"notBefore": "0001-01-01T00:00:00+14:00"},
    ],
)
async def test_x509_times_out_of_range(env: Env, times: dict[str, str]) -> None:
    key = ec_key()
    ott = env.admin.sign(claims(env, "/sign"))
    body = {"csr": csr_pem(make_csr(key, "ok.example.com", ["ok.example.com"])), "ott": ott, **times}
    msg = await refused(env, body, 400)
    assert "out of range" in msg or "invalid time" in msg


@pytest.mark.parametrize("field", ["validAfter", "validBefore"])
async def test_ssh_times_out_of_range(env: Env, field: str) -> None:
    ssh = {"certType": "user", "keyID": "alice", "principals": ["alice"]}
    ott = env.admin.sign(claims(env, "/ssh/sign", "alice", step={"ssh": ssh}))
    body = {
        "publicKey": ssh_pub(),
        "ott": ott,
        "certType": "user",
        "principals": ["alice"],
        field: "87600000h",
    }
    assert "out of range" in await refused(env, body, 400, path="/ssh/sign")
    # The same time inside the token's step.ssh
    ott = env.admin.sign(claims(env, "/ssh/sign", "alice", step={"ssh": {**ssh, field: "87600000h"}}))
    await refused(env, {"publicKey": ssh_pub(), "ott": ott}, 401, path="/ssh/sign")


@pytest.mark.parametrize(
    "ssh",
    [
        {"principals": 5},
        {"principals": [1, 2]},
        {"keyID": ["x"]},
        {"certType": {"a": 1}},
        {"validAfter": 123},
        {"validBefore": [None]},
    ],
)
async def test_ssh_token_fields_of_the_wrong_type(env: Env, ssh: dict[str, Any]) -> None:
    ott = env.admin.sign(claims(env, "/ssh/sign", "alice", step={"ssh": {"certType": "user", **ssh}}))
    await refused(env, {"publicKey": ssh_pub(), "ott": ott}, 401, path="/ssh/sign")


def csr_der() -> bytes:
    pem = csr_pem(make_csr(ec_key(), "ok.example.com", ["ok.example.com"]))
    return base64.b64decode("".join(pem.strip().splitlines()[1:-1]))


def as_pem(der: bytes) -> str:
    b64 = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"


@pytest.mark.parametrize("corrupt", ["key-algorithm", "version"])
async def test_corrupted_csrs(env: Env, corrupt: str) -> None:
    der = bytearray(csr_der())
    if corrupt == "key-algorithm":
        oid = bytes.fromhex("2a8648ce3d0201")  # id-ecPublicKey
        der[der.index(oid) + len(oid) - 1] ^= 0x55
    else:
        der[der.index(b"\x02\x01\x00") + 2] = 7
    ott = env.admin.sign(claims(env, "/sign"))
    msg = await refused(env, {"csr": as_pem(bytes(der)), "ott": ott}, 400)
    assert msg.startswith("The request could not be completed: invalid csr")


async def test_revocation_serials_thousands_of_digits_long(env: Env) -> None:
    for serial in ("9" * 5000, "0x" + "f" * 3000, "9" * 50):
        ott = env.admin.sign(claims(env, "/revoke", serial))
        msg = await refused(env, {"serial": serial, "ott": ott, "passive": True}, 400, path="/revoke")
        assert len(msg) < 600


async def test_tokens_with_crit_are_refused(env: Env) -> None:
    """RFC 7515 §4.1.11: a critical extension the CA does not understand makes the token invalid."""
    c = orjson.dumps(claims(env, "/sign", exp_crit=1))
    ott = raw_token(env, c, crit=["exp_crit"], exp_crit=True)
    body = {"csr": csr_pem(make_csr(ec_key(), "ok.example.com", ["ok.example.com"])), "ott": ott}
    assert "crit" in await refused(env, body, 401)


@pytest.mark.parametrize(
    "claim",
    [
        b'"sub": "a\\u0000b"',
        b'"sans": ["ok.example.com\\u0000"]',
        b'"exp": 1e300',
        b'"iat": 99999999999999',
        b'"sans": "ok.example.com"',
        b'"aud": 5',
    ],
)
async def test_token_claims_are_checked_once_where_the_token_is_parsed(env: Env, claim: bytes) -> None:
    c = orjson.dumps(claims(env, "/sign"))
    name = claim.split(b":")[0].strip(b'"').decode()
    base = {k: v for k, v in orjson.loads(c).items() if k != name}
    raw = orjson.dumps(base)[:-1] + b", " + claim + b"}"
    body = {
        "csr": csr_pem(make_csr(ec_key(), "ok.example.com", ["ok.example.com"])),
        "ott": raw_token(env, raw),
    }
    await refused(env, body, 401)


async def test_nul_bytes_in_bodies(env: Env) -> None:
    ott = env.admin.sign(claims(env, "/sign"))
    body = {
        "csr": csr_pem(make_csr(ec_key(), "ok.example.com", ["ok.example.com"])),
        "ott": ott,
        "templateData": {"x": "a\x00b"},
    }
    assert "NUL" in await refused(env, body, 400)
    assert "NUL" in await refused(env, {"type": "host", "principal": "a\x00"}, 400, path="/ssh/check-host")


async def test_fields_of_the_wrong_json_type(env: Env) -> None:
    for body, field in (
        ({"ott": ["x"], "csr": "x"}, "ott"),
        ({"csr": {"a": 1}}, "csr"),
        ({"serial": 5, "passive": True}, "serial"),
        ({"serial": "1", "reasonCode": True, "passive": True}, "reasonCode"),
    ):
        path = "/revoke" if "serial" in body else "/sign"
        assert field in await refused(env, body, 400, path=path)


async def test_log_lines_cannot_be_forged_or_flooded(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    r = await env.api.get("/provisioners?limit=1%0A2026-01-01%20ERROR%20forged%20line")
    assert r.status == 400
    r = await env.api.get("/provisioners?limit=" + "x" * 100_000)
    assert r.status in (400, 414, 431), r.status
    assert len(r.raw) < 1000, len(r.raw)
    r = await env.api.get("/provisioners?limit=" + "x" * 5000)
    assert r.status == 400 and len(r.raw) < 1000, len(r.raw)
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "forged line" in text  # logged, escaped, on the request's own line
    assert not any(line.startswith("2026-01-01 ERROR forged") for line in text.splitlines())
    assert max(len(rec.getMessage()) for rec in caplog.records) < 2000
