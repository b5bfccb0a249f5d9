"""The Google side of the GCP tests: a Compute Engine metadata server and Google's JWKS endpoint, both real
aiohttp servers on 127.0.0.1 (in a thread of their own, so that the CA and the `plica` client, in this
process or in others, talk to them while a test waits), with an RSA signing key the test made.

The metadata server answers as GCE's does (docs/reference/cloud-iid.md, GCP): `GET
/computeMetadata/v1/instance/service-accounts/default/identity?audience=...&format=full&licenses=FALSE`
needs `Metadata-Flavor: Google` and returns an RS256 JWT (signed with joserfc, not with the CA's JOSE code)
whose claims describe `vm`; the JWKS endpoint serves the public half of `keys` as Google serves
https://www.googleapis.com/oauth2/v3/certs. They are the CA's and the client's protocol peers, not stand-ins
for parts of the CA.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any

from aiohttp import web
from attrs import define, field
from cryptography.hazmat.primitives.asymmetric import rsa

from plica.api import public_jwk
from plica.testing import free_port, jose_sign

GOOGLE_ISSUER = "https://accounts.google.com"
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
JWKS_PATH = "/oauth2/v3/certs"


@define
class GoogleKey:
    """One of Google's token signing keys."""

    private: rsa.RSAPrivateKey = field(factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = field(factory=lambda: secrets.token_hex(20))

    def jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.private), "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jose_sign(self.private, {"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}, claims)


@define
class VM:
    """A Compute Engine instance and the service account it runs as."""

    instance_id: str = field(factory=lambda: str(secrets.randbelow(10**19)))
    name: str = "web-1"
    project_id: str = "plica-test"
    project_number: int = 123456789012
    zone: str = "europe-west1-b"
    created: float = field(factory=lambda: time.time() - 120)
    account_id: str = "112233445566778899000"
    email: str = "vm-runner@plica-test.iam.gserviceaccount.com"

    @property
    def dns_names(self) -> list[str]:
        return [
            f"{self.name}.c.{self.project_id}.internal",
            f"{self.name}.{self.zone}.c.{self.project_id}.internal",
        ]


def identity_claims(vm: VM, audience: str, *, now: float | None = None) -> dict[str, Any]:
    """The payload of a `format=full` instance identity token (an hour's validity, as Google's)."""
    t = int(time.time() if now is None else now)
    return {
        "aud": audience,
        "azp": vm.account_id,
        "email": vm.email,
        "email_verified": True,
        "exp": t + 3600,
        "google": {
            "compute_engine": {
                "instance_creation_timestamp": int(vm.created),
                "instance_id": vm.instance_id,
                "instance_name": vm.name,
                "project_id": vm.project_id,
                "project_number": vm.project_number,
                "zone": vm.zone,
            }
        },
        "iat": t,
        "iss": GOOGLE_ISSUER,
        "sub": vm.account_id,
    }


@define
class Google:
    """The metadata server of `vm` and Google's JWKS; `signer` signs what the metadata server mints (another
    key than the published ones forges), `requests` records what the metadata server was asked."""

    keys: list[GoogleKey] = field(factory=lambda: [GoogleKey()])
    vm: VM = field(factory=VM)
    signer: GoogleKey | None = None
    requests: list[dict[str, Any]] = field(factory=list)
    jwks_port: int = field(factory=free_port)
    metadata_port: int = field(factory=free_port)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runners: list[web.AppRunner] = field(factory=list)

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.jwks_port}{JWKS_PATH}"

    @property
    def metadata_url(self) -> str:
        return f"http://127.0.0.1:{self.metadata_port}"

    def mint(self, audience: str, vm: VM | None = None, **claims: Any) -> str:
        """A token as the metadata server mints it, with `claims` changed (None removes one)."""
        body = {**identity_claims(vm or self.vm, audience), **claims}
        return (self.signer or self.keys[0]).sign({k: v for k, v in body.items() if v is not None})

    # ---------------------------------------------------------------------------- the two servers

    async def _identity(self, request: web.Request) -> web.Response:
        self.requests.append({"query": dict(request.query), "headers": dict(request.headers)})
        # GCE refuses requests without the header (and proxied ones) so that a page cannot make a browser
        # or an SSRF fetch tokens.
        if request.headers.get("Metadata-Flavor") != "Google" or "X-Forwarded-For" in request.headers:
            return web.Response(status=403, text="Missing Metadata-Flavor:Google header.")
        audience = request.query.get("audience", "")
        if not audience:
            return web.Response(status=400, text="non-empty audience parameter required")
        if request.query.get("format") != "full":
            return web.Response(status=400, text="this test's VM serves format=full only")
        return web.Response(text=self.mint(audience), content_type="text/html")

    async def _jwks(self, request: web.Request) -> web.Response:
        body = {"keys": [k.jwk() for k in self.keys]}
        return web.json_response(body, headers={"Cache-Control": "public, max-age=3600"})

    async def _serve(self, ready: threading.Event) -> None:
        for port, path, handler in (
            (self.metadata_port, IDENTITY_PATH, self._identity),
            (self.jwks_port, JWKS_PATH, self._jwks),
        ):
            app = web.Application()
            app.router.add_get(path, handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)
        ready.set()

    def start(self) -> Google:
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._serve(ready))
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-google", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the fake Google servers did not start"
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def cleanup() -> None:
            for runner in self._runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
