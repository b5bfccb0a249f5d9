"""Sorting SAN strings by type as step's x509util.SplitSANs does: IP, then URI, then email, else DNS."""

from __future__ import annotations

import ipaddress

from plica.names import split_sans


def test_split_sans_by_type() -> None:
    got = split_sans(
        [
            "host1.example.com",
            "10.0.0.1",
            "[2001:db8::1]",
            "::1",
            "1.2.3",  # not a dotted quad: a DNS name
            "256.1.1.1",  # not an address either
            "123",
            "spiffe://example.org/w",
            "urn:uuid:0a4e1a3c-7f5c-4c4a-9f5b-1e2d3c4b5a69",
            "ops@example.com",
            "",
            "localhost",
        ]
    )
    assert got.ips == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("2001:db8::1"),
        ipaddress.ip_address("::1"),
    ]
    assert got.uris == ["spiffe://example.org/w", "urn:uuid:0a4e1a3c-7f5c-4c4a-9f5b-1e2d3c4b5a69"]
    assert got.emails == ["ops@example.com"]
    assert got.dns == ["host1.example.com", "1.2.3", "256.1.1.1", "123", "localhost"]
