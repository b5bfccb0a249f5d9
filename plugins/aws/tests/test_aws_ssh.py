"""SSH host certificates for an EC2 instance through the real server: principals with and without
disableCustomSANs, the key id, one host certificate per instance beside its X.509 certificate, no user
certificates."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.testing import Reply, db_row

from .awskit import DNS_NAME, INSTANCE, PRIVATE_IP, Env, leaf, sign, tofu_id, token_for
from .conftest import Metadata


def ssh_key() -> str:
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    return (
        pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
        .decode()
    )


async def ssh_sign(env: Env, token: str, **body: Any) -> Reply:
    return await env.api.post(
        "/1.0/ssh/sign", {"publicKey": ssh_key(), "ott": token, "certType": "host", **body}
    )


def ssh_cert(reply: Reply) -> SSHCertificate:
    assert reply.status == 201, reply.raw
    cert = serialization.load_ssh_public_identity(
        b"ssh-ed25519-cert-v01@openssh.com " + reply.json["crt"].encode()
    )
    assert isinstance(cert, SSHCertificate)
    return cert


async def test_host_certificate_with_the_requested_principals(env: Env, metadata: Metadata) -> None:
    token = token_for(env.files, "aws", metadata.url, operation="ssh-sign")
    cert = ssh_cert(await ssh_sign(env, token, keyID="web-1", principals=["web-1.example", "10.0.1.23"]))
    assert cert.type.name == "HOST"
    assert cert.valid_principals == [b"web-1.example", b"10.0.1.23"] and cert.key_id == b"web-1"
    assert db_row(env.files, "SELECT id FROM used_tokens WHERE id = ?", (tofu_id("aws", kind="ssh"),))


async def test_key_id_is_the_instance_when_the_request_names_none(env: Env, metadata: Metadata) -> None:
    token = token_for(env.files, "aws", metadata.url, operation="ssh-sign")
    cert = ssh_cert(await ssh_sign(env, token, principals=["web-1.example"]))
    assert cert.key_id == INSTANCE.encode()


async def test_principals_are_required_without_disable_custom_sans(env: Env, metadata: Metadata) -> None:
    before = env.counts()
    reply = await ssh_sign(env, token_for(env.files, "aws", metadata.url, operation="ssh-sign"))
    assert reply.status == 403 and "principals" in reply.error()["message"]
    assert env.counts() == before


async def test_disable_custom_sans_gives_the_documents_names(env: Env, metadata: Metadata) -> None:
    token = token_for(env.files, "aws-strict", metadata.url, operation="ssh-sign")
    before = env.counts()
    reply = await ssh_sign(env, token, principals=["evil.example"])
    assert reply.status == 403 and "principals" in reply.error()["message"]
    assert env.counts() == before
    cert = ssh_cert(await ssh_sign(env, token, principals=[DNS_NAME]))
    assert cert.valid_principals == [PRIVATE_IP.encode(), DNS_NAME.encode()]


async def test_one_x509_and_one_host_certificate_per_instance(env: Env, metadata: Metadata) -> None:
    assert leaf(await sign(env, token_for(env.files, "aws", metadata.url)))
    host = token_for(env.files, "aws", metadata.url, operation="ssh-sign")
    assert ssh_cert(await ssh_sign(env, host, principals=["web-1.example"]))
    again = await ssh_sign(
        env, token_for(env.files, "aws", metadata.url, operation="ssh-sign"), principals=["x"]
    )
    assert again.status == 401 and "already used" in again.error()["message"]
    assert (await sign(env, token_for(env.files, "aws", metadata.url))).status == 401


async def test_no_user_certificates(env: Env, metadata: Metadata) -> None:
    token = token_for(env.files, "aws-multi", metadata.url, operation="ssh-sign")
    before = env.counts()
    reply = await ssh_sign(env, token, certType="user", principals=["root"])
    assert reply.status == 401 and "ssh-user-cert-sign" in reply.error()["message"]
    assert env.counts() == before


async def test_ssh_needs_enable_ssh_ca(env: Env, metadata: Metadata) -> None:
    """The kernel refuses SSH for a provisioner whose claims do not enable it, before the token is read."""
    token = token_for(env.files, "aws-default", metadata.url, operation="ssh-sign")
    reply = await ssh_sign(env, token, principals=["web-1.example"])
    assert reply.status == 401 and "enableSSHCA" in reply.error()["message"]
