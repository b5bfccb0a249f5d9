"""The SSHPOP type against the kernel's conformance suite (plica.testing.conformance)."""

from __future__ import annotations

from pathlib import Path

import plica_sshpop
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"


class TestConformance(ProvisionerConformance):
    plugin = plica_sshpop
    type_name = "SSHPOP"
    capabilities = ["ssh-host-cert-renew", "ssh-revoke", "ssh-rekey"]
    example_block = readme_block(README, "SSHPOP")
    bad_blocks = [
        ({"type": "SSHPOP", "name": "sshpop", "claims": {"enableSSHCA": "yes"}}, "claims.enableSSHCA"),
        ({"type": "SSHPOP", "name": "sshpop", "options": {"ssh": "default"}}, "options.ssh"),
        ({"type": "SSHPOP", "name": 7}, "name"),
    ]
