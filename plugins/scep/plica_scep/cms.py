"""SCEP's PKCS#7/CMS (RFC 8894 §3): reading a client's pkiMessage and writing the CA's CertRep.

Untrusted input is parsed with asn1crypto (never by hand) and the cryptography is `cryptography`'s: DES-CBC,
3DES-CBC, AES-CBC and AES-GCM content encryption, signature checks over the signed attributes. The RSA key
transport (PKCS#1 v1.5, what every SCEP client uses, or OAEP) and the CertRep's signature are the decrypter's
(`SCEPKey`): the CA's key through its key manager, or the provisioner's own. A request that cannot be read far enough to answer
(no SignedData, no transactionID or senderNonce) is `Malformed` (HTTP 400); anything after that is a
`SCEPFailure`, answered with a signed CertRep FAILURE carrying its failInfo.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence
from typing import Any, Protocol

from asn1crypto import algos, cms, core, parser
from asn1crypto import x509 as asn1_x509
from attrs import frozen
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plica.api import DecryptionFailed

# RFC 8894 §3.2.1 attributes (id-VeriSign arc, and id-scep for failInfoText).
OID_MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
OID_PKI_STATUS = "2.16.840.1.113733.1.9.3"
OID_FAIL_INFO = "2.16.840.1.113733.1.9.4"
OID_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
OID_RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
OID_TRANSACTION_ID = "2.16.840.1.113733.1.9.7"
OID_FAIL_INFO_TEXT = "1.3.6.1.5.5.7.24.1"

CERT_REP, RENEWAL_REQ, PKCS_REQ = "3", "17", "19"
MESSAGE_TYPES = {
    "3": "CertRep",
    "17": "RenewalReq",
    "19": "PKCSReq",
    "20": "CertPoll",
    "21": "GetCert",
    "22": "GetCRL",
}
SUCCESS, FAILURE = "0", "2"
BAD_ALG, BAD_MESSAGE_CHECK, BAD_REQUEST, BAD_TIME, BAD_CERT_ID = "0", "1", "2", "3", "4"

# One answer whichever step failed (the key transport or the content), so that the reply is no oracle.
DOES_NOT_DECRYPT = "the pkcsPKIEnvelope does not decrypt with this CA's key"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class SCEPKey(Protocol):
    """What decrypts requests and signs replies: a `plica.api.KeyHandle` (the CA's key, or one in its key
    manager) or the provisioner's own PEM key."""

    @property
    def public_key(self) -> Any: ...

    async def sign(
        self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False
    ) -> bytes: ...

    async def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes: ...


class Malformed(Exception):
    """Not a SCEP pkiMessage this CA can answer in SCEP (no CertRep can be addressed to it)."""


class SCEPFailure(Exception):
    """A request answered with a CertRep FAILURE: `fail_info` is one of the BAD_* codes."""

    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class _MozillaGCMParameters(core.Sequence):
    """AES-GCM parameters as go.mozilla.org/pkcs7 (micromdm's scepclient, step-ca) writes and reads them:
    the nonce under an implicit [4] tag rather than RFC 5084's plain OCTET STRING, and the whole SEQUENCE
    wrapped once more in a primitive-flagged universal tag 16 (a Go RawValue without IsCompound)."""

    _fields = [("nonce", core.OctetString, {"implicit": 4}), ("icv_len", core.Integer)]


class _GCMParameters(core.Sequence):
    """RFC 5084 GCMParameters."""

    _fields = [("nonce", core.OctetString), ("icv_len", core.Integer, {"default": 12})]


class _CertificatesInOrder(cms.CertificateSet):
    """A SignedData's certificates in the order given: GetCACert's chain is read in order by clients (and
    step-ca writes it so), where DER's SET OF would sort it by encoding."""

    def _set_contents(self, force: bool = False) -> None:
        self._contents = b"".join(child.dump(force=force) for child in self)
        self._header = None
        self._trailer = b""


@frozen
class PKIMessage:
    """A client's pkiMessage, read up to the point where it can be answered."""

    message_type: str
    transaction_id: core.Any  # echoed in the reply exactly as it came
    transaction_text: str
    sender_nonce: bytes
    certificates: list[x509.Certificate]
    signer: x509.Certificate | None
    _signer_info: Any
    _content: bytes

    def verify_signature(self) -> None:
        """The signer's signature over the signed attributes, and the messageDigest of the content."""
        if self.signer is None:
            raise SCEPFailure(BAD_MESSAGE_CHECK, "the message carries no certificate of its signer")
        si = self._signer_info
        try:
            name = si["digest_algorithm"]["algorithm"].native
            if name not in _HASHES:
                raise SCEPFailure(BAD_ALG, f"digest algorithm {name!r} is not supported")
            digest = _digest(_HASHES[name](), self._content)
            attrs = {a["type"].dotted: a for a in si["signed_attrs"]}
            md = attrs.get("1.2.840.113549.1.9.4")
            if md is None or not hmac.compare_digest(md["values"][0].native, digest):
                raise SCEPFailure(BAD_MESSAGE_CHECK, "the messageDigest attribute does not match the content")
            signed = si["signed_attrs"].untag().dump()
            sig = si["signature"].native
            key = self.signer.public_key()
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, UnsupportedAlgorithm):
            raise SCEPFailure(BAD_MESSAGE_CHECK, "the signer information is not valid CMS") from None
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(sig, signed, asym_padding.PKCS1v15(), _HASHES[name]())
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(sig, signed, ec.ECDSA(_HASHES[name]()))
            else:
                raise SCEPFailure(BAD_ALG, "the signer's key type is not supported")
        except InvalidSignature:
            raise SCEPFailure(BAD_MESSAGE_CHECK, "the message signature does not verify") from None

    async def decrypt(self, cert: x509.Certificate, key: SCEPKey) -> bytes:
        """The pkcsPKIEnvelope's content (the CSR), its key transport decrypted by `key` (the CA's or the
        decrypter's). `DecryptionFailed` and a bad content decryption are one failure, with one text."""
        try:
            ci = cms.ContentInfo.load(self._content, strict=True)
            if ci["content_type"].native != "enveloped_data":
                raise SCEPFailure(BAD_REQUEST, "the pkcsPKIEnvelope is not an EnvelopedData")
            env = ci["content"]
            ktris = [r.chosen for r in env["recipient_infos"] if r.name == "ktri"]
            ours = [r for r in ktris if _names_cert(r["rid"], cert)]
            if not ours:
                raise SCEPFailure(BAD_MESSAGE_CHECK, "the request is not encrypted to this CA's certificate")
            eci = env["encrypted_content_info"]
            alg = eci["content_encryption_algorithm"]
            ciphertext = _encrypted_content(eci)
            encrypted_key = ours[0]["encrypted_key"].native
            oaep_hash = _key_transport(ours[0]["key_encryption_algorithm"])
            if ciphertext is None:
                raise SCEPFailure(BAD_REQUEST, "the pkcsPKIEnvelope has no content")
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise SCEPFailure(BAD_REQUEST, f"the pkcsPKIEnvelope is not valid CMS: {e}") from None
        try:
            cek = await key.decrypt(encrypted_key, oaep_hash)
        except DecryptionFailed:
            raise SCEPFailure(BAD_MESSAGE_CHECK, DOES_NOT_DECRYPT) from None
        return _decrypt_content(alg, cek, ciphertext)


def _key_transport(alg: Any) -> hashes.HashAlgorithm | None:
    """None for RSA PKCS#1 v1.5; the hash of RSAES-OAEP (RFC 8017 A.2.1: SHA-1 unless said, MGF1 with the
    same hash, no label: what CMS producers write)."""
    name = alg["algorithm"].native
    if name in ("rsaes_pkcs1v15", "rsa"):
        return None
    if name != "rsaes_oaep":
        raise SCEPFailure(BAD_ALG, f"key transport {alg['algorithm'].dotted} is not RSA PKCS#1 v1.5 or OAEP")
    params = alg["parameters"]
    h = params["hash_algorithm"]["algorithm"].native if params.native else "sha1"
    mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native if params.native else "sha1"
    label = params["p_source_algorithm"]["parameters"].native if params.native else b""
    if h not in _HASHES or mgf_hash != h or label:
        raise SCEPFailure(BAD_ALG, "RSAES-OAEP is read with one hash for the digest and MGF1 and no label")
    return _HASHES[h]()


def parse_pki_message(der: bytes) -> PKIMessage:
    """Read a pkiMessage: a SignedData whose one signer's signed attributes name the message type,
    transaction and nonce, and whose content is the DER of the pkcsPKIEnvelope. Raises `Malformed`."""
    if not der:
        raise Malformed("empty message")
    try:
        ci = cms.ContentInfo.load(der, strict=True)
        if ci["content_type"].native != "signed_data":
            raise Malformed("the message is not a CMS SignedData")
        sd = ci["content"]
        infos = list(sd["signer_infos"])
        if len(infos) != 1:
            raise Malformed(f"a pkiMessage has one signer, this one has {len(infos)}")
        si = infos[0]
        attrs = {a["type"].dotted: a["values"] for a in si["signed_attrs"]}
        missing = [n for o, n in _REQUIRED.items() if o not in attrs]
        if missing:
            raise Malformed(f"the signed attributes lack {', '.join(missing)}")
        tid = attrs[OID_TRANSACTION_ID][0]
        tid_text = tid.parse(core.PrintableString).native
        mtype = attrs[OID_MESSAGE_TYPE][0].parse(core.PrintableString).native
        nonce = attrs[OID_SENDER_NONCE][0].parse(core.OctetString).native
        content = sd["encap_content_info"]["content"]
        body = content.native if content else b""
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in (sd["certificates"] or [])
            if c.name == "certificate"
        ]
        signer = next((c for c in certs if _names_cert(si["sid"], c)), None)
        if not isinstance(body, bytes):
            raise Malformed("the SignedData content is not data")
    except Malformed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise Malformed(f"not a CMS SignedData pkiMessage: {e}") from None
    return PKIMessage(
        message_type=mtype,
        transaction_id=tid,
        transaction_text=tid_text,
        sender_nonce=nonce,
        certificates=certs,
        signer=signer,
        signer_info=si,
        content=body,
    )


_REQUIRED = {
    OID_MESSAGE_TYPE: "messageType",
    OID_TRANSACTION_ID: "transactionID",
    OID_SENDER_NONCE: "senderNonce",
}


def _names_cert(ident: Any, cert: x509.Certificate) -> bool:
    """Whether a SignerIdentifier / RecipientIdentifier names `cert` (issuer and serial, or its SKI)."""
    if ident.name == "issuer_and_serial_number":
        ias = ident.chosen
        return bool(
            ias["serial_number"].native == cert.serial_number
            and ias["issuer"].dump() == asn1_x509.Name.load(cert.issuer.public_bytes()).dump()
        )
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    return bool(ident.chosen.native == ski)


def _elements(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(class, method, tag, contents) of each TLV in `data`, by asn1crypto's parser."""
    out = []
    while data:
        cls, method, tag, header, contents, trailer = parser.parse(data, strict=False)
        out.append((cls, method, tag, contents))
        data = data[len(header) + len(contents) + len(trailer) :]
    return out


def _encrypted_content(eci: Any) -> bytes | None:
    """EncryptedContentInfo's [0] encryptedContent, also in the constructed (chunked) BER form that
    go.mozilla.org/pkcs7 writes and asn1crypto's implicitly tagged OCTET STRING refuses."""
    for cls, method, tag, contents in _elements(eci.contents):
        if cls == 2 and tag == 0:
            if method == 0:
                return contents
            return b"".join(
                core.OctetString.load(parser.emit(c, m, t, v)).native for c, m, t, v in _elements(contents)
            )
    return None


def _digest(alg: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(alg)
    h.update(data)
    return h.finalize()


def _decrypt_content(alg: Any, key: bytes, ciphertext: bytes) -> bytes:
    name = alg["algorithm"].native
    try:
        if name in ("aes128_gcm", "aes256_gcm"):
            raw = alg["parameters"]
            try:
                nonce = _MozillaGCMParameters.load(raw.contents)["nonce"].native
            except ValueError:
                nonce = _GCMParameters.load(raw.dump())["nonce"].native
            return AESGCM(key).decrypt(nonce, ciphertext, None)
        params = alg["parameters"]
        iv = params.native if isinstance(params, core.OctetString) else params.parse(core.OctetString).native
        if name == "des":
            cipher = Cipher(TripleDES(key * 3), modes.CBC(iv))
        elif name == "tripledes_3key":
            cipher = Cipher(TripleDES(key), modes.CBC(iv))
        elif name in ("aes128_cbc", "aes192_cbc", "aes256_cbc"):
            cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
        else:
            raise SCEPFailure(BAD_ALG, f"content encryption {name!r} is not supported")
        block = 64 if "des" in name else 128
        dec = cipher.decryptor()
        unpad = padding.PKCS7(block).unpadder()
        return unpad.update(dec.update(ciphertext) + dec.finalize()) + unpad.finalize()
    except (ValueError, TypeError, AttributeError, InvalidTag):
        raise SCEPFailure(BAD_MESSAGE_CHECK, DOES_NOT_DECRYPT) from None


# ------------------------------------------------------------------------------------------- writing

# encryptionAlgorithmIdentifier 0-4, as go.mozilla.org/pkcs7 numbers them (step-ca's ca.json field).
ENCRYPTIONS = ("des", "aes128_cbc", "aes256_cbc", "aes128_gcm", "aes256_gcm")
ENCRYPTION_NAMES = ("DES-CBC", "AES-128-CBC", "AES-256-CBC", "AES-128-GCM", "AES-256-GCM")


def degenerate(certs: Sequence[x509.Certificate]) -> bytes:
    """A certs-only SignedData (RFC 8894 §3.4): GetCACert's chain and the issued certificate."""
    sd = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data"},
            "certificates": _CertificatesInOrder([_asn1_cert(c) for c in certs]),
            "signer_infos": [],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


def envelope(content: bytes, recipients: Sequence[x509.Certificate], algorithm: int) -> bytes:
    """An EnvelopedData of `content` for `recipients` (RSA key transport) with encryptionAlgorithmIdentifier
    `algorithm`, in the form go.mozilla.org/pkcs7 reads (its AES-GCM parameters included)."""
    name = ENCRYPTIONS[algorithm]
    if name == "des":
        key, iv = os.urandom(8), os.urandom(8)
        enc = Cipher(TripleDES(key * 3), modes.CBC(iv)).encryptor()
        padder = padding.PKCS7(64).padder()
        ciphertext = enc.update(padder.update(content) + padder.finalize()) + enc.finalize()
        alg = algos.EncryptionAlgorithm({"algorithm": "des", "parameters": core.OctetString(iv)})
    elif name.endswith("_cbc"):
        key, iv = os.urandom(16 if name == "aes128_cbc" else 32), os.urandom(16)
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        padder = padding.PKCS7(128).padder()
        ciphertext = enc.update(padder.update(content) + padder.finalize()) + enc.finalize()
        alg = algos.EncryptionAlgorithm({"algorithm": name, "parameters": core.OctetString(iv)})
    else:
        key, nonce = os.urandom(16 if name == "aes128_gcm" else 32), os.urandom(12)
        ciphertext = AESGCM(key).encrypt(nonce, content, None)
        params = _MozillaGCMParameters({"nonce": nonce, "icv_len": 16}).dump()
        wrapped = core.Any.load(parser.emit(0, 0, 16, params))
        alg = algos.EncryptionAlgorithm({"algorithm": name, "parameters": wrapped})
    infos = []
    for cert in recipients:
        pub = cert.public_key()
        if not isinstance(pub, rsa.RSAPublicKey):
            raise SCEPFailure(BAD_ALG, "the reply can only be encrypted to an RSA key")
        infos.append(
            cms.RecipientInfo(
                name="ktri",
                value={
                    "version": "v0",
                    "rid": cms.RecipientIdentifier(
                        name="issuer_and_serial_number", value=_issuer_and_serial(cert)
                    ),
                    "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
                    "encrypted_key": pub.encrypt(key, asym_padding.PKCS1v15()),
                },
            )
        )
    env = cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": infos,
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": alg,
                "encrypted_content": ciphertext,
            },
        }
    )
    return cms.ContentInfo({"content_type": "enveloped_data", "content": env}).dump()


async def cert_rep(
    request: PKIMessage,
    *,
    signer_cert: x509.Certificate,
    signer_key: SCEPKey,
    status: str,
    content: bytes = b"",
    certificates: Sequence[x509.Certificate] = (),
    fail_info: str | None = None,
    fail_text: str = "",
) -> bytes:
    """The CA's CertRep to `request`, signed with SHA-256: SUCCESS with `content` (the enveloped issued
    certificate), or FAILURE with `fail_info`. The transactionID is the request's; the recipientNonce is
    its senderNonce, and the senderNonce a new one (RFC 8894 §3.2.1.5)."""
    scep: list[tuple[str, core.Asn1Value]] = [
        (OID_MESSAGE_TYPE, core.PrintableString(CERT_REP)),
        (OID_PKI_STATUS, core.PrintableString(status)),
        (OID_TRANSACTION_ID, request.transaction_id),
        (OID_SENDER_NONCE, core.OctetString(os.urandom(16))),
        (OID_RECIPIENT_NONCE, core.OctetString(request.sender_nonce)),
    ]
    if fail_info is not None:
        scep.append((OID_FAIL_INFO, core.PrintableString(fail_info)))
        if fail_text:
            scep.append((OID_FAIL_INFO_TEXT, core.UTF8String(fail_text[:256])))
    attrs = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [_digest(hashes.SHA256(), content)]}),
        *(cms.CMSAttribute({"type": oid, "values": [core.Any.load(v.dump())]}) for oid, v in scep),
    ]
    # DER orders a SET OF by encoding; verifiers (OpenSSL, Go) re-encode the attributes that way.
    encoded = sorted(a.dump() for a in attrs)
    signed_attrs = cms.CMSAttributes([cms.CMSAttribute.load(a) for a in encoded])
    signature = await signer_key.sign(signed_attrs.dump(), hashes.SHA256())
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number", value=_issuer_and_serial(signer_cert)
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": signature,
        }
    )
    sd = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "data", "content": content},
            "certificates": _CertificatesInOrder([_asn1_cert(c) for c in (*certificates, signer_cert)]),
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _issuer_and_serial(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    return cms.IssuerAndSerialNumber(
        {"issuer": asn1_x509.Name.load(cert.issuer.public_bytes()), "serial_number": cert.serial_number}
    )
