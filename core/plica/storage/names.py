"""The searchable names of a stored certificate (`x509_certs.names`, `ssh_certs.names`).

They are worked out once, when the certificate is stored (and, for rows stored before kernel-0004, once by that
migration), so the inventory's `name` filter is a LIKE on one narrow column instead of parsing every
candidate certificate. The column holds each name lower-cased (Python's `str.lower`, on both sides of the
comparison, so SQL's own case rules never matter), one per line.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

SEPARATOR = "\n"


def common_name(name: x509.Name) -> str:
    """The first CN of `name`, "" if none."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def x509_names(cert: x509.Certificate) -> tuple[str, list[str]]:
    """The subject's first CN ("" if none) and the SANs, as the inventory shows them."""
    cn = common_name(cert.subject)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(getattr(g, "value", g)) for g in san]
    except x509.ExtensionNotFound:
        sans = []
    return cn, sans


def x509_names_of_der(der: bytes) -> tuple[str, list[str]]:
    try:
        return x509_names(x509.load_der_x509_certificate(bytes(der)))
    except ValueError:  # a stored certificate this CA made; a parse failure only hides its names
        return "", []


def ssh_principals(blob: bytes) -> list[str]:
    try:
        cert = serialization.load_ssh_public_identity(bytes(blob))  # stored as its OpenSSH line
        return [p.decode(errors="replace") for p in cert.valid_principals]  # type: ignore[union-attr]
    except Exception:  # a stored certificate this CA made; a parse failure only hides its principals
        return []


def joined(names: Iterable[str]) -> str:
    """The column's value: each non-empty name, lower-cased, once, one per line."""
    return SEPARATOR.join(dict.fromkeys(n.lower() for n in names if n))


def x509_column(cn: str, sans: Iterable[str]) -> str:
    return joined((cn, *sans))


def matches(needle: str, column: str) -> bool:
    """`needle` (lower-cased) is part of one of the names (the SQL LIKE on the whole column also matches a
    needle spanning two lines; this check settles such a row the way the per-name test always did)."""
    return any(needle in n for n in column.split(SEPARATOR))


def like_pattern(needle: str) -> str:
    """A LIKE pattern (ESCAPE '!') that finds `needle` literally anywhere: `%` and `_` are not wildcards."""
    return "%" + needle.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def x509_backfill(rows: Iterable[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """(names, serial) for the (serial, der) rows stored before kernel-0004."""
    return [(x509_column(cn, sans), serial) for serial, der in rows for cn, sans in [x509_names_of_der(der)]]


def ssh_backfill(rows: Iterable[tuple[str, bytes, str]]) -> list[tuple[str, str]]:
    """(names, serial) for the (serial, cert, key id) rows stored before kernel-0004."""
    return [(joined((key_id, *ssh_principals(blob))), serial) for serial, blob, key_id in rows]
