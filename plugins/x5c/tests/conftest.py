"""Fixtures for the X5C tests: a real CA, and an outside PKI whose certificates authenticate to it."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.testing import CAFiles, client_context, make_ca

UTC = dt.UTC
KU_SIG = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
KU_CA = x509.KeyUsage(False, False, False, False, False, True, True, False, False)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@define
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@define
class OutsidePKI:
    """A separate PKI (root → intermediate → leaves) standing in for "an outside root" (docs/reference/provisioners.md)."""

    root: Issued
    intermediate: Issued

    @classmethod
    def create(cls, name: str = "Outside") -> OutsidePKI:
        now = dt.datetime.now(UTC)
        rk = ec.generate_private_key(ec.SECP256R1())
        root = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} Root"))
            .issuer_name(_name(f"{name} Root"))
            .public_key(rk.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(KU_CA, critical=True)
            .sign(rk, hashes.SHA256())
        )
        ik = ec.generate_private_key(ec.SECP256R1())
        inter = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} Intermediate"))
            .issuer_name(root.subject)
            .public_key(ik.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(KU_CA, critical=True)
            .sign(rk, hashes.SHA256())
        )
        return cls(Issued(root, rk), Issued(inter, ik))

    def roots_b64(self) -> str:
        return base64.b64encode(self.root.pem()).decode()

    def leaf(
        self,
        cn: str = "device-1",
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        eku: Iterable[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
        key_usage: x509.KeyUsage | None = KU_SIG,
        signer: ec.EllipticCurvePrivateKey | None = None,
    ) -> Issued:
        now = dt.datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.intermediate.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(hours=6))
        )
        if key_usage is not None:
            b = b.add_extension(key_usage, critical=True)
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return Issued(b.sign(signer or self.intermediate.key, hashes.SHA256()), key)

    def chain(self, leaf: Issued) -> list[x509.Certificate]:
        return [leaf.cert, self.intermediate.cert]


@pytest.fixture
def outside() -> OutsidePKI:
    return OutsidePKI.create()


@pytest.fixture
def ca(tmp_path: Path, outside: OutsidePKI) -> CAFiles:
    """A CA with its JWK provisioner and an X5C provisioner `x5c` trusting the outside PKI."""
    files = make_ca(tmp_path)
    files.add_provisioner(
        {"type": "X5C", "name": "x5c", "roots": outside.roots_b64(), "claims": {"enableSSHCA": True}}
    )
    return files


class API:
    """JSON requests to the CA under test, with its root trusted."""

    def __init__(self, files: CAFiles, session: aiohttp.ClientSession) -> None:
        self.files = files
        self.session = session
        self.ssl = client_context(files)

    async def post(self, path: str, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
        async with self.session.post(self.files.url + path, json=body, ssl=self.ssl, **kw) as r:
            return r.status, await r.json(content_type=None)

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.files.url + path, ssl=self.ssl) as r:
            return r.status, await r.json(content_type=None)


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(http: aiohttp.ClientSession) -> Any:
    """`api(files)`: an API client for that CA."""
    return lambda files: API(files, http)
