"""The K8sSA type against the kernel's conformance suite (plica.testing.conformance). The README's block
holds placeholders for its keys and roots; here they are real, and discovery is off (no cluster to ask)."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization

import plica_k8ssa
from plica.testing.conformance import ProvisionerConformance, readme_block
from plica.testing.csrs import ec_key, pem_b64, root_ca

README = Path(__file__).resolve().parents[1] / "README.md"
PUBLIC_KEYS = base64.b64encode(
    ec_key()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


class TestConformance(ProvisionerConformance):
    plugin = plica_k8ssa
    type_name = "K8sSA"
    capabilities = ["x509-sign", "x509-renew", "x509-revoke", "ssh-user-cert-sign", "ssh-host-cert-sign"]
    example_block = {
        **readme_block(README, "K8sSA"),
        "publicKeys": PUBLIC_KEYS,
        "discoveryRoots": pem_b64(root_ca("Cluster CA")[0]),
        "disableDiscovery": True,
    }
    bad_blocks = [
        ({"type": "K8sSA", "name": "kube"}, "publicKeys"),
        ({"type": "K8sSA", "name": "kube", "publicKeys": "bm90IGEga2V5"}, "publicKeys"),
        ({"type": "K8sSA", "name": "kube", "publicKeys": PUBLIC_KEYS, "issuers": "one"}, "issuers"),
        ({"type": "K8sSA", "name": "kube", "publicKeys": PUBLIC_KEYS, "issuers": ["kubernetes/serviceaccount"]},
         "issuers"),
        ({"type": "K8sSA", "name": "kube", "publicKeys": PUBLIC_KEYS, "issuers": ["https://kube.example"],
          "discoveryRoots": "!"}, "discoveryRoots"),
        ({"type": "K8sSA", "name": "kube", "publicKeys": PUBLIC_KEYS, "disableDiscovery": "yes"},
         "disableDiscovery"),
    ]  # fmt: skip
