"""RFC 7807 problem documents with ACME's error types (RFC 8555 §6.7, RFC 9773 §7.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plica.api import clip

NS = "urn:ietf:params:acme:error:"

# The HTTP status each type is answered with (the RFC leaves most to the server; these are Boulder's and
# step-ca's choices, which clients are used to).
STATUS: dict[str, int] = {
    "accountDoesNotExist": 400,
    "alreadyReplaced": 409,
    "alreadyRevoked": 400,
    "badAttestationStatement": 400,  # draft-acme-device-attest, as step-ca
    "badCSR": 400,
    "badNonce": 400,
    "badPublicKey": 400,
    "badRevocationReason": 400,
    "badSignatureAlgorithm": 400,
    "caa": 403,
    "compound": 403,
    "connection": 400,
    "dns": 400,
    "externalAccountRequired": 400,
    "incorrectResponse": 400,
    "invalidContact": 400,
    "malformed": 400,
    "orderNotReady": 403,
    "rateLimited": 429,
    "rejectedIdentifier": 400,
    "serverInternal": 500,
    "tls": 400,
    "unauthorized": 403,
    "unsupportedContact": 400,
    "unsupportedIdentifier": 400,
    "userActionRequired": 403,
}


class Problem(Exception):
    """An ACME error answered as `application/problem+json`. `detail` is shown to the client."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        subproblems: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        if kind not in STATUS:
            raise ValueError(f"unknown ACME error type {kind!r}")
        self.kind = kind
        self.detail = detail
        self.status = status or STATUS[kind]
        self.headers = dict(headers or {})
        self.subproblems = subproblems
        self.extra = dict(extra or {})

    @property
    def type(self) -> str:
        return NS + self.kind

    def body(self) -> dict[str, Any]:
        # A detail may quote client input: escaped and clipped, as the kernel's error messages are.
        out: dict[str, Any] = {"type": self.type, "detail": clip(self.detail, 500), "status": self.status}
        if self.subproblems:
            out["subproblems"] = self.subproblems
        out.update(self.extra)
        return out

    def stored(self) -> dict[str, Any]:
        """The problem as kept in the database (a challenge's or an order's `error`)."""
        return self.body()


def malformed(detail: str, **kw: Any) -> Problem:
    return Problem("malformed", detail, **kw)


def unauthorized(detail: str, **kw: Any) -> Problem:
    return Problem("unauthorized", detail, **kw)
