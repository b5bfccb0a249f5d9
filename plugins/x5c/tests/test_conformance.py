"""The X5C type against the kernel's conformance suite (plica.testing.conformance). The README's block
holds a placeholder for `roots`; here it trusts a root made for the purpose."""

from __future__ import annotations

from pathlib import Path

import plica_x5c
from plica.testing.conformance import ProvisionerConformance, readme_block
from plica.testing.csrs import pem_b64, root_ca

README = Path(__file__).resolve().parents[1] / "README.md"
ROOTS = pem_b64(root_ca("Conformance Root")[0])


class TestConformance(ProvisionerConformance):
    plugin = plica_x5c
    type_name = "X5C"
    capabilities = ["x509-sign", "x509-renew", "x509-revoke", "ssh-user-cert-sign", "ssh-host-cert-sign"]
    example_block = {**readme_block(README, "X5C"), "roots": ROOTS}
    bad_blocks = [
        ({"type": "X5C", "name": "x5c"}, "roots"),
        ({"type": "X5C", "name": "x5c", "roots": "not base64 of PEM!"}, "roots"),
        ({"type": "X5C", "name": "x5c", "roots": "bm90IGEgY2VydGlmaWNhdGU="}, "roots"),
        ({"type": "X5C", "name": "x5c", "roots": ROOTS, "claims": {"maxTLSCertDuration": "x"}},
         "claims.maxTLSCertDuration"),
    ]  # fmt: skip
