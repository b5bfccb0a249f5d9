"""What test_render_defaults.py, test_render_examples.py and test_render_options.py share: a test
intermediate CA that signs what a rendered description says, the CSRs, token and SSH signing they use, and
readers for the certificate they get back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from plica.certdesc import SSHDescription, X509Description, render_x509, signing_params

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TOKEN = {
    "aud": "https://ca.example.com/1.0/sign",
    "exp": 1606870196,
    "iat": 1606869896,
    "iss": "jane@smallstep.com",
    "jti": "b4a9b2c0f0d24fd2a3e5e8fcd2dd6d3d",
    "nbf": 1606869896,
    "sans": ["jane@doe.com"],
    "sha": "3c5a0b7ae2b5a3a0e5e3b8f3c1d8d8e2a1b4e7c9d0f2a3b4c5d6e7f8091a2b3c",
    "sub": "jane@doe.com",
}


class CA:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        desc = X509Description.from_json(
            '{"subject": {"commonName": "Test Intermediate CA"}, "keyUsage": ["certSign", "crlSign"],'
            ' "basicConstraints": {"isCA": true, "maxPathLen": 0}}'
        )
        builder = desc.apply(x509.CertificateBuilder(), public_key=self.key.public_key())
        builder = builder.serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=30))
        self.cert = builder.sign(self.key, hashes.SHA256())

    def sign(self, desc: X509Description, public_key: Any, **kwargs: Any) -> x509.Certificate:
        builder = desc.apply(
            x509.CertificateBuilder(), public_key=public_key, issuer_cert=self.cert, **kwargs
        )
        builder = builder.serial_number(desc.serial_number or x509.random_serial_number())
        builder = builder.not_valid_before(desc.not_before or NOW - dt.timedelta(minutes=1))
        builder = builder.not_valid_after(desc.not_after or NOW + dt.timedelta(hours=24))
        params = signing_params(desc.signature_algorithm, self.key, ca_cert=self.cert)
        return builder.sign(self.key, params.algorithm, rsa_padding=params.rsa_padding)


def csr_for(
    key: Any,
    cn: str | None = None,
    sans: list[x509.GeneralName] | None = None,
    extra: list[x509.NameAttribute] | None = None,
) -> x509.CertificateSigningRequest:
    attributes = ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []) + (extra or [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def issue(
    ca: CA, template: str, data: dict[str, Any], csr: x509.CertificateSigningRequest, **kw: Any
) -> x509.Certificate:
    desc = render_x509(template, data, name="template")
    return ca.sign(desc, csr.public_key(), **kw)


def ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_oid(oid)


def has(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bool:
    return any(e.oid == oid for e in cert.extensions)


def san_list(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value)


def ekus(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(ext(cert, ExtensionOID.EXTENDED_KEY_USAGE).value)


def key_usages(cert: x509.Certificate) -> set[str]:
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    assert ku.critical
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign"]  # fmt: skip
    return {n for n in names if getattr(ku.value, n)}


SERVER_CLIENT = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def ssh_sign(desc: SSHDescription) -> Any:
    ca_key = ed25519.Ed25519PrivateKey.generate()
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    now = int(NOW.timestamp())
    builder = desc.apply(SSHCertificateBuilder()).public_key(key).serial(desc.serial or 7)
    return builder.valid_after(now - 60).valid_before(now + 3600).sign(ca_key)


def defaults_user_extensions() -> list[str]:
    return [
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    ]
