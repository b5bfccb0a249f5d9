"""Key managers: where the CA's signing keys live, behind one interface.

A key manager is a plugin found through the entry-point group `plica.kms` (the entry point's name is the type
ca.json's `kms.type` names; its value is a factory `(KMSConfig) -> KeyManager`). The built-in `softkms` keeps
keys in encrypted files (`plica.softkms`, registered like any other); `plica-kms-pkcs11` keeps them in a
PKCS#11 token. The kernel imports no key manager: it opens the configured one here and signs every
certificate, CRL and OCSP response through `Signer`, which wraps the manager's `CAKey`.

A `CAKey` signs with its own algorithm (ECDSA with the curve's hash, RSA PKCS#1 v1.5 with SHA-256, Ed25519)
unless the caller names a hash or PSS; its signature is in X.509's form (a DER ECDSA-Sig-Value). A key whose
`blocking` is true (a device) is signed with on the process's signing threads (`plica.signing_threads`, which
batch the hop to them and back) so that a slow token never stalls the event loop; a key in memory (softkms)
is signed with in place, as that costs less than the hop to a thread.

An RSA `CAKey` also decrypts (PKCS#1 v1.5 or OAEP), for protocols whose clients encrypt to the CA's certificate
(SCEP's key transport; step-ca's `Decrypter`). A plugin never holds a `CAKey` or a `Signer`: it gets a
`KeyHandle`, which signs and decrypts through the `Signer` and offers no way to the private key object.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from attrs import define, field, frozen
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from plica import signing_threads
from plica.errors import ConfigError, InternalError, KeyUnavailable

log = logging.getLogger("plica.kms")

KMS_ENTRY_POINT_GROUP = "plica.kms"
DEFAULT_KMS = "softkms"

# Signing threads for a blocking key that does not say how many calls its device takes at once.
DEFAULT_PARALLEL_CALLS = 4

# Types step-ca knows and the distribution that provides each; used only to tell a user what to install.
KNOWN_KMS_DISTRIBUTIONS = {"softkms": "plica (built in)", "pkcs11": "plica-kms-pkcs11"}


@frozen
class KeySpec:
    """A key to create: `kty` EC (curve P-256 or P-384) or RSA (`size` 2048-4096), or OKP (Ed25519)."""

    kty: str = "EC"
    curve: str = "P-256"
    size: int = 2048

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        """`EC`, `EC-P384`, `P-384`, `RSA`, `RSA-3072`, `OKP`: the CLI's spelling of a key type."""
        t = text.strip().upper()
        if t in ("EC", "P-256", "EC-P256", "EC-P-256", "P256"):
            return cls("EC", "P-256")
        if t in ("P-384", "EC-P384", "EC-P-384", "P384"):
            return cls("EC", "P-384")
        if t in ("OKP", "ED25519"):
            return cls("OKP")
        if t.startswith("RSA"):
            bits = t[3:].lstrip("-") or "2048"
            if bits.isdigit() and 2048 <= int(bits) <= 4096:
                return cls("RSA", size=int(bits))
        raise ValueError(f"unknown key type {text!r}: EC, EC-P384, RSA or RSA-<2048..4096>, OKP")

    def describe(self) -> str:
        return {"EC": f"EC {self.curve}", "RSA": f"RSA {self.size}"}.get(self.kty, "Ed25519")


@frozen
class KeyInfo:
    """One key a manager lists (`plica kms list`)."""

    uri: str
    kind: str  # "EC P-256", "RSA 2048", ...
    label: str = ""
    sensitive: bool | None = None
    extractable: bool | None = None


@frozen
class KMSConfig:
    """ca.json's `kms` block (step-ca's shape) and what a manager needs besides: the CA's home (relative
    paths) and the password of `softkms` files (from --password-file or ca.json `password`)."""

    type: str = DEFAULT_KMS
    uri: str = ""
    extra: dict[str, Any] = field(factory=dict)
    home: Path = field(factory=Path.cwd)
    password: bytes | None = None

    def redacted_uri(self) -> str:
        return redact_uri(self.uri)


def redact_uri(uri: str) -> str:
    """`uri` safe to show: a `pin-value` (RFC 7512) is replaced by `***`."""
    out = []
    for sep_part in uri.replace("?", "?\0").replace("&", "&\0").replace(";", ";\0").split("\0"):
        if sep_part.lower().startswith("pin-value="):
            end = sep_part[-1] if sep_part[-1:] in ("?", "&", ";") else ""
            out.append("pin-value=***" + end)
        else:
            out.append(sep_part)
    return "".join(out)


class KeyCannotDecrypt(InternalError):
    """A key that only signs (EC, Ed25519) was asked to decrypt: only RSA keys decrypt. A configuration
    mistake, not the client's: 500, with the key named in `detail` for the log."""

    def __init__(self, kind: str, uri: str) -> None:
        super().__init__(
            "this CA key cannot decrypt", detail=f"{kind} key {redact_uri(uri)}: only RSA keys decrypt"
        )


class DecryptionFailed(ValueError):
    """The ciphertext does not decrypt with this key (wrong key, bad padding, wrong length): one message for
    every such cause, so that a protocol passing it on is no padding oracle. A padding the manager cannot do
    at all (an OAEP hash the token lacks) says so, as that does not depend on the ciphertext."""

    def __init__(self, message: str = "the ciphertext does not decrypt with this key") -> None:
        super().__init__(message)


def key_kind(public_key: Any) -> str:
    """`EC P-256`, `RSA 2048`, `Ed25519`: a key's kind for messages."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "EC P-256", "secp384r1": "EC P-384", "secp521r1": "EC P-521"}.get(
            public_key.curve.name, f"EC {public_key.curve.name}"
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(public_key).__name__


@runtime_checkable
class CAKey(Protocol):
    """A signing key a manager opened. `public_key` is a `cryptography` public key. A blocking key may also
    have `parallel_calls`, how many of its calls the device takes at once (a pool's sessions; 1 when its
    calls take turns): the kernel calls it on that many threads (default `DEFAULT_PARALLEL_CALLS`)."""

    uri: str
    public_key: Any
    blocking: bool

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> bytes:
        """The signature of `data` in X.509's form. `hash_alg` None means the key's own (signature_hash);
        `pss` asks for RSASSA-PSS (salt = digest length). Raise `KeyUnavailable` when the key cannot be
        reached now (device gone, session lost): the kernel answers 503 and asks again on the next request."""
        ...

    def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        """`ciphertext` decrypted with this RSA key: PKCS#1 v1.5 when `oaep_hash` is None, else OAEP with
        that hash for both the label and MGF1 (empty label). Raise `KeyCannotDecrypt` for a key that is not
        RSA, `DecryptionFailed` when the ciphertext does not decrypt, and `KeyUnavailable` as `sign` does."""
        ...


@runtime_checkable
class KeyManager(Protocol):
    """What a `plica.kms` plugin's factory returns."""

    type: str

    def open_key(self, uri: str) -> CAKey:
        """The key `uri` names (a ca.json `key`, `ssh.hostKey`, `ssh.userKey`). Raise `ConfigError` naming
        the URI (never a PIN) when it cannot be opened."""
        ...

    def create_key(self, uri: str, spec: KeySpec) -> CAKey:
        """Create a key where `uri` says (a softkms file path, a PKCS#11 `id`/`object`) and open it."""
        ...

    def delete_key(self, uri: str) -> None:
        """Remove a key this manager created (a failed `plica init --kms` undoes its work)."""
        ...

    def list_keys(self) -> list[KeyInfo]: ...

    def close(self) -> None: ...


KMSFactory = Callable[[KMSConfig], KeyManager]


def signature_hash(public_key: Any) -> hashes.HashAlgorithm | None:
    """The hash a key signs with by default: the curve's for ECDSA, SHA-256 for RSA, none for Ed25519."""
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[public_key.curve.key_size]
    if isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return hashes.SHA256()
    raise TypeError(f"unsupported CA key {type(public_key).__name__}")


def kms_types() -> dict[str, importlib.metadata.EntryPoint]:
    """Installed key managers by type (lower case), found through `plica.kms` entry points."""
    return {ep.name.lower(): ep for ep in importlib.metadata.entry_points(group=KMS_ENTRY_POINT_GROUP)}


def open_kms(cfg: KMSConfig) -> KeyManager:
    """The manager ca.json's `kms.type` names; a `ConfigError` naming the missing type and its distribution."""
    kind = (cfg.type or DEFAULT_KMS).lower()
    ep = kms_types().get(kind)
    if ep is None and kind == DEFAULT_KMS:
        # The built-in manager, in an install whose metadata predates its entry point (an editable checkout
        # not reinstalled since): found by name, as the entry point would name it.
        ep = importlib.metadata.EntryPoint(
            name=DEFAULT_KMS, value="plica.softkms:open_manager", group=KMS_ENTRY_POINT_GROUP
        )
    if ep is None:
        dist = KNOWN_KMS_DISTRIBUTIONS.get(kind, f"the plugin that provides key manager type {kind!r}")
        raise ConfigError(
            "ca.json.kms.type", f"key manager type {cfg.type!r} is not installed: install {dist}"
        )
    try:
        factory: KMSFactory = ep.load()
    except Exception as e:
        raise ConfigError("ca.json.kms.type", f"key manager {kind!r} failed to import: {e}") from None
    return factory(cfg)


class Signer:
    """The kernel's handle on one CA key: signs in place or on the manager's threads (see the module
    docstring), turns a lost device into `KeyUnavailable` (503) and logs the loss once and the recovery once."""

    def __init__(self, key: CAKey, *, what: str) -> None:
        self.key = key
        self.what = what  # "intermediate key", "SSH user key", ... for the log
        self.public_key = key.public_key
        self.hash_alg = signature_hash(key.public_key)
        self.blocking = bool(getattr(key, "blocking", False))
        calls = getattr(key, "parallel_calls", None)
        self.parallel_calls = calls if isinstance(calls, int) and calls > 0 else DEFAULT_PARALLEL_CALLS
        self._down_since: float | None = None

    @property
    def uri(self) -> str:
        return redact_uri(self.key.uri)

    def sign_now(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> bytes:
        """Sign in the calling thread (start-up, CLI, a thread of the pool)."""
        try:
            sig = self.key.sign(data, hash_alg, pss)
        except KeyUnavailable as e:
            self._lost(e)
            raise
        self._reached()
        return sig

    @property
    def can_decrypt(self) -> bool:
        return isinstance(self.public_key, rsa.RSAPublicKey) and callable(getattr(self.key, "decrypt", None))

    def decrypt_now(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        """Decrypt in the calling thread (see `CAKey.decrypt`)."""
        if not self.can_decrypt:
            raise KeyCannotDecrypt(key_kind(self.public_key), self.key.uri)
        try:
            plain = self.key.decrypt(ciphertext, oaep_hash)
        except KeyUnavailable as e:
            self._lost(e)
            raise
        self._reached()
        return plain

    async def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        """Decrypt as `sign` signs: a device's key on the signing threads, a key in memory in place."""
        if not self.blocking:
            return self.decrypt_now(ciphertext, oaep_hash)
        threads = signing_threads.signing_threads(self.parallel_calls)
        return await threads.submit(self.decrypt_now, ciphertext, oaep_hash)  # type: ignore[no-any-return]

    def _reached(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            log.warning("signing key available again: %s %s", self.what, self.uri)

    async def sign(
        self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False
    ) -> bytes:
        if not self.blocking:
            return self.sign_now(data, hash_alg, pss)
        threads = signing_threads.signing_threads(self.parallel_calls)
        return await threads.submit(self.sign_now, data, hash_alg, pss)  # type: ignore[no-any-return]

    def _lost(self, e: KeyUnavailable) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("signing key unavailable: %s %s: %s", self.what, self.uri, e.detail or e.message)


class KeyHandle:
    """A CA key as a plugin gets it (`AuthorityView.intermediate_handle`, `AuthorityView.open_key`): its
    public key, and signing and decryption through the kernel's `Signer` (off the event loop for a device,
    `KeyUnavailable` when it is gone), but not the private key object or the manager behind it."""

    __slots__ = ("__signer",)

    def __init__(self, signer: Signer) -> None:
        self.__signer = signer

    @property
    def public_key(self) -> Any:
        return self.__signer.public_key

    @property
    def uri(self) -> str:
        """The key's URI without a PIN."""
        return self.__signer.uri

    @property
    def hash_alg(self) -> hashes.HashAlgorithm | None:
        """The hash the key signs with by default (`signature_hash`)."""
        return self.__signer.hash_alg

    @property
    def can_decrypt(self) -> bool:
        """True for an RSA key whose manager decrypts."""
        return self.__signer.can_decrypt

    async def sign(
        self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False
    ) -> bytes:
        return await self.__signer.sign(data, hash_alg, pss)

    async def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        """See `CAKey.decrypt`: PKCS#1 v1.5 without `oaep_hash`, else OAEP; `KeyCannotDecrypt`,
        `DecryptionFailed`, `KeyUnavailable`."""
        return await self.__signer.decrypt(ciphertext, oaep_hash)

    def __repr__(self) -> str:
        return f"KeyHandle({key_kind(self.public_key)} {self.uri})"


def after_fork() -> None:
    """A forked worker starts its own signing threads (the parent's do not exist in the child)."""
    signing_threads.after_fork()


@define
class OpenedKeys:
    """The manager and the CA's keys as ca.json names them (`load_material` builds it)."""

    manager: KeyManager
    intermediate: Signer
    ssh_user: Signer | None = None
    ssh_host: Signer | None = None

    def close(self) -> None:
        self.manager.close()
