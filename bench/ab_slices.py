"""Two versions of Plica under the same load, in alternating short slices: this checkout against another.

    python bench/ab_slices.py --baseline ../older-checkout [--workload sign|ssh|renew] [--slices 10] [--seconds 4]

On a shared virtual machine the speed drifts by a fifth within minutes, more than most changes move it, and
bench/sidebyside.py's runs of one version after the other (each with its own start) see different
machines. bench/http_instructions.py counts instructions, which do not drift, but misses what a change does
to the CPU's caches. This starts both servers once (`plica start`, two workers each: this checkout, and the
baseline checkout's kernel and plugins first on PYTHONPATH), then sends wrk's load (bench/sidebyside.py's:
pre-made JWK tokens, each POSTed once) to one, then the other, in short slices, the order swapped every
slice. It prints each slice's CPU per certificate (the server's process tree), rate and p99, then the
medians, the median of the pairwise ratios and how many slices this checkout won. Needs wrk; `renew`
renews 32 certificates over mTLS with stepbench (a new connection each time, as bench/sidebyside.py does),
which needs the Go packages bench/sidebyside.py builds it from (`--build-dir`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sidebyside import CA, PASSWORD, Material, build_stepca, measure, run_renewals, run_wrk
from sign_instructions import checkout_path

from plica.testing import ca_process, make_ca

RATE = {"sign": 3500, "ssh": 6000}  # bodies made per second of a slice: more than either server issues
TARGET = {"sign": "/1.0/sign", "ssh": "/1.0/ssh/sign"}


def certs_dir(tmp: Path, ca: CA) -> Path:
    """Where the certificates `ca` renews in the renew workload are."""
    return tmp / f"{ca.name}-certs"


def one_slice(
    args: argparse.Namespace, mat: Material, ca: CA, tmp: Path, bin_dir: Path | None
) -> dict[str, Any]:
    work = args.workload
    if work == "renew":
        assert bin_dir is not None
        certs = certs_dir(tmp, ca)
        return measure(ca, lambda: run_renewals(bin_dir, ca, certs, args.concurrency, args.seconds))
    bodies = tmp / f"{ca.name}.jsonl"
    (mat.sign_bodies if work == "sign" else mat.ssh_bodies)(ca, args.seconds * RATE[work], bodies)
    try:
        return measure(ca, lambda: run_wrk(ca, TARGET[work], bodies, args.concurrency, args.seconds))
    finally:
        bodies.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True, help="another checkout of Plica (a git worktree)")
    ap.add_argument("--workload", choices=[*sorted(TARGET), "renew"], default="sign")
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--build-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "plica-bench-stepca",
    )
    args = ap.parse_args()
    bin_dir = build_stepca(args.build_dir) if args.workload == "renew" else None
    if args.workload == "renew" and bin_dir is None:
        sys.exit("renew needs stepbench, which could not be built (see bench/sidebyside.py)")
    work = args.workload
    mat = Material(256)
    results: dict[str, list[dict[str, Any]]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="plica-ab-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        cas: dict[str, CA] = {}
        for name, env in (("baseline", {"PYTHONPATH": checkout_path(args.baseline.resolve())}), ("this", {})):
            files = make_ca(tmp / name, password=PASSWORD)
            proc = stack.enter_context(ca_process(files, workers=args.workers, env=env))
            cas[name] = CA(name, files.url, files.config_path, files.root, PASSWORD, proc.pid)
        if work == "renew":
            for ca in cas.values():
                mat.renew_certs(ca, args.concurrency, certs_dir(tmp, ca))
        for i in range(args.slices):
            for name in ("baseline", "this") if i % 2 == 0 else ("this", "baseline"):
                results[name].append(one_slice(args, mat, cas[name], tmp, bin_dir))
            a, b = results["baseline"][-1], results["this"][-1]
            print(
                f"slice {i:>2}: baseline {a['cpu_ms_per_cert']:.3f} ms/cert {a['certs_per_s']:>6.0f}/s p99 "
                f"{a['p99_ms']:5.1f} ms | this {b['cpu_ms_per_cert']:.3f} ms/cert {b['certs_per_s']:>6.0f}/s p99 "
                f"{b['p99_ms']:5.1f} ms",
                flush=True,
            )
    pairs = list(zip(results["baseline"], results["this"], strict=True))
    for key, label in (("cpu_ms_per_cert", "CPU ms/cert"), ("certs_per_s", "certs/s"), ("p99_ms", "p99 ms")):
        base = statistics.median(r[key] for r in results["baseline"])
        this = statistics.median(r[key] for r in results["this"])
        ratio = statistics.median(b[key] / a[key] for a, b in pairs)
        print(
            f"{label:<12} median baseline {base:.3f}, this {this:.3f}; median of the slices' ratios {ratio:.3f}"
        )
    wins = sum(b["cpu_ms_per_cert"] < a["cpu_ms_per_cert"] for a, b in pairs)
    print(
        f"this checkout used less CPU per certificate in {wins} of {len(pairs)} slices ({work}, c={args.concurrency})"
    )


if __name__ == "__main__":
    sys.exit(main())
