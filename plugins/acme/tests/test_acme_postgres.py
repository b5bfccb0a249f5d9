"""The ACME tables on PostgreSQL (what several CA instances share): the whole protocol against a CA whose
`db` is PostgreSQL, the EAB CLI on it, and nonces/EAB bindings shared by two engines (two instances).

Needs PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` (or PLICA_TEST_POSTGRES, the URL of a
database whose user may CREATE DATABASE); skipped when nothing listens there."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.api import Sealer, b64url_decode, b64url_encode, open_storage, public_jwk
from plica.testing import CAFiles, in_process_ca, postgres_database, postgres_listening
from plica_acme import eab
from plica_acme.api import ari
from plica_acme.nonces import NoncePool
from plica_acme.schema import MIGRATIONS
from plica_acme.store import EAB_PURPOSE, AcmeStore

from .acme_helpers.acme_test_ca import client, obtain, set_block
from .acme_helpers.acme_test_responders import HTTP01

asyncpg = pytest.importorskip("asyncpg", reason="asyncpg (the `postgres` extra) is not installed")


if not postgres_listening():
    pytest.skip("nothing listens at PostgreSQL's address", allow_module_level=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("plica_acme") as url:
        yield url


@pytest.fixture
def pg_ca(acme_ca: CAFiles, pg_url: str) -> CAFiles:
    cfg = acme_ca.config()
    cfg["db"] = {"type": "postgresql", "dataSource": pg_url}
    acme_ca.write_config(cfg)
    return acme_ca


def plica(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args, "--home", str(files.home)],
        capture_output=True, text=True, env=files.env(), timeout=60,
    )  # fmt: skip


async def test_protocol_on_postgresql(
    pg_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int], tmp_path: Path
) -> None:
    set_block(pg_ca, requireEAB=True, limits={"pendingOrders": 5, "ordersPerHour": 50})
    out = plica(pg_ca, "acme", "eab", "add", "acme", "pg", "--json")
    assert out.returncode == 0, out.stderr
    key = orjson.loads(out.stdout)
    async with in_process_ca(pg_ca) as authority, HTTP01(ports["http"]) as web01:
        c = client(pg_ca, session)
        await c.directory()
        r = await c.register(externalAccountBinding=c.eab(key["id"], b64url_decode(key["hmacKey"])))
        assert r.status == 201, r.body
        assert (await c.register()).status == 200  # same key, same account (ON CONFLICT path)
        nonce = await c.nonce()
        payload = {"identifiers": [{"type": "dns", "value": "pg.plica.test"}]}
        assert (await c.post(c.dir["newOrder"], payload, nonce=nonce)).status == 201
        r = await c.post(c.dir["newOrder"], payload, nonce=nonce)
        assert r.status == 400 and r.body["type"].endswith(":badNonce")
        cert_key = ec.generate_private_key(ec.SECP256R1())
        _, order, chain = await obtain(c, web01, "pg.plica.test", "127.0.0.1", key=cert_key)
        assert order["status"] == "valid"
        # Key rollover onto a key another account holds: the unique constraint answers 409.
        other = client(pg_ca, session)
        await other.directory()
        other_eab = await eab.add_key(
            AcmeStore(authority.storage, authority.sealer(EAB_PURPOSE)), "acme", "other"
        )
        r = await other.register(
            externalAccountBinding=other.eab(other_eab.id, b64url_decode(other_eab.hmac_key))
        )
        assert r.status == 201, r.body
        url = c.dir["keyChange"]
        inner = c.signed(
            url, {"account": c.kid, "oldKey": public_jwk(c.key)}, None, use_jwk=True, key=other.key
        )
        r = await c.post(url, inner)
        assert r.status == 409 and r.location == other.kid
        # Revocation, then renewal information in the past.
        der = b64url_encode(chain[0].public_bytes(serialization.Encoding.DER))
        assert (await c.post(c.dir["revokeCert"], {"certificate": der})).status == 200
        r = await c.post(c.dir["revokeCert"], {"certificate": der})
        assert r.body["type"].endswith(":alreadyRevoked")
        async with session.get(f"{c.dir['renewalInfo']}/{ari.cert_id(chain[0])}", ssl=c.ssl) as resp:
            assert resp.status == 200
        r = await c.get(f"{c.kid}/orders")
        assert len(r.body["orders"]) == 2
        counts = await AcmeStore(authority.storage).sweep(now=2**40)
        assert counts["orders"] == 2 and counts["nonces"] > 0
    listed = orjson.loads(plica(pg_ca, "acme", "eab", "list", "acme", "--json").stdout)
    assert {k["reference"] for k in listed} == {"pg", "other"} and all(k["account"] for k in listed)


async def test_two_instances_share_nonces_and_bindings(pg_url: str) -> None:
    a, b = open_storage("postgresql", pg_url), open_storage("postgresql", pg_url)
    await a.open()
    await b.open()
    try:
        await a.migrate(MIGRATIONS)
        await b.migrate(MIGRATIONS)
        sealer = Sealer(os.urandom(32))  # the two instances of one CA derive the same sealing key
        sa, sb = AcmeStore(a, sealer), AcmeStore(b, sealer)
        pa, pb = NoncePool(sa), NoncePool(sb)
        n = await pa.take()
        results = await asyncio.gather(pa.consume(n), pb.consume(n), pb.consume(n))
        assert sorted(results) == [False, False, True]
        key = await eab.add_key(sa, "acme")
        claims = await asyncio.gather(
            sa.bind_eab_key(key.id, "acc-a", 1), sb.bind_eab_key(key.id, "acc-b", 1)
        )
        assert sorted(claims) == [False, True]
    finally:
        await a.close()
        await b.close()
