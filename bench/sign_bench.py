"""Throughput and latency of JWK X.509 issuance over HTTPS with keep-alive.

    python bench/sign_bench.py [--workers 2] [--seconds 10] [--concurrency 1,8,32] [--memory 100000] [--metrics]

Builds a real CA in a temp dir, starts `plica start --workers N`, makes the tokens and CSRs before the
clock starts, then drives POST /sign with wrk (a C load generator, so the client costs the 2-core machine
as little as possible) at each concurrency. Prints certificates per second, p50/p99 latency and the
server's CPU time per certificate; with --memory N it issues N certificates and prints each worker's RSS.
Needs `wrk` (Debian package wrk).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
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

from plica.jose import jwe_decrypt_pbes2, key_from_jwk, sign_compact
from plica.testing import ca_process, free_port, make_ca

HERE = Path(__file__).resolve().parent


def make_bodies(files, count: int, out: Path) -> None:
    cfg = files.config()
    prov = cfg["authority"]["provisioners"][0]
    _, pt = jwe_decrypt_pbes2(prov["encryptedKey"], files.password)
    key = key_from_jwk(orjson.loads(pt))
    kid = prov["key"]["kid"]
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(64)]
    aud = f"{files.url}/1.0/sign"
    with out.open("wb") as f:
        for i in range(count):
            name = f"host{i}.bench.internal"
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(keys[i % len(keys)], hashes.SHA256())
            )
            now = int(time.time())
            claims = {
                "iss": prov["name"],
                "sub": name,
                "aud": aud,
                "jti": secrets.token_hex(32),
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "sans": [name],
            }
            ott = sign_compact({"alg": "ES256", "kid": kid, "typ": "JWT"}, claims, key)
            body = {"csr": csr.public_bytes(serialization.Encoding.PEM).decode(), "ott": ott}
            f.write(orjson.dumps(body) + b"\n")


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def server_pids(root: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout.split()
    return [root, *map(int, out)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_wrk(url: str, bodies: Path, concurrency: int, seconds: int) -> dict[str, int]:
    env = {**os.environ, "BODIES": str(bodies)}
    cmd = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "sign.lua"),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--memory", type=int, default=0, help="issue this many certificates, then report RSS")
    ap.add_argument("--metrics", action="store_true", help="serve Prometheus metrics (metricsAddress) too")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="plica-bench-") as d:
        tmp = Path(d)
        files = make_ca(tmp)
        if args.metrics:
            cfg = files.config()
            cfg["metricsAddress"] = f"127.0.0.1:{free_port()}"
            files.write_config(cfg)
        with ca_process(files, workers=args.workers) as proc:
            pids = server_pids(proc.pid)
            print(f"plica: {args.workers} worker(s), HTTPS keep-alive, JWK tokens, EC P-256 CA and CSRs")
            print(
                f"{'concurrency':>11} {'certs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/cert':>12} {'errors':>7}"
            )
            for c in levels:
                # Enough bodies for the run at up to ~3,000/s; unused ones are simply not sent.
                n = max(2000, args.seconds * 3000)
                bodies = tmp / f"bodies-{c}.jsonl"
                make_bodies(files, n, bodies)
                cpu0 = cpu_seconds(pids)
                r = run_wrk(files.url + "/sign", bodies, c, args.seconds)
                cpu = cpu_seconds(pids) - cpu0
                ok = r["ok"]
                rate = ok / (r["duration_us"] / 1e6)
                print(
                    f"{c:>11} {rate:>9.0f} {r['p50_us'] / 1000:>8.1f} {r['p99_us'] / 1000:>8.1f} "
                    f"{cpu / max(ok, 1) * 1e6:>12.0f} {r['bad'] + r['errors']:>7}"
                )
                bodies.unlink()
            if args.memory:
                # RSS after every chunk, so that one run shows whether it stays flat as the store grows
                # (issue 15: within 10 % from 10,000 to 200,000 stored certificates).
                done = 0
                chunk = 10000
                first: list[float] | None = None
                while done < args.memory:
                    # A few spare bodies: wrk's start-up takes one request from the script without sending it.
                    n = min(chunk, args.memory - done) + 64
                    bodies = tmp / "bodies-mem.jsonl"
                    make_bodies(files, n, bodies)
                    # wrk runs for a duration: long enough for the chunk at >= 800/s, then /health only.
                    r = run_wrk(files.url + "/sign", bodies, 32, max(5, n // 800))
                    done += r["ok"]
                    if r["ok"] == 0:
                        sys.exit(f"no certificate issued in a whole chunk (errors: {r['bad'] + r['errors']})")
                    bodies.unlink()
                    rss = [rss_mb(p) for p in server_pids(proc.pid)[1:] or [proc.pid]]
                    first = first or rss
                    growth = ", ".join(
                        f"{100 * (b / a - 1):+.1f} %" for a, b in zip(first, rss, strict=False)
                    )
                    print(
                        f"after {done} certificates: worker RSS {', '.join(f'{m:.1f} MB' for m in rss)}"
                        f" ({growth} since the first report)",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
