"""step-ca's SCEPCHALLENGE webhook: the challenge is checked by a server (an MDM) instead of compared.

The CA POSTs step-ca's webhook body (`webhook.RequestBody`: timestamp, provisionerName, scepChallenge,
scepTransactionID and the CSR as `x509CertificateRequest`) to each SCEPCHALLENGE webhook of the
provisioner's `options.webhooks`, with `X-Smallstep-Signature` the hex HMAC-SHA256 of the body under the
webhook's secret and `X-Smallstep-Webhook-ID` its id; the challenge is good when one answers
`{"allow": true}`. step-ca keeps a webhook's secret out of ca.json (it comes from the admin database);
here it is the webhook's `secret` (standard base64), which `/provisioners` never shows.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import ssl
import urllib.parse
from typing import Any

import aiohttp
import orjson
from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from plica.api import ConfigError, csr_sans, rfc3339

log = logging.getLogger("plica.scep")

TIMEOUT = aiohttp.ClientTimeout(total=10)


@frozen
class Webhook:
    id: str
    name: str
    url: str
    secret: bytes
    bearer_token: str
    basic_auth: tuple[str, str] | None


def parse_webhooks(options: dict[str, Any] | None) -> tuple[Webhook, ...]:
    """The provisioner's SCEPCHALLENGE webhooks for X.509 (step-ca's `isCertTypeOK`)."""
    hooks = (options or {}).get("webhooks")
    if hooks is None:
        return ()
    if not isinstance(hooks, list):
        raise ConfigError("options.webhooks", "must be a list")
    out = []
    for i, w in enumerate(hooks):
        where = f"options.webhooks[{i}]"
        if not isinstance(w, dict):
            raise ConfigError(where, "must be an object")
        if str(w.get("kind", "")).upper() != "SCEPCHALLENGE":
            continue
        if str(w.get("certType", "") or "ALL").upper() not in ("ALL", "X509"):
            continue
        url = w.get("url")
        parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme != "https" or not parsed.hostname or parsed.username:
            raise ConfigError(f"{where}.url", "must be an https URL without credentials")
        try:
            secret = base64.b64decode(str(w.get("secret", "")), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{where}.secret", "must be standard base64") from None
        basic = w.get("basicAuth")
        auth = (
            (str(basic.get("username", "")), str(basic.get("password", "")))
            if isinstance(basic, dict)
            else None
        )
        out.append(
            Webhook(
                id=str(w.get("id", "")),
                name=str(w.get("name", "")),
                url=url,
                secret=secret,
                bearer_token=str(w.get("bearerToken", "")),
                basic_auth=auth,
            )
        )
    return tuple(out)


def request_body(
    provisioner: str, challenge: str, transaction_id: str, csr: x509.CertificateSigningRequest
) -> bytes:
    """step-ca's `webhook.RequestBody` for a SCEP challenge (Go's JSON: []byte as standard base64)."""
    sans = csr_sans(csr)
    der = csr.public_bytes(serialization.Encoding.DER)
    pub = csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    body = {
        "timestamp": rfc3339(dt.datetime.now(dt.UTC)),
        "provisionerName": provisioner,
        "x509CertificateRequest": {
            "subject": {"commonName": str(cn[0].value)} if cn else {},
            "dnsNames": list(sans.dns) or None,
            "emailAddresses": list(sans.emails) or None,
            "ipAddresses": [str(ipaddress.ip_address(i)) for i in sans.ips] or None,
            "uris": list(sans.uris) or None,
            "publicKey": base64.b64encode(pub).decode(),
            "publicKeyAlgorithm": _key_algorithm(csr),
            "raw": base64.b64encode(der).decode(),
        },
        "scepChallenge": challenge,
        "scepTransactionID": transaction_id,
    }
    return orjson.dumps(body)


def _key_algorithm(csr: x509.CertificateSigningRequest) -> str:
    name = type(csr.public_key()).__name__
    return "RSA" if "RSA" in name else "ECDSA" if "Elliptic" in name else "Ed25519" if "25519" in name else ""


async def challenge_allowed(hooks: tuple[Webhook, ...], tls: ssl.SSLContext | None, body: bytes) -> bool:
    """Whether one of the webhooks allows the challenge. A webhook that cannot be reached or answers an
    error allows nothing (and is logged, without the challenge)."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        for hook in hooks:
            headers = {
                "Content-Type": "application/json",
                "X-Smallstep-Signature": hmac.new(hook.secret, body, hashlib.sha256).hexdigest(),
                "X-Smallstep-Webhook-ID": hook.id,
            }
            auth = None
            if hook.bearer_token:
                headers["Authorization"] = f"Bearer {hook.bearer_token}"
            elif hook.basic_auth is not None:
                auth = aiohttp.BasicAuth(*hook.basic_auth)
            try:
                async with session.post(hook.url, data=body, headers=headers, auth=auth, ssl=tls) as resp:
                    if resp.status >= 400:
                        log.warning("SCEP challenge webhook %r answered %d", hook.name, resp.status)
                        continue
                    answer = orjson.loads(await resp.read())
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, OSError) as e:
                log.warning("SCEP challenge webhook %r failed: %s", hook.name, type(e).__name__)
                continue
            if isinstance(answer, dict) and answer.get("allow") is True:
                return True
    return False
