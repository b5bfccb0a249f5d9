"""A SCEP client for the tests that real clients cannot make (a wrong signer, a replay, a short key, GET in
macOS's half-escaped form), written from RFC 8894 with asn1crypto and cryptography, and the independent
checks of what the CA answers: `openssl cms -verify` of the CertRep's signature, `openssl cms -decrypt`
of its envelope, `openssl verify` of the certificate.

Also the real clients: micromdm's `scepclient` (Debian's `scep`) and certmonger's `scep-submit`."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import AttributeOID, NameOID

SCEPCLIENT = "scepclient"
SCEP_SUBMIT = "/usr/lib/certmonger/scep-submit"
VERISIGN = "2.16.840.1.113733.1.9."


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_csr(
    key: Any, cn: str, challenge: str | None, dns: tuple[str, ...] = ()
) -> x509.CertificateSigningRequest:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Plica tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
    )
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    if challenge is not None:
        b = b.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode())
    return b.sign(key, hashes.SHA256())


def self_signed(key: Any, cn: str = "SCEP SIGNER") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def _der(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _ias(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    return cms.IssuerAndSerialNumber(
        {"issuer": asn1_x509.Name.load(cert.issuer.public_bytes()), "serial_number": cert.serial_number}
    )


def pki_message(
    csr_der: bytes,
    *,
    signer_cert: x509.Certificate,
    signer_key: Any,
    recipient: x509.Certificate,
    message_type: str = "19",
    transaction_id: str = "",
    nonce: bytes | None = None,
    oaep: str | None = None,
    encrypted_key: bytes | None = None,
) -> bytes:
    """A pkiMessage: the CSR enveloped (AES-256-CBC, RSA key transport) for `recipient`, signed (SHA-256)
    by `signer_key` with `signer_cert` in the SignedData. The key transport is PKCS#1 v1.5, or RSAES-OAEP with
    the hash `oaep` names ("sha1": RFC 8017's default parameters, written as an empty SEQUENCE);
    `encrypted_key` replaces the transported key (a ciphertext that does not decrypt)."""
    key, iv = os.urandom(32), os.urandom(16)
    pub: Any = recipient.public_key()
    if oaep is None:
        kea: Any = {"algorithm": "rsaes_pkcs1v15"}
        transported = pub.encrypt(key, asym_padding.PKCS1v15())
    else:
        h = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384}[oaep]()
        if oaep == "sha1":  # every field at its default: parameters are an empty SEQUENCE
            kea = cms.KeyEncryptionAlgorithm.load(bytes.fromhex("300d06092a864886f70d0101073000"))
        else:
            kea = cms.KeyEncryptionAlgorithm(
                {
                    "algorithm": "rsaes_oaep",
                    "parameters": {
                        "hash_algorithm": {"algorithm": oaep},
                        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": oaep}},
                    },
                }
            )
        transported = pub.encrypt(key, asym_padding.OAEP(asym_padding.MGF1(h), h, None))
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = enc.update(padder.update(csr_der) + padder.finalize()) + enc.finalize()
    env = cms.ContentInfo(
        {
            "content_type": "enveloped_data",
            "content": {
                "version": "v0",
                "recipient_infos": [
                    cms.RecipientInfo(
                        name="ktri",
                        value={
                            "version": "v0",
                            "rid": cms.RecipientIdentifier(
                                name="issuer_and_serial_number", value=_ias(recipient)
                            ),
                            "key_encryption_algorithm": kea,
                            "encrypted_key": transported if encrypted_key is None else encrypted_key,
                        },
                    )
                ],
                "encrypted_content_info": {
                    "content_type": "data",
                    "content_encryption_algorithm": algos.EncryptionAlgorithm(
                        {"algorithm": "aes256_cbc", "parameters": core.OctetString(iv)}
                    ),
                    "encrypted_content": ct,
                },
            },
        }
    ).dump()
    digest = hashes.Hash(hashes.SHA256())
    digest.update(env)
    attrs = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [digest.finalize()]}),
        cms.CMSAttribute({"type": VERISIGN + "2", "values": [core.PrintableString(message_type)]}),
        cms.CMSAttribute(
            {"type": VERISIGN + "7", "values": [core.PrintableString(transaction_id or os.urandom(8).hex())]}
        ),
        cms.CMSAttribute({"type": VERISIGN + "5", "values": [core.OctetString(nonce or os.urandom(16))]}),
    ]
    signed = cms.CMSAttributes([cms.CMSAttribute.load(a) for a in sorted(x.dump() for x in attrs)])
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        signature, sig_alg = signer_key.sign(signed.dump(), ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    else:
        signature, sig_alg = (
            signer_key.sign(signed.dump(), asym_padding.PKCS1v15(), hashes.SHA256()),
            "rsassa_pkcs1v15",
        )
    sd = {
        "version": "v1",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "data", "content": env},
        "certificates": [_der(signer_cert)],
        "signer_infos": [
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value=_ias(signer_cert)),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": signed,
                "signature_algorithm": {"algorithm": sig_alg},
                "signature": signature,
            }
        ],
    }
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


@frozen
class CertRep:
    status: str
    fail_info: str | None
    transaction_id: str
    recipient_nonce: bytes
    message_type: str
    envelope: bytes


def read_cert_rep(der: bytes, tmp: Path, ca_root: Path) -> CertRep:
    """The CertRep's attributes, after `openssl cms -verify` checked its signature up to the CA's root."""
    path = tmp / f"certrep-{os.urandom(4).hex()}.der"
    path.write_bytes(der)
    r = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(path), "-CAfile", str(ca_root),
         "-purpose", "any", "-out", str(path.with_suffix(".content"))],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    si = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    attrs = {a["type"].dotted: a["values"][0] for a in si["signed_attrs"]}

    def text(n: str) -> str | None:
        v = attrs.get(VERISIGN + n)
        return None if v is None else v.parse(core.PrintableString).native

    return CertRep(
        status=text("3") or "",
        fail_info=text("4"),
        transaction_id=text("7") or "",
        recipient_nonce=attrs[VERISIGN + "6"].parse(core.OctetString).native,
        message_type=text("2") or "",
        envelope=path.with_suffix(".content").read_bytes(),
    )


def open_envelope(rep: CertRep, tmp: Path, cert: x509.Certificate, key: Any) -> x509.Certificate:
    """The issued certificate: `openssl cms -decrypt` of the CertRep's envelope with the requester's key."""
    env, crt, pem = tmp / "env.der", tmp / "recip.crt", tmp / "recip.key"
    env.write_bytes(rep.envelope)
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    r = subprocess.run(
        ["openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(env), "-recip", str(crt), "-inkey", str(pem),
         "-out", str(tmp / "deg.der")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(tmp / "deg.der"), "-print_certs"],
        capture_output=True, check=True,
    )  # fmt: skip
    (leaf,) = x509.load_pem_x509_certificates(out.stdout)
    return leaf


async def scepclient(
    url: str, tmp: Path, challenge: str, *, cn: str = "scepclient", key_size: int = 2048
) -> tuple[int, str]:
    """micromdm's scepclient: enrol (or, when `tmp` already holds its certificate, renew) at `url`."""
    p = await asyncio.create_subprocess_exec(
        SCEPCLIENT, "-server-url", url, "-challenge", challenge, "-cn", cn, "-keySize", str(key_size),
        "-private-key", str(tmp / "client.key"), "-certificate", str(tmp / "client.crt"), "-debug",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(p.communicate(), 60)
    assert p.returncode is not None
    return p.returncode, out.decode(errors="replace")
