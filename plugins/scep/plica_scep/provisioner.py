"""The SCEP provisioner's ca.json block and what loading it prepares (docs/reference/provisioners.md, SCEP).

Everything a request needs is made once per (re)load: the decrypter (the provisioner's own RSA key and
certificate, a key in the CA's key manager that `decrypterKey` names, or the CA's intermediate when that is
RSA, as step-ca does), GetCACert's chain and GetCACaps' text, the challenge and the SCEPCHALLENGE webhooks.
The CA's keys are reached only through `KeyHandle`s: this plugin never holds the CA's private key.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from typing import Any

from attrs import define, frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from plica.api import (
    AuthorityView,
    ConfigError,
    DecryptionFailed,
    ProvisionerConfig,
    ProvisionerType,
    j,
    provides,
)

from .cms import ENCRYPTIONS, SCEPKey
from .webhook import Webhook, parse_webhooks

# step-ca's defaults (scep/authority.go) minus SHA-1, which this CA does not offer for its replies; a
# client that signs its request with SHA-1 (micromdm's scepclient) is still read.
DEFAULT_CAPABILITIES = ("Renewal", "SHA-256", "SHA-512", "AES", "DES3", "SCEPStandard", "POSTPKIOperation")
REDACTED = "*** REDACTED ***"


@define(kw_only=True)
class SCEPConfig(ProvisionerConfig):
    force_cn: bool = j("forceCN", default=False)
    challenge: str = j("challenge", default="")
    capabilities: list[str] | None = j("capabilities", default=None)
    include_root: bool = j("includeRoot", default=False)
    exclude_intermediate: bool = j("excludeIntermediate", default=False)
    minimum_public_key_length: int = j("minimumPublicKeyLength", default=0)
    # Go []byte fields: standard base64 of the PEM text in ca.json.
    decrypter_certificate: str = j("decrypterCertificate", default="")
    decrypter_key_pem: str = j("decrypterKeyPEM", default="")
    decrypter_key: str = j("decrypterKey", default="")
    decrypter_key_password: str = j("decrypterKeyPassword", default="")
    encryption_algorithm_identifier: int = j("encryptionAlgorithmIdentifier", default=0)


TYPE = ProvisionerType(
    name="SCEP",
    type_id=10,
    config_class=SCEPConfig,
    identifier_types={"ip-address": True, "hardware-id": True, "service-account": True},
    description="SCEP (RFC 8894) for network equipment and MDM: a shared or webhook-checked challenge",
)
provisioner_types = provides(TYPE)


@frozen
class SCEPState:
    decrypter_cert: x509.Certificate
    decrypter_key: SCEPKey | None  # None only while the CLI validates ca.json offline
    ca_certs: tuple[x509.Certificate, ...]  # GetCACert, in step-ca's order
    caps: bytes
    challenge: bytes
    webhooks: tuple[Webhook, ...]
    webhook_tls: ssl.SSLContext | None
    min_key_bits: int
    encryption: int
    force_cn: bool
    issuers: tuple[x509.Certificate, ...]  # what a RenewalReq's certificate must be signed by


def load_state(cfg: SCEPConfig, authority: AuthorityView) -> SCEPState:
    if not cfg.name:
        raise ConfigError("name", "is required")
    bits = cfg.minimum_public_key_length or 2048
    if bits < 0 or bits % 8:
        raise ConfigError("minimumPublicKeyLength", f"{bits} bits is not a positive multiple of 8")
    if not 0 <= cfg.encryption_algorithm_identifier < len(ENCRYPTIONS):
        raise ConfigError("encryptionAlgorithmIdentifier", "only identifiers 0 to 4 are valid")
    cert, key = _decrypter(cfg, authority)
    certs: list[x509.Certificate] = []
    if cfg.decrypter_certificate:
        certs.append(cert)
    if not cfg.exclude_intermediate or not certs:
        certs.extend(authority.intermediates)
    if cfg.include_root:
        certs.extend(authority.roots)
    caps = cfg.capabilities if cfg.capabilities else list(DEFAULT_CAPABILITIES)
    webhooks = parse_webhooks(cfg.options)
    return SCEPState(
        decrypter_cert=cert,
        decrypter_key=key,
        ca_certs=tuple(certs),
        caps="\r\n".join(caps).encode(),
        challenge=cfg.challenge.encode(),
        webhooks=webhooks,
        webhook_tls=_webhook_tls(authority) if webhooks else None,
        min_key_bits=bits,
        encryption=cfg.encryption_algorithm_identifier,
        force_cn=cfg.force_cn,
        issuers=tuple(authority.intermediates),
    )


class PemDecrypter:
    """The provisioner's own RSA key (decrypterKeyPEM), decrypted once at load; used in place, as softkms
    uses a key in memory."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()

    async def sign(
        self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False
    ) -> bytes:
        h = hash_alg or hashes.SHA256()
        pad = padding.PSS(padding.MGF1(h), padding.PSS.DIGEST_LENGTH) if pss else padding.PKCS1v15()
        return self._key.sign(data, pad, h)

    async def decrypt(self, ciphertext: bytes, oaep_hash: hashes.HashAlgorithm | None = None) -> bytes:
        pad = padding.OAEP(padding.MGF1(oaep_hash), oaep_hash, None) if oaep_hash else padding.PKCS1v15()
        try:
            return self._key.decrypt(ciphertext, pad)
        except ValueError:
            raise DecryptionFailed() from None


def _decrypter(cfg: SCEPConfig, authority: AuthorityView) -> tuple[x509.Certificate, SCEPKey | None]:
    """The provisioner's own decrypter (a PEM key, or a key in the CA's key manager), or the CA's
    intermediate when it is RSA."""
    own_key = "decrypterKey" if cfg.decrypter_key else "decrypterKeyPEM"
    if cfg.decrypter_key and cfg.decrypter_key_pem:
        raise ConfigError(
            "decrypterKey", "give decrypterKey (a key manager URI) or decrypterKeyPEM, not both"
        )
    if bool(cfg.decrypter_certificate) != bool(cfg.decrypter_key_pem or cfg.decrypter_key):
        field = own_key if cfg.decrypter_certificate else "decrypterCertificate"
        raise ConfigError(field, f"decrypterCertificate and {own_key} are given together")
    if not cfg.decrypter_certificate:
        inter = authority.intermediates[0] if authority.intermediates else None
        if inter is None or not isinstance(inter.public_key(), rsa.RSAPublicKey):
            raise ConfigError(
                "",
                "SCEP decrypts requests with an RSA key, and this CA's intermediate is not RSA: create the CA "
                "with `plica init --kty RSA`, or give the provisioner an RSA decrypter of its own "
                "(decrypterCertificate and decrypterKeyPEM, e.g. `plica provisioner add NAME --type SCEP "
                "--decrypter-certificate ra.crt --decrypter-key ra.key`, or decrypterKey naming a key in "
                "the CA's key manager)",
            )
        # None while the CLI validates ca.json (it opens no CA key): only `plica start` serves.
        return inter, authority.intermediate_handle
    pem = _b64_pem("decrypterCertificate", cfg.decrypter_certificate)
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConfigError("decrypterCertificate", "is not a PEM certificate") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise ConfigError("decrypterCertificate", "only RSA keys can decrypt SCEP requests")
    key: SCEPKey | None
    if cfg.decrypter_key:
        # step-ca's `decrypterKey`: a key the CA's key manager opens (a PKCS#11 URI, a softkms file).
        key = authority.open_key(cfg.decrypter_key, what=f"SCEP {cfg.name} decrypter key")
        if key is None:  # the CLI validating offline
            return cert, None
    else:
        key_pem = _b64_pem("decrypterKeyPEM", cfg.decrypter_key_pem)
        try:
            pem_key = serialization.load_pem_private_key(key_pem, cfg.decrypter_key_password.encode() or None)
        except (ValueError, TypeError):
            raise ConfigError(
                "decrypterKeyPEM", "is not a PEM private key that decrypterKeyPassword opens"
            ) from None
        if not isinstance(pem_key, rsa.RSAPrivateKey):
            raise ConfigError("decrypterKeyPEM", "only RSA keys can decrypt SCEP requests")
        key = PemDecrypter(pem_key)
    if key.public_key != cert.public_key():
        raise ConfigError(own_key, "does not match the public key of decrypterCertificate")
    return cert, key


def _b64_pem(field: str, value: str) -> bytes:
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(field, "must be the standard base64 of the PEM text (a Go []byte)") from None
    if b"-----BEGIN" not in data:
        raise ConfigError(field, "must be the standard base64 of the PEM text (a Go []byte)")
    return data


def _webhook_tls(authority: AuthorityView) -> ssl.SSLContext:
    """Webhook servers are trusted through the system's roots and this CA's own."""
    ctx = ssl.create_default_context()
    pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in authority.roots]
    ctx.load_verify_locations(cadata="".join(pems))
    return ctx


def public_json(raw: dict[str, Any], cfg: SCEPConfig) -> dict[str, Any]:
    """The block as step-ca publishes a SCEP provisioner (api/api.go `scepFromProvisioner`): secrets
    redacted (the []byte fields as base64 of the redaction), webhook credentials left out."""
    redacted_bytes = base64.b64encode(REDACTED.encode()).decode()
    out: dict[str, Any] = {
        "type": raw.get("type", "SCEP"),
        "name": cfg.name,
        "forceCN": cfg.force_cn,
        "challenge": REDACTED,
        "includeRoot": cfg.include_root,
        "excludeIntermediate": cfg.exclude_intermediate,
        "minimumPublicKeyLength": cfg.minimum_public_key_length or 2048,
        "decrypterCertificate": redacted_bytes,
        "decrypterKeyPEM": redacted_bytes,
        "decrypterKey": REDACTED,
        "decrypterKeyPassword": REDACTED,
        "encryptionAlgorithmIdentifier": cfg.encryption_algorithm_identifier,
    }
    if cfg.capabilities:
        out["capabilities"] = list(cfg.capabilities)
    if cfg.options:
        options = dict(cfg.options)
        if isinstance(options.get("webhooks"), list):
            options["webhooks"] = [
                {
                    k: v
                    for k, v in w.items()
                    if k in ("id", "name", "url", "kind", "certType", "disableTLSClientAuth")
                }
                for w in options["webhooks"]
                if isinstance(w, dict)
            ]
        out["options"] = options
    if cfg.claims:
        out["claims"] = cfg.claims
    return out
