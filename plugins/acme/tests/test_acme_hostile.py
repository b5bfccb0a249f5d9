"""ACME inputs that used to reach the server's catch-all as a 500 (issue 17.4): new-order times out of range,
renewal-info ids and `replaces` values that are not base64url or are absurdly long, order-list cursors
beyond 64 bits, CSRs with a corrupted key algorithm or version at finalize, NUL characters anywhere.
Each is an ACME problem (4xx) now, against the real server."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.api import b64url_encode
from plica.testing import CAFiles, in_process_ca

from .acme_helpers.acme_test_ca import client, validate_http01
from .acme_helpers.acme_test_client import Acme, Resp, csr_der
from .acme_helpers.acme_test_responders import HTTP01


def malformed(r: Resp, status: int = 400, kind: str = "malformed") -> str:
    assert r.status == status, (r.status, r.body)
    assert r.body["type"] == f"urn:ietf:params:acme:error:{kind}", r.body
    assert len(r.body["detail"]) < 700, len(r.body["detail"])
    return str(r.body["detail"])


async def registered(files: CAFiles, session: aiohttp.ClientSession) -> Acme:
    c = client(files, session)
    r = await c.register()
    assert r.status == 201, r.body
    return c


@pytest.mark.parametrize(
    "times",
    [
        {"notBefore": "9999-12-31T23:59:59-23:00"},
        {"notAfter": "9999-12-31T23:59:59-23:00"},
        {"notBefore": "0001-01-01T00:00:00+14:00"},
        {"notAfter": "9999-12-31T23:59:59Z"},
    ],
)
async def test_new_order_times_out_of_range(
    acme_ca: CAFiles, session: aiohttp.ClientSession, times: dict[str, str]
) -> None:
    async with in_process_ca(acme_ca):
        c = await registered(acme_ca, session)
        assert "out of range" in malformed(await c.new_order("a.plica.test", **times))


@pytest.mark.parametrize(
    "value", ["é.é", "!!!.@@@", "AAAA." + "A" * 5000, "AAAA", "AAAA." + "_" * 40, "AAAA.AP" + "A" * 40]
)
async def test_bad_ari_ids(acme_ca: CAFiles, session: aiohttp.ClientSession, value: str) -> None:
    async with in_process_ca(acme_ca):
        c = await registered(acme_ca, session)
        r = await c.new_order("a.plica.test", replaces=value)
        malformed(r)
        async with session.get(f"{acme_ca.url}/acme/acme/renewal-info/{value}", ssl=c.ssl) as resp:
            body: Any = await resp.json(content_type=None)
            assert resp.status == 400, body
            assert body["type"].endswith(":malformed") and len(body["detail"]) < 700


@pytest.mark.parametrize("cursor", [str(2**64), "9" * 5000, "-1", "1e3"])
async def test_order_list_cursors(acme_ca: CAFiles, session: aiohttp.ClientSession, cursor: str) -> None:
    async with in_process_ca(acme_ca):
        c = await registered(acme_ca, session)
        assert c.kid
        r = await c.get(f"{c.kid}/orders?cursor={cursor}")
        assert "cursor" in malformed(r)


async def test_nul_characters(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(acme_ca):
        c = await registered(acme_ca, session)
        malformed(await c.new_order("a\x00.plica.test"))
        r = await c.post(
            c.dir["newAccount"],
            {"contact": ["mailto:a\x00@b"]},
            use_jwk=True,
            key=ec.generate_private_key(ec.SECP256R1()),
        )
        malformed(r)
        r = await c.get(c.dir["newOrder"].replace("new-order", "order/ab%00cd"))
        assert r.status == 400, r.body


def corrupt(der: bytes, how: str) -> bytes:
    b = bytearray(der)
    if how == "key-algorithm":
        oid = bytes.fromhex("2a8648ce3d0201")
        b[b.index(oid) + len(oid) - 1] ^= 0x55
    else:
        b[b.index(b"\x02\x01\x00") + 2] = 9
    return bytes(b)


async def test_finalize_with_corrupted_csrs(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int]
) -> None:
    async with in_process_ca(acme_ca), HTTP01(ports["http"]) as web01:
        c = await registered(acme_ca, session)
        r = await c.new_order("127.0.0.1")
        assert r.status == 201, r.body
        url, order = r.location, r.body
        await validate_http01(c, order, web01)
        assert (await c.poll(url, ("ready", "invalid"))).body["status"] == "ready"
        key = ec.generate_private_key(ec.SECP256R1())
        der = csr_der(key, ["127.0.0.1"])
        for how in ("key-algorithm", "version"):
            r = await c.post(order["finalize"], {"csr": b64url_encode(corrupt(der, how))})
            malformed(r, kind="badCSR")
        # The order is still ready: a good CSR finalizes it.
        r = await c.post(order["finalize"], {"csr": b64url_encode(der)})
        assert r.status == 200, r.body
        assert key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


async def test_provisioners_publishes_only_what_step_ca_does(
    acme_ca: CAFiles, session: aiohttp.ClientSession
) -> None:
    """Issue 17.7: the `validation` block (resolver, ports, timeouts) is the operator's, not the world's."""
    cfg = acme_ca.config()
    block = next(p for p in cfg["authority"]["provisioners"] if p["type"] == "ACME")
    block.update(forceCN=True, challenges=["http-01", "dns-01"])
    acme_ca.write_config(cfg)
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        async with session.get(f"{acme_ca.url}/provisioners", ssl=c.ssl) as r:
            body = await r.json()
    (acme,) = [p for p in body["provisioners"] if p["type"] == "ACME"]
    assert acme == {"type": "ACME", "name": "acme", "forceCN": True, "challenges": ["http-01", "dns-01"]}


async def test_eab_keys_stored_in_the_clear_by_earlier_versions_still_bind(
    acme_ca: CAFiles, session: aiohttp.ClientSession
) -> None:
    """Issue 17.6: new keys are sealed (test_eab_api.py); a row an earlier version wrote in the clear is
    still read, so existing keys keep working."""
    import secrets
    import time

    hmac_key = secrets.token_bytes(32)
    async with in_process_ca(acme_ca) as authority:
        await authority.storage.execute(
            "INSERT INTO acme_eab_keys (id, provisioner, reference, hmac_key, created) VALUES (?, ?, ?, ?, ?)",
            ("legacy-kid", "acme", "legacy", b64url_encode(hmac_key), int(time.time())),
        )
        c = client(acme_ca, session)
        await c.directory()
        r = await c.register(externalAccountBinding=c.eab("legacy-kid", hmac_key))
        assert r.status == 201, r.body
        # A sealed value does not open for another row (its id is authenticated with it).
        from plica_acme.store import EAB_PURPOSE

        sealer = authority.sealer(EAB_PURPOSE)
        sealed = sealer.seal(b"x", "one-id")
        with pytest.raises(ValueError):
            sealer.open(sealed, "another-id")
