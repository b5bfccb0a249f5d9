"""The keys a K8sSA provisioner trusts: `publicKeys` from ca.json, and JWKS documents from the cluster."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from plica.api import JOSEError, PublicKey, key_from_jwk

log = logging.getLogger("plica.k8ssa")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\r?\n?", re.DOTALL)


class KeysError(ValueError):
    """A key cannot be used; the message says which and why."""


def parse_public_keys(value: Any) -> tuple[PublicKey, ...]:
    """`publicKeys` as ca.json holds it (Go []byte): standard base64 of PEM public keys — RSA, EC or
    Ed25519, as `PUBLIC KEY`/`RSA PUBLIC KEY` blocks or certificates whose key is taken (step's
    pemutil.ParseKey)."""
    if not isinstance(value, str) or not value.strip():
        raise KeysError("must be the standard base64 of PEM public keys")
    if value.lstrip().startswith("-----BEGIN"):
        raise KeysError("must be the standard base64 of the PEM text, not the PEM text itself")
    try:
        pem = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeysError("is not valid standard base64 (it must be base64 of PEM text)") from None
    keys: list[PublicKey] = []
    for i, m in enumerate(_PEM_BLOCK.finditer(pem), start=1):
        kind = m.group(1).decode()
        try:
            if kind == "CERTIFICATE":
                key: Any = x509.load_pem_x509_certificate(m.group(0)).public_key()
            elif kind.endswith("PUBLIC KEY"):
                key = load_pem_public_key(m.group(0))
            else:
                raise KeysError(f"PEM block {i} is a {kind!r}, not a public key")
        except ValueError as e:
            if isinstance(e, KeysError):
                raise
            raise KeysError(f"PEM block {i} ({kind}) cannot be parsed: {e}") from None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise KeysError(
                f"PEM block {i}: unsupported key type {type(key).__name__} (use RSA, EC or Ed25519)"
            )
        keys.append(key)
    if not keys:
        raise KeysError("holds no PEM public key")
    return tuple(keys)


@frozen
class KeySet:
    """Keys by `kid`, and the keys without one (tried for tokens that name no `kid`)."""

    by_kid: Mapping[str, PublicKey]
    anonymous: tuple[PublicKey, ...]

    def __len__(self) -> int:
        return len(self.by_kid) + len(self.anonymous)

    def candidates(self, kid: str | None) -> Iterable[PublicKey]:
        if kid:
            key = self.by_kid.get(kid)
            return (key,) if key is not None else ()
        return (*self.by_kid.values(), *self.anonymous)


EMPTY = KeySet(by_kid={}, anonymous=())


def parse_jwks(doc: Any, source: str) -> KeySet:
    """The signature keys of a JWKS document; keys of unknown types or for encryption are skipped (and
    logged), because a cluster may publish keys this CA never needs."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise KeysError("is not a JWKS document (no 'keys' list)")
    by_kid: dict[str, PublicKey] = {}
    anonymous: list[PublicKey] = []
    for i, jwk in enumerate(doc["keys"]):
        if not isinstance(jwk, dict):
            continue
        if jwk.get("use") not in (None, "sig"):
            continue
        try:
            key = key_from_jwk(jwk)
        except JOSEError as e:
            log.info("K8sSA: skipping key %d of %s: %s", i, source, e)
            continue
        if hasattr(key, "private_bytes"):
            log.warning("K8sSA: %s publishes a private key (key %d); it is ignored", source, i)
            continue
        kid = jwk.get("kid")
        if isinstance(kid, str) and kid:
            by_kid[kid] = key  # type: ignore[assignment]
        else:
            anonymous.append(key)  # type: ignore[arg-type]
    return KeySet(by_kid=by_kid, anonymous=tuple(anonymous))
