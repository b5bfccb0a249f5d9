"""The ACME type against the kernel's conformance suite (plica.testing.conformance). ACME takes no tokens:
its entry point is its own protocol, whose refusals are RFC 7807 problem documents, so this class says how to
be refused and what that looks like."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plica_acme
from plica.testing import Api, Reply
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"


class TestConformance(ProvisionerConformance):
    plugin = plica_acme
    type_name = "ACME"
    capabilities = ["x509-sign", "x509-renew", "x509-revoke"]
    example_block = readme_block(README, "ACME")
    bad_blocks = [
        ({"type": "ACME", "name": "acme", "forceCN": "yes"}, "forceCN"),
        ({"type": "ACME", "name": "acme", "challenges": ["http-01", "carrier-pigeon-01"]}, "challenges[1]"),
        (
            {"type": "ACME", "name": "acme", "attestationFormats": ["step", "tpm", "x"]},
            "attestationFormats[2]",
        ),
        ({"type": "ACME", "name": "acme", "attestationRoots": "!"}, "attestationRoots"),
        ({"type": "ACME", "name": "acme", "validation": {"httpPort": 70000}}, "validation.httpPort"),
        ({"type": "ACME", "name": "acme", "validation": {"resolver": "dns.example"}}, "validation.resolver"),
        ({"type": "ACME", "name": "acme", "validation": {"timeout": "0s"}}, "validation.timeout"),
        ({"type": "ACME", "name": "acme", "limits": {"pendingOrders": -1}}, "limits.pendingOrders"),
    ]

    async def refuse(self, api: Api, authority: Any) -> Reply:
        name = self.example_block["name"]
        return await api.post(
            f"/acme/{name}/new-account", data=b"not a JWS", headers={"Content-Type": "application/jose+json"}
        )

    def check_refusal(self, reply: Reply) -> None:
        assert 400 <= reply.status < 500, reply.raw
        assert reply.headers["Content-Type"].startswith("application/problem+json"), reply.headers
        body = reply.json
        assert body["type"].startswith("urn:ietf:params:acme:error:"), body
        assert body["status"] == reply.status and isinstance(body["detail"], str) and body["detail"], body
