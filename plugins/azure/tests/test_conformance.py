"""The Azure type against the kernel's conformance suite (plica.testing.conformance), with the README's ca.json
block: the one docs/reference/provisioners.md shows (its tenant's keys cannot be fetched here, so the refusal
is that of a CA without keys yet; test_azure_api.py refuses tokens with the keys at hand)."""

from __future__ import annotations

from pathlib import Path

import plica_azure
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"
TENANT = "b17c217c-84db-43f0-babd-e06a71083cda"
OTHER = "0e3b6f7a-3c2d-4b8e-9f10-2a4b6c8d0e1f"


def block(**fields: object) -> dict[str, object]:
    return {"type": "Azure", "name": "azure", "tenantId": TENANT, **fields}


class TestConformance(ProvisionerConformance):
    plugin = plica_azure
    type_name = "Azure"
    capabilities = ["x509-sign", "x509-renew", "ssh-host-cert-sign"]
    example_block = readme_block(README, "Azure")
    bad_blocks = [
        ({"type": "Azure", "name": "azure"}, "tenantId"),
        (block(tenantId="contoso.onmicrosoft.com"), "tenantId"),
        (block(tenantId=""), "tenantId"),
        (block(tenantID=OTHER), "tenantId"),
        (block(name=""), "name"),
        (block(resourceGroups="backend"), "resourceGroups"),
        (block(resourceGroups=[""]), "resourceGroups"),
        (block(subscriptionIDs=["", "x"]), "subscriptionIDs"),
        (block(objectIDs=[1]), "objectIDs[0]"),
        (block(audience=5), "audience"),
        (block(disableCustomSANs="yes"), "disableCustomSANs"),
        (block(disableTrustOnFirstUse=1), "disableTrustOnFirstUse"),
        (block(discoveryURL="http://login.example.com/t/.well-known/openid-configuration"), "discoveryURL"),
        (block(discoveryURL="not a url"), "discoveryURL"),
        (block(claims={"maxTLSCertDuration": "forever"}), "claims.maxTLSCertDuration"),
    ]
