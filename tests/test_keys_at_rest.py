"""Secrets at rest (issue 17.6, 17.7): key files encrypted with PBKDF2 at OWASP's 600,000 rounds (read back
by openssl), files of the old 2,048 rounds still readable, and the SQLite database with its WAL and SHM
0600 — also a database an older version created 0644."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from plica import keys
from plica.initca import InitOptions, init_ca
from plica.storage.sqlite import SQLiteStorage
from plica.testing import PASSWORD, ec_key, get_plugins


def pbkdf2_rounds(pem: Path) -> int:
    out = subprocess.run(
        ["openssl", "asn1parse", "-in", str(pem)], capture_output=True, text=True, check=True
    )
    assert ":PBES2" in out.stdout and ":PBKDF2" in out.stdout and ":hmacWithSHA256" in out.stdout, out.stdout
    m = re.search(r"prim: INTEGER\s+:([0-9A-F]+)", out.stdout)
    assert m, out.stdout
    return int(m.group(1), 16)


def test_init_writes_keys_with_owasp_rounds_that_openssl_reads(tmp_path: Path) -> None:
    res = init_ca(InitOptions(home=tmp_path / "ca", name="T", password=PASSWORD, ssh=True), get_plugins())
    secrets_dir = res.config_path.parent.parent / "secrets"
    files = sorted(p for p in secrets_dir.iterdir() if p.name.endswith("_key"))
    assert len(files) >= 4, files  # root, intermediate, SSH user and host CA keys
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert pbkdf2_rounds(f) == 600_000
        subprocess.run(
            ["openssl", "pkey", "-in", str(f), "-passin", f"pass:{PASSWORD.decode()}", "-noout"],
            check=True,
            capture_output=True,
        )
        keys.load_key(f, PASSWORD)


def test_old_key_files_stay_readable(tmp_path: Path) -> None:
    key = ec_key()
    old = tmp_path / "old_key"
    # What earlier versions wrote: cryptography's BestAvailableEncryption (2,048 rounds).
    old.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD),
        )
    )
    assert pbkdf2_rounds(old) == 2048
    assert keys.load_key(old, PASSWORD).private_numbers() == key.private_numbers()  # type: ignore[union-attr]


def test_database_wal_and_shm_are_0600(tmp_path: Path) -> None:
    async def run(path: Path) -> None:
        s = SQLiteStorage(str(path))
        await s.open()
        try:
            await s.migrate([])
            for suffix in ("", "-wal", "-shm"):
                p = path.with_name(path.name + suffix)
                assert p.exists(), p
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
        finally:
            await s.close()

    old_umask = os.umask(0o022)
    try:
        asyncio.run(run(tmp_path / "new.db"))
        # A database an earlier version left 0644 (with its WAL and SHM) is tightened when opened.
        legacy = tmp_path / "legacy.db"
        asyncio.run(run(legacy))
        for suffix in ("", "-wal", "-shm"):
            p = legacy.with_name(legacy.name + suffix)
            if p.exists():
                os.chmod(p, 0o644)
        asyncio.run(run(legacy))
    finally:
        os.umask(old_umask)
