"""Fixtures for the Nebula provisioner tests: Nebula PKIs made by the real `nebula-cert` (Debian package
`nebula`, 1.6.1), plus the certificates nebula-cert 1.6.1 cannot make (several IPs per host, P-256, expired)
signed by `plica_nebula.nebulacert` with nebula-cert's own CA key and checked with `nebula-cert verify`."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from attrs import define
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica_nebula.cert import NebulaCertificate, load_private_key_pem, parse_pem, sign_certificate

UTC = dt.UTC


def nebula_cert_binary() -> str:
    path = shutil.which("nebula-cert")
    if path is None:
        pytest.fail("nebula-cert is not installed (apt-get install -y nebula)")
    return path


def run_nebula_cert(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nebula_cert_binary(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@define
class HostCert:
    crt: Path
    key: Path

    @property
    def cert(self) -> NebulaCertificate:
        return parse_pem(self.crt.read_bytes())[0]


@define
class NebulaPKI:
    """One Nebula CA (files as nebula-cert writes them) and a way to issue host certificates from it."""

    dir: Path
    ca_crt: Path
    ca_key: Path

    @property
    def roots_b64(self) -> str:
        return base64.b64encode(self.ca_crt.read_bytes()).decode()

    @property
    def ca(self) -> NebulaCertificate:
        return parse_pem(self.ca_crt.read_bytes())[0]

    def sign(self, name: str, ip: str, *extra: str) -> HostCert:
        """A host certificate issued by `nebula-cert sign` (one IP: all 1.6.1 can do)."""
        crt, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        r = run_nebula_cert(
            "sign", "-ca-crt", str(self.ca_crt), "-ca-key", str(self.ca_key), "-name", name, "-ip", ip,
            "-out-crt", str(crt), "-out-key", str(key), *extra, cwd=self.dir,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return HostCert(crt, key)

    def sign_many(
        self,
        name: str,
        ips: list[str],
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        groups: tuple[str, ...] = (),
    ) -> HostCert:
        """A host certificate with several networks: the key pair from `nebula-cert keygen`, the certificate
        signed with nebula-cert's CA key, and accepted by `nebula-cert verify` when currently valid."""
        pub, key = self.dir / f"{name}.pub", self.dir / f"{name}.key"
        r = run_nebula_cert("keygen", "-out-pub", str(pub), "-out-key", str(key), cwd=self.dir)
        assert r.returncode == 0, r.stderr
        pub_raw = base64.b64decode(b"".join(pub.read_bytes().split(b"\n")[1:-2]))
        _, ca_key = load_private_key_pem(self.ca_key.read_bytes())
        now = dt.datetime.now(UTC)
        cert = sign_certificate(
            name=name,
            public_key=pub_raw,
            signing_key=ca_key,
            not_before=not_before or max(now - dt.timedelta(minutes=5), self.ca.not_before),
            not_after=not_after or self.ca.not_after - dt.timedelta(seconds=1),
            ips=[ipaddress.ip_interface(i) for i in ips],
            groups=groups,
            issuer=self.ca,
        )
        crt = self.dir / f"{name}.crt"
        crt.write_bytes(cert.to_pem())
        return HostCert(crt, key)

    def verify_with_tool(self, host: HostCert) -> subprocess.CompletedProcess[str]:
        return run_nebula_cert("verify", "-ca", str(self.ca_crt), "-crt", str(host.crt), cwd=self.dir)


def new_pki(base: Path, name: str, *extra: str) -> NebulaPKI:
    d = base / name
    d.mkdir(parents=True)
    r = run_nebula_cert("ca", "-name", name, "-out-crt", "ca.crt", "-out-key", "ca.key", *extra, cwd=d)
    assert r.returncode == 0, r.stderr
    return NebulaPKI(d, d / "ca.crt", d / "ca.key")


@define
class P256PKI:
    """A P-256 Nebula CA and host (nebula-cert 1.6.1 offers only curve25519, so the library signs these)."""

    ca: NebulaCertificate
    host: HostCert

    @property
    def roots_b64(self) -> str:
        return base64.b64encode(self.ca.to_pem()).decode()


def new_p256_pki(base: Path, host_name: str, ip: str) -> P256PKI:
    now = dt.datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_scalar = ca_key.private_numbers().private_value.to_bytes(32, "big")

    def point(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    ca = sign_certificate(
        name="P-256 Nebula CA", public_key=point(ca_key), signing_key=ca_scalar, is_ca=True, curve="P256",
        not_before=now - dt.timedelta(hours=1), not_after=now + dt.timedelta(days=30),
    )  # fmt: skip
    host_key = ec.generate_private_key(ec.SECP256R1())
    host = sign_certificate(
        name=host_name, public_key=point(host_key), signing_key=ca_scalar, curve="P256", issuer=ca,
        ips=[ipaddress.ip_interface(ip)], not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(days=7),
    )  # fmt: skip
    d = base / "p256"
    d.mkdir(parents=True)
    crt, key = d / "host.crt", d / "host.key"
    crt.write_bytes(host.to_pem())
    scalar = host_key.private_numbers().private_value.to_bytes(32, "big")
    key.write_bytes(
        b"-----BEGIN NEBULA P256 PRIVATE KEY-----\n"
        + base64.b64encode(scalar)
        + b"\n-----END NEBULA P256 PRIVATE KEY-----\n"
    )
    os.chmod(key, 0o600)
    return P256PKI(ca=ca, host=HostCert(crt, key))


@pytest.fixture(scope="module")
def nebula_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nebula")


@pytest.fixture(scope="module")
def pki(nebula_dir: Path) -> NebulaPKI:
    return new_pki(nebula_dir, "Test Nebula CA")


@pytest.fixture(scope="module")
def other_pki(nebula_dir: Path) -> NebulaPKI:
    return new_pki(nebula_dir, "Other Nebula CA")


@pytest.fixture(scope="module")
def host(pki: NebulaPKI) -> HostCert:
    return pki.sign("host1.example", "10.1.0.5/16")


@pytest.fixture(scope="module")
def host_two_ips(pki: NebulaPKI) -> HostCert:
    h = pki.sign_many("host2.example", ["10.1.0.6/16", "10.2.0.6/24"], groups=("servers",))
    r = pki.verify_with_tool(h)
    assert r.returncode == 0, f"nebula-cert verify rejected the two-IP host certificate: {r.stdout}{r.stderr}"
    return h


@pytest.fixture(scope="module")
def p256(nebula_dir: Path) -> P256PKI:
    return new_p256_pki(nebula_dir, "p256host.example", "10.7.0.7/24")
