"""device-attest-01 (draft-acme-device-attest, as step-ca implements it): the response `{"attObj":
base64url(CBOR)}` is a WebAuthn-style attestation object whose statement proves that the key the client
will ask a certificate for lives in the device, and names the device. `check` verifies it synchronously
and returns what finalize needs (the attested key) and what templates may read; each failed check is a
`badAttestationStatement` problem saying which one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from ..problems import Problem
from . import apple, step, tpm
from .common import Attested, bad, decode_attobj
from .roots import default_roots

FORMATS = ("apple", "step", "tpm")

__all__ = ["FORMATS", "Attested", "check"]


def check(
    payload: dict[str, Any],
    *,
    identifier: str,
    token: str,
    key_auth: str,
    formats: frozenset[str],
    roots: Sequence[x509.Certificate] | None,
    now: dt.datetime | None = None,
) -> Attested:
    """Verify the challenge response for the permanent identifier `identifier`. `formats` are the enabled
    ones; `roots` the provisioner's attestationRoots, or None for each format's vendor roots."""
    if isinstance(payload.get("error"), str) and payload["error"]:
        # A device that could not attest says why (step-ca answers rejectedIdentifier too).
        raise Problem(
            "rejectedIdentifier", f"the client could not attest the device: {payload['error'][:200]}"
        )
    fmt, stmt = decode_attobj(payload.get("attObj"))
    if fmt not in FORMATS and fmt != "android-key":
        raise bad(f"attestation format {fmt[:40]!r} is not supported (apple, step, tpm)")
    if fmt not in formats:
        raise bad(f"attestation format {fmt!r} is not enabled on this provisioner")
    if fmt == "android-key":
        raise bad("attestation format 'android-key' is not implemented by Plica")
    trusted = tuple(roots) if roots is not None else default_roots(fmt)
    at = now or dt.datetime.now(dt.UTC)
    if fmt == "apple":
        result = apple.verify(stmt, key_auth=key_auth, token=token, roots=trusted, now=at)
    elif fmt == "step":
        result = step.verify(stmt, key_auth=key_auth, roots=trusted, now=at)
    else:
        result = tpm.verify(stmt, key_auth=key_auth, roots=trusted, now=at)
    # step-ca's rule: the ordered identifier must be one the device attests (for tpm, only when the AK
    # certificate names any: an AK certified without one still binds the key).
    if (result.identifiers or fmt != "tpm") and identifier not in result.identifiers:
        shown = list(result.identifiers)
        raise Problem(
            "badAttestationStatement",
            f"permanent identifier does not match: {identifier!r} is none of the attested device "
            f"identifiers {shown}",
            subproblems=[
                {
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": f"the ordered identifier {identifier!r} is none of the attested device "
                    f"identifiers {shown}",
                    "identifier": {"type": "permanent-identifier", "value": identifier},
                }
            ],
        )
    return result
