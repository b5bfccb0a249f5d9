"""The OIDC type against the kernel's conformance suite (plica.testing.conformance): the README's block is the
step documentation's example. Its provider is Google's, which a test machine may not reach: the refusal is
then a 503 "provider unreachable" (the provisioner's answer until discovery succeeds), otherwise a 401."""

from __future__ import annotations

from pathlib import Path

import plica_oidc
from plica.testing import Reply
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"
BASE = {"type": "OIDC", "name": "sso", "clientID": "c", "configurationEndpoint": "https://idp.example.com"}


class TestConformance(ProvisionerConformance):
    plugin = plica_oidc
    type_name = "OIDC"
    capabilities = [
        "x509-sign", "x509-renew", "x509-revoke", "ssh-user-cert-sign", "ssh-host-cert-sign", "ssh-revoke",
    ]  # fmt: skip
    example_block = readme_block(README, "OIDC")
    bad_blocks = [
        ({**BASE, "clientID": ""}, "clientID"),
        ({**BASE, "configurationEndpoint": ""}, "configurationEndpoint"),
        ({**BASE, "configurationEndpoint": "http://idp.example.com"}, "configurationEndpoint"),
        ({**BASE, "admins": ["a@example.com", ""]}, "admins[1]"),
        ({**BASE, "domains": "example.com"}, "domains"),
        ({**BASE, "groups": [7]}, "groups[0]"),
        ({**BASE, "listenAddress": "10000"}, "listenAddress"),
        ({**BASE, "scopes": [""]}, "scopes[0]"),
        ({**BASE, "authParams": ["prompt"]}, "authParams[0]"),
        ({**BASE, "tenantID": 5}, "tenantID"),
    ]

    def check_refusal(self, reply: Reply) -> None:
        if reply.status == 503:
            assert "provider unreachable" in reply.error()["message"], reply.raw
            return
        super().check_refusal(reply)
