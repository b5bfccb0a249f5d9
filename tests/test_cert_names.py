"""The names stored with each certificate (kernel-0004) and the inventory's name filter on them, on SQLite
and on a real PostgreSQL: what is stored at issuance, the backfill of rows stored before the migration, and
that the filter finds what the per-certificate parse found (case-insensitive; `%` and `_` literal)."""

from __future__ import annotations

import datetime as dt
import ipaddress
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
from plica.admin.sshcerts import list_ssh_certificates
from plica.storage.base import KERNEL_MIGRATIONS, IssuedCert, Storage
from plica.storage.sqlite import SQLiteStorage
from plica.testing import postgres_database, postgres_listening
from plica.x509.issue import issued_cert

KEY = ec.generate_private_key(ec.SECP256R1())
SSH_KEY = ed25519.Ed25519PrivateKey.generate()


def make_cert(cn: str | None, *sans: str, days: int = 30) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if sans:
        general = [
            x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() else x509.DNSName(s) for s in sans
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(KEY, hashes.SHA256())


def ssh_line(key_id: str, principals: list[str], host: bool = False) -> bytes:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    cert = (
        serialization.SSHCertificateBuilder()
        .public_key(ed25519.Ed25519PrivateKey.generate().public_key())
        .serial(secrets.randbits(63))
        .type(serialization.SSHCertificateType.HOST if host else serialization.SSHCertificateType.USER)
        .key_id(key_id.encode())
        .valid_principals([p.encode() for p in principals])
        .valid_after(now - 60)
        .valid_before(now + 3600)
        .sign(SSH_KEY)
    )
    return cert.public_bytes()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """(engine name, a function opening a storage on one fresh database of that engine)."""
    if request.param == "sqlite":
        yield "sqlite", lambda: SQLiteStorage(str(tmp_path / "plica.db"))
        return
    pytest.importorskip("asyncpg")
    if not postgres_listening():
        pytest.skip("no PostgreSQL at PLICA_TEST_POSTGRES")
    from plica.storage.postgres import PostgresStorage

    with postgres_database("plica_inventory") as url:
        yield "postgresql", lambda: PostgresStorage(url)


async def opened(engine: tuple[str, Any]) -> Storage:
    storage = engine[1]()
    await storage.open()
    await storage.migrate([])
    return storage


async def store(storage: Storage, *certs: x509.Certificate) -> list[str]:
    for c in certs:
        await storage.store_x509(issued_cert(c, None), token_id=None)
    return [str(c.serial_number) for c in certs]


async def found(storage: Storage, needle: str, **query: str) -> set[str]:
    listing = await list_certificates(storage, {"name": needle, **query})
    return {c["serial"] for c in listing["certificates"]}


async def test_names_are_stored_with_the_certificate(engine: tuple[str, Any]) -> None:
    storage = await opened(engine)
    try:
        web = make_cert("Web.Example.COM", "web.example.com", "WWW.example.com", "10.0.0.1")
        bare = make_cert(None, "only-san.example")
        await store(storage, web, bare)
        # A record made from the DER alone (not through issuance) gets the same names.
        der = make_cert("From-Der.example").public_bytes(serialization.Encoding.DER)
        from_der = x509.load_der_x509_certificate(der)
        await storage.store_x509(
            IssuedCert(str(from_der.serial_number), der, "p", "p", "JWK", 2_000_000_000), token_id=None
        )
        rows = dict(await storage.fetch_all("SELECT serial, names FROM x509_certs"))
        assert rows[str(web.serial_number)] == "web.example.com\nwww.example.com\n10.0.0.1"
        assert rows[str(bare.serial_number)] == "only-san.example"
        assert rows[str(from_der.serial_number)] == "from-der.example"
        await storage.store_ssh(serial="7", cert=ssh_line("Alice@Example", ["alice", "ROOT"]), cert_type="user",
                                key_id="Alice@Example", principals=["alice", "ROOT"], provisioner_id="p",
                                provisioner_name="p", provisioner_type="JWK", valid_before=2_000_000_000,
                                token_id=None, now=1_700_000_000)  # fmt: skip
        assert await storage.fetch_one("SELECT names FROM ssh_certs") == ("alice@example\nalice\nroot",)
        if engine[0] == "postgresql" and await storage.fetch_one(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
        ):
            indexes = await storage.fetch_all(
                "SELECT indexdef FROM pg_indexes WHERE indexname LIKE '%_names'"
            )
            assert len(indexes) == 2 and all("gin_trgm_ops" in i[0] for i in indexes), indexes
    finally:
        await storage.close()


async def test_name_filter_matches_as_the_parse_did(engine: tuple[str, Any]) -> None:
    storage = await opened(engine)
    try:
        web, pct, under, plain, split, ip = await store(
            storage,
            make_cert("Web.Example.com", "web.example.com"),
            make_cert("a%b.example"),
            make_cert("a_b.example"),
            make_cert("axb.example", days=40),
            make_cert("foo", "bar.example"),
            make_cert(None, "192.0.2.7"),
        )
        assert await found(storage, "WEB.example") == {web}
        assert await found(storage, "example") == {web, pct, under, plain, split}
        # LIKE's wildcards in a search are literal characters
        assert await found(storage, "%") == {pct}
        assert await found(storage, "_") == {under}
        assert await found(storage, "a_b") == {under}
        assert await found(storage, "a%") == {pct}
        assert await found(storage, "!") == set()
        # a match spans no two names (the stored column has them one per line)
        assert await found(storage, "o\nb") == set()
        assert await found(storage, "192.0.2") == {ip}
        assert await found(storage, "nothing-like-it") == set()
        # with other filters and a cursor, page by page, in expiry order
        assert await found(storage, "EXAMPLE", expiringBefore=str(int(time.time()) + 35 * 86400)) == {
            web,
            pct,
            under,
            split,
        }
        first = await list_certificates(storage, {"name": "b.example", "limit": "1"})
        rest = await list_certificates(
            storage, {"name": "b.example", "limit": "5", "cursor": first["nextCursor"]}
        )
        pages = [c["serial"] for c in first["certificates"] + rest["certificates"]]
        assert (
            sorted(pages) == sorted([web, pct, under, plain])
            and pages[-1] == plain
            and not rest["nextCursor"]
        )
        assert first["certificates"][0]["subject"] != "axb.example"
    finally:
        await storage.close()


async def test_ssh_name_filter(engine: tuple[str, Any]) -> None:
    storage = await opened(engine)
    try:
        for serial, key_id, principals, host in (
            ("1", "alice", ["alice", "Root"], False),
            ("2", "web1.example.com", ["web1.example.com", "web1"], True),
            ("3", "100%_sure", ["x"], False),
        ):
            await storage.store_ssh(serial=serial, cert=ssh_line(key_id, principals, host),
                                    cert_type="host" if host else "user", key_id=key_id, principals=principals,
                                    provisioner_id="p", provisioner_name="p", provisioner_type="JWK",
                                    valid_before=2_000_000_000, token_id=None, now=1_700_000_000)  # fmt: skip

        async def ssh(needle: str) -> list[str]:
            return [
                c["serial"] for c in (await list_ssh_certificates(storage, {"name": needle}))["certificates"]
            ]

        assert await ssh("ROOT") == ["1"]
        assert await ssh("web1") == ["2"]
        assert await ssh("%") == ["3"] and await ssh("_") == ["3"] and await ssh("0_s") == []
        listing = await list_ssh_certificates(storage, {"name": "root"})
        assert listing["certificates"][0]["principals"] == ["alice", "Root"]
    finally:
        await storage.close()


async def test_rows_stored_before_the_migration_are_backfilled(engine: tuple[str, Any]) -> None:
    """A database at kernel-crl-0001 with certificates in it: kernel-0004 fills in their names once."""
    storage = engine[1]()
    await storage.open()
    try:
        before = [m for m in KERNEL_MIGRATIONS if m.id != "kernel-0004"]
        assert len(before) == len(KERNEL_MIGRATIONS) - 1
        statements = [s for m in before for s in m.sql[engine[0]]]
        await storage.execute_many(
            [
                ("CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)", ()),
                *((s, ()) for s in statements),
                *(("INSERT INTO schema_migrations (id, applied_at) VALUES (?, 0)", (m.id,)) for m in before),
            ]
        )
        old = [make_cert(f"Old{i}.example", f"alt{i}.example") for i in range(5)]
        for c in old:
            await storage.execute(
                "INSERT INTO x509_certs (serial, der, provisioner_id, provisioner_name, provisioner_type,"
                " not_after, issued_at) VALUES (?, ?, 'p', 'p', 'JWK', ?, 0)",
                (
                    str(c.serial_number),
                    c.public_bytes(serialization.Encoding.DER),
                    int(c.not_valid_after_utc.timestamp()),
                ),
            )
        await storage.execute(
            "INSERT INTO ssh_certs (serial, cert, cert_type, key_id, provisioner_id, provisioner_name,"
            " provisioner_type, valid_before, issued_at) VALUES ('9', ?, 'user', 'Bob', 'p', 'p', 'JWK', ?, 0)",
            (ssh_line("Bob", ["bob", "deploy"]), 2_000_000_000),
        )
        assert await storage.migrate([]) == ["kernel-0004"]
        names = dict(await storage.fetch_all("SELECT serial, names FROM x509_certs"))
        assert names == {str(c.serial_number): f"old{i}.example\nalt{i}.example" for i, c in enumerate(old)}
        assert await storage.fetch_one("SELECT names FROM ssh_certs") == ("bob\ndeploy",)
        assert await found(storage, "ALT3") == {str(old[3].serial_number)}
    finally:
        await storage.close()
