"""Keys, CSRs and certificates for tests, built with `cryptography` directly."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from plica.names import split_sans
from plica.testing.tokens import b64url


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ssh_wire(*fields: bytes) -> bytes:
    """SSH strings one after another (RFC 4251 §5: a u32 length, then the bytes): a key's or a
    certificate's wire blob."""
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def compressed_ec_point() -> bytes:
    """A P-256 public point in compressed form, which OpenSSH and step refuse in an SSH key."""
    return (
        ec_key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    )


def make_csr(key: Any, cn: str | None, sans: Iterable[str] = ()) -> x509.CertificateSigningRequest:
    """A CSR for `cn` (none when None) with `sans` typed as step types them (IPs, emails, URIs, DNS names)."""
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


@frozen
class CSRFor:
    """A new P-256 key and a CSR for names (the first is the CN), in the forms a test sends."""

    key: Any  # cryptography private key
    csr: x509.CertificateSigningRequest

    @property
    def pem(self) -> str:
        return csr_pem(self.csr)

    @property
    def fingerprint(self) -> str:
        return csr_fingerprint(self.csr)


def csr_for(names: Iterable[str] | str, key: Any = None) -> CSRFor:
    """A CSR whose CN is the first name and whose SANs are all of them (a string is one name)."""
    names = [names] if isinstance(names, str) else list(names)
    key = key or ec_key()
    return CSRFor(key=key, csr=make_csr(key, names[0] if names else None, names))


def _builder(
    name: x509.Name, issuer: x509.Name, key: Any, back: dt.timedelta, ahead: dt.timedelta, *, ca: bool
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - back)
        .not_valid_after(now + ahead)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )


def root_ca(cn: str = "Test Root", key: Any = None) -> tuple[x509.Certificate, Any]:
    """A self-signed CA certificate (one day back, thirty ahead) and its key: an outside PKI to trust."""
    key = key or ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        _builder(name, name, key, dt.timedelta(days=1), dt.timedelta(days=30), ca=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def tls_cert(
    cn: str, key: Any, issuer: tuple[x509.Certificate, Any] | None = None, *, ca: bool = False
) -> x509.Certificate:
    """A certificate for a TLS chain built outside any CA: `cn`'s, for `key`, signed by `issuer` (its
    certificate and key) or self-signed; a CA, or a leaf for the DNS name localhost; valid for a day."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    b = _builder(name, issuer_name, key, dt.timedelta(minutes=5), dt.timedelta(days=1), ca=ca)
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def pem_b64(*certs: x509.Certificate) -> str:
    """Standard base64 of the PEM text of `certs`: how ca.json holds roots (a Go []byte)."""
    return base64.b64encode(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)).decode()
