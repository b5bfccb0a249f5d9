"""The client side of the admin API: an admin's credentials, the admin token of one request, and a client
that sends each request with a fresh one."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.admin.auth import ADMIN_ISSUER, TOKEN_LIFETIME, certificate_names
from plica.client import CAClient
from plica.jose import PrivateKey, default_alg, public_jwk, sign_compact, thumbprint
from plica.tokens import token_claims


@frozen
class AdminCredentials:
    """An admin certificate chain and its key, as `plica certificate` writes them."""

    chain: list[x509.Certificate]
    key: PrivateKey

    @classmethod
    def load(
        cls, cert_path: str | Path, key_path: str | Path, password: bytes | None = None
    ) -> AdminCredentials:
        """Load PEM files. ValueError with a message that names the file on anything unusable."""
        try:
            chain = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read admin certificate {cert_path}: {e}") from None
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password)
        except TypeError:
            raise ValueError(f"admin key {key_path} is encrypted: give its password file") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read admin key {key_path}: {e}") from None
        if not chain:
            raise ValueError(f"admin certificate {cert_path} holds no PEM certificate")
        try:
            same = public_jwk(chain[0].public_key()) == public_jwk(key)  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"admin key {key_path} is of an unsupported type") from None
        if not same:
            raise ValueError(f"admin key {key_path} does not belong to certificate {cert_path}")
        return cls(chain=chain, key=key)  # type: ignore[arg-type]

    @property
    def subject(self) -> str:
        names = certificate_names(self.chain[0])
        return names[0] if names else ""


def admin_token(
    creds: AdminCredentials, audience: str, *, issuer: str = ADMIN_ISSUER, lifetime: int = TOKEN_LIFETIME,
    now: float | None = None,
) -> str:  # fmt: skip
    """An admin token for one request to `audience` (`https://<ca>/admin/...`), as step's admin client."""
    jwk = public_jwk(creds.key)
    header = {
        "alg": default_alg(jwk),
        "kid": thumbprint(jwk),
        "typ": "JWT",
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in creds.chain
        ],
    }
    claims = token_claims(issuer, creds.subject, audience, lifetime=lifetime, now=now)
    return sign_compact(header, claims, creds.key)


class AdminClient:
    """Calls the admin API with a fresh admin token per request. Errors are `plica.client.CAClientError`
    with the admin body's `message`."""

    def __init__(self, ca_url: str, root: str | Path | None, creds: AdminCredentials) -> None:
        self.ca_url = ca_url.rstrip("/")
        self.http = CAClient(self.ca_url, Path(root) if root else None)
        self.creds = creds

    def request(self, method: str, path: str, body: Any = None) -> Any:
        token = admin_token(self.creds, self.ca_url + path.split("?", 1)[0])
        return self.http.request(method, path, body, headers={"Authorization": token})
