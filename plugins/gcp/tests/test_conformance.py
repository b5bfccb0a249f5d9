"""The GCP type against the kernel's conformance suite (plica.testing.conformance): the README's block is the
step documentation's, as it is (its keys would come from Google: the suite's refusal never needs them)."""

from __future__ import annotations

from pathlib import Path

import plica_gcp
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"
BASE = {"type": "GCP", "name": "gcp"}


class TestConformance(ProvisionerConformance):
    plugin = plica_gcp
    type_name = "GCP"
    capabilities = ["x509-sign", "x509-renew", "ssh-host-cert-sign"]
    example_block = readme_block(README, "GCP")
    bad_blocks = [
        ({**BASE, "serviceAccounts": "1234567890"}, "serviceAccounts"),
        ({**BASE, "serviceAccounts": ["1234567890", ""]}, "serviceAccounts[1]"),
        ({**BASE, "projectIDs": [7]}, "projectIDs[0]"),
        ({**BASE, "projectIDs": [""]}, "projectIDs[0]"),
        ({**BASE, "instanceAge": "an hour"}, "instanceAge"),
        ({**BASE, "instanceAge": "-1h"}, "instanceAge"),
        ({**BASE, "disableCustomSANs": "yes"}, "disableCustomSANs"),
        ({**BASE, "disableTrustOnFirstUse": 1}, "disableTrustOnFirstUse"),
        ({**BASE, "jwksURL": "http://keys.example/certs"}, "jwksURL"),
        ({**BASE, "jwksURL": "not a url"}, "jwksURL"),
        ({**BASE, "organizationID": "123456789"}, "organizationID"),
    ]
