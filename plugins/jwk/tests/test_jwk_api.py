"""The JWK type's own rules through the real server: a token is the provisioner's only when its key signed it
with an algorithm that fits that key, under the provisioner's name and kid; `cnf` binds it to one CSR;
RSA and Ed25519 keys work as EC keys do; SSH tokens carry `step.ssh`; the encrypted key is published.
Every refusal is step's error shape and writes nothing. (What every type shares — single use, times,
audiences — is the kernel's, tested in the kernel's tests/test_tokens.py.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from attrs import define
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import plica_jwk
from plica.testing import (
    Api,
    CAFiles,
    ProvKey,
    admin_key,
    b64url,
    b64url_decode,
    csr_fingerprint,
    csr_for,
    db_counts,
    in_process_ca,
    make_ca,
    new_jwk_provisioner,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@define
class Env:
    files: CAFiles
    api: Api
    admin: ProvKey
    provs: dict[str, ProvKey]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    files = make_ca(tmp_path_factory.mktemp("jwk"))
    provs: dict[str, ProvKey] = {}
    for name, kty in (("rsa", "RSA"), ("okp", "OKP"), ("p384", "EC384")):
        block, key = new_jwk_provisioner(name, kty=kty, claims={"enableSSHCA": True})
        files.add_provisioner(block)
        provs[name] = key
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        yield Env(files=files, api=Api(files, session), admin=admin_key(files), provs=provs)


async def sign(env: Env, ott: str, names: list[str] | None = None, csr: Any = None) -> Any:
    csr = csr or csr_for(names or ["jwk.example"]).csr
    return await env.api.post(
        "/sign", {"csr": csr.public_bytes(serialization.Encoding.PEM).decode(), "ott": ott}
    )


async def refused(env: Env, ott: str, status: int = 401, **kw: Any) -> str:
    before = db_counts(env.files)
    r = await sign(env, ott, **kw)
    assert r.status == status, r.raw
    assert db_counts(env.files) == before
    return str(r.error()["message"])


def with_header(token: str, **header: Any) -> str:
    h, p, s = token.split(".")
    return f"{b64url(orjson.dumps({**orjson.loads(b64url_decode(h)), **header}))}.{p}.{s}"


async def test_each_key_type_signs(env: Env) -> None:
    for name in ("rsa", "okp", "p384"):
        r, _ = await env.api.sign(env.provs[name], f"{name}.jwk.example")
        assert r.status == 201, r.raw


async def test_a_token_is_the_provisioners_only_with_its_key_name_and_kid(env: Env) -> None:
    a, aud = env.admin, env.api.aud("/sign")
    _, stranger = new_jwk_provisioner("admin")
    stranger.kid = a.kid  # a forger's key under the admin's name and kid
    assert "signature" in await refused(env, stranger.token("jwk.example", aud))
    # Another kid (or another name) finds no provisioner at all.
    await refused(env, a.sign(a.claims("jwk.example", aud), {"kid": "no-such-kid"}))
    await refused(env, a.token("jwk.example", aud, iss="someone-else"))
    # The admin's kid with the RSA provisioner's name: the token key is "<iss>:<kid>", so nothing matches.
    await refused(env, a.token("jwk.example", aud, iss="rsa"))


async def test_the_algorithm_must_fit_the_key(env: Env) -> None:
    a, aud = env.admin, env.api.aud("/sign")
    good = a.token("jwk.example", aud)
    for alg in ("ES384", "RS256", "EdDSA", "none"):
        await refused(env, with_header(good, alg=alg))
    # HS256 keyed with the public JWK (the classic confusion) is not a signature the provisioner accepts.
    pub = orjson.dumps(env.files.config()["authority"]["provisioners"][0]["key"])
    signing_input = f"{b64url(orjson.dumps({'alg': 'HS256', 'kid': a.kid}))}.{b64url(orjson.dumps(a.claims('jwk.example', aud)))}"
    forged = f"{signing_input}.{b64url(hmac.new(pub, signing_input.encode(), hashlib.sha256).digest())}"
    await refused(env, forged)


async def test_cnf_binds_the_token_to_one_csr(env: Env) -> None:
    bound = csr_for(["jwk.example"])
    ott = env.admin.token("jwk.example", env.api.aud("/sign"), cnf={"x5rt#S256": csr_fingerprint(bound.csr)})
    assert "cnf" in await refused(env, ott, 403, csr=csr_for(["jwk.example"]).csr)
    r = await sign(env, ott, csr=bound.csr)
    assert r.status == 201, r.raw


async def test_ssh_tokens_carry_step_ssh(env: Env) -> None:
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    wire = (
        pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
        .decode()
    )
    aud = env.api.aud("/ssh/sign")
    p = env.provs["okp"]

    async def ssh_sign(ott: str, cert_type: str = "user") -> Any:
        return await env.api.post(
            "/ssh/sign", {"publicKey": wire, "ott": ott, "certType": cert_type, "principals": ["alice"]}
        )

    r = await ssh_sign(p.token("alice", aud))
    assert r.status == 401 and "step.ssh" in r.error()["message"]
    opts = {"certType": "host", "keyID": "alice", "principals": ["alice"]}
    r = await ssh_sign(p.token("alice", aud, step={"ssh": opts}), "user")
    assert r.status == 403, r.raw
    r.error()
    opts = {"certType": "user", "keyID": "alice", "principals": ["alice"]}
    r = await ssh_sign(p.token("alice", aud, step={"ssh": opts}))
    assert r.status == 201, r.raw
    blob = base64.b64decode(r.json["crt"])
    assert b"alice" in blob


async def test_the_encrypted_key_is_published_and_decrypts_to_the_provisioner_key(env: Env) -> None:
    admin = next(p for p in env.files.config()["authority"]["provisioners"] if p["name"] == "admin")
    r = await env.api.get(f"/provisioners/{admin['key']['kid']}/encrypted-key")
    assert r.status == 200 and r.json == {"key": admin["encryptedKey"]}
    # A provisioner added with its public key only publishes none.
    r = await env.api.get(f"/1.0/provisioners/{env.provs['rsa'].kid}/encrypted-key")
    assert r.status == 404
    r.error()


async def test_the_readme_names_the_plugins_flags() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    client = {o.opts[0] for o in plica_jwk.cli_client_options()}
    manage = {o.opts[0] for o in plica_jwk.provisioner_cli_options()}
    for flag in client | manage:
        assert f"`{flag}" in readme, f"README.md does not name {flag}"
