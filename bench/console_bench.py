"""Each console page's server time on a CA holding 100,000 certificates (the target: under 300 ms).

    python bench/console_bench.py [--count 100000] [--rounds 5]

Builds a real CA in a temp dir with `enableAdmin` and plica-console installed, fills its SQLite database
with COUNT real X.509 certificates signed by the CA's intermediate (bench/cert_inventory.py's `fill`:
distinct names and serials, expiries spread over a year, a tenth expired, a hundredth revoked; issued over
the last 90 days by three provisioners), starts
`plica start`, signs in to the console with the admin provisioner's password, and requests each page
ROUNDS times. It prints, per page, the median and worst server time (the `Server-Timing` header the console
sets: from the request reaching the page's handler to the response being ready) and the median time seen
by the client over loopback TLS. Exits 1 when a page's median server time is 300 ms or more.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cert_inventory import fill

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
        pages = [
            "/console/",
            "/console/certificates",
            "/console/certificates?status=valid&expiring=30",
            "/console/certificates?status=revoked",
            "/console/certificates?name=host99",
            "/console/certificates?name=host99999",
            f"/console/certificates?serial={serial}",
            f"/console/certificates/{serial}",
            "/console/provisioners",
            "/console/admins",
            "/console/plugins/acme",
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--count", type=int, default=100_000)
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
