"""A local Azure for the tests: the tenant's login.microsoftonline.com (OpenID discovery document and JWKS) and
each VM's instance metadata service (IMDS), real aiohttp HTTP servers on 127.0.0.1, speaking the protocol as
Azure does; the tokens are RS256 JWTs shaped like Azure AD's managed-identity access tokens, signed by
joserfc with RSA keys the tests made. They are the protocol peers the CA and the client talk to, not
stand-ins for a part of Plica.

The servers run in a thread with their own event loop, so that both synchronous tests (the `plica` command
in a subprocess) and asynchronous ones (the CA in the test's event loop) can use them.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

from aiohttp import web
from attrs import define, field
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from plica.api import public_jwk
from plica.testing import free_port

T = TypeVar("T")
MANAGEMENT = "https://management.azure.com/"
TOKEN_LIFETIME = 86400  # IMDS's managed-identity tokens live about a day


def guid() -> str:
    return str(uuid.uuid4())


@define
class SigningKey:
    """One of Azure AD's token-signing keys (its JWKS publishes the public half under `kid`)."""

    private: rsa.RSAPrivateKey = field(
        factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(factory=lambda: base64.urlsafe_b64encode(secrets.token_bytes(20)).decode().rstrip("="))

    def jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.private), "kid": self.kid, "use": "sig", "x5t": self.kid}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, alg: str = "RS256") -> str:
        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        header = {"typ": "JWT", "alg": alg, "x5t": kid or self.kid, "kid": kid or self.kid}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode(header, claims, RSAKey.import_key(pem), registry=JWSRegistry(algorithms=[alg]))


@define
class VM:
    """An Azure VM with a managed identity (system-assigned, or the user-assigned identity `kind` names)."""

    name: str
    resource_group: str = "backend"
    subscription: str = field(factory=guid)
    object_id: str = field(factory=guid)
    kind: Literal["vm", "identity"] = "vm"

    @property
    def resource_id(self) -> str:
        # As xms_mirid writes it: `resourcegroups` in lower case, the provider as ARM spells it.
        provider = (
            "Microsoft.Compute/virtualMachines"
            if self.kind == "vm"
            else "Microsoft.ManagedIdentity/userAssignedIdentities"
        )
        return f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/providers/{provider}/{self.name}"


@define
class Tenant:
    """An Azure AD tenant: its id, its signing keys, and the claims its managed-identity tokens carry."""

    tid: str = field(factory=guid)
    keys: list[SigningKey] = field(factory=lambda: [SigningKey()])

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tid}/"

    def claims(
        self, vm: VM, resource: str = MANAGEMENT, *, now: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """An access token's payload as Azure AD writes it for a VM's managed identity (ver 1.0)."""
        t = int(time.time() if now is None else now)
        c: dict[str, Any] = {
            "aud": resource,
            "iss": self.issuer,
            "iat": t,
            "nbf": t,
            "exp": t + TOKEN_LIFETIME,
            "aio": secrets.token_urlsafe(40),
            "appid": vm.object_id[::-1],
            "appidacr": "2",
            "idp": self.issuer,
            "idtyp": "app",
            "oid": vm.object_id,
            "rh": secrets.token_urlsafe(30),
            "sub": vm.object_id,
            "tid": self.tid,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
            "xms_mi": vm.resource_id,
            "xms_mirid": vm.resource_id,
            "xms_tcdt": t - 86400 * 365,
        }
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def token(
        self, vm: VM, resource: str = MANAGEMENT, *, key: SigningKey | None = None, **extra: Any
    ) -> str:
        return (key or self.keys[0]).sign(self.claims(vm, resource, **extra))


class FakeAzure:
    """login.microsoftonline.com (each tenant's discovery document, and the keys of all of them under
    `/common/discovery/keys`, as Azure AD publishes them) and an IMDS per VM (each on its own port: IMDS
    answers for the VM it runs on), in a background thread."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-azure", daemon=True)
        self.runners: list[web.AppRunner] = []
        self.login_port = 0
        self.discovery_requests = 0
        self.imds_requests: list[dict[str, Any]] = []
        self.issuer_override: dict[str, str] = {}  # tid -> the issuer its discovery document names

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeAzure:
        self.thread.start()
        self.login_port = self._run(self._serve(self._login_app()))
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            for r in self.runners:
                await r.cleanup()

        self._run(cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _serve(self, app: web.Application) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners.append(runner)
        return port

    def tenant(self) -> Tenant:
        """A new tenant with a key of its own, served from now on."""
        t = Tenant()
        self.tenants[t.tid] = t
        return t

    # ------------------------------------------------------------------ login.microsoftonline.com
    @property
    def login_url(self) -> str:
        return f"http://127.0.0.1:{self.login_port}"

    def discovery_url(self, tenant: Tenant | str) -> str:
        tid = tenant if isinstance(tenant, str) else tenant.tid
        return f"{self.login_url}/{tid}/.well-known/openid-configuration"

    def _login_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/common/discovery/keys", self._jwks)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        tid = request.match_info["tenant"]
        tenant = self.tenants.get(tid)
        if tenant is None:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        base = self.login_url
        # The v1 document of a tenant, as login.microsoftonline.com serves it (trimmed to what matters).
        return web.json_response(
            {
                "token_endpoint": f"{base}/{tid}/oauth2/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "jwks_uri": f"{base}/common/discovery/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
                "scopes_supported": ["openid"],
                "issuer": self.issuer_override.get(tid, tenant.issuer),
                "authorization_endpoint": f"{base}/{tid}/oauth2/authorize",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "ver"],
                "cloud_instance_name": "microsoftonline.com",
            },
            headers={"Cache-Control": "max-age=86400, private"},
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        keys = [k.jwk() for t in self.tenants.values() for k in t.keys]
        return web.json_response({"keys": keys}, headers={"Cache-Control": "max-age=86400, private"})

    # ------------------------------------------------------------------ IMDS
    def imds(self, tenant: Tenant, vm: VM) -> str:
        """Start the metadata service of `vm` (whose identity is of `tenant`); its base URL (what
        --azure-metadata-url takes)."""
        port = self._run(self._serve(self._imds_app(tenant, vm)))
        return f"http://127.0.0.1:{port}"

    def _imds_app(self, tenant: Tenant, vm: VM) -> web.Application:
        cache: dict[str, tuple[str, int]] = {}

        async def token(request: web.Request) -> web.Response:
            seen: dict[str, Any] = {
                "vm": vm.name,
                "query": dict(request.query),
                "headers": dict(request.headers),
            }
            self.imds_requests.append(seen)
            # IMDS's own refusals, as it words them.
            if "X-Forwarded-For" in request.headers:
                return web.json_response(
                    {"error": "invalid_request", "error_description": "bad request"}, status=400
                )
            if request.headers.get("Metadata") != "true":
                return web.json_response(
                    {
                        "error": "invalid_request",
                        "error_description": "Required metadata header not specified",
                    },
                    status=400,
                )
            if request.query.get("api-version") != "2018-02-01":
                return web.json_response(
                    {"error": "invalid_request", "error_description": "Invalid API version"}, status=400
                )
            resource = request.query.get("resource")
            if not resource:
                return web.json_response(
                    {
                        "error": "invalid_request",
                        "error_description": "Required audience parameter not specified",
                    },
                    status=400,
                )
            now = int(time.time())
            cached = cache.get(resource)
            # One token per resource, handed out again until it is about to expire, as IMDS caches it.
            if cached is None or cached[1] - now < 300:
                cached = (tenant.token(vm, resource, now=now), now + TOKEN_LIFETIME)
                cache[resource] = cached
            access, expires_on = cached
            seen["token"] = access
            # The numbers are strings in this JSON, as IMDS writes them.
            return web.json_response(
                {
                    "access_token": access,
                    "client_id": vm.object_id[::-1],
                    "expires_in": str(expires_on - now),
                    "expires_on": str(expires_on),
                    "ext_expires_in": str(expires_on - now),
                    "not_before": str(expires_on - TOKEN_LIFETIME),
                    "resource": resource,
                    "token_type": "Bearer",
                }
            )

        app = web.Application()
        app.router.add_get("/metadata/identity/oauth2/token", token)
        return app
