"""The AWS type against the kernel's conformance suite (plica.testing.conformance): the README's block (the
example of step's documentation, as printed) loads and round-trips, bad blocks are refused naming their
field, a refusal is a 4xx in step's shape, and /provisioners shows nothing secret."""

from __future__ import annotations

from pathlib import Path

import plica_aws
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_PEM = str(Path(__file__).resolve())  # a file that exists and holds no certificate


class TestConformance(ProvisionerConformance):
    plugin = plica_aws
    type_name = "AWS"
    capabilities = ["x509-sign", "x509-renew", "ssh-host-cert-sign"]
    example_block = readme_block(README, "AWS")
    bad_blocks = [
        ({"type": "AWS", "name": ""}, "name"),
        ({"type": "AWS", "name": "aws", "instanceAge": "-1h"}, "instanceAge"),
        ({"type": "AWS", "name": "aws", "instanceAge": "an hour"}, "instanceAge"),
        ({"type": "AWS", "name": "aws", "accounts": ["123", ""]}, "accounts[1]"),
        ({"type": "AWS", "name": "aws", "imdsVersions": ["v2", "v3"]}, "imdsVersions[1]"),
        ({"type": "AWS", "name": "aws", "iidRoots": "/nonexistent/iid-roots.pem"}, "iidRoots"),
        ({"type": "AWS", "name": "aws", "iidRoots": NOT_PEM}, "iidRoots"),
        ({"type": "AWS", "name": "aws", "claims": {"maxTLSCertDuration": "x"}}, "claims.maxTLSCertDuration"),
    ]
