"""Client side of the Azure provisioner: the VM's managed-identity access token from the instance metadata
service (IMDS) is the token, as step's client sends it (`GET /metadata/identity/oauth2/token` with
`Metadata: true`, the answer's `access_token`). Neither the CA's URL nor the subject is in it."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import click
import orjson

from plica.api import ClientContext, hookimpl

DEFAULT_METADATA_URL = "http://169.254.169.254"
TOKEN_PATH = "/metadata/identity/oauth2/token"
API_VERSION = "2018-02-01"
DEFAULT_RESOURCE = "https://management.azure.com/"
TIMEOUT = 10.0
MAX_ANSWER = 1 << 20

# IMDS answers only requests that did not come through a proxy: whatever HTTP(S)_PROXY says, go direct.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--azure-metadata-url"],
            envvar="PLICA_AZURE_METADATA_URL",
            default=DEFAULT_METADATA_URL,
            show_default=True,
            help="Azure provisioner: the instance metadata service to get the VM's managed-identity token "
            "from (env PLICA_AZURE_METADATA_URL).",
        ),
    ]


def token_url(base: str, resource: str) -> str:
    """The IMDS token request for `resource` (the audience the CA expects), encoded as step encodes it."""
    query = urlencode({"api-version": API_VERSION, "resource": resource}, quote_via=quote, safe="")
    return f"{base.rstrip('/')}{TOKEN_PATH}?{query}"


def fetch_token(base: str, resource: str) -> str:
    """The `access_token` of IMDS's answer; click.ClickException saying what went wrong."""
    url = token_url(base, resource)
    req = urllib.request.Request(url, headers={"Metadata": "true", "Accept": "application/json"})
    try:
        with _DIRECT.open(req, timeout=TIMEOUT) as r:
            body = r.read(MAX_ANSWER)
    except urllib.error.HTTPError as e:
        detail = e.read(2048).decode(errors="replace").strip()
        raise click.ClickException(
            f"the Azure instance metadata service at {base} refused the token request (HTTP {e.code}): "
            f"{detail or e.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise click.ClickException(
            f"cannot reach the Azure instance metadata service at {base} ({reason}): is this an Azure VM "
            "with a managed identity? (--azure-metadata-url / PLICA_AZURE_METADATA_URL)"
        ) from None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise click.ClickException(
            f"the Azure instance metadata service at {base} did not answer JSON"
        ) from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or token.count(".") != 2:
        raise click.ClickException(f"the Azure instance metadata service at {base} answered no access_token")
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
