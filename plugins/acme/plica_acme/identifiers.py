"""Order identifiers: `dns` (RFC 8555 §9.7.7, wildcards by dns-01 only), `ip` (RFC 8738) and
`permanent-identifier` (draft-acme-device-attest: a device's serial or UDID, by device-attest-01 only)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import Any

from attrs import frozen

from .problems import Problem, malformed
from .provisioner import DEVICE_ATTEST_01, DNS_01, HTTP_01, TLS_ALPN_01

MAX_IDENTIFIERS = 100
PERMANENT_IDENTIFIER = "permanent-identifier"
MAX_PERMANENT_IDENTIFIER = 256
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@frozen
class Identifier:
    type: str
    value: str  # as in the order and the certificate: "*.example.com" for a wildcard
    base: str  # as in the authorization: "example.com"
    wildcard: bool

    def json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


def challenge_types(ident: Identifier, enabled: Collection[str]) -> tuple[str, ...]:
    """The challenges that can prove `ident`, in the order offered, among those enabled."""
    if ident.type == PERMANENT_IDENTIFIER:
        candidates: tuple[str, ...] = (DEVICE_ATTEST_01,)
    elif ident.type == "ip":
        candidates = (HTTP_01, TLS_ALPN_01)  # RFC 8738 §7: no dns-01 for IPs
    elif ident.wildcard:
        candidates = (DNS_01,)  # RFC 8555 §7.1.3: only dns-01 can prove a wildcard
    else:
        candidates = (HTTP_01, DNS_01, TLS_ALPN_01)
    return tuple(c for c in candidates if c in enabled)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _dns(value: str) -> tuple[str, bool]:
    v = value.lower()
    wildcard = v.startswith("*.")
    base = v[2:] if wildcard else v
    if not base or len(base) > 253 or base.endswith("."):
        raise ValueError("is not a valid DNS name")
    labels = base.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError("is not a valid DNS name (letters, digits and hyphens in dot-separated labels)")
    if "*" in base:
        raise ValueError("may only have a wildcard as its whole leftmost label")
    if wildcard and len(labels) < 2:
        raise ValueError("is a wildcard of a top-level domain")
    try:
        ipaddress.ip_address(base)
    except ValueError:
        pass
    else:
        raise ValueError('is an IP address: use an identifier of type "ip" (RFC 8738)')
    return base, wildcard


def parse_identifiers(raw: Any, enabled: Collection[str]) -> list[Identifier]:
    if not isinstance(raw, list) or not raw:
        raise malformed("identifiers must be a non-empty list")
    if len(raw) > MAX_IDENTIFIERS:
        raise Problem("rejectedIdentifier", f"an order may have at most {MAX_IDENTIFIERS} identifiers")
    out: list[Identifier] = []
    seen: set[tuple[str, str]] = set()
    problems: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise malformed('each identifier must be an object {"type": ..., "value": ...}')
        typ, value = item["type"], item.get("value")
        if not isinstance(value, str) or not value:
            raise malformed(f"identifier of type {typ!r} has no value")
        if typ == "dns" and _is_ip(value):
            # As step-ca does: clients that predate RFC 8738 (lego 4.9) send addresses as dns identifiers.
            typ = "ip"
        try:
            if typ == "dns":
                base, wildcard = _dns(value)
                ident = Identifier("dns", ("*." if wildcard else "") + base, base, wildcard)
            elif typ == "ip":
                try:
                    addr = ipaddress.ip_address(value)
                except ValueError:
                    raise ValueError("is not an IP address") from None
                ident = Identifier("ip", str(addr), str(addr), False)
            elif typ == PERMANENT_IDENTIFIER:
                if len(value) > MAX_PERMANENT_IDENTIFIER or not value.isprintable():
                    raise ValueError(
                        f"is not printable text of at most {MAX_PERMANENT_IDENTIFIER} characters"
                    )
                ident = Identifier(PERMANENT_IDENTIFIER, value, value, False)
            else:
                problems.append(
                    _sub("unsupportedIdentifier", f"identifier type {typ!r} is not supported", item)
                )
                continue
        except ValueError as e:
            problems.append(_sub("rejectedIdentifier", f"{typ} identifier {value!r} {e}", item))
            continue
        if not challenge_types(ident, enabled):
            problems.append(
                _sub(
                    "rejectedIdentifier",
                    f"no challenge enabled on this provisioner can validate {ident.value!r}",
                    item,
                )
            )
            continue
        key = (ident.type, ident.value)
        if key not in seen:
            seen.add(key)
            out.append(ident)
    if any(i.type == PERMANENT_IDENTIFIER for i in out) and len(out) > 1 and not problems:
        # As step-ca: the certificate names one device (its permanentIdentifier SAN), and nothing else.
        raise Problem("rejectedIdentifier", "a permanent-identifier must be the only identifier of its order")
    if len(problems) == 1:
        p = problems[0]
        raise Problem(p["type"].rsplit(":", 1)[1], p["detail"], subproblems=problems)
    if problems:
        raise Problem("compound", "several identifiers cannot be ordered", status=400, subproblems=problems)
    return out


def _sub(kind: str, detail: str, ident: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": f"urn:ietf:params:acme:error:{kind}",
        "detail": detail,
        "identifier": {"type": ident.get("type"), "value": ident.get("value")},
    }
