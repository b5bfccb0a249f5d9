"""Shared pieces of the kernel's tests: provisioner keys, tokens made by a third-party JOSE library,
CSRs, the API over real HTTPS, and counts read straight from the CA's SQLite file.

Tokens are signed with joserfc (not `plica.jose`), so a bug in the kernel's JOSE code cannot hide behind
the same bug on the client side.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from plica.jose import jwe_decrypt_pbes2, key_from_jwk, private_jwk, public_jwk, thumbprint
from plica.names import split_sans
from plica.testing import CAFiles

KERNEL_TABLES = ("x509_certs", "used_tokens", "revoked_x509_certs", "ssh_certs", "revoked_ssh_certs")

_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@define
class ProvKey:
    """A JWK provisioner's name and private key: what `step ca token` holds on the client side."""

    name: str
    kid: str
    private: Any  # cryptography private key
    alg: str

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        return jose_sign(
            self.private, {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(header or {})}, claims
        )

    def claims(self, sub: str, aud: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.name,
            "sub": sub,
            "aud": aud,
            "jti": secrets.token_hex(32),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        base.update(extra)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, sub: str, aud: str, **extra: Any) -> str:
        """A step-style one-time token; `extra` adds or overrides claims (None removes one)."""
        return self.sign(self.claims(sub, aud, **extra))


def jose_key(private: Any) -> Any:
    """The joserfc form of a cryptography private key."""
    jwk = private_jwk(private)
    if jwk["kty"] == "EC":
        return ECKey.import_key(jwk)
    if jwk["kty"] == "RSA":
        return RSAKey.import_key(jwk)
    return OKPKey.import_key(jwk)


def jose_sign(private: Any, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS made by joserfc. step's own headers (x5cInsecure, sshpop, ...) are allowed through."""
    registry = JWSRegistry(algorithms=[header["alg"]], strict_check_header=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags "EdDSA" as deprecated (RFC 9864); step still uses it
        return jwt.encode(header, claims, jose_key(private), registry=registry)


def renew_token(chain: list[x509.Certificate], key: Any, aud: str, **extra: Any) -> str:
    """step's renew token (api.md §5a): x5cInsecure header with the chain, signed by the leaf's key."""
    alg = (
        {256: "ES256", 384: "ES384"}[key.curve.key_size]
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else "RS256"
    )
    cn = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    now = int(time.time())
    claims = {
        "iss": "step-ca-client/1.0",
        "sub": cn[0].value if cn else "",
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_hex(32),
        **extra,
    }
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
    return jose_sign(
        key,
        {"alg": alg, "typ": "JWT", "x5cInsecure": x5c},
        {k: v for k, v in claims.items() if v is not None},
    )


def new_jwk_provisioner(
    name: str, *, kty: str = "EC", claims: dict[str, Any] | None = None, **fields: Any
) -> tuple[dict[str, Any], ProvKey]:
    """A ca.json JWK block (public key only, as `step ca provisioner add --public-key` writes) and its key."""
    if kty == "EC":
        key: Any = ec.generate_private_key(ec.SECP256R1())
    elif kty == "EC384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif kty == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pub = public_jwk(key)
    alg = _ALG[pub["crv"]] if pub["kty"] == "EC" else ("RS256" if pub["kty"] == "RSA" else "EdDSA")
    kid = thumbprint(pub)
    block: dict[str, Any] = {
        "type": "JWK",
        "name": name,
        "key": {"use": "sig", "kid": kid, "alg": alg, **pub},
    }
    if claims is not None:
        block["claims"] = claims
    block.update(fields)
    return block, ProvKey(name=name, kid=kid, private=key, alg=alg)


def admin_key(files: CAFiles, name: str = "admin") -> ProvKey:
    """The first provisioner's private key, decrypted from its published encryptedKey with the CA password."""
    block = next(p for p in files.config()["authority"]["provisioners"] if p["name"] == name)
    _, plain = jwe_decrypt_pbes2(block["encryptedKey"], files.password)
    jwk = orjson.loads(plain)
    return ProvKey(name=name, kid=block["key"]["kid"], private=key_from_jwk(jwk), alg=block["key"]["alg"])


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: Any, cn: str | None, sans: Iterable[str] = ()) -> x509.CertificateSigningRequest:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    s = split_sans(list(sans))
    if s:
        b = b.add_extension(x509.SubjectAlternativeName(s.general_names()), critical=False)
    return b.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def csr_fingerprint(csr: x509.CertificateSigningRequest) -> str:
    """The token `cnf` value: base64url(SHA-256(CSR DER))."""
    return b64url(hashlib.sha256(csr.public_bytes(serialization.Encoding.DER)).digest())


def pem_cert(text: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(text.encode())


def db_path(files: CAFiles) -> Path:
    return files.home / "db" / "plica.db"


def db_counts(files: CAFiles) -> dict[str, int]:
    """Row counts of the kernel's tables, read with a separate connection (what another worker would see)."""
    con = sqlite3.connect(db_path(files))
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in KERNEL_TABLES}
    finally:
        con.close()


def db_row(files: CAFiles, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    con = sqlite3.connect(db_path(files))
    try:
        return con.execute(sql, params).fetchone()
    finally:
        con.close()


def tamper_payload(token: str, old: str, new: str) -> str:
    """Change one byte of a token's payload (same length, still JSON) and keep the original signature."""
    h, p, s = token.split(".")
    payload = b64url_decode(p)
    assert old.encode() in payload and len(old) == len(new)
    return f"{h}.{b64url(payload.replace(old.encode(), new.encode(), 1))}.{s}"


@define
class Reply:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)

    def error(self) -> dict[str, Any]:
        """The step error body; asserts its exact shape."""
        body = self.json
        assert set(body) == {"status", "message"}, body
        assert body["status"] == self.status and isinstance(body["message"], str) and body["message"]
        return body


class Api:
    """The CA's HTTP API through a real TLS connection that trusts only the CA's root."""

    def __init__(self, files: CAFiles, session: aiohttp.ClientSession) -> None:
        self.files = files
        self.session = session
        self.ctx = ssl.create_default_context(cafile=str(files.root))

    def mtls(self, crt: Path, key: Path) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.files.root))
        ctx.load_cert_chain(str(crt), str(key))
        return ctx

    def aud(self, path: str) -> str:
        return f"{self.files.url}/1.0{path}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        ctx: ssl.SSLContext | None = None,
    ) -> Reply:
        body = orjson.dumps(json) if json is not None else data
        async with self.session.request(
            method, self.files.url + path, data=body, headers=headers, ssl=ctx or self.ctx
        ) as r:
            return Reply(status=r.status, headers=r.headers, raw=await r.read())

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json=json, **kw)

    async def sign(
        self, prov: ProvKey, cn: str, sans: list[str] | None = None, *, key: Any = None, **body: Any
    ) -> tuple[Reply, Any]:
        """A well-formed /sign for `cn` (SANs default to [cn]); returns the reply and the leaf's key."""
        key = key or ec_key()
        names = sans if sans is not None else [cn]
        ott = prov.token(cn, self.aud("/sign"), sans=names)
        r = await self.post("/sign", {"csr": csr_pem(make_csr(key, cn, names)), "ott": ott, **body})
        return r, key


def write_leaf(tmp: Path, name: str, reply: Reply, key: Any) -> tuple[Path, Path]:
    crt, kf = tmp / f"{name}.crt", tmp / f"{name}.key"
    crt.write_text("".join(reply.json["certChain"]))
    kf.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return crt, kf


# ------------------------------------------------------------------------------------------- processes


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def wait_for(predicate: Any, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def plica_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real `plica` command in a subprocess (its own session: no controlling terminal, so password
    prompts read stdin as they would in a pipeline)."""
    return subprocess.run(
        [sys.executable, "-m", "plica", *args], capture_output=True, text=True, env=env or dict(os.environ),
        input=input, timeout=timeout, start_new_session=True,
    )  # fmt: skip
