"""The Nebula type against the kernel's conformance suite (plica.testing.conformance). The README's block
holds a placeholder for `roots`; here it trusts a Nebula CA signed for the purpose (P-256, by the plugin's
own certificate code, so that the suite needs no nebula-cert)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import plica_nebula
from plica.testing.conformance import ProvisionerConformance, readme_block
from plica_nebula.cert import sign_certificate

README = Path(__file__).resolve().parents[1] / "README.md"


def nebula_roots() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca = sign_certificate(
        name="Conformance Nebula CA",
        public_key=key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ),
        signing_key=key.private_numbers().private_value.to_bytes(32, "big"),
        is_ca=True,
        curve="P256",
        not_before=now - dt.timedelta(hours=1),
        not_after=now + dt.timedelta(days=30),
    )
    return base64.b64encode(ca.to_pem()).decode()


ROOTS = nebula_roots()


class TestConformance(ProvisionerConformance):
    plugin = plica_nebula
    type_name = "Nebula"
    capabilities = ["x509-sign", "x509-renew", "ssh-host-cert-sign"]
    example_block = {**readme_block(README, "Nebula"), "roots": ROOTS}
    bad_blocks = [
        ({"type": "Nebula", "name": "nebula"}, "roots"),
        ({"type": "Nebula", "name": "nebula", "roots": "-----BEGIN NEBULA CERTIFICATE-----"}, "roots"),
        ({"type": "Nebula", "name": "nebula", "roots": "not base64!"}, "roots"),
        ({"type": "Nebula", "name": "nebula", "roots": "bm90IGEgY2VydGlmaWNhdGU="}, "roots"),
    ]
