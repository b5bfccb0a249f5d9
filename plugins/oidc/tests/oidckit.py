"""The OpenID provider the OIDC tests sign in at: the npm package `oidc-provider` (tests/provider/server.mjs,
installed by .ci with `npm ci`), run with the users, clients and keys a test gives it, on 127.0.0.1.

ID tokens for the success paths come from the provider through the real flows (plica_oidc.client, with
tests/browser.py standing in for the person at the browser); `Provider.forge` signs hand-made tokens with the
provider's own keys only for the bad-input cases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from attrs import define, field

from plica.api import generate, private_jwk
from plica.testing.tokens import jose_sign

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
NODE = shutil.which("node") or "node"
CLIENT_ID = "plica-cli"
CLIENT_SECRET = "not-really-a-secret"
ES_CLIENT_ID = "plica-cli-es"
PASSWORD = "correct horse"

USERS: dict[str, dict[str, Any]] = {
    "alice": {"email": "alice@example.com", "email_verified": True, "groups": ["staff"], "name": "Alice"},
    "bob.smith": {"email": "Bob.Smith@example.com", "email_verified": True, "groups": ["staff", "ops"]},
    "root": {"email": "root@example.com", "email_verified": True, "groups": ["staff"]},
    "mallory": {"email": "mallory@evil.test", "email_verified": True, "groups": ["staff"]},
    "eve": {"email": "eve@example.com", "email_verified": False, "groups": ["staff"]},
    "carol": {"email": "carol@example.com", "email_verified": True, "groups": ["contractors"]},
}


def client(client_id: str, alg: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "application_type": "native",
        # RFC 8252: any port of the loopback address (oidc-provider ignores the port for native clients).
        "redirect_uris": ["http://127.0.0.1/"],
        "grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": alg,
    }


@define
class SigningKey:
    kid: str
    alg: str
    key: Any

    @classmethod
    def new(cls, alg: str) -> SigningKey:
        key = generate("RSA") if alg.startswith("RS") else generate("EC")
        return cls(kid=f"{alg.lower()}-{os.urandom(4).hex()}", alg=alg, key=key)

    def jwk(self) -> dict[str, Any]:
        return {**private_jwk(self.key), "kid": self.kid, "alg": self.alg, "use": "sig"}


@define
class Provider:
    tmp: Path
    port: int = 0
    keys: list[SigningKey] = field(factory=lambda: [SigningKey.new("RS256"), SigningKey.new("ES256")])
    cache_control: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: list[str] = field(factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Provider:
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                f"oidc-provider is not installed: run `npm ci` in {PROVIDER_DIR} (.ci/system-deps.sh does)"
            )
        cfg = {
            "port": self.port,
            "clients": [client(CLIENT_ID, "RS256"), client(ES_CLIENT_ID, "ES256")],
            "users": USERS,
            "jwks": {"keys": [k.jwk() for k in self.keys]},
            "cacheControl": self.cache_control,
        }
        path = self.tmp / f"provider-{os.urandom(3).hex()}.json"
        path.write_text(json.dumps(cfg))
        os.chmod(path, 0o600)  # private keys
        self.proc = subprocess.Popen(
            [NODE, str(PROVIDER_DIR / "server.mjs"), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=PROVIDER_DIR,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            self.log.append(line)
            if line.startswith("LISTENING "):
                self.port = int(line.split()[1])
                # Keep reading its output so that it never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.stop()
        raise RuntimeError("oidc-provider did not start:\n" + "".join(self.log))

    def _drain(self) -> None:
        proc = self.proc
        if proc is not None and proc.stdout is not None:
            for line in proc.stdout:
                self.log.append(line.decode(errors="replace"))

    @property
    def jwks_fetches(self) -> int:
        """How often the JWKS was fetched since the test made this provider (every start counted)."""
        return sum(1 for line in list(self.log) if line.startswith("JWKS FETCHED"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def rotate(self) -> None:
        """New signing keys (new kids) on the same address: what a provider's key rotation looks like."""
        self.stop()
        self.keys = [SigningKey.new("RS256"), SigningKey.new("ES256")]
        self.start()

    def block(self, name: str = "sso", client_id: str = CLIENT_ID, **extra: Any) -> dict[str, Any]:
        return {
            "type": "OIDC",
            "name": name,
            "clientID": client_id,
            "clientSecret": CLIENT_SECRET,
            "configurationEndpoint": f"{self.issuer}/.well-known/openid-configuration",
            "scopes": ["openid", "email", "groups"],
            **extra,
        }

    def forge(self, claims: dict[str, Any], *, key: SigningKey | None = None, **header: Any) -> str:
        """A hand-made ID token signed with one of the provider's keys (bad-input cases only)."""
        k = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.issuer, "sub": "alice", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                "email": "alice@example.com", "email_verified": True, **claims}  # fmt: skip
        return jose_sign(k.key, {"alg": k.alg, "typ": "JWT", "kid": k.kid, **header}, body)
