"""Each console page's server time on a CA holding 100,000 certificates (the target: under 300 ms).

    python bench/console_bench.py [--count 100000] [--ssh-count 100000] [--rounds 5]

Builds a real CA in a temp dir with `enableAdmin` and plica-console installed, fills its SQLite database
with COUNT real X.509 certificates signed by the CA's intermediate (bench/cert_inventory.py's `fill`:
distinct names and serials, expiries spread over a year, a tenth expired, a hundredth revoked; issued over
the last 90 days by three provisioners), starts
`plica start`, signs in to the console with the admin provisioner's password, and requests each page
ROUNDS times. SSH_COUNT real SSH certificates (signed by the CA's SSH user and host keys, a quarter host
certificates, expiries spread over a year, a hundredth revoked, over the same three provisioners) fill the
SSH pages and the new sorts' rows. It prints, per page, the median and worst server time (the `Server-Timing` header the console
sets: from the request reaching the page's handler to the response being ready) and the median time seen
by the client over loopback TLS. Exits 1 when a page's median server time is 300 ms or more.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cert_inventory import fill

from plica.storage.names import joined
from plica.testing import ca_process, make_ca

TARGET_MS = 300.0
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


async def measure(url: str, root: Path, password: str, rounds: int) -> list[tuple[str, float, float, float]]:
    ctx = ssl.create_default_context(cafile=str(root))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(url + "/console/signin", ssl=ctx) as r:
            csrf = CSRF.search(await r.text()).group(1)  # type: ignore[union-attr]
        form = {"csrf": csrf, "subject": "step", "password": password, "provisioner": "admin"}
        async with s.post(url + "/console/signin/password", data=form, ssl=ctx) as r:
            assert r.status == 200, await r.text()
        async with s.get(url + "/console/certificates?status=revoked", ssl=ctx) as r:
            serial = re.search(r'/console/certificates/(\d+)"', await r.text()).group(1)  # type: ignore[union-attr]
        async with s.get(url + "/console/ssh?status=revoked", ssl=ctx) as r:
            found = re.search(r'/console/ssh/(\d+)"', await r.text())
        ssh_pages = []
        if found:
            ssh_pages = [
                "/console/ssh",
                "/console/ssh?sort=name",
                "/console/ssh?sort=issued&order=desc",
                "/console/ssh?sort=provisioner",
                "/console/ssh?sort=status&order=desc",
                "/console/ssh?type=host",
                "/console/ssh?status=revoked",
                "/console/ssh?name=user99",
                "/console/ssh?name=user99999",
                f"/console/ssh/{found.group(1)}",
            ]
        pages = [
            "/console/",
            "/console/certificates",
            "/console/certificates?status=valid&expiring=30",
            "/console/certificates?status=revoked",
            "/console/certificates?sort=name",
            "/console/certificates?sort=issued&order=desc",
            "/console/certificates?sort=provisioner",
            "/console/certificates?sort=status&order=desc",
            "/console/certificates?name=host99",
            "/console/certificates?name=host99999",
            f"/console/certificates?serial={serial}",
            f"/console/certificates/{serial}",
            "/console/provisioners",
            "/console/admins",
            "/console/plugins/acme",
            *ssh_pages,
        ]
        out = []
        for page in pages:
            server, client = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                async with s.get(url + page, ssl=ctx, allow_redirects=False) as r:
                    await r.read()
                    assert r.status in (200, 303), (page, r.status)
                    timing = r.headers.get("Server-Timing", "app;dur=nan")
                client.append((time.perf_counter() - started) * 1000)
                server.append(float(timing.split("dur=")[1]))
            out.append((page, statistics.median(server), max(server), statistics.median(client)))
        return out


def spread_issuance(db: Path) -> None:
    """`fill` dates each certificate 90 days before its expiry, in the future for most; a CA's issuance is
    in the past: spread it over the last 90 days, and over three provisioners, as a busy CA's would be."""
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE x509_certs SET issued_at = ? - (not_after % ?)", (int(time.time()), 90 * 86400))
        con.execute("UPDATE x509_certs SET provisioner_name = 'acme' WHERE not_after % 3 = 1")
        con.execute("UPDATE x509_certs SET provisioner_name = 'sso' WHERE not_after % 3 = 2")
    con.close()


def fill_ssh(db: Path, files: object, count: int, days: int = 365) -> None:
    """COUNT SSH certificates signed by the CA's own SSH keys, stored as issuance stores them (the
    OpenSSH line, the key id and principals as the names column)."""
    cfg = orjson.loads(files.config_path.read_bytes())  # type: ignore[attr-defined]
    home: Path = files.home  # type: ignore[attr-defined]

    def signer(key: str) -> object:
        path = Path(key) if Path(key).is_absolute() else home / key
        return serialization.load_pem_private_key(path.read_bytes(), files.password)  # type: ignore[attr-defined]

    user_ca, host_ca = signer(cfg["ssh"]["userKey"]), signer(cfg["ssh"]["hostKey"])
    subject_key = ed25519.Ed25519PrivateKey.generate().public_key()  # one key: the names differ
    now = int(time.time())
    rng = random.Random(11)
    provs = ("admin", "acme", "sso")
    rows, revoked = [], []
    started = time.monotonic()
    for i in range(count):
        host = i % 4 == 0
        valid_before = now - 86400 * days // 10 + (i * 86400 * days * 11 // 10) // count
        key_id = f"host{i}.bench.example" if host else f"user{i}"
        principals = [key_id, f"h{i}"] if host else [key_id, "ops"]
        serial = rng.getrandbits(63)
        cert = (
            serialization.SSHCertificateBuilder()
            .public_key(subject_key)
            .serial(serial)
            .type(serialization.SSHCertificateType.HOST if host else serialization.SSHCertificateType.USER)
            .key_id(key_id.encode())
            .valid_principals([p.encode() for p in principals])
            .valid_after(valid_before - 7 * 86400)
            .valid_before(valid_before)
            .sign(host_ca if host else user_ca)  # type: ignore[arg-type]
        )
        prov = provs[i % 3]
        rows.append(
            (str(serial), cert.public_bytes(), "host" if host else "user", key_id, prov + "-id", prov, "JWK",
             valid_before, now - (valid_before % (90 * 86400)), None, joined([key_id, *principals]))
        )  # fmt: skip
        if rng.random() < 0.01:
            revoked.append((str(serial), prov + "-id", 1, "bench", now, None))
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT INTO ssh_certs (serial, cert, cert_type, key_id, provisioner_id, provisioner_name,"
            " provisioner_type, valid_before, issued_at, token_id, names) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        con.executemany(
            "INSERT INTO revoked_ssh_certs (serial, provisioner_id, reason_code, reason, revoked_at, token_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            revoked,
        )
    con.close()
    print(f"filled {count} SSH certificates ({len(revoked)} revoked) in {time.monotonic() - started:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--ssh-count", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_ca(Path(tmp))
        files.update_config(enableAdmin=True)
        with ca_process(files):  # creates and migrates the database
            pass
        db = files.home / "db" / "plica.db"
        fill(db, files, args.count, 365)
        spread_issuance(db)
        if args.ssh_count:
            fill_ssh(db, files, args.ssh_count)
        with ca_process(files):
            rows = asyncio.run(measure(files.url, files.root, files.password.decode(), args.rounds))
    print(f"{'page':<52} {'server median':>14} {'server max':>11} {'client median':>14}")
    slow = []
    for page, med, worst, client in rows:
        page = page if len(page) <= 52 else page[:40] + "…" + page[-11:]
        print(f"{page:<52} {med:>11.1f} ms {worst:>8.1f} ms {client:>11.1f} ms")
        if not med < TARGET_MS:
            slow.append(page)
    if slow:
        print(f"over {TARGET_MS:.0f} ms: {', '.join(slow)}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
