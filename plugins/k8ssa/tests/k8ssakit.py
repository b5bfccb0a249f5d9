"""Shared pieces of the K8sSA tests: service-account keys and tokens shaped like the kube-apiserver's (signed
with joserfc, not with the CA's own JOSE code), and a cluster's OIDC discovery endpoint.

The discovery endpoint is a real aiohttp HTTPS server on 127.0.0.1 serving a discovery document and a JWKS:
it is the protocol peer the CA talks to (the part of the kube-apiserver that serves
`/.well-known/openid-configuration` and `/openid/v1/jwks`), not a stand-in for a part of the CA.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import secrets
import ssl
import time
import uuid
import warnings
from typing import Any

from aiohttp import web
from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from plica.api import public_jwk, thumbprint

LEGACY_ISSUER = "kubernetes/serviceaccount"


@define
class SAKey:
    """A service-account signing key of the cluster (kube-apiserver --service-account-signing-key-file)."""

    private: Any
    alg: str

    @classmethod
    def rsa(cls) -> SAKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    @classmethod
    def ec(cls) -> SAKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), "ES256")

    @property
    def kid(self) -> str:
        # The kube-apiserver's kid is a hash of the public key; an RFC 7638 thumbprint is as good.
        return thumbprint(public_jwk(self.private))

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.private), "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], *, kid: bool = True) -> str:
        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key = RSAKey.import_key(pem) if self.alg.startswith("RS") else ECKey.import_key(pem)
        header: dict[str, Any] = {"alg": self.alg}
        if kid:
            header["kid"] = self.kid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode(header, claims, key, registry=JWSRegistry(algorithms=[self.alg]))


def legacy_claims(sa: str = "my-app", namespace: str = "default", **extra: Any) -> dict[str, Any]:
    """A secret-based service-account token's payload (no exp, no aud)."""
    c = {
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": f"{sa}-token-x7k2p",
        "kubernetes.io/serviceaccount/service-account.name": sa,
        "kubernetes.io/serviceaccount/service-account.uid": str(uuid.uuid4()),
        "sub": f"system:serviceaccount:{namespace}:{sa}",
    }
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def bound_claims(
    issuer: str, aud: str | list[str], sa: str = "my-app", namespace: str = "default", **extra: Any
) -> dict[str, Any]:
    """A projected (bound) service-account token's payload, as kube-apiserver 1.29+ writes it."""
    now = int(time.time())
    c = {
        "aud": aud if isinstance(aud, list) else [aud],
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": "node-1", "uid": str(uuid.uuid4())},
            "pod": {"name": f"{sa}-7d9f8-{secrets.token_hex(3)}", "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": sa, "uid": str(uuid.uuid4())},
            "warnafter": now + 3000,
        },
        "sub": f"system:serviceaccount:{namespace}:{sa}",
    }
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@define
class TLSFiles:
    ca_pem: bytes
    server_ctx: ssl.SSLContext


def make_tls() -> TLSFiles:
    """A small CA and a server certificate for 127.0.0.1 (the cluster CA and the apiserver's serving cert)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test cluster CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    import tempfile
    from pathlib import Path

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as d:
        crt, kf = Path(d) / "crt.pem", Path(d) / "key.pem"
        crt.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        kf.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ctx.load_cert_chain(str(crt), str(kf))
    return TLSFiles(ca_pem=ca.public_bytes(serialization.Encoding.PEM), server_ctx=ctx)


@define
class Cluster:
    """The discovery side of a cluster: what it publishes can be changed while the CA runs."""

    issuer: str
    tls: TLSFiles
    keys: list[SAKey] = field(factory=list)
    max_age: int | None = 3600
    fail: bool = False
    hits: dict[str, int] = field(factory=dict)

    @property
    def roots_b64(self) -> str:
        return b64(self.tls.ca_pem)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/openid/v1/jwks"

    def app(self) -> web.Application:
        async def discovery(request: web.Request) -> web.Response:
            self.hits["discovery"] = self.hits.get("discovery", 0) + 1
            if self.fail:
                return web.json_response({"message": "unavailable"}, status=503)
            return web.json_response(
                {
                    "issuer": self.issuer,
                    "jwks_uri": self.jwks_url,
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }
            )

        async def jwks(request: web.Request) -> web.Response:
            self.hits["jwks"] = self.hits.get("jwks", 0) + 1
            if self.fail:
                return web.json_response({"message": "unavailable"}, status=503)
            headers = {"Cache-Control": f"public, max-age={self.max_age}"} if self.max_age is not None else {}
            return web.json_response({"keys": [k.jwk() for k in self.keys]}, headers=headers)

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/openid/v1/jwks", jwks)
        return app
