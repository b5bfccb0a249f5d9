"""The client side against the local metadata service: the IMDSv2 session-token handshake, the IMDSv1
fallback, the provisioner's imdsVersions, the token it makes, and what it says when there is no service."""

from __future__ import annotations

import base64
from typing import Any

import click
import pytest

from plica.api import Token
from plica_aws import imds
from plica_aws.identity import check_token_hmac

from .awskit import INSTANCE, claims_of, client_token, tofu_id
from .imdskit import IMDS, SigningCert, running

CA_URL = "https://ca.example:9000"


def token(url: str | None, provisioner: dict[str, Any] | None = None, operation: str = "sign") -> str:
    return client_token(CA_URL, provisioner or {"type": "AWS", "name": "aws"}, url, operation=operation)


def test_imdsv2_handshake_and_steps_token(signer: SigningCert) -> None:
    service = IMDS.signed(signer, versions="v2")
    with running(service) as url:
        tok = token(url)
    # PUT the session token with its TTL header, then each GET with the token.
    methods = [(m, p) for m, p, _ in service.requests]
    assert methods == [
        ("PUT", imds.TOKEN_PATH),
        ("GET", imds.DOCUMENT_PATH),
        ("PUT", imds.TOKEN_PATH),
        ("GET", imds.SIGNATURE_PATH),
    ]
    assert service.requests[0][2]["X-aws-ec2-metadata-token-ttl-seconds"] == "30"
    assert service.requests[1][2]["X-aws-ec2-metadata-token"] in service.tokens
    # step's token: HS256 keyed with the raw signature, the exact document bytes, the audience array.
    parsed = Token.parse(tok)
    assert parsed.header == {"alg": "HS256", "typ": "JWT"}
    check_token_hmac(parsed, service.signature)
    claims = claims_of(tok)
    assert base64.b64decode(claims["amazon"]["document"]) == service.doc
    assert base64.b64decode(claims["amazon"]["signature"]) == service.signature
    assert claims["aud"] == [f"{CA_URL}/1.0/sign#aws/aws"] and claims["iss"] == "ec2.amazonaws.com"
    assert claims["sub"] == INSTANCE and claims["jti"] == tofu_id("aws") and claims["sans"] is None
    assert list(claims) == ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "amazon", "sans"]


def test_falls_back_to_imdsv1_where_there_is_no_token_service(signer: SigningCert) -> None:
    service = IMDS.signed(signer, versions="v1")
    with running(service) as url:
        claims = claims_of(token(url))
    assert base64.b64decode(claims["amazon"]["document"]) == service.doc
    gets = [h for m, _, h in service.requests if m == "GET"]
    assert gets and all("X-aws-ec2-metadata-token" not in h for h in gets)


def test_the_provisioners_imds_versions_decide(signer: SigningCert) -> None:
    service = IMDS.signed(signer, versions="both")
    with running(service) as url:
        token(url, {"type": "AWS", "name": "aws", "imdsVersions": ["v1"]})
    assert {m for m, _, _ in service.requests} == {"GET"}
    # Only v1 allowed, but the instance enforces v2: refused with both answers named.
    strict = IMDS.signed(signer, versions="v2")
    with running(strict) as url, pytest.raises(click.ClickException) as e:
        token(url, {"type": "AWS", "name": "aws", "imdsVersions": ["v1"]})
    assert "IMDSv1" in e.value.message and "HTTP 401" in e.value.message and "IMDSv2" not in e.value.message


def test_no_metadata_service(signer: SigningCert) -> None:
    with running(IMDS.signed(signer)) as url:
        pass  # stopped: nothing listens there any more
    with pytest.raises(click.ClickException) as e:
        token(url)
    assert (
        "metadata service" in e.value.message and "IMDSv2" in e.value.message and "IMDSv1" in e.value.message
    )


def test_a_bad_signature_text_or_document(signer: SigningCert) -> None:
    service = IMDS(b"{}", b"")
    with running(service) as url:
        service.signature = signer.sign(b"{}")
        with pytest.raises(click.ClickException) as e:
            token(url)
    assert "instanceId" in e.value.message


def test_only_what_the_type_can_do() -> None:
    with pytest.raises(click.UsageError) as e:
        token("http://127.0.0.1:9", operation="revoke")
    assert "revoke" in e.value.message
