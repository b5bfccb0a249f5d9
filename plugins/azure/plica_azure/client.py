"""Client side of the Azure provisioner: the VM's managed-identity access token from the instance metadata
service (IMDS) is the token, as step's client sends it (`GET /metadata/identity/oauth2/token` with
`Metadata: true`, the answer's `access_token`). Neither the CA's URL nor the subject is in it."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import click
import orjson

from plica.api import ClientContext, hookimpl, metadata_request, metadata_url_option

DEFAULT_METADATA_URL = "http://169.254.169.254"
TOKEN_PATH = "/metadata/identity/oauth2/token"
API_VERSION = "2018-02-01"
DEFAULT_RESOURCE = "https://management.azure.com/"
SERVICE = "the Azure instance metadata service"
HINT = "is this an Azure VM with a managed identity? (--azure-metadata-url / PLICA_AZURE_METADATA_URL)"


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [metadata_url_option("Azure", DEFAULT_METADATA_URL, what="the VM's managed-identity token")]


def token_url(base: str, resource: str) -> str:
    """The IMDS token request for `resource` (the audience the CA expects), encoded as step encodes it."""
    query = urlencode({"api-version": API_VERSION, "resource": resource}, quote_via=quote, safe="")
    return f"{base.rstrip('/')}{TOKEN_PATH}?{query}"


def fetch_token(base: str, resource: str) -> str:
    """The `access_token` of IMDS's answer; click.ClickException saying what went wrong."""
    service = f"{SERVICE} at {base}"
    body = metadata_request(token_url(base, resource), {"Metadata": "true"}, service=service, hint=HINT)
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise click.ClickException(f"{service} did not answer JSON") from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or token.count(".") != 2:
        raise click.ClickException(f"{service} answered no access_token")
    return token


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    if operation not in ("sign", "ssh-sign"):
        raise click.UsageError(
            f"an Azure provisioner's token signs certificates only (not {operation}); renew over mTLS "
            "with `plica renew`"
        )
    # The token is for the audience the CA checks: the provisioner's, as /provisioners publishes it.
    resource = context.provisioner.get("audience") or DEFAULT_RESOURCE
    base = context.options.get("azure_metadata_url") or DEFAULT_METADATA_URL
    return fetch_token(str(base), str(resource))
