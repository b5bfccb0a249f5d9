"""The `pkcs11` key manager: CA keys as token objects, found by RFC 7512 URIs as step-ca finds them.

Decryption (SCEP's key transport) is CKM_RSA_PKCS or CKM_RSA_PKCS_OAEP on RSA keys. Signing hashes in
software and asks the token for the bare operation (CKM_ECDSA over the digest, CKM_RSA_PKCS
over the DigestInfo, CKM_RSA_PKCS_PSS), which every module has — SoftHSM2 and tpm2-pkcs11 differ in which
hash-and-sign mechanisms they offer. Keys are created sensitive and never extractable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from pkcs11 import DEFAULT, MGF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    ArgumentsBad,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    GeneralError,
    MechanismInvalid,
    MechanismParamInvalid,
    MultipleObjectsReturned,
    NoSuchKey,
    PKCS11Error,
)
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from plica.api import (
    CAKey,
    ConfigError,
    DecryptionFailed,
    KeyCannotDecrypt,
    KeyInfo,
    KeySpec,
    KeyUnavailable,
    KMSConfig,
    key_kind,
    signature_hash,
)

from .token import PooledSession, Token
from .uri import object_of, parse

# DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for CKM_RSA_PKCS.
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_PSS = {
    "sha1": (Mechanism.SHA_1, MGF.SHA1),
    "sha256": (Mechanism.SHA256, MGF.SHA256),
    "sha384": (Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512, MGF.SHA512),
}
_CURVES = {"P-256": "secp256r1", "P-384": "secp384r1"}

# Attributes python-pkcs11 would set to false are left out (DEFAULT) rather than sent: tpm2-pkcs11 refuses a
# template whose false ENCRYPT/DECRYPT differ from what the TPM object allows. DECRYPT thus keeps the token's
# default, which lets an RSA key decrypt on SoftHSM2 and tpm2-pkcs11 (SCEP's key transport needs it).
_SECRET_KEY = {
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: DEFAULT,
    Attribute.UNWRAP: DEFAULT,
    Attribute.DERIVE: DEFAULT,
}
_PUBLIC_KEY = {Attribute.VERIFY: True, Attribute.ENCRYPT: DEFAULT, Attribute.WRAP: DEFAULT}


def _kind(pub: Any) -> str:
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": "EC P-256", "secp384r1": "EC P-384"}.get(pub.curve.name, f"EC {pub.curve.name}")
    if isinstance(pub, rsa.RSAPublicKey):
        return f"RSA {pub.key_size}"
    return type(pub).__name__


def _usable(pub: Any) -> bool:
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return pub.curve.name in ("secp256r1", "secp384r1")
    return isinstance(pub, rsa.RSAPublicKey) and 2048 <= pub.key_size <= 4096


def _public_key(obj: Any) -> Any:
    """A token public-key object as a cryptography public key."""
    if obj.key_type == KeyType.EC:
        return load_der_public_key(encode_ec_public_key(obj))
    if obj.key_type == KeyType.RSA:
        n = int.from_bytes(obj[Attribute.MODULUS], "big")
        e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    raise ValueError(f"key type {obj.key_type!r}")


class Pkcs11Key:
    """A key in the token. `sign` blocks on the device: the kernel calls it on its signing threads."""

    blocking = True

    @property
    def parallel_calls(self) -> int:
        """The kernel's signing threads for this key: one per session that signs at the same time."""
        return self.token.parallel_calls

    def __init__(
        self, token: Token, uri: str, key_id: bytes | None, label: str | None, public_key: Any
    ) -> None:
        self.token = token
        self.uri = uri
        self.key_id = key_id
        self.label = label
        self.public_key = public_key
        self._hash = signature_hash(public_key)
        self._is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
        self._half = (public_key.curve.key_size + 7) // 8 if self._is_ec else 0

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> bytes:
        h = (hash_alg or self._hash).name  # type: ignore[union-attr]
        digest = hashlib.new(h, data).digest()
        if self._is_ec:
            raw = self.token.run(lambda ps: self._key(ps).sign(digest, mechanism=Mechanism.ECDSA))
            half = len(raw) // 2
            return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        if pss:
            mech, mgf = _PSS[h]
            return self.token.run(
                lambda ps: self._key(ps).sign(
                    digest, mechanism=Mechanism.RSA_PKCS_PSS, mechanism_param=(mech, mgf, len(digest))
                )
            )
        return self.token.run(
            lambda ps: self._key(ps).sign(_DIGEST_INFO[h] + digest, mechanism=Mechanism.RSA_PKCS)
        )

    def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        if self._is_ec or not isinstance(self.public_key, rsa.RSAPublicKey):
            raise KeyCannotDecrypt(key_kind(self.public_key), self.uri)
        what = f"RSA-OAEP with {oaep_hash.name.upper()}" if oaep_hash else "RSA PKCS#1 v1.5"
        if oaep_hash is None:
            mech, param = Mechanism.RSA_PKCS, None
        elif oaep_hash.name in _PSS:
            h, mgf = _PSS[oaep_hash.name]
            mech, param = Mechanism.RSA_PKCS_OAEP, (h, mgf, None)
        else:
            raise DecryptionFailed(f"the token does not decrypt {what}")  # no PKCS#11 MGF for it

        if len(ciphertext) != (self.public_key.key_size + 7) // 8:
            raise DecryptionFailed()  # the token need not see what cannot be an RSA ciphertext of this key

        def run(ps: PooledSession) -> bytes | None:
            key = self._key(ps)
            plain = None
            try:
                plain = key.decrypt(ciphertext, mechanism=mech, mechanism_param=param)
            except (EncryptedDataInvalid, EncryptedDataLenRange, GeneralError):
                pass  # the ciphertext's fault, unless the lookup below fails
            except (ArgumentsBad, MechanismInvalid, MechanismParamInvalid):
                # A padding this token does not do (SoftHSM2 2.6 does OAEP with SHA-1 only): the request's
                # choice, not a lost token.
                raise DecryptionFailed(f"the token does not decrypt {what}") from None
            except AttributeError:
                # python-pkcs11 gives a key object no `decrypt` when its CKA_DECRYPT is false.
                raise KeyCannotDecrypt("a sign-only (CKA_DECRYPT false) RSA", self.uri) from None
            # Whatever the outcome, a new session and the key looked up in it. SoftHSM2 and tpm2-pkcs11
            # answer a bad padding with CKR_GENERAL_ERROR, as a failing token would: a client must not take
            # the CA's key away with a bad ciphertext, so the lookup tells the two apart (when it fails, the
            # token is gone and `run` says so). tpm2-pkcs11 leaves a failed C_Decrypt's operation active,
            # which the new session ends. Done after a good decryption too, so that a bad padding takes no
            # measurably longer than a good one (no Bleichenbacher timing oracle).
            self.token.fresh_session(ps)
            self._key(ps)
            return plain  # type: ignore[no-any-return]

        plain = self.token.run(run)
        if plain is None:
            raise DecryptionFailed()
        return plain

    def _key(self, ps: PooledSession) -> Any:
        try:
            return ps.private_key(self.key_id, self.label)
        except NoSuchKey:
            # The token is back but without this key (another token with the same label): still unavailable.
            raise KeyUnavailable(f"{self.token.uri.shown}: key {self.uri} is not in the token") from None


class Pkcs11KMS:
    type = "pkcs11"

    def __init__(self, cfg: KMSConfig) -> None:
        self.kms_uri = parse(cfg.uri)
        sessions = cfg.extra.get("sessions", 4)
        if not isinstance(sessions, int) or isinstance(sessions, bool) or not 1 <= sessions <= 64:
            raise ConfigError("ca.json.kms.sessions", "expected a number of sessions from 1 to 64")
        parallel = cfg.extra.get("parallel")
        if parallel is not None and not isinstance(parallel, bool):
            raise ConfigError("ca.json.kms.parallel", "expected true or false")
        self.token = Token(self.kms_uri, sessions=sessions, parallel=parallel)

    def _find(self, session: Any, cls: ObjectClass, key_id: bytes | None, label: str | None) -> Any:
        return session.get_key(object_class=cls, id=key_id, label=label)

    def open_key(self, uri: str) -> CAKey:
        key_uri = parse(uri, "ca.json key")
        key_id, label = object_of(key_uri, "ca.json key")
        where = f"key {key_uri.shown} in {self.kms_uri.shown}"

        def find(session: Any) -> Any:
            try:
                self._find(session, ObjectClass.PRIVATE_KEY, key_id, label)
                return _public_key(self._find(session, ObjectClass.PUBLIC_KEY, key_id, label))
            except NoSuchKey:
                raise ConfigError(
                    "ca.json", f"{where}: no such key pair in the token; create it with `plica kms create`"
                ) from None
            except MultipleObjectsReturned:
                raise ConfigError(
                    "ca.json", f"{where}: more than one key matches; give both id= and object="
                ) from None
            except ValueError as e:
                raise ConfigError(
                    "ca.json", f"{where}: unsupported {e}: the CA signs with EC or RSA keys"
                ) from None

        try:
            # The public half as DER: it crosses from a probe child (see token.py) as bytes.
            der = self.token.probe(
                lambda s: find(s).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            )
            pub = load_der_public_key(der)
        except KeyUnavailable as e:
            raise ConfigError("ca.json", f"{where}: the token is unavailable ({e.detail})") from None
        except PKCS11Error as e:
            raise ConfigError("ca.json", f"{where}: {type(e).__name__} {e}") from None
        if not _usable(pub):
            raise ConfigError(
                "ca.json", f"{where} is {_kind(pub)}: the CA needs EC P-256, EC P-384 or RSA 2048-4096"
            )
        return Pkcs11Key(self.token, uri, key_id, label, pub)

    def create_key(self, uri: str, spec: KeySpec) -> CAKey:
        key_uri = parse(uri, "key")
        key_id, label = object_of(key_uri, "key")
        if key_id is None or label is None:
            raise ConfigError("key", f"{key_uri.shown}: a new key needs both id= and object=")
        if spec.kty == "EC" and spec.curve not in _CURVES:
            raise ConfigError("key", f"EC keys in a token are P-256 or P-384, not {spec.curve}")
        if spec.kty == "RSA" and not 2048 <= spec.size <= 4096:
            raise ConfigError("key", "RSA keys in a token are 2048 to 4096 bits")
        if spec.kty not in ("EC", "RSA"):
            raise ConfigError("key", f"the pkcs11 key manager creates EC and RSA keys, not {spec.kty}")

        def create(session: Any) -> None:
            # Never a second key under a name ca.json may already use (step refuses the same way).
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for attr, what in ((Attribute.ID, "this id"), (Attribute.LABEL, f"the label {label!r}")):
                    value = key_id if attr == Attribute.ID else label
                    if list(session.get_objects({Attribute.CLASS: cls, attr: value})):
                        raise ConfigError("key", f"{key_uri.shown}: the token already has a key with {what}")
            common = {"id": key_id, "label": label, "store": True}
            if spec.kty == "EC":
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[spec.curve])},
                    local=True,
                )
                params.generate_keypair(private_template=_SECRET_KEY, public_template=_PUBLIC_KEY, **common)
            else:
                session.generate_keypair(
                    KeyType.RSA,
                    spec.size,
                    private_template=_SECRET_KEY,
                    public_template=_PUBLIC_KEY,
                    **common,
                )

        try:
            self.token.admin(create)
        except PKCS11Error as e:
            raise ConfigError(
                "key", f"cannot create {key_uri.shown} ({spec.describe()}): {type(e).__name__} {e}"
            ) from None
        return self.open_key(uri)

    def delete_key(self, uri: str) -> None:
        key_id, label = object_of(parse(uri, "key"), "key")

        def delete(session: Any) -> None:
            attrs: dict[Attribute, Any] = {}
            if key_id is not None:
                attrs[Attribute.ID] = key_id
            if label is not None:
                attrs[Attribute.LABEL] = label
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in list(session.get_objects({**attrs, Attribute.CLASS: cls})):
                    obj.destroy()

        self.token.admin(delete)

    def list_keys(self) -> list[KeyInfo]:
        def listing(session: Any) -> list[KeyInfo]:
            out = []
            for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
                key_id = obj[Attribute.ID] or b""
                label = obj.label or ""
                try:
                    pub = _public_key(
                        self._find(session, ObjectClass.PUBLIC_KEY, key_id or None, label or None)
                    )
                    kind = _kind(pub)
                except (PKCS11Error, ValueError):
                    kind = str(obj.key_type.name if hasattr(obj.key_type, "name") else obj.key_type)
                parts = ([f"id={key_id.hex()}"] if key_id else []) + ([f"object={label}"] if label else [])
                out.append(
                    KeyInfo(
                        uri="pkcs11:" + ";".join(parts),
                        kind=kind,
                        label=label,
                        sensitive=bool(obj[Attribute.SENSITIVE]),
                        extractable=bool(obj[Attribute.EXTRACTABLE]),
                    )
                )
            return out

        return self.token.admin(listing)

    def close(self) -> None:
        self.token.close()


def open_manager(cfg: KMSConfig) -> Pkcs11KMS:
    return Pkcs11KMS(cfg)
