"""Throughput and latency of complete ACME orders with http-01, and the validator's connection hygiene.

    python bench/acme_bench.py [--workers 2] [--seconds 10] [--concurrency 1,8,32] [--identifier dns|ip]
                               [--poll-ms 20]

Builds a real CA in a temp dir with an ACME provisioner `acme` (http-01 only; the validator's http-01 port
is this benchmark's responder, its resolver this benchmark's DNS server) and starts `plica start --workers
N`. Before the clock starts it registers one account per concurrent client and makes the CSRs (each with
its own P-256 key). Then C order loops in one asyncio process (uvloop where installed; a lean HTTP/1.1
client, one HTTPS keep-alive connection per account, the CA root as trust) each run orders back to back: newOrder → the authorization → respond to its http-01 challenge (the
responder in this process serves the key authorization) → poll the authorization until valid → finalize
with the CSR → download the chain, which must parse and name the identifier. An order counts only then.

Prints, per concurrency: orders/s, p50/p99 order latency, the CA's CPU per order (all its processes, from
/proc), this process's CPU per order (client, responder and DNS together: on a 2-core machine it competes
with the CA), polls per order and errors; then where a median order spends its time, and the leak check:
the CA's sockets still open to the responder port once the validations are done (must be 0), and how often
the responder saw a validator reuse a connection (must be 0: each validation has its own). Exits 1 when an
order failed or the leak check did not pass (not when the throughput target is missed: it says so).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import orjson
from acme_load import (
    Account,
    Connection,
    CSRPool,
    OrderFailed,
    Responder,
    ZoneDNS,
    accepted_on,
    check_certificate,
    connections_to,
    expect,
    percentile,
    retry_after,
)
from attrs import define, field
from sign_bench import cpu_seconds, server_pids

from plica.testing import CAFiles, ca_process, free_port, make_ca

ZONE = "bench.test"
TARGET_CONCURRENCY, TARGET_RATE, TARGET_P99_MS = 32, 300, 200
PHASES = ("order", "challenge", "validation", "finalize", "download")


@define
class Stats:
    latencies: list[float] = field(factory=list)
    phases: dict[str, list[float]] = field(factory=lambda: {p: [] for p in PHASES})
    polls: int = 0
    errors: Counter[str] = field(factory=Counter)
    examples: dict[str, str] = field(factory=dict)

    def fail(self, key: str, message: str) -> None:
        self.errors[key] += 1
        self.examples.setdefault(key, message)


@define
class Bench:
    pool: CSRPool
    responder: Responder
    poll_cap: float
    ip: bool


async def one_order(b: Bench, acct: Account, stats: Stats) -> None:
    name, csr = b.pool.take()
    marks = [time.perf_counter()]
    ident = {"type": "ip" if b.ip else "dns", "value": name}
    status, order, _, h = await acct.post(acct.dir["newOrder"], {"identifiers": [ident]})
    expect("newOrder", status, 201, order)
    order_url = h["Location"]
    status, authz, _, _ = await acct.post(order["authorizations"][0])
    expect("authorization", status, 200, authz)
    ch = next((c for c in authz["challenges"] if c["type"] == "http-01"), None)
    if ch is None:
        raise OrderFailed("authorization: no http-01 challenge offered")
    marks.append(time.perf_counter())
    token = ch["token"]
    b.responder.tokens[token] = acct.key_authorization(token)
    try:
        status, body, _, h = await acct.post(ch["url"], {})
        expect("challenge", status, 200, body)
        marks.append(time.perf_counter())
        state = body["status"]
        deadline = time.monotonic() + 30
        while state not in ("valid", "invalid"):
            if time.monotonic() > deadline:
                raise OrderFailed("validation: still pending after 30 s")
            await asyncio.sleep(retry_after(h, b.poll_cap))
            stats.polls += 1
            status, body, _, h = await acct.post(order["authorizations"][0])
            expect("poll", status, 200, body)
            state = body["status"]
        if state != "valid":
            err = next((c.get("error") for c in body["challenges"] if c["type"] == "http-01"), None) or {}
            raise OrderFailed(f"validation: invalid: {err.get('detail', body)}")
    finally:
        b.responder.tokens.pop(token, None)
    marks.append(time.perf_counter())
    status, done, _, h = await acct.post(order["finalize"], {"csr": csr})
    expect("finalize", status, 200, done)
    while done.get("status") == "processing":
        await asyncio.sleep(retry_after(h, b.poll_cap))
        stats.polls += 1
        status, done, _, h = await acct.post(order_url)
        expect("order poll", status, 200, done)
    if done.get("status") != "valid" or "certificate" not in done:
        raise OrderFailed(f"finalize: order is {done.get('status')}: {done.get('error')}")
    marks.append(time.perf_counter())
    status, _, pem, _ = await acct.post(done["certificate"])
    expect("download", status, 200, pem[:200])
    check_certificate(pem, name)
    marks.append(time.perf_counter())
    stats.latencies.append(marks[-1] - marks[0])
    for phase, (a, z) in zip(PHASES, itertools.pairwise(marks), strict=True):
        stats.phases[phase].append(z - a)


async def order_loop(b: Bench, acct: Account, deadline: float, stats: Stats) -> None:
    while time.perf_counter() < deadline:
        try:
            await one_order(b, acct, stats)
        except OrderFailed as e:
            msg = str(e)
            stats.fail(":".join(msg.split(":")[:2])[:60], msg)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, KeyError, ValueError) as e:
            stats.fail(type(e).__name__, f"{type(e).__name__}: {e}")


def ms(v: float) -> str:
    return f"{v * 1000:.1f}"


async def run(
    args: argparse.Namespace, files: CAFiles, ca_pid: int, dns_sock: socket.socket, http_port: int
) -> int:
    levels = [int(c) for c in args.concurrency.split(",")]
    dns = ZoneDNS(ZONE)
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: dns, sock=dns_sock)
    responder = Responder(http_port)
    await responder.start()
    ip = args.identifier == "ip"
    b = Bench(pool=CSRPool(None if ip else ZONE), responder=responder, poll_cap=args.poll_ms / 1000, ip=ip)
    ctx = ssl.create_default_context(cafile=str(files.root))
    failed = False
    setup = Connection(files.url, ctx)
    status, _, raw = await setup.request("GET", f"{files.url}/acme/acme/directory")
    setup.close()
    if status != 200:
        print(f"the directory answered {status}: {raw[:200]!r}", file=sys.stderr)
        return 1
    directory = orjson.loads(raw)
    accounts = [Account(Connection(files.url, ctx), directory) for _ in range(max(levels))]
    await asyncio.gather(*(a.register() for a in accounts))
    # One order per account before the clock starts: the flow works, and every connection, cache and
    # code path of the CA is warm.
    b.pool.fill(len(accounts))
    warm = Stats()
    try:
        await asyncio.gather(*(one_order(b, a, warm) for a in accounts))
    except OrderFailed as e:
        print(f"the warm-up order failed: {e}", file=sys.stderr)
        return 1
    pids = server_pids(ca_pid)
    if len(pids) > 1:
        print(f"CA pids: master {pids[0]}, workers {' '.join(map(str, pids[1:]))}", file=sys.stderr)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    idents = "IP 127.0.0.1" if ip else "DNS names (own resolver)"
    print(
        f"plica: {args.workers} worker(s), ACME http-01, {idents} identifiers, ES256 accounts, P-256 CSRs,"
        f" polls capped at {args.poll_ms:g} ms; {os.cpu_count()} CPUs, load average {load} before the run"
    )
    print(
        f"{'concurrency':>11} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CA CPU ms/order':>16}"
        f" {'bench CPU ms/order':>19} {'polls/order':>12} {'errors':>7} {'open to responder':>18}"
    )
    breakdown = []
    target: tuple[float, float] | None = None
    for c in levels:
        # CSRs for the whole run, made before the clock (late ones are counted and reported).
        b.pool.fill(args.seconds * min(700, 60 * c) + c)
        stats = Stats()
        cpu0, me0 = cpu_seconds(pids), time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(order_loop(b, a, t0 + args.seconds, stats) for a in accounts[:c]))
        elapsed = time.perf_counter() - t0
        cpu, me = cpu_seconds(pids) - cpu0, time.process_time() - me0
        await asyncio.sleep(1)  # the CA closes the last validations' sockets
        left = connections_to(pids, http_port)
        ok = len(stats.latencies)
        lat = sorted(stats.latencies)
        n_err = sum(stats.errors.values())
        print(
            f"{c:>11} {ok / elapsed:>9.0f} {ms(percentile(lat, 0.5)):>8} {ms(percentile(lat, 0.99)):>8}"
            f" {ms(cpu / max(ok, 1)):>16} {ms(me / max(ok, 1)):>19} {stats.polls / max(ok, 1):>12.2f}"
            f" {n_err:>7} {sum(left.values()):>18}",
            flush=True,
        )
        for key, n in stats.errors.most_common(5):
            print(f"{'':>11}   {n} × {stats.examples[key]}")
        if b.pool.late:
            print(f"{'':>11}   ({b.pool.late} CSRs were made during the run: the pool ran dry)")
        breakdown.append((c, {p: percentile(sorted(v), 0.5) for p, v in stats.phases.items()}))
        if c == TARGET_CONCURRENCY:
            target = (ok / elapsed, percentile(lat, 0.99))
        failed |= n_err > 0 or ok == 0
    print("\nmedian order, by step (ms):")
    print(f"{'concurrency':>11} " + " ".join(f"{p:>11}" for p in PHASES))
    for c, ph in breakdown:
        print(f"{c:>11} " + " ".join(f"{ms(ph[p]):>11}" for p in PHASES))
    print(
        "  order = newOrder + fetch authorization; challenge = POST challenge; validation = until the"
        " authorization is valid; finalize = issue; download = certificate"
    )

    await asyncio.sleep(1)
    left = connections_to(pids, http_port)
    held = accepted_on(http_port)

    def states(d: dict[str, int]) -> str:
        return f"{sum(d.values())}" + (f" {d}" if d else "")

    print(
        f"\nvalidator connections after {responder.hits + responder.misses} http-01 requests: the CA holds"
        f" {states(left)} socket(s) to the responder port, the responder {states(held)} open; a connection"
        f" reused for a second validation: {responder.reused} time(s)"
    )
    leak = sum(left.values()) + sum(held.values()) + responder.reused
    print("leak check:", "OK (every validation closed its own connection)" if leak == 0 else "FAILED")
    failed |= leak > 0
    if target is not None:
        met = target[0] >= TARGET_RATE and target[1] * 1000 <= TARGET_P99_MS
        print(
            f"target at concurrency {TARGET_CONCURRENCY} (issue 5): >= {TARGET_RATE} orders/s and p99 <="
            f" {TARGET_P99_MS} ms: {'met' if met else 'missed'} ({target[0]:.0f}/s, p99 {ms(target[1])} ms)"
        )
    bad = sum(a.bad_nonces for a in accounts)
    if bad:
        print(f"badNonce answers retried: {bad}")
    for a in accounts:
        a.conn.close()
    await responder.stop()
    dns.stop()
    return 1 if failed else 0


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """The load generator runs on uvloop when installed, as the CA's workers do: on a 2-core machine every
    millisecond it spends is one the CA does not get (the reason sign_bench.py drives wrk)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--identifier", choices=("dns", "ip"), default="dns", help="order DNS names or 127.0.0.1")
    ap.add_argument("--poll-ms", type=float, default=20, help="cap on the server's Retry-After when polling")
    ap.add_argument("--keep", action="store_true", help="print the CA's directory and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="plica-acme-bench-") as d:
        files = make_ca(Path(tempfile.mkdtemp(prefix="plica-acme-bench-") if args.keep else d), ssh=False)
        http_port = free_port()
        dns_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dns_sock.bind(("127.0.0.1", 0))
        files.add_provisioner(
            {
                "type": "ACME",
                "name": "acme",
                "challenges": ["http-01"],
                "validation": {
                    "httpPort": http_port,
                    "resolver": f"127.0.0.1:{dns_sock.getsockname()[1]}",
                    "timeout": "2s",
                    "retryWindow": "2s",
                },
            }
        )
        if args.keep:
            print(f"CA home: {files.home}", file=sys.stderr)
        with ca_process(files, workers=args.workers) as proc:
            rc = run_loop(run(args, files, proc.pid, dns_sock, http_port))
    sys.exit(rc)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
