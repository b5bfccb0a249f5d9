"""What surrounds the protocol: External Account Binding with `plica acme eab`, abuse limits, Renewal
Information (RFC 9773), revocation, housekeeping, nonces shared through the database, resuming validation
jobs of a dead worker, the capability matrix, renewal over mTLS, and `provisioner add --type ACME`."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.api import BadRequest, ConfigError, b64url_decode, b64url_encode, open_storage
from plica.testing import (
    DEFAULT_LEAF_TEMPLATE,
    CAFiles,
    client_context,
    db_path,
    get_plugins,
    in_process_ca,
    make_ca,
)
from plica_acme.api import ari
from plica_acme.eab import new_key_id
from plica_acme.nonces import NoncePool
from plica_acme.runtime import Runtime
from plica_acme.schema import MIGRATIONS
from plica_acme.store import AcmeStore

from .acme_helpers.acme_test_ca import client, obtain, set_block, validate_http01
from .acme_helpers.acme_test_client import Acme, Resp
from .acme_helpers.acme_test_responders import HTTP01


def problem(r: Resp, kind: str, status: int) -> None:
    assert r.status == status, (r.status, r.body)
    assert r.body["type"] == f"urn:ietf:params:acme:error:{kind}", r.body


def plica(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args, "--home", str(files.home)],
        capture_output=True,
        text=True,
        env=files.env(),
        timeout=60,
    )


async def test_external_account_binding(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    set_block(acme_ca, requireEAB=True)
    out = plica(acme_ca, "acme", "eab", "add", "acme", "team-a", "--json")
    assert out.returncode == 0, out.stderr
    key = orjson.loads(out.stdout)
    assert key["reference"] == "team-a" and key["account"] == ""
    hmac_key = b64url_decode(key["hmacKey"])
    dup = plica(acme_ca, "acme", "eab", "add", "acme", "team-a")
    assert dup.returncode != 0 and "already exists" in dup.stderr
    assert plica(acme_ca, "acme", "eab", "add", "admin").returncode != 0  # not an ACME provisioner
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        d = await c.directory()
        assert d["meta"]["externalAccountRequired"] is True
        problem(await c.register(), "externalAccountRequired", 400)
        problem(await c.register(externalAccountBinding=c.eab(key["id"], b"wrong" * 7)), "unauthorized", 403)
        problem(await c.register(externalAccountBinding=c.eab("no-such-key", hmac_key)), "unauthorized", 403)
        other = client(acme_ca, session)
        await other.directory()
        # The binding must carry the account's own key.
        problem(await c.register(externalAccountBinding=other.eab(key["id"], hmac_key)), "malformed", 400)
        r = await c.register(externalAccountBinding=c.eab(key["id"], hmac_key, "HS256"))
        assert r.status == 201, r.body
        # A key binds once.
        problem(
            await other.register(externalAccountBinding=other.eab(key["id"], hmac_key)), "unauthorized", 403
        )
    listed = orjson.loads(plica(acme_ca, "acme", "eab", "list", "acme", "--json").stdout)
    assert [k["id"] for k in listed] == [key["id"]]
    assert listed[0]["account"] == c.kid.rsplit("/", 1)[1]
    assert "hmacKey" not in listed[0]
    text = plica(acme_ca, "acme", "eab", "list", "acme").stdout
    assert key["id"] in text and key["hmacKey"] not in text
    assert plica(acme_ca, "acme", "eab", "remove", "acme", key["id"]).returncode == 0
    gone = plica(acme_ca, "acme", "eab", "remove", "acme", key["id"])
    assert gone.returncode != 0 and "no EAB key" in gone.stderr
    assert orjson.loads(plica(acme_ca, "acme", "eab", "list", "acme", "--json").stdout) == []


def test_new_key_ids_are_plain_words() -> None:
    """base64url ids began with '-' one time in 64, and `plica acme eab remove` read them as options."""
    ids = {new_key_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", i) for i in ids)


async def test_remove_takes_a_key_id_starting_with_a_dash(acme_ca: CAFiles) -> None:
    """Keys made by earlier releases keep their ids; the CLI removes one that looks like an option."""
    set_block(acme_ca, requireEAB=True)
    added = plica(acme_ca, "acme", "eab", "add", "acme", "--json")
    assert added.returncode == 0, added.stderr
    old_id = "-V7Mh" + orjson.loads(added.stdout)["id"][5:]
    with sqlite3.connect(db_path(acme_ca)) as con:
        con.execute("UPDATE acme_eab_keys SET id = ?", (old_id,))
    out = plica(acme_ca, "acme", "eab", "remove", "acme", old_id)
    assert out.returncode == 0, out.stderr
    assert old_id in out.stdout
    assert orjson.loads(plica(acme_ca, "acme", "eab", "list", "acme", "--json").stdout) == []


async def test_limits(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    set_block(acme_ca, limits={"pendingOrders": 2, "ordersPerHour": 3})
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        assert (await c.new_order("l1.plica.test")).status == 201
        o2 = await c.new_order("l2.plica.test")
        assert o2.status == 201
        r = await c.new_order("l3.plica.test")
        problem(r, "rateLimited", 429)
        assert "pending" in r.body["detail"]
        assert 3500 < int(r.headers["Retry-After"]) <= 24 * 3600
        # An order that can no longer succeed frees a place; the hourly count still holds.
        (a,) = await c.authorizations(o2.body)
        assert (await c.post(a["url"], {"status": "deactivated"})).status == 200
        assert (await c.get(o2.location)).body["status"] == "invalid"
        o3 = await c.new_order("l3.plica.test")
        assert o3.status == 201
        (a,) = await c.authorizations(o3.body)
        await c.post(a["url"], {"status": "deactivated"})
        r = await c.new_order("l4.plica.test")
        problem(r, "rateLimited", 429)
        assert "last hour" in r.body["detail"]
        assert 3500 < int(r.headers["Retry-After"]) <= 3600
        # Limits are per account.
        c3 = client(acme_ca, session)
        await c3.register()
        assert (await c3.new_order("free.plica.test")).status == 201


async def test_renewal_info_replaces_and_revocation(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int], tmp_path: Path
) -> None:
    async with in_process_ca(acme_ca), HTTP01(ports["http"]) as web01:
        c = client(acme_ca, session)
        await c.register()
        key = ec.generate_private_key(ec.SECP256R1())
        _, _, chain = await obtain(c, web01, "ari.plica.test", key=key)
        leaf = chain[0]
        cid = ari.cert_id(leaf)
        aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        assert cid.split(".")[0] == b64url_encode(aki)
        ctx = client_context(acme_ca)
        info_url = f"{c.dir['renewalInfo']}/{cid}"
        async with session.get(info_url, ssl=ctx) as r:
            assert r.status == 200
            info = await r.json()
            assert int(r.headers["Retry-After"]) >= 60
        start = dt.datetime.fromisoformat(info["suggestedWindow"]["start"])
        end = dt.datetime.fromisoformat(info["suggestedWindow"]["end"])
        life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert abs((start - (leaf.not_valid_before_utc + life * 2 / 3)).total_seconds()) < 2
        assert start < end < leaf.not_valid_after_utc
        for bad, status in (
            ("nodot", 400),
            (f"{cid.split('.')[0]}.AQ", 404),
            (f"AAAA.{cid.split('.')[1]}", 404),
        ):
            async with session.get(f"{c.dir['renewalInfo']}/{bad}", ssl=ctx) as r:
                assert r.status == status
                assert (await r.json(content_type=None))["type"] == "urn:ietf:params:acme:error:malformed"
        # replaces: once, by the same account.
        r = await c.new_order("ari.plica.test", replaces=cid)
        assert r.status == 201 and r.body["replaces"] == cid
        problem(await c.new_order("ari.plica.test", replaces=cid), "alreadyReplaced", 409)
        other = client(acme_ca, session)
        await other.register()
        problem(await other.new_order("ari.plica.test", replaces=cid), "unauthorized", 403)

        # revokeCert: not by another account that holds no authorization for the name; bad reason.
        der = b64url_encode(leaf.public_bytes(serialization.Encoding.DER))
        problem(await other.post(other.dir["revokeCert"], {"certificate": der}), "unauthorized", 403)
        problem(
            await c.post(c.dir["revokeCert"], {"certificate": der, "reason": 7}), "badRevocationReason", 400
        )
        problem(await c.post(c.dir["revokeCert"], {"certificate": "AAAA"}), "malformed", 400)
        r = await c.post(c.dir["revokeCert"], {"certificate": der, "reason": 4})
        assert r.status == 200, r.body
        problem(await c.post(c.dir["revokeCert"], {"certificate": der}), "alreadyRevoked", 400)
        assert await acme_ca_revoked(acme_ca, leaf)
        async with session.get(info_url, ssl=ctx) as r:
            window = (await r.json())["suggestedWindow"]
        assert dt.datetime.fromisoformat(window["end"]) < dt.datetime.now(dt.UTC)

        # Signed by the certificate's own key (jwk), without any account.
        _, _, chain2 = await obtain(c, web01, "ari2.plica.test", key=key)
        der2 = b64url_encode(chain2[0].public_bytes(serialization.Encoding.DER))
        stranger = Acme(session, c.directory_url, ctx, key=ec.generate_private_key(ec.SECP256R1()), dir=c.dir)
        problem(
            await stranger.post(c.dir["revokeCert"], {"certificate": der2}, use_jwk=True), "unauthorized", 403
        )
        r = await stranger.post(c.dir["revokeCert"], {"certificate": der2}, use_jwk=True, key=key)
        assert r.status == 200, r.body
        # An account that proved control of every name may revoke a certificate it did not order.
        _, _, chain3 = await obtain(c, web01, "shared.plica.test")
        o = await other.new_order("shared.plica.test")
        await validate_http01(other, o.body, web01)
        await other.poll(o.location, ("ready", "invalid"))
        der3 = b64url_encode(chain3[0].public_bytes(serialization.Encoding.DER))
        assert (await other.post(other.dir["revokeCert"], {"certificate": der3})).status == 200
        # A certificate from some other CA.
        foreign = self_signed()
        der4 = b64url_encode(foreign.public_bytes(serialization.Encoding.DER))
        problem(await c.post(c.dir["revokeCert"], {"certificate": der4}), "unauthorized", 403)


async def acme_ca_revoked(files: CAFiles, cert: x509.Certificate) -> bool:
    import sqlite3

    with sqlite3.connect(files.home / "db" / "plica.db") as conn:
        row = conn.execute(
            "SELECT reason_code FROM revoked_x509_certs WHERE serial = ?", (str(cert.serial_number),)
        ).fetchone()
    return row is not None and row[0] == 4


def self_signed() -> x509.Certificate:
    k = ec.generate_private_key(ec.SECP256R1())
    n = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "foreign")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(n)
        .issuer_name(n)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(k.public_key()), critical=False)
        .sign(k, hashes.SHA256())
    )


async def test_housekeeping(acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int]) -> None:
    set_block(acme_ca, claims={"maxTLSCertDuration": "72h", "defaultTLSCertDuration": "48h"})
    async with in_process_ca(acme_ca) as authority, HTTP01(ports["http"]) as web01:
        c = client(acme_ca, session)
        await c.register()
        pending = await c.new_order("old.plica.test")
        done_url, _, chain = await obtain(c, web01, "kept.plica.test")
        storage = authority.storage
        store = AcmeStore(storage)
        count = "SELECT COUNT(*) FROM {} WHERE {} = ?"
        nonces = (await storage.fetch_one("SELECT COUNT(*) FROM acme_nonces"))[0]
        assert nonces > 0
        # Nothing has expired yet.
        assert await store.sweep() == {"nonces": 0, "authorizations": 0, "orders": 0}
        # A day and a half later: nonces and the unfinished order (with its authorization) are gone;
        # the valid order lives as long as its certificate.
        later = int(time.time()) + 36 * 3600
        counts = await store.sweep(now=later)
        assert counts["nonces"] == nonces and counts["orders"] == 1 and counts["authorizations"] == 1
        pid = pending.location.rsplit("/", 1)[1]
        assert (await storage.fetch_one(count.format("acme_orders", "id"), (pid,)))[0] == 0
        assert (await storage.fetch_one(count.format("acme_authz", "order_id"), (pid,)))[0] == 0
        did = done_url.rsplit("/", 1)[1]
        assert (await storage.fetch_one(count.format("acme_orders", "id"), (did,)))[0] == 1
        after_cert = int(chain[0].not_valid_after_utc.timestamp()) + 1
        counts = await store.sweep(now=after_cert + 3600)
        assert counts["orders"] == 1
        assert (await storage.fetch_one(count.format("acme_orders", "id"), (did,)))[0] == 0
        # An expired nonce is refused even before housekeeping removes it.
        await storage.execute("INSERT INTO acme_nonces (nonce, expires) VALUES (?, ?)", ("stale", 1))
        r = await c.post(
            c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "x.plica.test"}]}, nonce="stale"
        )
        problem(r, "badNonce", 400)


async def test_nonces_are_shared_through_the_database(acme_ca: CAFiles) -> None:
    """Two instances (two connections to one database): a nonce from one is good once on either."""
    db = str(acme_ca.home / "db" / "shared.db")
    a, b = open_storage("sqlite", db), open_storage("sqlite", db)
    await a.open()
    await b.open()
    try:
        await a.migrate(MIGRATIONS)
        pa, pb = NoncePool(AcmeStore(a)), NoncePool(AcmeStore(b))
        n = await pa.take()
        assert await pb.consume(n)
        assert not await pa.consume(n)
        assert not await pb.consume(n)
        results = await asyncio.gather(*(p.consume(m) for m in [await pb.take()] * 2 for p in (pa, pb)))
        assert sorted(results) == [False, False, False, True]
    finally:
        await a.close()
        await b.close()


async def test_validation_of_a_dead_worker_is_resumed(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int]
) -> None:
    async with in_process_ca(acme_ca) as authority, HTTP01(ports["http"]) as web01:
        c = client(acme_ca, session)
        await c.register()
        r = await c.new_order("orphan.plica.test")
        (a,) = await c.authorizations(r.body)
        ch = c.challenge(a, "http-01")
        web01.tokens[ch["token"]] = c.key_authorization(ch["token"])
        # The state a worker leaves when it dies right after accepting the challenge.
        aid = a["url"].rsplit("/", 1)[1]
        await authority.storage.execute(
            "UPDATE acme_authz SET ch_type = 'http-01', ch_status = 'processing', next_attempt = ? WHERE id = ?",
            (int(time.time()) - 600, aid),
        )
        assert (await c.get(a["url"])).body["status"] == "pending"
        # Another instance's housekeeper takes the job over once its lease has run out.
        other = Runtime(authority)
        try:
            counts = await other.housekeeping_once()
            assert counts["resumed"] == 1
            assert (await c.poll(a["url"])).body["status"] == "valid"
            assert (await other.housekeeping_once())["resumed"] == 0
        finally:
            await other.stop()


async def test_capabilities_sign_refusal_and_mtls_renewal(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int], tmp_path: Path
) -> None:
    async with in_process_ca(acme_ca) as authority, HTTP01(ports["http"]) as web01:
        ctx = client_context(acme_ca)
        async with session.get(f"{acme_ca.url}/capabilities", ssl=ctx) as r:
            caps = await r.json()
        row = next(t for t in caps["provisionerTypes"] if t["type"] == "ACME")
        assert row["capabilities"] == ["x509-sign", "x509-renew", "x509-revoke"]
        assert row["distribution"] == "plica-acme"
        idents = {i["identifier"]: i["columns"] for i in caps["identifierTypes"]}
        # docs/reference/provisioners.md, "Choosing a Provisioner"
        seed = {
            "ip-address": (False, True, True, False),
            "hardware-id": (False, False, False, True),
            "service-account": (False, False, False, False),
        }
        cols = ("ACME dns-01", "ACME http-01", "ACME tls-alpn-01", "ACME device-attest-01")
        for ident, marks in seed.items():
            assert tuple(idents[ident][col] for col in cols) == marks
        # The token flow is refused (ACME is authorized by its protocol).
        prov = authority.provisioner_by_name("acme")
        with pytest.raises(BadRequest, match="ACME client"):
            authority.hook(prov, "x509-sign")(provisioner=prov, token=None, request=None, authority=authority)
        # An ACME certificate renews over mTLS like any other (x509-renew).
        c = client(acme_ca, session)
        await c.register()
        key = ec.generate_private_key(ec.SECP256R1())
        _, _, chain = await obtain(c, web01, "renew.plica.test", key=key)
        crt, kf = tmp_path / "c.pem", tmp_path / "k.pem"
        crt.write_bytes(b"".join(x.public_bytes(serialization.Encoding.PEM) for x in chain))
        kf.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        mtls = ssl.create_default_context(cafile=str(acme_ca.root))
        mtls.load_cert_chain(crt, kf)
        async with session.post(f"{acme_ca.url}/renew", ssl=mtls) as r:
            assert r.status == 201, await r.text()
            new = x509.load_pem_x509_certificate((await r.json())["crt"].encode())
        assert new.serial_number != chain[0].serial_number
        assert new.subject == chain[0].subject


def test_capability_table_cli(acme_ca: CAFiles) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "plica", "provisioner", "capabilities"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("ACME "))
    assert line.count("✔") == 3
    assert "ACME dns-01" in out.stdout and "ACME device-attest-01" in out.stdout


async def test_provisioner_block_from_cli(
    acme_ca: CAFiles, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # The kernel asks only the plugin that registered the type.
    hook = get_plugins().type_hook("ACME", "provisioner_block_from_cli")
    assert hook is not None
    block = hook(
        provisioner_type="ACME",
        name="acme2",
        options={"force_cn": True, "require_eab": True, "challenge": ("http-01", "dns-01"), "website": "https://w",
                 "caa_identity": ("plica.test",), "acme_http_port": 8080, "acme_pending_orders": 5},
        existing=None,
    )  # fmt: skip
    assert block == {
        "type": "ACME",
        "name": "acme2",
        "forceCN": True,
        "requireEAB": True,
        "challenges": ["http-01", "dns-01"],
        "website": "https://w",
        "caaIdentities": ["plica.test"],
        "validation": {"httpPort": 8080},
        "limits": {"pendingOrders": 5},
    }
    updated = hook(
        provisioner_type="ACME",
        name="acme2",
        options={"challenge": ("tls-alpn-01",), "remove_challenge": ("dns-01",), "require_eab": False},
        existing=block,
    )
    assert updated["challenges"] == ["http-01", "tls-alpn-01"] and updated["requireEAB"] is False
    import click

    with pytest.raises(click.UsageError):
        hook(provisioner_type="ACME", name="x", options={"challenge": ("smtp-01",)}, existing=None)
    acme_ca.add_provisioner(updated)
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session, name="acme2")
        d = await c.directory()
        assert d["meta"] == {"website": "https://w", "caaIdentities": ["plica.test"]}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"challenges": ["smtp-01"]}, "challenges[0]"),
        ({"validation": {"resolver": "dns.example"}}, "validation.resolver"),
        ({"validation": {"httpPort": 0}}, "validation.httpPort"),
        ({"validation": {"retryWindow": "soon"}}, "validation.retryWindow"),
        ({"limits": {"ordersPerHour": -1}}, "limits.ordersPerHour"),
        ({"attestationRoots": "bm90IHBlbQ=="}, "attestationRoots"),
        ({"forceCN": "maybe"}, "forceCN"),
    ],
)
async def test_bad_blocks_name_the_field(acme_ca: CAFiles, fields: dict[str, Any], where: str) -> None:
    set_block(acme_ca, **fields)
    with pytest.raises(ConfigError) as e:
        async with in_process_ca(acme_ca):
            pass
    assert where in str(e.value)


async def test_plica_provisioner_add_type_acme(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    # The command of docs/reference/provisioners.md, then one with the ACME flags, then an update (as `step ca provisioner update`).
    assert plica(acme_ca, "provisioner", "add", "plain", "--type", "ACME").returncode == 0
    out = plica(
        acme_ca, "provisioner", "add", "acme-cli", "--type", "ACME", "--force-cn", "--require-eab",
        "--challenge", "http-01", "--challenge", "dns-01", "--terms-of-service", "https://plica.test/tos",
        "--acme-pending-orders", "10",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = plica(
        acme_ca, "provisioner", "update", "acme-cli", "--remove-challenge", "dns-01", "--no-require-eab"
    )
    assert out.returncode == 0, out.stderr
    bad = plica(acme_ca, "provisioner", "add", "x", "--type", "ACME", "--challenge", "smtp-01")
    assert bad.returncode != 0 and "unknown challenge" in bad.stderr
    blocks = {p["name"]: p for p in acme_ca.config()["authority"]["provisioners"]}
    assert blocks["plain"] == {"type": "ACME", "name": "plain"}
    assert blocks["acme-cli"] == {
        "type": "ACME",
        "name": "acme-cli",
        "forceCN": True,
        "requireEAB": False,
        "challenges": ["http-01"],
        "termsOfService": "https://plica.test/tos",
        "limits": {"pendingOrders": 10},
    }
    async with in_process_ca(acme_ca):
        d = await client(acme_ca, session, name="acme-cli").directory()
        assert d["meta"] == {"termsOfService": "https://plica.test/tos"}
        c = client(acme_ca, session, name="plain")
        await c.register()
        (a,) = await c.authorizations((await c.new_order("p.plica.test")).body)
        assert [ch["type"] for ch in a["challenges"]] == ["http-01", "dns-01", "tls-alpn-01"]


async def test_readme_blocks_load(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    """Every ca.json block in the README loads, and its directory answers (the example of docs/reference/provisioners.md included)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [orjson.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    assert len(blocks) >= 2 and blocks[0]["name"] == "acme"
    for i, block in enumerate(blocks):
        files = make_ca(tmp_path / str(i))
        tpl = files.home / "templates" / "certs" / "x509" / "default.tpl"
        tpl.parent.mkdir(parents=True)
        tpl.write_text(DEFAULT_LEAF_TEMPLATE)
        files.add_provisioner(block)
        async with in_process_ca(files):
            d = await client(files, session, name=block["name"]).directory()
            assert d["newOrder"].endswith(f"/acme/{block['name']}/new-order")
