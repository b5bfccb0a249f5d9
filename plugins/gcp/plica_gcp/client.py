"""Client side of the GCP provisioner: the token is the instance identity token the metadata server mints
for the CA's audience, asked for exactly as step's client asks (docs/reference/cloud-iid.md, GCP):

    GET /computeMetadata/v1/instance/service-accounts/default/identity
        ?audience=<ca>/1.0/sign%23gcp/<name>&format=full&licenses=FALSE
    Metadata-Flavor: Google
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode, urlsplit

import click

from plica.api import ClientContext, hookimpl

DEFAULT_METADATA_URL = "http://metadata.google.internal"
METADATA_ENV = "PLICA_GCP_METADATA_URL"
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
TIMEOUT = 10.0
MAX_TOKEN = 64 * 1024
# The operations a GCP token serves: step's client sends the identity token for these two.
OPERATIONS = ("sign", "ssh-sign")


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--gcp-metadata-url"],
            envvar=METADATA_ENV,
            default=DEFAULT_METADATA_URL,
            show_default=True,
            help=f"GCP provisioner: the metadata server that mints the instance identity token (also "
            f"{METADATA_ENV}).",
        ),
    ]


def sign_audience(ca_url: str, name: str) -> str:
    """step's generateSignAudience: the CA's /1.0/sign with the provisioner's fragment, for every operation."""
    u = urlsplit(ca_url)
    return f"{u.scheme}://{u.netloc}/1.0/sign#gcp/{name}"


def identity_url(metadata_url: str, audience: str) -> str:
    query = urlencode({"audience": audience, "format": "full", "licenses": "FALSE"})
    return f"{metadata_url.rstrip('/')}{IDENTITY_PATH}?{query}"


def fetch_identity_token(metadata_url: str, audience: str) -> str:
    """The metadata server's identity token for `audience`; ClickException saying why there is none."""
    req = urllib.request.Request(identity_url(metadata_url, audience), headers={"Metadata-Flavor": "Google"})
    # The metadata server is link-local: never through an HTTP proxy of the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=TIMEOUT) as r:
            body = r.read(MAX_TOKEN + 1)
    except urllib.error.HTTPError as e:
        detail = e.read(1024).decode(errors="replace").strip()
        raise click.ClickException(
            f"the metadata server {metadata_url} refused the identity token (HTTP {e.code}): {detail}"
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise click.ClickException(
            f"cannot reach the metadata server {metadata_url} ({reason}): is this a Compute Engine VM? "
            f"(--gcp-metadata-url, {METADATA_ENV})"
        ) from None
    token = body.decode(errors="replace").strip()
    if len(body) > MAX_TOKEN or token.count(".") != 2:
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
