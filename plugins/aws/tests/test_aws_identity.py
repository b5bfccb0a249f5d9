"""The certificates shipped with the package, and step's own AWS token read by the plugin's verification."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from plica.api import Token, Unauthorized
from plica_aws.identity import ROOTS_FILE, amazon_claim, aws_roots, check_token_hmac, parse_document

PACKAGE = Path(__file__).resolve().parents[1] / "plica_aws"
GO = Path("/usr/share/gocode/src")
STEP_CA_AWS = GO / "github.com/smallstep/certificates/authority/provisioner/aws.go"
STEP_TOKEN_TEST = GO / "go.step.sm/cli-utils/token/parse_test.go"


def test_shipped_certificates_are_awss_per_region_rsa_certificates() -> None:
    text = (PACKAGE / ROOTS_FILE).read_text()
    regions = re.findall(r"^# ([a-z]{2}(?:-gov)?-[a-z]+-\d)$", text, re.MULTILINE)
    certs = x509.load_pem_x509_certificates(text.encode())
    assert len(certs) == len(regions) == 33
    for region in ("us-east-1", "eu-west-1", "ap-southeast-4", "us-gov-west-1", "cn-north-1", "ca-west-1"):
        assert region in regions
    # Each is self-signed by its own RSA key (nothing was lost on the way), and they are the keys loaded.
    for cert in certs:
        cert.public_key().verify(  # type: ignore[union-attr]
            cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
        )
    assert [k.public_numbers() for k in aws_roots()] == [c.public_key().public_numbers() for c in certs]  # type: ignore[union-attr]


def test_shipped_certificates_cover_the_keys_step_ca_0_19_embeds() -> None:
    if not STEP_CA_AWS.exists():
        pytest.skip("step-ca 0.19's source (golang-github-smallstep-certificates-dev) is not installed")
    pems = re.findall(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", STEP_CA_AWS.read_text(), re.S
    )
    step_keys = {x509.load_pem_x509_certificate(p.encode()).public_key().public_numbers() for p in pems}  # type: ignore[union-attr]
    assert len(step_keys) == 5
    assert step_keys <= {k.public_numbers() for k in aws_roots()}


def test_steps_own_token_verifies_and_parses() -> None:
    """An AWS token step's client made (go.step.sm/cli-utils' test data): its HMAC is keyed with the raw
    signature and its `amazon` claim decodes, as the plugin reads them."""
    if not STEP_TOKEN_TEST.exists():
        pytest.skip("go.step.sm/cli-utils' source is not installed")
    m = re.search(r'awsToken\s*=\s*"([^"]+)"', STEP_TOKEN_TEST.read_text())
    assert m
    token = Token.parse(m.group(1))
    document, signature = amazon_claim(token)
    check_token_hmac(token, signature)
    doc = parse_document(document)
    assert (doc.instance_id, doc.private_ip, doc.region) == ("Z3XWlXGNZR", "127.0.0.1", "us-west-1")
    assert doc.dns_name == "ip-127-0-0-1.us-west-1.compute.internal"
    with pytest.raises(Unauthorized):
        check_token_hmac(token, signature[:-1])
