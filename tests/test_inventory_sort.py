"""The inventories' sorts (`plica.admin.ordering`): each sort and order on SQLite and PostgreSQL, a walk page
by page with the cursor giving the same list as one page, and refused sorts and cursors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from plica.admin.certs import list_certificates
from plica.admin.errors import AdminError
from plica.admin.sshcerts import list_ssh_certificates
from plica.storage.base import Storage
from plica.storage.sqlite import SQLiteStorage
from plica.testing import postgres_database, postgres_listening
from plica.x509.issue import issued_cert

KEY = ec.generate_private_key(ec.SECP256R1())
SSH_CA = ed25519.Ed25519PrivateKey.generate()
SORTS = ("expiry", "issued", "name", "provisioner", "status")


def _cert(cn: str, days: int) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(KEY, hashes.SHA256())
    )


def _ssh(key_id: str, hours: int) -> tuple[str, bytes, int]:
    now = int(time.time())
    serial = secrets.randbits(62)
    cert = (
        serialization.SSHCertificateBuilder()
        .public_key(ed25519.Ed25519PrivateKey.generate().public_key())
        .serial(serial)
        .type(serialization.SSHCertificateType.USER)
        .key_id(key_id.encode())
        .valid_principals([key_id.encode()])
        .valid_after(now - 60)
        .valid_before(now + hours * 3600)
        .sign(SSH_CA)
    )
    return str(serial), cert.public_bytes(), now + hours * 3600


@pytest.fixture(params=["sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "sqlite":
        s: Storage = SQLiteStorage(str(tmp_path / "plica.db"))
        await s.open()
        await s.migrate([])
        yield s
        await s.close()
        return
    pytest.importorskip("asyncpg")
    if not postgres_listening():
        pytest.skip("no PostgreSQL at PLICA_TEST_POSTGRES")
    from plica.storage.postgres import PostgresStorage

    with postgres_database("plica_console2") as url:
        s = PostgresStorage(url)
        await s.open()
        await s.migrate([])
        yield s
        await s.close()


async def _walk(lister: Any, storage: Storage, query: dict[str, str]) -> list[str]:
    """Every serial, one per page, following the cursor."""
    out: list[str] = []
    cursor = ""
    while True:
        page = await lister(storage, {**query, "limit": "1", **({"cursor": cursor} if cursor else {})})
        out += [c["serial"] for c in page["certificates"]]
        cursor = page["nextCursor"]
        if not cursor:
            return out


async def test_x509_sorts(storage: Storage) -> None:
    # Stored a second apart, so the issuance order is bravo, alpha, charlie.
    spec = (("bravo.example", 10, "p2"), ("alpha.example", 30, "p3"), ("charlie.example", 20, "p1"))
    serial = {}
    for i, (cn, days, prov) in enumerate(spec):
        if i:
            await _a_second_later()
        c = _cert(cn, days)
        rec = issued_cert(c, None)
        rec = type(rec)(rec.serial, rec.der, prov, prov, "JWK", rec.not_after, rec.names)
        await storage.store_x509(rec, token_id=None)
        serial[cn.split(".")[0]] = rec.serial
    await storage.revoke_x509(
        serial["charlie"], provisioner_id="p1", reason_code=0, reason="", mtls=False, token_id=None,
        now=int(time.time()),
    )  # fmt: skip
    b, a, c = serial["bravo"], serial["alpha"], serial["charlie"]
    expected = {
        "expiry": [b, c, a],
        "issued": [b, a, c],
        "name": [a, b, c],
        "provisioner": [c, b, a],
    }
    for sort, want in expected.items():
        one = await list_certificates(storage, {"sort": sort})
        assert [x["serial"] for x in one["certificates"]] == want, sort
        down = await list_certificates(storage, {"sort": sort, "order": "desc"})
        assert [x["serial"] for x in down["certificates"]] == want[::-1], sort
    statuses = await list_certificates(storage, {"sort": "status"})
    assert [x["status"] for x in statuses["certificates"]] == ["valid", "valid", "revoked"]
    statuses = await list_certificates(storage, {"sort": "status", "order": "desc"})
    assert [x["status"] for x in statuses["certificates"]] == ["revoked", "valid", "valid"]
    for sort in SORTS:
        for order in ("asc", "desc"):
            whole = await list_certificates(storage, {"sort": sort, "order": order})
            walked = await _walk(list_certificates, storage, {"sort": sort, "order": order})
            assert walked == [x["serial"] for x in whole["certificates"]], (sort, order)


async def _a_second_later() -> None:
    import asyncio

    await asyncio.sleep(1.05)


async def test_ssh_sorts(storage: Storage) -> None:
    serial = {}
    for key_id, hours, prov in (("carol", 1, "p2"), ("alice", 3, "p1"), ("bob", 2, "p3")):
        s, line, before = _ssh(key_id, hours)
        await storage.store_ssh(serial=s, cert=line, cert_type="user", key_id=key_id, principals=[key_id],
                                provisioner_id=prov, provisioner_name=prov, provisioner_type="JWK",
                                valid_before=before, token_id=None, now=int(time.time()))  # fmt: skip
        serial[key_id] = s
    al, bo, ca = serial["alice"], serial["bob"], serial["carol"]
    for sort, want in (("expiry", [ca, bo, al]), ("name", [al, bo, ca]), ("provisioner", [al, ca, bo])):
        got = await list_ssh_certificates(storage, {"sort": sort})
        assert [x["serial"] for x in got["certificates"]] == want, sort
        got = await list_ssh_certificates(storage, {"sort": sort, "order": "desc"})
        assert [x["serial"] for x in got["certificates"]] == want[::-1], sort
        assert await _walk(list_ssh_certificates, storage, {"sort": sort}) == want, sort


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


async def test_refused_sorts_and_cursors(storage: Storage) -> None:
    await storage.store_x509(issued_cert(_cert("x.example", 5), None), token_id=None)
    await storage.store_x509(issued_cert(_cert("y.example", 6), None), token_id=None)
    name_cursor = (await list_certificates(storage, {"sort": "name", "limit": "1"}))["nextCursor"]
    assert name_cursor
    bad = [
        {"sort": "serial"},
        {"sort": "name; DROP TABLE x509_certs"},
        {"sort": "name", "order": "up"},
        {"sort": "issued", "cursor": name_cursor},  # another sort's cursor
        {"sort": "name", "cursor": "1700000000:12"},  # the expiry spelling
        {"sort": "name", "cursor": "!!not base64!!"},
        {"sort": "name", "cursor": _b64(["name", 5, "12"])},  # a number where a name belongs
        {"sort": "issued", "cursor": _b64(["issued", "x", "12"])},
        {"sort": "status", "cursor": _b64(["status", True, "12"])},
        {"sort": "name", "cursor": _b64(["name", "a", "12; --"])},
        {"sort": "name", "cursor": _b64({"sort": "name"})},
    ]
    for query in bad:
        for lister in (list_certificates, list_ssh_certificates):
            with pytest.raises(AdminError) as e:
                await lister(storage, query)
            assert e.value.status == 400, query
    # A cursor's value is data, never SQL.
    odd = await list_certificates(
        storage, {"sort": "name", "cursor": _b64(["name", "x.zzz' OR '1'='1", "1"])}
    )
    assert [c["subject"] for c in odd["certificates"]] == ["y.example"]
    assert await storage.fetch_one("SELECT COUNT(*) FROM x509_certs", ()) == (2,)
