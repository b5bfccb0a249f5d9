"""Bad input to the AWS provisioner: a document signed by another key, a document altered after signing, a
token whose HMAC is not keyed with the signature, other algorithms, wrong claims, another provisioner's
token, garbage. Each is a 4xx in step's error shape naming what failed (never a 500) and stores nothing."""

from __future__ import annotations

import base64
import json
import time

import pytest

from plica.testing import admin_key, garbage_token

from .awskit import INSTANCE, Env, forge, sign, token_for, unsigned
from .conftest import Metadata
from .imdskit import SigningCert, document


async def refused(env: Env, token: str, status: int, words: str) -> None:
    before = env.counts()
    reply = await sign(env, token)
    assert reply.status == status, reply.raw
    message = reply.error()["message"]
    assert words in message, message
    assert env.counts() == before


async def test_document_signed_by_another_key(env: Env) -> None:
    doc = document()
    stranger = SigningCert.create("not AWS")
    await refused(
        env, forge(env.files, doc, stranger.sign(doc)), 401, "does not verify with the provisioner's AWS"
    )


async def test_document_altered_after_signing(env: Env, signer: SigningCert) -> None:
    doc = document()
    signature = signer.sign(doc)
    altered = doc.replace(b"123456789012", b"999999999999")
    await refused(
        env, forge(env.files, altered, signature), 401, "does not verify with the provisioner's AWS"
    )
    # Whitespace counts: the signature is over the exact bytes.
    await refused(env, forge(env.files, doc + b"\n", signature), 401, "does not verify")


async def test_aws_own_certificates_do_not_trust_the_test_key(env: Env, metadata: Metadata) -> None:
    """A provisioner without iidRoots verifies with AWS's published certificates: what the test's key signed
    does not verify there (and the token, re-addressed to it, is its to refuse)."""
    token = token_for(env.files, "aws-default", metadata.url)
    await refused(env, token, 401, "does not verify with the provisioner's AWS certificates")


async def test_hmac_not_keyed_with_the_signature(env: Env, signer: SigningCert) -> None:
    doc = document()
    await refused(
        env, forge(env.files, doc, signer.sign(doc), key=b"guess"), 401, "does not verify with the identity"
    )


async def test_other_algorithms(env: Env, signer: SigningCert) -> None:
    doc = document()
    token = forge(env.files, doc, signer.sign(doc))
    await refused(env, unsigned(token, "none"), 401, "HS256")
    await refused(env, unsigned(token, "RS256"), 401, "HS256")


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"iss": "accounts.google.com"}, "issuer"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"exp": None}, "expiry"),
        ({"aud": ["https://other.example/1.0/sign#aws/aws"]}, "audience"),
        ({"aud": "https://127.0.0.1/1.0/revoke#aws/aws"}, "audience"),
        ({"amazon": "not an object"}, "amazon"),
        ({"amazon": {"document": "!!!", "signature": "AAAA"}}, "base64"),
        ({"amazon": None}, "amazon"),
    ],
)
async def test_claims(env: Env, signer: SigningCert, claims: dict[str, object], words: str) -> None:
    doc = document()
    await refused(env, forge(env.files, doc, signer.sign(doc), **claims), 401, words)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"accountId": ""}, "accountId is empty"),
        ({"instanceId": None}, "instanceId is empty"),
        ({"privateIp": ""}, "privateIp is empty"),
        ({"region": 42}, "region is not a string"),
        ({"pendingTime": "yesterday"}, "pendingTime"),
    ],
)
async def test_document_fields(env: Env, signer: SigningCert, fields: dict[str, object], words: str) -> None:
    doc = document(**fields)
    await refused(env, forge(env.files, doc, signer.sign(doc)), 401, words)


async def test_document_not_json(env: Env, signer: SigningCert) -> None:
    for doc in (b"not json", b"[1, 2]", b"\xff\xfe"):
        await refused(
            env,
            forge(env.files, doc, signer.sign(doc)),
            401,
            "not a JSON object" if doc.startswith(b"[") else "not JSON",
        )


async def test_token_for_another_provisioner(env: Env, metadata: Metadata, signer: SigningCert) -> None:
    """The audience's fragment picks the provisioner: a token for one this CA does not have reaches none, and
    another type's token addressed to an AWS provisioner is refused by it."""
    doc = document()
    await refused(env, forge(env.files, doc, signer.sign(doc), provisioner="nobody"), 401, "does not belong")
    token = admin_key(env.files).token(INSTANCE, f"{env.files.url}/1.0/sign#aws/aws")
    await refused(env, token, 401, "no 'amazon' claim")


async def test_garbage(env: Env) -> None:
    for token in (
        "garbage",
        "a.b.c",
        garbage_token("aws", f"{env.files.url}/1.0/sign#aws/aws"),
        unsigned(forge(env.files, b"{}", b"x"), "HS256"),
        "eyJhbGciOiJIUzI1NiJ9."
        + base64.urlsafe_b64encode(json.dumps({"amazon": {}}).encode()).decode()
        + ".x",
    ):
        before = env.counts()
        reply = await sign(env, token)
        assert 400 <= reply.status < 500, (token, reply.raw)
        reply.error()
        assert env.counts() == before


async def test_a_revocation_token_is_refused(env: Env, metadata: Metadata) -> None:
    """step-ca's AWS provisioner cannot revoke (no x509-revoke capability)."""
    token = token_for(env.files, "aws", metadata.url)
    reply = await env.api.post("/1.0/revoke", {"serial": "1", "ott": token, "passive": True})
    assert reply.status == 401 and "x509-revoke" in reply.error()["message"]
    assert env.counts()["used_tokens"] == 0
