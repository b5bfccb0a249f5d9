"""The least a CA built on Plica's libraries spends on a certificate, beside Plica and step-ca.

    python bench/sign_floor.py [--rounds 3] [--seconds 8] [--concurrency 32] [--build-dir DIR]

Issue 15 asks for twice step-ca's JWK /sign rate and 1.5 times its SSH rate on the same two cores.
bench/sidebyside.py prints what Plica's CPU per certificate would have to be for that; this measures how
low any server on the same stack can go, doing only the work no CA can skip. The floor server is aiohttp
on uvloop with Plica's TLS settings and EC engine (bench/tls_handshake.py's context), two worker processes
on SO_REUSEPORT sockets as `plica start` has, the step boundaries of `plica.stages` where Plica has them
(the requests of one event-loop turn take each step together), and two routes that do only this:

- /1.0/sign: decode the JSON body; split the token and check its ES256 signature with the provisioner's key
  (cryptography); decode its claims; decode the CSR and check its key and signature, and decode its subject
  and extensions (what Plica decodes of a CSR); encode the leaf with Plica's own encoder
  (`plica.x509.fastleaf`, the cheapest encoding at hand) and sign it with the intermediate's key; store it
  in SQLite in Plica's schema (the token through the same trigger), one transaction per event-loop turn;
  answer the leaf and chain as step-ca does.
- /1.0/ssh/sign: the token as above; decode the SSH public key (its point checked by cryptography); encode
  the user certificate with `plica.ssh.certsign`, sign it, store it; answer it.

It checks none of the token's claims (issuer, audience, times, single use beyond the table's key), nothing
of the CSR's names against the token, no policy, and writes no access log, so it is a floor: Plica does all
of that on top. The master runs WAL checkpoints every 0.25 s as Plica's workers do; the floor's CPU is its
whole process tree's. Each round runs the same wrk load (bench/sidebyside.py's: pre-made JWK tokens, each
POSTed once, keep-alive, one thread) on step-ca (when bench/stepca/build.sh can build it), Plica
(`plica start --workers 2`) and the floor, in an order that turns every round, and prints each one's rate,
p50/p99 and CPU per certificate, then the floor's and Plica's ratios to step-ca, and the CPU per
certificate at which a server would reach the target multiple of step-ca's rate (the load generator's share
taken off, as bench/sidebyside.py's last column). Run it on a quiet machine. Needs wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import os
import secrets
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sidebyside import (
    CA,
    PASSWORD,
    Material,
    budget,
    build_stepca,
    free_port,
    measure,
    plica,
    run_wrk,
    stepca,
)
from tls_handshake import contexts, server_context

TARGETS = {"sign": ("/1.0/sign", 2.0), "ssh": ("/1.0/ssh/sign", 1.5)}  # issue 15's multiples of step-ca
RATE = {"sign": 4000, "ssh": 7000}  # bodies made per second of a run: more than any of the three issues
WORKERS = 2


# ------------------------------------------------------------------------------------------ the floor server


def _b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def worker(config: Path, db: Path, sock: socket.socket, tls_dir: Path) -> None:
    """One floor worker: serves `sock` until killed."""
    import uvloop
    from aiohttp import web
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from plica.http import openssl_ec
    from plica.jose import key_from_jwk
    from plica.ssh import certsign
    from plica.stages import next_step
    from plica.testing.csrs import tls_cert
    from plica.x509.fastleaf import LeafEncoder

    openssl_ec.install()  # as each of Plica's workers does
    ctx = server_context(tls_dir)
    cfg = orjson.loads(config.read_text())
    prov = next(p for p in cfg["authority"]["provisioners"] if p["type"] == "JWK")
    token_key: Any = key_from_jwk(prov["key"])
    es256 = ec.ECDSA(hashes.SHA256())

    # An EC P-256 intermediate and SSH user CA of the floor's own, as Plica's test CAs have.
    inter_key = ec.generate_private_key(ec.SECP256R1())
    ssh_key = ec.generate_private_key(ec.SECP256R1())
    inter = tls_cert("Floor Intermediate CA", inter_key, ca=True)
    inter_pem = inter.public_bytes(serialization.Encoding.PEM).decode()
    encoder = LeafEncoder(
        inter,
        inter_key.public_key(),
        hashes.SHA256(),
        x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
    )
    key_usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    ssh_extensions = {e: b"" for e in (b"permit-X11-forwarding", b"permit-agent-forwarding",
                                       b"permit-port-forwarding", b"permit-pty", b"permit-user-rc")}  # fmt: skip

    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("busy_timeout=0", "synchronous=NORMAL", "wal_autocheckpoint=0"):
        conn.execute(f"PRAGMA {pragma}")
    pending: list[tuple[str, tuple[Any, ...], asyncio.Future[None]]] = []

    def commit() -> None:
        """This turn's rows in one transaction (Plica's group commit, without its lock-wait limits)."""
        batch = pending[:]
        pending.clear()
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:
                time.sleep(0.00005)  # the other worker's commit: ~0.1 ms
        for sql, row, _ in batch:
            conn.execute(sql, row)
        conn.execute("COMMIT")
        for _, _, fut in batch:
            fut.set_result(None)

    async def store(sql: str, row: tuple[Any, ...]) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not pending:
            loop.call_soon(commit)
        pending.append((sql, row, fut))
        await fut

    def claims(ott: str) -> dict[str, Any]:
        header, payload, sig = ott.split(".")
        raw = _b64url(sig)
        der_sig = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        token_key.verify(der_sig, f"{header}.{payload}".encode(), es256)
        orjson.loads(_b64url(header))
        return orjson.loads(_b64url(payload))  # type: ignore[no-any-return]

    async def sign(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        await next_step()
        csr = x509.load_pem_x509_csr(body["csr"].encode())
        public_key = csr.public_key()
        if not csr.is_signature_valid:
            raise web.HTTPBadRequest()
        _ = csr.subject, csr.extensions
        await next_step()
        c = claims(body["ott"])
        await next_step()
        t = dt.datetime.now(dt.UTC).replace(microsecond=0)
        tbs = encoder.tbs(
            serial=secrets.randbits(128) | 1,
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, c["sub"])]),
            public_key=public_key,
            not_before=t,
            not_after=t + dt.timedelta(hours=24),
            key_usage=key_usage,
            ext_key_usage=eku,
            san=x509.SubjectAlternativeName([x509.DNSName(n) for n in c["sans"]]),
            san_critical=False,
        )
        await next_step()
        der = encoder.signed(tbs, inter_key.sign(tbs, es256))
        cert = x509.load_der_x509_certificate(der)
        issued = int(t.timestamp())
        await store(
            "INSERT INTO x509_certs (serial, der, provisioner_id, provisioner_name, provisioner_type,"
            " not_after, issued_at, token_id, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(cert.serial_number), der, "floor", prov["name"], "JWK", issued + 86400, issued, c["jti"],
             c["sub"]),
        )  # fmt: skip
        leaf = cert.public_bytes(serialization.Encoding.PEM).decode()
        answer = {"crt": leaf, "ca": inter_pem, "certChain": [leaf, inter_pem]}
        response = web.Response(body=orjson.dumps(answer), status=201, content_type="application/json")
        await next_step()
        return response

    async def ssh_sign(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        await next_step()
        blob = base64.b64decode(body["publicKey"])
        point = blob[-65:]  # ecdsa-sha2-nistp256: name, curve, then the 65-byte point last
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        await next_step()
        c = claims(body["ott"])
        await next_step()
        now = int(time.time())
        serial = secrets.randbits(63)
        tbs = certsign.tbs(
            public_key=public_key,
            ca_public_key=ssh_key.public_key(),
            serial=serial,
            cert_type=1,
            key_id=c["sub"].encode(),
            principals=[p.encode() for p in c["step"]["ssh"]["principals"]],
            valid_after=now - 60,
            valid_before=now + 16 * 3600,
            critical={},
            extensions=ssh_extensions,
        )
        await next_step()
        cert = tbs + certsign.frame_signature(ssh_key.public_key(), ssh_key.sign(tbs, es256))
        await store(
            "INSERT INTO ssh_certs (serial, cert, cert_type, key_id, provisioner_id, provisioner_name,"
            " provisioner_type, valid_before, issued_at, token_id, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(serial), cert, "user", c["sub"], "floor", prov["name"], "JWK", now + 16 * 3600, now, c["jti"],
             c["sub"]),
        )  # fmt: skip
        answer = {"crt": base64.b64encode(cert).decode()}
        response = web.Response(body=orjson.dumps(answer), status=201, content_type="application/json")
        await next_step()
        return response

    async def health(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    async def serve() -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/1.0/sign", sign)
        app.router.add_post("/1.0/ssh/sign", ssh_sign)
        app.router.add_get("/health", health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=ctx).start()
        await asyncio.Event().wait()

    uvloop.run(serve())


def serve_floor(config: Path, db: Path, port: int, tls_dir: Path) -> None:
    """The floor's master (`--serve`): Plica's schema, one SO_REUSEPORT socket and process per worker,
    then WAL checkpoints every 0.25 s until killed."""
    from plica.storage.sqlite import SQLiteStorage

    async def schema() -> None:
        storage = SQLiteStorage(str(db))
        await storage.open()
        await storage.migrate([])
        await storage.close()

    asyncio.run(schema())
    for _ in range(WORKERS):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1024)
        if os.fork() == 0:
            try:
                worker(config, db, sock, tls_dir)
            finally:
                os._exit(1)
        sock.close()
    checkpoints = sqlite3.connect(db, isolation_level=None)
    checkpoints.execute("PRAGMA busy_timeout=1000")
    print("ready", flush=True)
    while True:
        time.sleep(0.25)
        try:
            checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.OperationalError:
            pass


@contextmanager
def floor(tmp: Path, config: Path) -> Iterator[CA]:
    """The floor server on `config`'s JWK provisioner (so that the same tokens serve it)."""
    tls_dir = tmp / "floor-tls"
    tls_dir.mkdir()
    contexts(tls_dir)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(config), str(tmp / "floor.db"), str(port), str(tls_dir)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        if proc.stdout is None or proc.stdout.readline().strip() != b"ready":
            sys.exit("the floor server did not start")
        url = f"https://127.0.0.1:{port}"
        ca = CA("floor", url, config, tls_dir / "root.pem", PASSWORD, proc.pid)
        check_floor(ca)
        yield ca
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def check_floor(ca: CA) -> None:
    """One certificate from the floor, its signature checked: the floor does the work it claims to. The
    workers' sockets listen before the master says it is ready, so the request waits for a worker."""
    from cryptography import x509

    from plica.testing.csrs import csr_for

    csr = csr_for("check.floor")
    body = {"csr": csr.pem, "ott": ca.token("check.floor", "/1.0/sign", {"sans": ["check.floor"]})}
    tls = ssl.create_default_context(cafile=str(ca.root))
    tls.check_hostname = False
    req = urllib.request.Request(ca.url + "/1.0/sign", data=orjson.dumps(body), method="POST")
    with urllib.request.urlopen(req, context=tls, timeout=30) as r:
        answer = orjson.loads(r.read())
    leaf = x509.load_pem_x509_certificate(answer["crt"].encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(answer["ca"].encode()))
    if leaf.public_key() != csr.key.public_key():
        sys.exit("the floor's certificate is not for the CSR's key")


# ------------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--only", default="sign,ssh", help="comma-separated workloads (sign, ssh)")
    ap.add_argument("--no-stepca", action="store_true")
    ap.add_argument(
        "--build-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "plica-bench-stepca",
    )
    ap.add_argument("--serve", nargs=4, metavar=("CONFIG", "DB", "PORT", "TLS_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_floor(Path(args.serve[0]), Path(args.serve[1]), int(args.serve[2]), Path(args.serve[3]))
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    bin_dir = None if args.no_stepca else build_stepca(args.build_dir)
    works = [w for w in args.only.split(",") if w]
    print(
        f"wrk, {args.concurrency} connections, {args.seconds} s runs; Plica and the floor with {WORKERS} workers"
    )
    print(f"{'run':<6}{'CA':<9}{'certs/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>9}{'client ms':>11}")
    mat = Material(256)
    with tempfile.TemporaryDirectory(prefix="plica-floor-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        cas = [stack.enter_context(stepca(bin_dir, tmp))] if bin_dir is not None else []
        cas.append(stack.enter_context(plica(tmp, WORKERS)))
        # The floor checks tokens with the key of Plica's JWK provisioner: the same bodies serve both.
        cas.append(stack.enter_context(floor(tmp, next((tmp / "plica").rglob("ca.json")))))
        for rnd in range(args.rounds):
            for work in works:
                path, multiple = TARGETS[work]
                order = cas[rnd % len(cas) :] + cas[: rnd % len(cas)]
                res: dict[str, dict[str, Any]] = {}
                for ca in order:
                    bodies = tmp / f"{ca.name}-{work}.jsonl"
                    (mat.sign_bodies if work == "sign" else mat.ssh_bodies)(
                        ca, args.seconds * RATE[work], bodies
                    )
                    res[ca.name] = r = measure(
                        ca,
                        partial(run_wrk, ca, path, bodies, args.concurrency, args.seconds),
                    )
                    bodies.unlink()
                    print(f"{work:<6}{ca.name:<9}{r['certs_per_s']:>9.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                          f"{r['cpu_ms_per_cert']:>9.3f}{r['client_cpu_ms_per_cert']:>11.3f}", flush=True)  # fmt: skip
                fl, pl = res["floor"], res["plica"]
                line = f"{'':<6}round {rnd + 1}: Plica's CPU per certificate {pl['cpu_ms_per_cert'] / fl['cpu_ms_per_cert']:.2f}x the floor's"
                if "step-ca" in res:
                    st = res["step-ca"]
                    line += (
                        f"; of step-ca's rate, the floor {fl['certs_per_s'] / st['certs_per_s']:.2f}x, Plica "
                        f"{pl['certs_per_s'] / st['certs_per_s']:.2f}x; {multiple}x needs <= "
                        f"{budget(st, fl, multiple):.3f} ms per certificate"
                    )
                print(line, flush=True)


if __name__ == "__main__":
    main()
