"""Pure-Python Nebula certificate library: parse, verify, and the XEdDSA/ES256/EdDSA token signatures.

Formats follow slackhq/nebula: v1 (``NEBULA CERTIFICATE``, protobuf; :mod:`.v1`) and v2
(``NEBULA CERTIFICATE V2``, nebula >= 1.10, DER; :mod:`.v2`).  CURVE25519 CAs sign with Ed25519; P256 CAs
sign with ECDSA P-256/SHA-256 (ASN.1 DER signatures).  Leaf keys are X25519 (32 bytes) or P-256
uncompressed points (65 bytes).

This module is the library's public face; the rest of the plugin imports from here.
"""

from __future__ import annotations

from plica_nebula.cert.capool import NebulaCAPool, check_ca_constraints
from plica_nebula.cert.certificate import Curve, IPInterface, NebulaCertificate
from plica_nebula.cert.errors import NebulaCertificateError
from plica_nebula.cert.issue import sign_certificate
from plica_nebula.cert.jws import jws_sign, verify_jws_signature
from plica_nebula.cert.parse import load_private_key_pem, parse_der, parse_pem
from plica_nebula.cert.v1 import parse_v1
from plica_nebula.cert.v2 import parse_v2
from plica_nebula.cert.xeddsa import x25519_to_ed25519_public_key, xeddsa_sign, xeddsa_verify

__all__ = [
    "Curve",
    "IPInterface",
    "NebulaCAPool",
    "NebulaCertificate",
    "NebulaCertificateError",
    "check_ca_constraints",
    "jws_sign",
    "load_private_key_pem",
    "parse_der",
    "parse_pem",
    "parse_v1",
    "parse_v2",
    "sign_certificate",
    "verify_jws_signature",
    "x25519_to_ed25519_public_key",
    "xeddsa_sign",
    "xeddsa_verify",
]
