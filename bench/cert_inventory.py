"""The certificate inventory at scale: `plica certificate list --expiring-before 30d --json` on a CA
holding 100,000 certificates.

    python bench/cert_inventory.py [--count 100000] [--days 365]

Builds a real CA in a temp dir with `enableAdmin`, fills its SQLite database with COUNT real X.509
certificates signed by the CA's intermediate (distinct names and serials; expiries spread evenly over
the next DAYS days, a tenth of them already expired and a hundredth revoked), starts `plica start`, gets
an admin certificate for super admin `step`, and times:

* the whole command, `plica certificate list --expiring-before 30d --json --admin-cert ...` (a new
  Python process: start-up, the admin token, every page, the JSON on stdout);
* the command's CPU time (what the wall time is on an idle machine, less the CA's share);
* the API request alone, `GET /admin/certificates?expiringBefore=...&limit=10000` pages, from here.

It checks that the command listed exactly the certificates the database says are valid and expire within
30 days, and prints both times. Exits 1 when the lists differ or the command took a second or more.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plica.admin.client import AdminClient, AdminCredentials
from plica.storage.names import x509_column, x509_names
from plica.testing import ca_process, make_ca

DAY = 86400


def fill(db: Path, files: object, count: int, days: int) -> None:
    # The intermediate's key file itself: the CA signs through a key manager, this fill signs in bulk.
    cfg = orjson.loads(files.config_path.read_bytes())  # type: ignore[attr-defined]
    key_path = Path(cfg["key"]) if Path(cfg["key"]).is_absolute() else files.home / cfg["key"]  # type: ignore[attr-defined]
    signer = serialization.load_pem_private_key(key_path.read_bytes(), files.password)  # type: ignore[attr-defined]
    issuer = x509.load_pem_x509_certificate(files.intermediate.read_bytes()).subject  # type: ignore[attr-defined]
    leaf_key = ec.generate_private_key(ec.SECP256R1()).public_key()  # one key: the names differ
    now = int(time.time())
    rng = random.Random(7)
    rows, revoked = [], []
    started = time.monotonic()
    for i in range(count):
        serial = x509.random_serial_number()
        not_after = now - DAY * days // 10 + (i * DAY * days * 11 // 10) // count
        name = f"host{i}.bench.example"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(leaf_key)
            .serial_number(serial)
            .not_valid_before(dt.datetime.fromtimestamp(not_after - 90 * DAY, dt.UTC))
            .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.UTC))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
            .sign(signer, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        names = x509_column(*x509_names(cert))
        rows.append(
            (str(serial), der, "admin-id", "admin", "JWK", not_after, not_after - 90 * DAY, None, names)
        )
        if rng.random() < 0.01:
            revoked.append((str(serial), "admin-id", 1, "bench", now, None, False))
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT INTO x509_certs (serial, der, provisioner_id, provisioner_name, provisioner_type, not_after,"
            " issued_at, token_id, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.executemany(
            "INSERT INTO revoked_x509_certs (serial, provisioner_id, reason_code, reason, revoked_at, token_id,"
            " mtls) VALUES (?, ?, ?, ?, ?, ?, ?)",
            revoked,
        )
    con.close()
    print(f"filled {count} certificates ({len(revoked)} revoked) in {time.monotonic() - started:.1f} s")


def expected(db: Path, before: int) -> set[str]:
    con = sqlite3.connect(db)
    now = int(time.time())
    rows = con.execute(
        "SELECT serial FROM x509_certs c WHERE not_after > ? AND not_after < ?", (now, before)
    ).fetchall()
    con.close()
    return {r[0] for r in rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=365)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_ca(Path(tmp))
        files.update_config(enableAdmin=True)
        db = files.home / "db" / "plica.db"
        with ca_process(files):  # creates and migrates the database
            pass
        fill(db, files, args.count, args.days)
        with ca_process(files):
            env = files.env()
            crt, key = Path(tmp) / "step.crt", Path(tmp) / "step.key"
            r = subprocess.run(
                [sys.executable, "-m", "plica", "certificate", "step", str(crt), str(key), "--provisioner", "admin",
                 "--password-file", str(files.password_file)],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            if r.returncode:
                print(r.stdout, r.stderr)
                return 1
            cmd = [sys.executable, "-m", "plica", "certificate", "list", "--expiring-before", "30d", "--json",
                   "--admin-cert", str(crt), "--admin-key", str(key)]  # fmt: skip
            started, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
            took = time.monotonic() - started
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
            want = expected(db, int(time.time()) + 30 * DAY)
            if r.returncode:
                print(r.stdout.decode(), r.stderr.decode())
                return 1
            got = {c["serial"] for c in orjson.loads(r.stdout)}
            client = AdminClient(files.url, files.root, AdminCredentials.load(crt, key))
            before = int(time.time()) + 30 * DAY
            started = time.monotonic()
            page = client.request("GET", f"/admin/certificates?expiringBefore={before}&limit=10000")
            api = time.monotonic() - started
        print(
            f"`plica certificate list --expiring-before 30d --json`: {len(got)} certificates in {took:.3f} s"
        )
        print(f"  (the command's own CPU time: {cpu:.3f} s; load average {os.getloadavg()[0]:.1f})")
        print(f"GET /admin/certificates (first page, {len(page['certificates'])} certificates): {api:.3f} s")
        ok = got == want
        print("listed exactly the matching certificates" if ok else f"MISMATCH: {len(got ^ want)} differ")
        if took >= 1.0:
            print(f"took {took:.3f} s, not under a second (os.cpu_count()={os.cpu_count()}; a busy machine?)")
        return 0 if ok and took < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
