"""JWK /1.0/sign with the CA key in softkms (an encrypted file, signed in memory) and in SoftHSM2 (a PKCS#11
token through plica-kms-pkcs11), from one run.

    python bench/kms_bench.py [--workers 2] [--seconds 10] [--concurrency 32] [--rounds 2] [--serial]

Builds two CAs in a temp dir — one with softkms, one made by `plica init --kms` in a SoftHSM2 token of its
own (SOFTHSM2_CONF) — and drives each in turn with wrk (bench/sign.lua) at the same concurrency, alternating
`--rounds` times so that the machine's drift falls on both alike. Prints certificates per second, p50/p99
latency and server CPU per certificate for each, and SoftHSM2's rate as a share of softkms's.
The token's kms block has no "parallel": the plugin's default for the module is measured (for SoftHSM2,
parallel sessions, on threads that leave the event loop free); `--serial` sets "parallel": false, one call
into the module at a time.
Needs wrk, softhsm2 and plica-kms-pkcs11.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sign_bench import cpu_seconds, make_bodies, run_wrk, server_pids

from plica.testing import ca_process, make_ca

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "bench-pin-1234"


def softhsm_env(tmp: Path) -> dict[str, str]:
    (tmp / "tokens").mkdir(parents=True)
    conf = tmp / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tmp / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", "bench-so"],
        check=True, capture_output=True, env={**os.environ, **env},
    )  # fmt: skip
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--serial", action="store_true", help='"parallel": false, one call into the token at a time'
    )
    args = ap.parse_args()
    if not shutil.which("wrk") or not Path(SOFTHSM).exists():
        sys.exit("needs wrk and softhsm2: apt-get install wrk softhsm2")
    with tempfile.TemporaryDirectory(prefix="plica-kms-bench-") as d:
        tmp = Path(d)
        pin = tmp / "pin"
        pin.write_text(PIN + "\n")
        env = softhsm_env(tmp / "hsm")
        os.environ.update(env)  # make_ca opens the token in this process
        cas = {
            "softkms": (make_ca(tmp / "soft"), {}),
            "SoftHSM2": (
                make_ca(tmp / "token", kms=f"pkcs11:module-path={SOFTHSM};token=bench?pin-source=file:{pin}"),
                env,
            ),
        }
        if args.serial:
            files = cas["SoftHSM2"][0]
            cfg = files.config()
            cfg["kms"]["parallel"] = False
            files.write_config(cfg)
        print(
            f"plica: {args.workers} worker(s), HTTPS keep-alive, JWK tokens, EC P-256 CA and CSRs, "
            f"concurrency {args.concurrency}, {args.seconds} s per run, "
            f"SoftHSM2 {'one call at a time' if args.serial else 'the default (no parallel key)'}"
        )
        print(
            f"{'key manager':>11} {'round':>5} {'certs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/cert':>12} {'errors':>7}"
        )
        rates: dict[str, list[float]] = {name: [] for name in cas}
        for rnd in range(1, args.rounds + 1):
            for name, (files, extra_env) in cas.items():
                bodies = tmp / "bodies.jsonl"
                with ca_process(files, workers=args.workers, env=extra_env) as proc:
                    # Tokens issued before the CA started are refused (as step does): made now, off the clock.
                    make_bodies(files, max(2000, args.seconds * 2500), bodies)
                    pids = server_pids(proc.pid)
                    cpu0 = cpu_seconds(pids)
                    r = run_wrk(files.url + "/sign", bodies, args.concurrency, args.seconds)
                    cpu = cpu_seconds(pids) - cpu0
                bodies.unlink()
                ok = r["ok"]
                rate = ok / (r["duration_us"] / 1e6)
                rates[name].append(rate)
                print(
                    f"{name:>11} {rnd:>5} {rate:>9.0f} {r['p50_us'] / 1000:>8.1f} {r['p99_us'] / 1000:>8.1f} "
                    f"{cpu / max(ok, 1) * 1e6:>12.0f} {r['bad'] + r['errors']:>7}"
                )
        soft = sum(rates["softkms"]) / len(rates["softkms"])
        hsm = sum(rates["SoftHSM2"]) / len(rates["SoftHSM2"])
        print(
            f"SoftHSM2 / softkms: {hsm / soft:.0%} ({hsm:.0f} vs {soft:.0f} certificates/s, mean of {args.rounds})"
        )


if __name__ == "__main__":
    main()
