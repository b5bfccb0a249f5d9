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
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.errors import ConfigError
from plica.jose import PrivateKey
from plica.kms import KeyHandle, OpenedKeys, Signer, redact_uri
from plica.kms import signature_hash as kms_signature_hash
from plica.stages import next_step
from plica.x509.fastleaf import LeafEncoder
from plica.x509.kmssign import sign_certificate, sign_certificate_now, sign_crl

# A CA key: a private key in memory (tests, `plica init` without --kms) or a key manager's key.
CAKeyLike = PrivateKey | Signer


def _public(key: CAKeyLike) -> Any:
    return key.public_key if isinstance(key, Signer) else key.public_key()


def _sign_now(builder: x509.CertificateBuilder, key: CAKeyLike) -> x509.Certificate:
    if isinstance(key, Signer):
        return sign_certificate_now(builder, key)
    return builder.sign(key, signature_hash(key))


UTC = dt.UTC


def signature_hash(key: Any) -> hashes.HashAlgorithm | None:
    return kms_signature_hash(key)


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


def create_root(key: CAKeyLike, name: str, *, years: int = 10) -> x509.Certificate:
    now = dt.datetime.now(UTC)
    subject = _name(f"{name} Root CA", name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(_public(key))
        .serial_number(random_serial())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(_public(key)), critical=False)
    )
    return _sign_now(builder, key)


def create_intermediate(
    key: CAKeyLike, name: str, root: x509.Certificate, root_key: CAKeyLike, *, years: int = 10
) -> x509.Certificate:
    now = dt.datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} Intermediate CA", name))
        .issuer_name(root.subject)
        .public_key(_public(key))
        .serial_number(random_serial())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(min(now + dt.timedelta(days=365 * years), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(_public(key)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_public(root_key)),
            critical=False,
        )
    )
    return _sign_now(builder, root_key)


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
    """Roots, the issuing intermediate and its key, and the SSH CA keys — opened once (`load`). Every
    signature goes through a key manager's key (`plica.kms.Signer`)."""

    roots: list[x509.Certificate]
    federated_roots: list[x509.Certificate]
    intermediate: x509.Certificate
    intermediate_signer: Signer
    chain: list[x509.Certificate]  # intermediates, issuing one first
    ssh_user_signer: Signer | None = None
    ssh_host_signer: Signer | None = None
    keys: OpenedKeys | None = None
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
        keys: OpenedKeys,
        federated_paths: Sequence[Path] = (),
    ) -> CAMaterial:
        roots = [c for p in root_paths for c in load_certs(p)]
        chain = load_certs(crt_path)
        federated = [c for p in federated_paths for c in load_certs(p)]
        m = cls(
            roots=roots,
            federated_roots=federated,
            intermediate=chain[0],
            intermediate_signer=keys.intermediate,
            chain=chain,
            ssh_user_signer=keys.ssh_user,
            ssh_host_signer=keys.ssh_host,
            keys=keys,
        )
        m._derive()
        return m

    def open_handle(self, uri: str, *, what: str) -> KeyHandle:
        """A key of the CA's key manager that ca.json names elsewhere (a SCEP provisioner's `decrypterKey`),
        as a plugin may hold it; a `ConfigError` naming the URI when it cannot be opened."""
        if self.keys is None:
            raise ConfigError("", f"{redact_uri(uri)}: this CA has no key manager to open it with")
        return KeyHandle(Signer(self.keys.manager.open_key(uri), what=what))

    @property
    def ssh_user_key(self) -> Any:
        """The SSH user CA's public key (None without one)."""
        return self.ssh_user_signer.public_key if self.ssh_user_signer else None

    @property
    def ssh_host_key(self) -> Any:
        return self.ssh_host_signer.public_key if self.ssh_host_signer else None

    def _derive(self) -> None:
        ca_pub = self.intermediate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_pub = self.intermediate_signer.public_key.public_bytes(
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
        self.hash_alg = self.intermediate_signer.hash_alg
        self.encoder = LeafEncoder(
            self.intermediate, self.intermediate_signer.public_key, self.hash_alg, self.akid
        )

    async def sign_leaf(
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
            tbs = self.encoder.tbs(
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
            await next_step()  # the signatures of this turn's leaves one after another (plica.stages)
            der = self.encoder.signed(tbs, await self.intermediate_signer.sign(tbs))
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
        return await self.sign_builder(b)

    async def renew_leaf(
        self, old: x509.Certificate, *, not_before: dt.datetime, not_after: dt.datetime, new_key: Any = None
    ) -> x509.Certificate:
        """`old` renewed (rekeyed with `new_key`) by the issuing intermediate (`LeafEncoder.renewed_tbs`)."""
        assert self.encoder is not None  # made by `_derive` when the material is loaded
        tbs = self.encoder.renewed_tbs(
            old, serial=random_serial(), not_before=not_before, not_after=not_after, public_key=new_key
        )
        await next_step()
        der = self.encoder.signed(tbs, await self.intermediate_signer.sign(tbs))
        return x509.load_der_x509_certificate(der)

    async def sign_builder(
        self,
        builder: x509.CertificateBuilder,
        hash_alg: hashes.HashAlgorithm | None = None,
        pss: bool = False,
    ) -> x509.Certificate:
        """`builder` signed by the issuing intermediate's key."""
        await next_step()
        return await sign_certificate(builder, self.intermediate_signer, hash_alg, pss)

    def sign_builder_now(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """The same in the calling thread (the CA's own TLS certificate, made before serving)."""
        return sign_certificate_now(builder, self.intermediate_signer)

    async def sign_ocsp_responder(
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
        return await self.sign_builder(b)

    async def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        """The CRL (plica.x509.crl) signed by the intermediate's key manager, with the hash its leaves use."""
        return await sign_crl(builder, self.intermediate_signer)
