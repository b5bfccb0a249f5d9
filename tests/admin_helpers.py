"""Calling the admin API as step's admin client does, for the admin API tests."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from cryptography import x509

from plica.admin.client import AdminCredentials, admin_token
from plica.testing.httpapi import Api
from plica.testing.tokens import ProvKey, new_jwk_provisioner


class Admin:
    """Calls with a fresh admin token (as step's client makes them) for the given credentials."""

    def __init__(self, api: Api, creds: AdminCredentials) -> None:
        self.api, self.creds = api, creds

    async def __call__(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        token = admin_token(self.creds, self.api.files.url + path.split("?", 1)[0])
        r = await self.api.call(method, path, json=body, data=raw, headers={"Authorization": token})
        return r.status, r.json


async def credentials(api: Api, prov: Any, cn: str) -> AdminCredentials:
    reply, key = await api.sign(prov, cn)
    assert reply.status == 201, reply.raw
    chain = [x509.load_pem_x509_certificate(c.encode()) for c in reply.json["certChain"]]
    return AdminCredentials(chain=chain, key=key)


def refused(status: int, body: Any, code: int, kind: str) -> str:
    assert status == code, (status, body)
    assert set(body) == {"type", "detail", "message"} and body["type"] == kind, body
    return str(body["message"])


def jwk_body(name: str, **extra: Any) -> dict[str, Any]:
    """A linkedca JWK provisioner (public key only) as step's client sends it."""
    return jwk_provisioner(name, **extra)[0]


def jwk_provisioner(name: str, **extra: Any) -> tuple[dict[str, Any], ProvKey]:
    """A linkedca JWK provisioner and the key that signs its tokens."""
    block, key = new_jwk_provisioner(name)
    pub = base64.b64encode(orjson.dumps(block["key"])).decode()
    return {"type": "JWK", "name": name, "details": {"JWK": {"publicKey": pub}}, **extra}, key
