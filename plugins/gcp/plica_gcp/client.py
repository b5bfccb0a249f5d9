"""Client side of the GCP provisioner: the token is the instance identity token the metadata server mints
for the CA's audience, asked for exactly as step's client asks (docs/reference/cloud-iid.md, GCP):

    GET /computeMetadata/v1/instance/service-accounts/default/identity
        ?audience=<ca>/1.0/sign%23gcp/<name>&format=full&licenses=FALSE
    Metadata-Flavor: Google
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import click

from plica.api import ClientContext, hookimpl, metadata_request, metadata_url_option

DEFAULT_METADATA_URL = "http://metadata.google.internal"
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
# The operations a GCP token serves: step's client sends the identity token for these two.
OPERATIONS = ("sign", "ssh-sign")


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [metadata_url_option("GCP", DEFAULT_METADATA_URL, what="the instance identity token")]


def sign_audience(ca_url: str, name: str) -> str:
    """step's generateSignAudience: the CA's /1.0/sign with the provisioner's fragment, for every operation."""
    u = urlsplit(ca_url)
    return f"{u.scheme}://{u.netloc}/1.0/sign#gcp/{name}"


def identity_url(metadata_url: str, audience: str) -> str:
    query = urlencode({"audience": audience, "format": "full", "licenses": "FALSE"})
    return f"{metadata_url.rstrip('/')}{IDENTITY_PATH}?{query}"


def fetch_identity_token(metadata_url: str, audience: str) -> str:
    """The metadata server's identity token for `audience`; ClickException saying why there is none."""
    body = metadata_request(
        identity_url(metadata_url, audience),
        {"Metadata-Flavor": "Google"},
        service=f"the metadata server {metadata_url}",
        hint="is this a Compute Engine VM? (--gcp-metadata-url, PLICA_GCP_METADATA_URL)",
    )
    token = body.decode(errors="replace").strip()
    if token.count(".") != 2:
        raise click.ClickException(f"the metadata server {metadata_url} did not answer an identity token")
    return token


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    if operation not in OPERATIONS:
        raise click.UsageError(
            f"a GCP provisioner's token serves certificates and SSH host certificates, not {operation!r}"
        )
    name = str(context.provisioner.get("name", ""))
    metadata_url = context.options.get("gcp_metadata_url") or DEFAULT_METADATA_URL
    return fetch_identity_token(metadata_url, sign_audience(context.ca_url, name))
