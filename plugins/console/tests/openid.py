"""The OpenID provider the console's sign-in tests use: the same real `oidc-provider` server as plica-oidc's
tests (plugins/oidc/tests/provider/server.mjs, installed by .ci with `npm ci`), started here with the console
as a registered web client whose redirect URI is the test CA's `/console/sso/callback`."""

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

SERVER_DIR = Path(__file__).resolve().parents[2] / "oidc" / "tests" / "provider"
CLIENT_ID = "plica-console"
CLIENT_SECRET = "console-test-secret"
PASSWORD = "correct horse"
USERS: dict[str, dict[str, Any]] = {
    "alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice"},
    "carol": {"email": "carol@example.com", "email_verified": True, "name": "Carol"},
}


@define
class OpenIDProvider:
    tmp: Path
    ca_url: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: list[str] = field(factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenIDProvider:
        if not (SERVER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"oidc-provider is not installed: run `npm ci` in {SERVER_DIR} (.ci does)")
        key = generate("RSA")
        cfg = {
            "port": 0,
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "application_type": "web",
                    "redirect_uris": [f"{self.ca_url}/console/sso/callback"],
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                    "id_token_signed_response_alg": "RS256",
                }
            ],
            "users": USERS,
            "jwks": {"keys": [{**private_jwk(key), "kid": "console-test", "alg": "RS256", "use": "sig"}]},
        }
        path = self.tmp / "openid-provider.json"
        path.write_text(json.dumps(cfg))
        os.chmod(path, 0o600)
        self.proc = subprocess.Popen(
            [shutil.which("node") or "node", str(SERVER_DIR / "server.mjs"), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=SERVER_DIR,
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
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.stop()
        raise RuntimeError("oidc-provider did not start:\n" + "".join(self.log))

    def _drain(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            for line in self.proc.stdout:
                self.log.append(line.decode(errors="replace"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def block(self, name: str = "sso") -> dict[str, Any]:
        """The OIDC provisioner of ca.json whose client the console is."""
        return {
            "type": "OIDC",
            "name": name,
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "configurationEndpoint": f"{self.issuer}/.well-known/openid-configuration",
        }
