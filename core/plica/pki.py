"""The CA's certificates and keys, and building certificates with them.

Everything that can be done once is done in `CAMaterial.load`: keys decrypted, chains serialised to PEM,
fingerprints computed, extension objects that never change prebuilt. `sign_leaf` is the hot path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.jose import PrivateKey
from plica.keys import load_key
from plica.x509.fastleaf import LeafEncoder

UTC = dt.UTC


def signature_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]
    return hashes.SHA256()


def random_serial() -> int:
    """128-bit random serial (positive, fits RFC 5280's 20 octets)."""
    return secrets.randbits(128) | 1


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def create_root(key: PrivateKey, name: str, *, years: int = 10) -> x509.Certificate:
    now = dt.datetime.now(UTC)
    subject = _name(f"{name} Root CA", name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, signature_hash(key))


def create_intermediate(
    key: PrivateKey, name: str, root: x509.Certificate, root_key: PrivateKey, *, years: int = 10
) -> x509.Certificate:
    now = dt.datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} Intermediate CA", name))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(min(now + dt.timedelta(days=365 * years), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    return builder.sign(root_key, signature_hash(root_key))


def load_certs(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


_EKU_SERVER_CLIENT = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
_KU_SIG = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
_KU_SIG_ENC = x509.KeyUsage(True, False, True, False, False, False, False, False, False)


def default_key_usage(public_key: Any) -> x509.KeyUsage:
    """step's default leaf: digitalSignature, plus keyEncipherment for RSA keys."""
    return _KU_SIG_ENC if isinstance(public_key, rsa.RSAPublicKey) else _KU_SIG


@define
class CAMaterial:
    """Roots, the issuing intermediate and its key, and the SSH CA keys — loaded and decrypted once."""

    roots: list[x509.Certificate]
    federated_roots: list[x509.Certificate]
    intermediate: x509.Certificate
    intermediate_key: PrivateKey
    chain: list[x509.Certificate]  # intermediates, issuing one first
    ssh_user_key: PrivateKey | None = None
    ssh_host_key: PrivateKey | None = None
    # Derived once:
    chain_pem: list[str] = field(factory=list)
    root_pem: list[str] = field(factory=list)
    federated_pem: list[str] = field(factory=list)
    root_by_fingerprint: dict[str, x509.Certificate] = field(factory=dict)
    akid: x509.AuthorityKeyIdentifier | None = None
    hash_alg: hashes.HashAlgorithm | None = None
    encoder: LeafEncoder | None = None  # the default leaf without the builder

    @classmethod
    def load(
        cls,
        *,
        root_paths: Sequence[Path],
        crt_path: Path,
        key_path: Path,
        password: bytes | None,
        federated_paths: Sequence[Path] = (),
        ssh_user_key: Path | None = None,
        ssh_host_key: Path | None = None,
    ) -> CAMaterial:
        roots = [c for p in root_paths for c in load_certs(p)]
        chain = load_certs(crt_path)
        key = load_key(key_path, password)
        federated = [c for p in federated_paths for c in load_certs(p)]
        m = cls(
            roots=roots,
            federated_roots=federated,
            intermediate=chain[0],
            intermediate_key=key,
            chain=chain,
            ssh_user_key=load_key(ssh_user_key, password) if ssh_user_key else None,
            ssh_host_key=load_key(ssh_host_key, password) if ssh_host_key else None,
        )
        m._derive()
        return m

    def _derive(self) -> None:
        ca_pub = self.intermediate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_pub = self.intermediate_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if ca_pub != key_pub:
            raise ValueError("the intermediate certificate (crt) does not match its private key (key)")
        self.chain_pem = [pem(c) for c in self.chain]
        self.root_pem = [pem(c) for c in self.roots]
        self.federated_pem = [pem(c) for c in [*self.roots, *self.federated_roots]]
        self.root_by_fingerprint = {fingerprint(c): c for c in [*self.roots, *self.federated_roots]}
        try:
            ski = self.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            self.akid = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            self.akid = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate.public_key())  # type: ignore[arg-type]
        self.hash_alg = signature_hash(self.intermediate_key)
        self.encoder = LeafEncoder(self.intermediate, self.intermediate_key, self.hash_alg, self.akid)

    def sign_leaf(
        self,
        *,
        public_key: Any,
        subject: x509.Name,
        san: x509.SubjectAlternativeName | None,
        san_critical: bool,
        not_before: dt.datetime,
        not_after: dt.datetime,
        extra_extensions: Sequence[x509.ExtensionType] = (),
        key_usage: x509.KeyUsage | None = None,
        ext_key_usage: x509.ExtendedKeyUsage | None = _EKU_SERVER_CLIENT,
    ) -> x509.Certificate:
        """The default leaf (docs/reference/wire.md §3a): KU digitalSignature(+keyEncipherment for RSA), EKU server+client
        auth, SANs, SKID, AKID, plus `extra_extensions` (the provisioner extension)."""
        if self.encoder is not None and all(
            isinstance(e, x509.UnrecognizedExtension) for e in extra_extensions
        ):
            der = self.encoder.sign(
                serial=random_serial(),
                subject=subject,
                public_key=public_key,
                not_before=not_before,
                not_after=not_after,
                key_usage=key_usage or default_key_usage(public_key),
                ext_key_usage=ext_key_usage,
                san=san,
                san_critical=san_critical,
                extra=[(e.oid.dotted_string, e.value) for e in extra_extensions],  # type: ignore[attr-defined]
            )
            return x509.load_der_x509_certificate(der)
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(key_usage or default_key_usage(public_key), critical=True)
        )
        if ext_key_usage is not None:
            b = b.add_extension(ext_key_usage, critical=False)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        b = b.add_extension(self.akid, critical=False)  # type: ignore[arg-type]
        if san is not None:
            b = b.add_extension(san, critical=san_critical)
        for ext in extra_extensions:
            b = b.add_extension(ext, critical=False)
        return b.sign(self.intermediate_key, self.hash_alg)

    def sign_builder(
        self, builder: x509.CertificateBuilder, hash_alg: hashes.HashAlgorithm | None = None
    ) -> x509.Certificate:
        return builder.sign(self.intermediate_key, hash_alg or self.hash_alg)

    def sign_ocsp_responder(
        self, public_key: Any, *, not_before: dt.datetime, not_after: dt.datetime
    ) -> x509.Certificate:
        """A delegated OCSP responder certificate (RFC 6960 §4.2.2.2) for `public_key`: issued by the
        intermediate, id-kp-OCSPSigning, and id-pkix-ocsp-nocheck (relying parties do not ask about it)."""
        cn = self.intermediate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = f"{cn[0].value if cn else 'Plica'} OCSP Responder"
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(name))]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(_KU_SIG, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self.akid, critical=False)  # type: ignore[arg-type]
        )
        return self.sign_builder(b)

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        """The CRL (plica.x509.crl) signed by the intermediate, with the hash its leaves use."""
        return builder.sign(self.intermediate_key, self.hash_alg)  # type: ignore[arg-type]
