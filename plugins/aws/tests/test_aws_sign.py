"""X.509 certificates for an EC2 instance through the real server: the token the plugin's client makes from
the local metadata service, verified with the test's certificate as `iidRoots`; trust on first use recorded
with the certificate; disableTrustOnFirstUse; disableCustomSANs; the provisioner extension."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.x509.oid import NameOID

from plica.api import ProvisionerExtension
from plica.testing import db_row

from .awskit import (
    ACCOUNT,
    DNS_NAME,
    INSTANCE,
    PRIVATE_IP,
    Env,
    claims_of,
    leaf,
    sign,
    tofu_id,
    token_for,
)
from .conftest import Metadata
from .imdskit import SigningCert, document


def sans_of(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v.value) for v in ext]


def cn_of(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


async def test_instance_gets_a_certificate_with_its_names_and_the_provisioner_extension(
    env: Env, metadata: Metadata
) -> None:
    token = token_for(env.files, "aws", metadata.url)
    reply = await sign(env, token, INSTANCE, [INSTANCE, "app.internal.example", "10.0.1.23"])
    cert = leaf(reply)
    # Custom SANs allowed (the default): the CSR's names as they are, CN the token's subject.
    assert cn_of(cert) == INSTANCE
    assert sans_of(cert) == [INSTANCE, "app.internal.example", "10.0.1.23"]
    # step's provisioner extension: type 4 (AWS), the name, the account as credential, InstanceID.
    assert ProvisionerExtension.from_certificate(cert) == ProvisionerExtension(
        4, "aws", ACCOUNT, ("InstanceID", INSTANCE)
    )
    # Trust on first use: the instance, not the token, is recorded, under step-ca's id.
    row = db_row(env.files, "SELECT provisioner FROM used_tokens WHERE id = ?", (tofu_id("aws"),))
    assert row is not None


async def test_one_certificate_per_instance_ever_and_a_new_token_does_not_help(
    env: Env, metadata: Metadata
) -> None:
    assert leaf(await sign(env, token_for(env.files, "aws", metadata.url)))
    before = env.counts()
    again = await sign(env, token_for(env.files, "aws", metadata.url))
    assert again.status == 401 and "already used" in again.error()["message"]
    assert env.counts() == before


async def test_another_instance_gets_its_own_certificate(
    env: Env, metadata: Metadata, signer: SigningCert
) -> None:
    assert leaf(await sign(env, token_for(env.files, "aws", metadata.url)))
    other = document(instance_id="i-0fedcba9876543210", private_ip="10.0.9.9")
    metadata.service.serve(other, signer.sign(other))
    cert = leaf(
        await sign(
            env,
            token_for(env.files, "aws", metadata.url, subject="i-0fedcba9876543210"),
            "i-0fedcba9876543210",
        )
    )
    assert cn_of(cert) == "i-0fedcba9876543210"


async def test_two_concurrent_first_requests_yield_exactly_one_certificate(
    env: Env, metadata: Metadata
) -> None:
    tokens = [token_for(env.files, "aws", metadata.url) for _ in range(4)]
    replies = await asyncio.gather(*(sign(env, t) for t in tokens))
    assert sorted(r.status for r in replies) == [201, 401, 401, 401]
    assert env.counts()["x509_certs"] == 1


async def test_a_refused_request_uses_up_nothing(env: Env, metadata: Metadata) -> None:
    # The CSR's common name is not the token's subject: 403, and the instance still has its first use.
    refused = await sign(env, token_for(env.files, "aws", metadata.url), "someone-else.example")
    assert refused.status == 403 and "common name" in refused.error()["message"]
    assert env.counts()["used_tokens"] == 0
    assert leaf(await sign(env, token_for(env.files, "aws", metadata.url)))


async def test_disable_trust_on_first_use_allows_more_certificates_but_not_the_same_token(
    env: Env, metadata: Metadata
) -> None:
    first = token_for(env.files, "aws-multi", metadata.url)
    assert leaf(await sign(env, first))
    await asyncio.sleep(1.05)  # a token made in the same second would be the same token
    assert leaf(await sign(env, token_for(env.files, "aws-multi", metadata.url)))
    # Each token is still single use (recorded by its hash: its jti names the instance).
    replay = await sign(env, first)
    assert replay.status == 401 and "already used" in replay.error()["message"]
    assert db_row(env.files, "SELECT id FROM used_tokens WHERE id = ?", (tofu_id("aws-multi"),)) is None


async def test_disable_custom_sans_gives_exactly_the_documents_names(env: Env, metadata: Metadata) -> None:
    # A CSR naming exactly the document's names.
    cert = leaf(
        await sign(env, token_for(env.files, "aws-strict", metadata.url), INSTANCE, [DNS_NAME, PRIVATE_IP])
    )
    assert cn_of(cert) == INSTANCE and sans_of(cert) == [DNS_NAME, PRIVATE_IP]


async def test_disable_custom_sans_with_a_csr_that_names_nothing(
    env: Env, metadata: Metadata, signer: SigningCert
) -> None:
    cert = leaf(
        await sign(env, token_for(env.files, "aws-strict", metadata.url, subject=PRIVATE_IP), PRIVATE_IP, [])
    )
    assert cn_of(cert) == PRIVATE_IP
    assert sans_of(cert) == [DNS_NAME, PRIVATE_IP]
    ip = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ip.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(PRIVATE_IP)]


async def test_disable_custom_sans_refuses_other_names_and_subjects(env: Env, metadata: Metadata) -> None:
    before = env.counts()
    token = token_for(env.files, "aws-strict", metadata.url)
    for names, what in (
        ([DNS_NAME, PRIVATE_IP, "evil.example"], "DNS names"),
        ([DNS_NAME, "10.0.1.24"], "IP addresses"),
        ([DNS_NAME, PRIVATE_IP, "admin@example.com"], "email"),
        ([DNS_NAME, PRIVATE_IP, "spiffe://example/host"], "URIs"),
    ):
        reply = await sign(env, token, INSTANCE, names)
        assert reply.status == 403 and what in reply.error()["message"], (names, reply.raw)
    # The subject must be the instance's id, private IP or private DNS name.
    other = await sign(
        env, token_for(env.files, "aws-strict", metadata.url, subject="web.example"), "web.example", []
    )
    assert other.status == 401 and "disableCustomSANs" in other.error()["message"]
    assert env.counts() == before
    # ... and the instance may still get its certificate.
    assert leaf(await sign(env, token, INSTANCE, [DNS_NAME, PRIVATE_IP]))


async def test_instance_age_and_accounts(env: Env, metadata: Metadata, signer: SigningCert) -> None:
    before = env.counts()
    old = document(pending_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    metadata.service.serve(old, signer.sign(old))
    reply = await sign(env, token_for(env.files, "aws-strict", metadata.url), INSTANCE, [])
    assert reply.status == 401 and "instanceAge" in reply.error()["message"]
    # Without a pendingTime nothing says how old the instance is.
    undated = document(pendingTime=None)
    metadata.service.serve(undated, signer.sign(undated))
    reply = await sign(env, token_for(env.files, "aws-strict", metadata.url), INSTANCE, [])
    assert reply.status == 401 and "pendingTime" in reply.error()["message"]
    # An account not in `accounts`.
    stranger = document(account_id="999999999999")
    metadata.service.serve(stranger, signer.sign(stranger))
    reply = await sign(env, token_for(env.files, "aws-strict", metadata.url), INSTANCE, [])
    message = reply.error()["message"]
    assert reply.status == 401 and "accounts" in message and "999999999999" in message
    assert env.counts() == before
    # The provisioner without those rules takes the same documents.
    assert leaf(await sign(env, token_for(env.files, "aws-multi", metadata.url)))
    # The other allowed account, young enough.
    allowed = document(account_id="210987654321")
    metadata.service.serve(allowed, signer.sign(allowed))
    assert leaf(await sign(env, token_for(env.files, "aws-strict", metadata.url), INSTANCE, []))


async def test_the_token_is_steps(env: Env, metadata: Metadata) -> None:
    claims = claims_of(token_for(env.files, "aws", metadata.url))
    assert claims["iss"] == "ec2.amazonaws.com" and claims["aud"] == [f"{env.files.url}/1.0/sign#aws/aws"]
    assert claims["jti"] == tofu_id("aws") and claims["sans"] is None
    assert claims["iat"] == claims["nbf"] and claims["exp"] == claims["iat"] + 300
