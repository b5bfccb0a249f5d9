"""Client side of the AWS provisioner: `plica certificate` and `plica ssh certificate --host` on an EC2 instance
read the identity document and its signature from the metadata service and wrap them in step's token."""

from __future__ import annotations

import base64
import binascii
import json
import time

import click

from plica.api import ClientContext, first_use_id, hookimpl, metadata_url_option
from plica_aws import imds
from plica_aws.identity import ISSUER, token_jws

# What the type can do with a token (step-ca's AWS has no revocation): X.509 and SSH host certificates.
OPERATIONS = ("sign", "ssh-sign")
LIFETIME = 300


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        metadata_url_option("AWS", imds.DEFAULT_URL, what="the instance identity document and its signature")
    ]


def _instance_id(document: bytes) -> str:
    try:
        doc = json.loads(document)
    except (UnicodeDecodeError, ValueError):
        doc = None
    instance_id = doc.get("instanceId") if isinstance(doc, dict) else None
    if not isinstance(instance_id, str) or not instance_id:
        raise click.ClickException("the metadata service's instance identity document has no instanceId")
    return instance_id


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    prov = context.provisioner
    name = str(prov.get("name", ""))
    if operation not in OPERATIONS:
        raise click.UsageError(
            f"provisioner {name!r} of type AWS authorizes X.509 and SSH host certificates only, not {operation}"
        )
    base = (context.options.get("aws_metadata_url") or imds.DEFAULT_URL).rstrip("/")
    versions = prov.get("imdsVersions") or imds.DEFAULT_VERSIONS
    document = imds.read(base, imds.DOCUMENT_PATH, versions)
    signature_b64 = imds.read(base, imds.SIGNATURE_PATH, versions)
    try:
        signature = base64.b64decode(b"".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise click.ClickException(
            "the metadata service's identity document signature is not base64"
        ) from None
    fragment = f"aws/{name}"
    now = int(time.time())
    # step's GetIdentityToken, claim for claim (its SSH tokens are addressed to /1.0/sign as well); the
    # document is not checked here: the CA does, with its own iidRoots.
    claims = {
        "iss": ISSUER,
        "sub": context.subject,
        "aud": [f"{context.ca_url.rstrip('/')}/1.0/sign#{fragment}"],
        "exp": now + LIFETIME,
        "nbf": now,
        "iat": now,
        "jti": first_use_id(f"{fragment}.{_instance_id(document)}", "x509"),
        "amazon": {
            "document": base64.b64encode(document).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
        "sans": None,
    }
    return token_jws(claims, signature)
