"""dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.<domain> holding base64url(SHA-256(key
authorization)), found through CNAMEs (see resolve.py)."""

from __future__ import annotations

import dns.rdatatype

from ..problems import Problem
from ..provisioner import ACMEState
from .resolve import lookup


async def validate(domain: str, expected: str, state: ACMEState) -> None:
    name = f"_acme-challenge.{domain}"
    records = await lookup(state, name, dns.rdatatype.TXT)
    values = [b"".join(r.strings).decode("utf-8", "replace") for r in records]
    if not values:
        raise Problem("dns", f"no TXT record found at {name}")
    if expected not in values:
        shown = ", ".join(repr(v[:64]) for v in values[:5])
        raise Problem(
            "incorrectResponse",
            f"the TXT records at {name} ({shown}) do not hold the expected digest of the key authorization",
        )
