"""Shortcuts for the API tests: editing the ACME block, a client for the CA, and getting a certificate."""

from __future__ import annotations

from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from plica.testing import CAFiles, client_context

from .acme_test_client import Acme
from .acme_test_dns import TestDNS
from .acme_test_responders import HTTP01


def set_block(files: CAFiles, name: str = "acme", **fields: Any) -> None:
    cfg = files.config()
    for p in cfg["authority"]["provisioners"]:
        if p.get("name") == name:
            for k, v in fields.items():
                if v is None:
                    p.pop(k, None)
                else:
                    p[k] = v
    files.write_config(cfg)


def client(files: CAFiles, session: aiohttp.ClientSession, prefix: str = "", name: str = "acme") -> Acme:
    return Acme(session, f"{files.url}{prefix}/acme/{name}/directory", client_context(files))


async def validate_http01(c: Acme, order: dict[str, Any], web01: HTTP01) -> None:
    for authz in await c.authorizations(order):
        ch = c.challenge(authz, "http-01")
        web01.tokens[ch["token"]] = c.key_authorization(ch["token"])
        r = await c.post(ch["url"], {})
        assert r.status == 200, r.body


async def obtain(
    c: Acme, web01: HTTP01, *names: str, key: Any = None, **order_fields: Any
) -> tuple[str, dict[str, Any], list[x509.Certificate]]:
    """A certificate for `names` by http-01: (order URL, final order, chain)."""
    r = await c.new_order(*names, **order_fields)
    assert r.status == 201, r.body
    url, order = r.location, r.body
    await validate_http01(c, order, web01)
    r = await c.poll(url, ("ready", "invalid"))
    assert r.body["status"] == "ready", r.body
    r = await c.finalize(order, key or ec.generate_private_key(ec.SECP256R1()), list(names))
    assert r.status == 200, r.body
    done = r.body
    r = await c.get(done["certificate"])
    assert r.status == 200, r.body
    return url, done, x509.load_pem_x509_certificates(r.raw)


def acme_block(dns: TestDNS, ports: dict[str, int], **extra: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "ACME",
        "name": "acme",
        "validation": {
            "httpPort": ports["http"],
            "tlsPort": ports["tls"],
            "resolver": f"127.0.0.1:{dns.port}",
            "timeout": "2s",
            "retryWindow": "2s",
        },
    }
    block.update(extra)
    return block
