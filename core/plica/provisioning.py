"""Helpers a token-based provisioner type shares with every other: the `step.ssh` claims, and renewal that
needs nothing beyond the kernel's own checks.

step-ca keeps these in its provisioner package's common code (the `stepPayload` type and the base
provisioner's defaults); here they are written once so that the types cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, cast

from attrs import frozen
from cryptography import x509

from plica.durations import resolve_time_duration
from plica.errors import Forbidden, Unauthorized
from plica.hookspecs import hookimpl
from plica.tokens import Token
from plica.types import AuthorityView, Provisioner, RenewAuthorization, SSHAuthorization

CertType = Literal["user", "host"]


@frozen
class SSHOptions:
    """The `step.ssh` claim of an SSH provisioning token, validated once.

    `key_id` and `principals` default to the token subject, as step's clients and step-ca do.
    """

    cert_type: Literal["", "user", "host"]
    key_id: str
    principals: list[str]
    valid_after: dt.datetime | None
    valid_before: dt.datetime | None
    template_data: dict[str, Any]

    @classmethod
    def from_token(cls, token: Token, *, now: dt.datetime | None = None) -> SSHOptions:
        """Parse `token.claims["step"]["ssh"]`; Unauthorized when the token has none or a field has the wrong
        type, naming the field."""
        step = token.claims.get("step")
        opts = step.get("ssh") if isinstance(step, dict) else None
        if not isinstance(opts, dict):
            raise Unauthorized("token is not an SSH provisioning token (it has no step.ssh claim)")
        sub = token.subject
        cert_type = opts.get("certType") or ""
        if cert_type not in ("", "user", "host"):
            raise Unauthorized(f"token step.ssh.certType {cert_type!r} is not 'user' or 'host'")
        key_id = opts.get("keyID") or sub
        if not isinstance(key_id, str):
            raise Unauthorized("token step.ssh.keyID must be a string")
        principals = opts.get("principals") or [sub]
        if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
            raise Unauthorized("token step.ssh.principals must be a list of strings")
        when = now or dt.datetime.now(dt.UTC)
        try:
            va = resolve_time_duration(opts.get("validAfter") or None, now=when)
            vb = resolve_time_duration(opts.get("validBefore") or None, now=when, base=va or when)
        except (ValueError, TypeError):
            raise Unauthorized("token step.ssh validAfter/validBefore are not valid times") from None
        data = opts.get("templateData")
        return cls(
            cert_type=cast(Literal["", "user", "host"], cert_type),  # one of these three: checked above
            key_id=key_id,
            principals=list(principals),
            valid_after=va,
            valid_before=vb,
            template_data=data if isinstance(data, dict) else {},
        )

    def authorize(
        self, cert_type: CertType, token: Token, *, token_id: str | None = None, **extra: Any
    ) -> SSHAuthorization:
        """The SSHAuthorization for a request of `cert_type`: Forbidden when the token was made for the
        other type. `extra` carries the type's own fields (authorization_crt, not_after, ...)."""
        if self.cert_type and self.cert_type != cert_type:
            raise Forbidden(
                f"token is for a {self.cert_type} certificate, the request is for a {cert_type} certificate"
            )
        return SSHAuthorization(
            cert_type=cert_type,
            key_id=self.key_id,
            principals=list(self.principals),
            token_id=token.id if token_id is None else token_id,
            valid_after=self.valid_after,
            valid_before=self.valid_before,
            token_claims=token.claims,
            template_data=dict(self.template_data),
            **extra,
        )


@hookimpl(specname="authorize_renew")
def renew_with_kernel_checks(
    provisioner: Provisioner, certificate: x509.Certificate, authority: AuthorityView
) -> RenewAuthorization | None:
    """`authorize_renew` for a type whose renewal needs only the kernel's checks (the certificate is this
    CA's, not revoked, not expired or within the grace period, and the provisioner allows renewal).

    A plugin declares the x509-renew capability by importing this into its hooks module."""
    return None
