"""The CRL with several instances on one PostgreSQL database: exactly one generates at a time (the advisory
lock of `Storage.exclusive`), the one that waited sees the others' revocations and CRL number, and every
instance serves the same stored CRL; two `plica start` instances (two workers each) checked with openssl.

Needs PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` (or PLICA_TEST_POSTGRES). Works in a
database of its own (`plica_crl_<random>`), created and dropped here.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import evolve
from cryptography import x509

from plica import config as config_mod
from plica.http.server import load_material
from plica.testing import (
    CAFiles,
    free_port,
    make_ca,
    plica_cli,
    postgres_database,
    postgres_listening,
    stop,
    wait_healthy,
)
from plica.x509.crl import RECHECK, CRLService, CRLSettings

asyncpg = pytest.importorskip("asyncpg", reason="asyncpg (the `postgres` extra) is not installed")
from plica.storage.postgres import PostgresStorage  # noqa: E402

if not postgres_listening():
    pytest.skip(
        "nothing listens on PostgreSQL's port (see tests/test_storage_postgres.py)", allow_module_level=True
    )


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database("plica_crl") as url:
        yield url


def _ca(tmp: Path, database: str) -> CAFiles:
    files = make_ca(tmp)
    cfg = files.config()
    cfg["db"] = {"type": "postgresql", "dataSource": database}
    cfg["crl"] = {"enabled": True, "generateOnRevoke": True, "cacheDuration": "1h"}
    files.write_config(cfg)
    return files


async def test_concurrent_generations_are_serialised(tmp_path: Path, database: str) -> None:
    """Two engines (two instances) revoke and regenerate at once: every CRL number is used once, in order,
    and the last CRL holds every revocation."""
    files = _ca(tmp_path, database)
    cfg = config_mod.load(files.config_path)
    material = load_material(cfg, files.password)
    settings = CRLSettings.from_config(cfg)
    engines = [PostgresStorage(database) for _ in range(2)]
    for e in engines:
        await e.open()
    try:
        await engines[0].migrate([])
        services = [CRLService(material, e) for e in engines]
        for s in services:
            s.configure(settings)

        async def revoke_and_generate(i: int) -> int:
            engine = engines[i % 2]
            await engine.revoke_x509(str(1000 + i), provisioner_id="p", reason_code=1, reason="", mtls=False,
                                     token_id=None, now=int(time.time()))  # fmt: skip
            return (await services[i % 2].regenerate()).number

        numbers = await asyncio.gather(*(revoke_and_generate(i) for i in range(12)))
        assert sorted(numbers) == list(range(12))  # one generation at a time, none lost, none repeated
        conn = await asyncpg.connect(database)
        try:
            number, der = await conn.fetchrow("SELECT number, der FROM crl")
            assert await conn.fetchval("SELECT COUNT(*) FROM crl") == 1
        finally:
            await conn.close()
        assert number == 11
        crl = x509.load_der_x509_crl(der)
        assert sorted(r.serial_number for r in crl) == list(range(1000, 1012))
        assert crl.is_signature_valid(material.intermediate.public_key())  # type: ignore[arg-type]
        # Both instances serve that one, once a worker's copy is older than RECHECK.
        await asyncio.sleep(RECHECK + 0.1)
        served = [await s.current() for s in services]
        assert {c.der for c in served} == {der}
    finally:
        for e in engines:
            await e.close()


def _start(files: CAFiles, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    cmd = [sys.executable, "-m", "plica", "start", "--home", str(files.home), "--password-file",
           str(files.password_file), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=files.env())
    out.close()
    return proc


def _fetch(files: CAFiles, out: Path) -> bytes:
    r = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--max-time", "20", "--cacert", str(files.root),
         "-o", str(out), files.url + "/crl"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


@pytest.mark.slow
def test_two_instances_serve_one_crl(tmp_path: Path, database: str) -> None:
    a = _ca(tmp_path / "a", database)
    home_b = tmp_path / "b" / "ca"
    shutil.copytree(a.home, home_b)
    b = evolve(a, home=home_b, config_path=home_b / "config" / "ca.json",
               password_file=home_b / "secrets" / "password", port=free_port())  # fmt: skip
    cfg = a.config()
    cfg["address"] = f"127.0.0.1:{b.port}"
    b.write_config(cfg)
    procs = [_start(a, tmp_path / "a.log"), _start(b, tmp_path / "b.log")]
    try:
        for files, proc in zip((a, b), procs, strict=True):
            wait_healthy(files.url, files.root, proc=proc)
        # Four workers started on an empty table: one CRL was made, and all serve it.
        first = {_fetch(files, tmp_path / f"first-{i}.crl") for i, files in enumerate((a, b, a, b))}
        assert len(first) == 1
        assert (
            x509.load_der_x509_crl(first.pop())
            .extensions.get_extension_for_class(x509.CRLNumber)
            .value.crl_number
            == 0
        )

        # Issued through A, revoked through B (generateOnRevoke): A serves the new CRL within a second or two.
        crt, key = tmp_path / "leaf.crt", tmp_path / "leaf.key"
        r = plica_cli("certificate", "leaf.example", str(crt), str(key), "--provisioner", "admin",
                      "--password-file", str(a.password_file), env=a.env())  # fmt: skip
        assert r.returncode == 0, r.stderr
        serial = x509.load_pem_x509_certificates(crt.read_bytes())[0].serial_number
        r = plica_cli("revoke", str(serial), "--password-file", str(b.password_file), env=b.env())
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while True:
            served = {_fetch(files, tmp_path / f"after-{i}.crl") for i, files in enumerate((a, b, a, b))}
            if len(served) == 1:
                crl = x509.load_der_x509_crl(next(iter(served)))
                if crl.get_revoked_certificate_by_serial_number(serial) is not None:
                    break
            assert time.monotonic() < deadline, "the instances did not come to serve the same new CRL"
            time.sleep(0.3)
        path = tmp_path / "served.crl"
        path.write_bytes(next(iter(served)))
        leaf = tmp_path / "leaf-only.pem"
        leaf.write_bytes(
            crt.read_bytes().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
        )
        pem = tmp_path / "served.pem"
        subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-out", str(pem)], check=True)
        v = subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", str(a.root), "-untrusted", str(a.intermediate),
             "-CRLfile", str(pem), str(leaf)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr, v.stdout + v.stderr
    finally:
        for p in procs:
            stop(p)
    for name in ("a.log", "b.log"):
        log = (tmp_path / name).read_text(errors="replace")
        assert "Traceback" not in log, log
