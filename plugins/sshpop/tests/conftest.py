"""Fixtures for the SSHPOP tests: a real CA with SSH keys (and its default `sshpop` provisioner), SSH
certificates obtained from it through its JWK provisioner, and an HTTPS client."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from attrs import define
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.testing import CAFiles, admin_key, client_context, make_ca


@pytest.fixture
def ca(tmp_path: Path) -> CAFiles:
    files = make_ca(tmp_path, ssh=True)
    names = [p["name"] for p in files.config()["authority"]["provisioners"]]
    assert "sshpop" in names, (
        "plica init --ssh adds the default SSHPOP provisioner when the plugin is installed"
    )
    return files


def jwk_token(files: CAFiles, subject: str, audience_path: str, extra: dict[str, Any] | None = None) -> str:
    """A token of the CA's JWK provisioner, made as `plica token` makes it (its encrypted key, decrypted)."""
    block = next(p for p in files.config()["authority"]["provisioners"] if p["type"] == "JWK")
    key = admin_key(files, block["name"])
    return key.sign(key.claims(subject, files.url + audience_path, **(extra or {})))


def wire_b64(key: Any) -> str:
    return (
        key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split(b" ")[1]
        .decode()
    )


def parse_cert(b64: str) -> SSHCertificate:
    blob = base64.b64decode(b64)
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
    return serialization.load_ssh_public_identity(kind + b" " + b64.encode())  # type: ignore[return-value]


@define
class SSHIdentity:
    key: ed25519.Ed25519PrivateKey
    cert: SSHCertificate


class API:
    def __init__(self, files: CAFiles, session: aiohttp.ClientSession) -> None:
        self.files = files
        self.session = session
        self.ssl = client_context(files)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.session.post(self.files.url + path, json=body, ssl=self.ssl) as r:
            return r.status, await r.json(content_type=None)

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.files.url + path, ssl=self.ssl) as r:
            return r.status, await r.json(content_type=None)

    async def ssh_certificate(self, cert_type: str, key_id: str, principals: list[str]) -> SSHIdentity:
        """An SSH certificate from the JWK provisioner for a new Ed25519 key."""
        key = ed25519.Ed25519PrivateKey.generate()
        opts = {"certType": cert_type, "keyID": key_id, "principals": principals}
        tok = jwk_token(self.files, key_id, "/1.0/ssh/sign", {"step": {"ssh": opts}})
        status, body = await self.post(
            "/ssh/sign", {"publicKey": wire_b64(key.public_key()), "ott": tok, "certType": cert_type}
        )
        assert status == 201, body
        return SSHIdentity(key, parse_cert(body["crt"]))


@pytest.fixture
async def api() -> Any:
    sessions: list[aiohttp.ClientSession] = []

    def make(files: CAFiles) -> API:
        s = aiohttp.ClientSession()
        sessions.append(s)
        return API(files, s)

    yield make
    for s in sessions:
        await s.close()
