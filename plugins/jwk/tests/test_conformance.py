"""The JWK type against the kernel's conformance suite (plica.testing.conformance)."""

from __future__ import annotations

from pathlib import Path

import plica_jwk
from plica.testing import new_jwk_provisioner
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"
_block, _key = new_jwk_provisioner("j")
PRIVATE_JWK = {**_block["key"], "d": "AAAA"}


class TestConformance(ProvisionerConformance):
    plugin = plica_jwk
    type_name = "JWK"
    capabilities = [
        "x509-sign",
        "x509-renew",
        "x509-revoke",
        "ssh-user-cert-sign",
        "ssh-host-cert-sign",
        "ssh-revoke",
    ]
    example_block = readme_block(README, "JWK")
    bad_blocks = [
        ({"type": "JWK", "name": "j"}, "key"),
        ({"type": "JWK", "name": "j", "key": "not a JWK"}, "key"),
        ({"type": "JWK", "name": "j", "key": {"kty": "EC", "crv": "P-256"}}, "key"),
        ({"type": "JWK", "name": "j", "key": PRIVATE_JWK}, "key"),
        ({**_block, "encryptedKey": 42}, "encryptedKey"),
        ({**_block, "claims": {"maxTLSCertDuration": "forever"}}, "claims.maxTLSCertDuration"),
        ({**_block, "name": ""}, "name"),
    ]
