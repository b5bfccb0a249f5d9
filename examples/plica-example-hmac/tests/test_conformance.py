"""The HMAC example type against the kernel's conformance suite (plica.testing.conformance), as every
provisioner type in the repository runs it and as `plica plugin new` writes it for a new distribution."""

from __future__ import annotations

from pathlib import Path

from plica.testing.conformance import ProvisionerConformance, readme_block
from plica.testing.loading import import_source

HERE = Path(__file__).resolve().parents[1]
README = HERE / "README.md"
# The example is not installed in the repository's environment (its slow test installs it as a user would):
# the suite imports it from its source tree. An installed distribution simply imports its package.
plica_example_hmac = import_source(HERE / "plica_example_hmac")


class TestConformance(ProvisionerConformance):
    plugin = plica_example_hmac
    type_name = "HMAC"
    capabilities = ["x509-sign"]
    example_block = readme_block(README, "HMAC")
    secret_fields = ("secret",)
    bad_blocks = [
        ({"type": "HMAC", "name": "fleet"}, "secret"),
        ({"type": "HMAC", "name": "fleet", "secret": 32}, "secret"),
        ({"type": "HMAC", "name": "fleet", "secret": "not base64!"}, "secret"),
        ({"type": "HMAC", "name": "fleet", "secret": "c2hvcnQ="}, "secret"),
    ]
