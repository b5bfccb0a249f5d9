"""Client side of the OIDC provisioner: the token `plica certificate`, `plica token` and `plica ssh certificate`
send is the ID token the person's provider issues to the provisioner's client id.

Two OAuth 2.0 flows, built on authlib's request and response helpers:
* the authorization-code flow with PKCE (RFC 7636) on a loopback redirect (RFC 8252): a one-request HTTP
  server on 127.0.0.1 (`--listen` or the provisioner's `listenAddress` fix the address), the browser opened
  where one exists (Python's `webbrowser`, which honours $BROWSER) and the URL printed in any case;
* `--console`: the device authorization grant (RFC 8628): the code and the URL are printed, and the token
  endpoint is polled until the person has signed in elsewhere.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Callable
from typing import Any

import click
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response, prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE

from plica.api import ClientContext, b64url_decode, hookimpl

WELL_KNOWN = "/.well-known/openid-configuration"
DEFAULT_SCOPES = ("openid", "email")
HTTP_TIMEOUT = 30.0
LOGIN_TIMEOUT = 300.0  # how long the loopback server waits for the browser to come back


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        click.Option(
            ["--console"],
            is_flag=True,
            default=False,
            help="OIDC provisioner: sign in on another device (OAuth device authorization grant) "
            "instead of a browser on this one.",
        ),
        click.Option(
            ["--listen"],
            default=None,
            metavar="[HOST]:PORT",
            help="OIDC provisioner: the loopback address the browser is sent back to (default: the "
            "provisioner's listenAddress, else 127.0.0.1 on a free port).",
        ),
    ]


class FlowError(click.ClickException):
    """The sign-in did not give an ID token; the message says which step failed and why."""


def _json_request(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Any:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            return json.loads(e.read())
        except ValueError:
            raise FlowError(f"{url} answered HTTP {e.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise FlowError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None
    except ValueError:
        raise FlowError(f"{url} did not answer JSON") from None


def discover(endpoint: str) -> dict[str, Any]:
    url = endpoint if WELL_KNOWN in endpoint else endpoint.rstrip("/") + WELL_KNOWN
    doc = _json_request(url)
    if not isinstance(doc, dict) or not doc.get("issuer"):
        raise FlowError(f"{url} is not an OpenID discovery document")
    return doc


class Client:
    """The provisioner as /provisioners published it: client id and secret, the provider's endpoints."""

    def __init__(self, provisioner: dict[str, Any]) -> None:
        self.client_id = str(provisioner.get("clientID") or "")
        self.secret = str(provisioner.get("clientSecret") or "")
        endpoint = str(provisioner.get("configurationEndpoint") or "")
        if not self.client_id or not endpoint:
            raise click.ClickException(
                f"provisioner {provisioner.get('name')!r} publishes no clientID or configurationEndpoint"
            )
        self.config = discover(endpoint)
        self.scopes = " ".join(provisioner.get("scopes") or DEFAULT_SCOPES)
        self.auth_params = dict(p.split("=", 1) for p in provisioner.get("authParams") or [] if "=" in p)
        self.listen_address = str(provisioner.get("listenAddress") or "")

    def endpoint(self, name: str) -> str:
        url = self.config.get(name)
        if not isinstance(url, str) or not url:
            raise FlowError(f"the provider's discovery document has no {name}")
        return url

    def token_request(self, params: dict[str, str]) -> dict[str, Any]:
        """POST to the token endpoint with the client's credentials (client_secret_basic, or the client id
        alone for a public client)."""
        headers = {}
        data = dict(params)
        if self.secret:
            pair = f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self.secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            data["client_id"] = self.client_id
        answer = _json_request(self.endpoint("token_endpoint"), data, headers)
        if not isinstance(answer, dict):
            raise FlowError("the token endpoint did not answer a JSON object")
        return answer


def _id_token(answer: dict[str, Any], nonce: str | None) -> str:
    if "error" in answer:
        raise FlowError(f"the provider refused: {answer.get('error')} {answer.get('error_description', '')}")
    token = answer.get("id_token")
    if not isinstance(token, str) or token.count(".") != 2:
        raise FlowError("the provider's answer has no ID token (is the 'openid' scope allowed?)")
    if nonce is not None:
        # The CA checks the signature; the nonce ties this token to this sign-in (no injected token).
        try:
            claims = json.loads(b64url_decode(token.split(".")[1]))
        except ValueError:
            raise FlowError("the provider's ID token cannot be read") from None
        if claims.get("nonce") != nonce:
            raise FlowError("the provider's ID token is not for this sign-in (nonce mismatch)")
    return token


# ------------------------------------------------------------------ authorization code with PKCE


def _split_listen(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        return host, int(port or 0)
    except ValueError:
        raise click.UsageError(f"--listen {address!r} is not [HOST]:PORT") from None


class _Callback(http.server.BaseHTTPRequestHandler):
    result: dict[str, str]
    done: threading.Event

    def do_GET(self) -> None:
        u = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(u.query))
        if not query.get("code") and not query.get("error"):
            self.send_response(404)
            self.end_headers()
            return
        self.server.result = {"uri": "http://localhost" + self.path, **query}  # type: ignore[attr-defined]
        ok = "code" in query
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(
            b"Signed in: you may close this window.\n" if ok else b"Sign-in failed: see the terminal.\n"
        )
        self.server.done.set()  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


def authorization_code_flow(
    client: Client, listen: str | None, *, open_browser: Callable[[str], bool] = webbrowser.open
) -> str:
    host, port = _split_listen(listen or client.listen_address or "127.0.0.1:0")
    server = http.server.HTTPServer((host, port), _Callback)
    server.done = threading.Event()  # type: ignore[attr-defined]
    server.result = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        bound_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        redirect_uri = f"http://{bound_host}:{server.server_address[1]}/"
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = prepare_grant_uri(
            client.endpoint("authorization_endpoint"),
            client.client_id,
            "code",
            redirect_uri,
            scope=client.scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            **client.auth_params,
        )
        click.echo(f"Sign in at the identity provider; if no browser opens, visit:\n{url}", err=True)
        try:
            open_browser(url)
        except webbrowser.Error:
            pass
        if not server.done.wait(LOGIN_TIMEOUT):  # type: ignore[attr-defined]
            raise FlowError(f"no sign-in came back to {redirect_uri} within {LOGIN_TIMEOUT:.0f}s")
        result: dict[str, str] = server.result  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
    if "error" in result:
        raise FlowError(f"the provider refused: {result['error']} {result.get('error_description', '')}")
    try:
        params = parse_authorization_code_response(result["uri"], state=state)
    except OAuth2Error as e:
        raise FlowError(f"the provider's answer is not valid: {e.error} {e.description or ''}") from None
    answer = client.token_request(
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
    )
    return _id_token(answer, nonce)


# ------------------------------------------------------------------ device authorization grant (RFC 8628)


def device_flow(client: Client, *, sleep: Callable[[float], None] = time.sleep) -> str:
    data = {"client_id": client.client_id, "scope": client.scopes, **client.auth_params}
    if client.secret:
        data["client_secret"] = client.secret
    grant = _json_request(client.endpoint("device_authorization_endpoint"), data)
    if not isinstance(grant, dict) or "error" in grant or not grant.get("device_code"):
        why = (grant.get("error_description") or grant.get("error")) if isinstance(grant, dict) else grant
        raise FlowError(f"the provider refused the device authorization request: {why}")
    click.echo(
        f"Visit {grant.get('verification_uri')} and enter the code {grant.get('user_code')}"
        + (
            f"\n(or visit {grant['verification_uri_complete']})"
            if grant.get("verification_uri_complete")
            else ""
        ),
        err=True,
    )
    interval = float(grant.get("interval") or 5)
    deadline = time.monotonic() + float(grant.get("expires_in") or 600)
    while time.monotonic() < deadline:
        sleep(interval)
        answer = client.token_request(
            {"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": grant["device_code"]}
        )
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        return _id_token(answer, None)
    raise FlowError("the device code expired before the sign-in finished")


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    client = Client(context.provisioner)
    if context.options.get("console"):
        return device_flow(client)
    return authorization_code_flow(client, context.options.get("listen"))
