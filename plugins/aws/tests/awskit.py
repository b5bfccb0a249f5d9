"""What the AWS API tests share: a running CA, tokens made by the plugin's own client from the local metadata
service, forged tokens, and a /sign request."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from typing import Any

from attrs import define
from cryptography import x509

import plica_aws
from plica.api import ClientContext, b64url_encode
from plica.testing import Api, CAFiles, Reply, csr_pem, db_counts, ec_key, make_csr, plica_cli
from plica_aws.identity import token_jws

INSTANCE = "i-0123456789abcdef0"
ACCOUNT = "123456789012"
PRIVATE_IP = "10.0.1.23"
DNS_NAME = "ip-10-0-1-23.us-west-2.compute.internal"


def tofu_id(provisioner: str, instance: str = INSTANCE, kind: str = "") -> str:
    """step-ca's trust-on-first-use id, hex(sha256("aws/<name>.<instance id>")); SSH's is its own."""
    text = f"aws/{provisioner}.{instance}"
    return hashlib.sha256((f"ssh-host/{text}" if kind == "ssh" else text).encode()).hexdigest()


@define
class Env:
    files: CAFiles
    api: Api
    authority: Any

    def counts(self) -> dict[str, int]:
        return db_counts(self.files)


def client_token(
    ca_url: str,
    published: dict[str, Any],
    metadata_url: str | None,
    subject: str = INSTANCE,
    operation: str = "sign",
) -> str:
    """The token the `plica` client makes on the instance for the provisioner `published` (as /provisioners
    shows it): the plugin's client_token hook, reading the metadata service at `metadata_url`."""
    ctx = ClientContext(
        provisioner=published,
        ca_url=ca_url,
        audience=f"{ca_url}/1.0/sign",
        subject=subject,
        sans=[subject],
        options={"aws_metadata_url": metadata_url},
    )
    token = plica_aws.client_token(provisioner_type="AWS", context=ctx, operation=operation)
    assert token
    return token


def token_for(
    files: CAFiles, provisioner: str, metadata_url: str, subject: str = INSTANCE, operation: str = "sign"
) -> str:
    """`client_token` for the provisioner `provisioner` of the CA of `files`."""
    return client_token(files.url, {"type": "AWS", "name": provisioner}, metadata_url, subject, operation)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def forge(
    files: CAFiles,
    document: bytes,
    signature: bytes,
    *,
    provisioner: str = "aws",
    key: bytes | None = None,
    subject: str = INSTANCE,
    **claims: Any,
) -> str:
    """A token as step's client writes it around `document` and `signature`, HMAC-keyed with `key` (default
    the signature); `claims` override or (None) remove claims."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": "ec2.amazonaws.com",
        "sub": subject,
        "aud": [f"{files.url}/1.0/sign#aws/{provisioner}"],
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": tofu_id(provisioner),
        "amazon": {
            "document": base64.b64encode(document).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
        "sans": None,
    }
    for k, v in claims.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return token_jws(body, signature if key is None else key)


def unsigned(token: str, alg: str = "none") -> str:
    """The token's claims under another header, with no signature."""
    header = b64url_encode(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{token.split('.')[1]}."


async def sign(env: Env, token: str, cn: str | None = INSTANCE, names: list[str] | None = None) -> Reply:
    """POST /1.0/sign with a new P-256 key's CSR: common name `cn` (None: none), SANs `names` (default [cn])."""
    sans = names if names is not None else ([cn] if cn else [])
    csr = csr_pem(make_csr(ec_key(), cn, sans))
    return await env.api.post("/1.0/sign", {"csr": csr, "ott": token})


def leaf(reply: Reply) -> x509.Certificate:
    assert reply.status == 201, reply.raw
    return x509.load_pem_x509_certificate(reply.json["crt"].encode())


def plica(
    files: CAFiles, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real `plica` command against the CA of `files` (`env` added to its environment); asserts success
    unless `ok` is False."""
    r = plica_cli(*args, env={**files.env(), **(env or {})}, timeout=120)
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r
