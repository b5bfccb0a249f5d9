"""Instructions per certificate in the server, over HTTPS, counted by valgrind: the whole request (TLS
records, HTTP, middlewares, access log, the sign path, the stored record) in a figure that does not drift
with the machine, for comparing two versions of the code.

    python bench/http_instructions.py [--seconds 20] [--only sign,ssh,renew] [--baseline OTHER_CHECKOUT]

bench/sign_instructions.py counts the sign path alone, in-process; wall-clock benches (sidebyside.py,
sign_bench.py) move by a third from run to run on a shared virtual machine, more than most single changes.
This runs the real server, `plica start --workers 1`, under `valgrind --tool=callgrind` with counting off,
and drives it from outside valgrind with the side-by-side bench's load generators: wrk for JWK
`/1.0/sign` and `/1.0/ssh/sign`, and stepbench (built with step-ca by bench/stepca/build.sh) for mTLS
`/renew` with a new TLS connection per renewal. For each workload it warms up, turns counting on in the
worker (`callgrind_control`), zeroes, drives load for --seconds, dumps, and divides the worker's
instructions by the certificates it issued. Under valgrind the worker serves some tens of requests a
second, so the load runs at concurrency 8 (--concurrency), where each event-loop turn still serves
several requests at once.

`--baseline` takes another checkout of Plica (a `git worktree` of an older commit, say), whose kernel and
plugins go first on PYTHONPATH, counts it the same way and prints the ratios. Needs valgrind and wrk
(Debian packages valgrind, wrk).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sidebyside import CA, PASSWORD, Material, build_stepca, parse_result, wait_health  # noqa: E402
from sign_instructions import checkout_path  # noqa: E402

from plica.testing import make_ca  # noqa: E402
from plica.testing.processes import stop  # noqa: E402


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def _wrk(ca: CA, target: str, bodies: Path, c: int, seconds: int) -> int:
    env = {**os.environ, "BODIES": str(bodies), "TARGET": target}
    cmd = ["wrk", "-t1", f"-c{c}", f"-d{seconds}s", "--timeout", "60s", "-s", str(HERE / "sidebyside.lua"),
           ca.url]  # fmt: skip
    r = parse_result(subprocess.run(cmd, capture_output=True, text=True, env=env).stdout)
    if r["bad"]:
        sys.exit(f"{r['bad']} requests to {target} failed")
    return r["ok"]


def _renew(ca: CA, stepbench: Path, certs: Path, c: int, seconds: int) -> int:
    cmd = [str(stepbench), "renew", "--url", ca.url, "--root", str(ca.root), "--certs", str(certs),
           "--concurrency", str(c), "--seconds", str(seconds)]  # fmt: skip
    r = parse_result(subprocess.run(cmd, capture_output=True, text=True).stdout)
    if r["bad"]:
        sys.exit(f"{r['bad']} renewals failed")
    return r["ok"]


def _total(dump_dir: Path, pid: int, before: set[Path]) -> int:
    """The instructions in the dump callgrind_control just wrote for `pid`."""
    for _ in range(100):
        new = set(dump_dir.glob(f"cg.{pid}*")) - before
        for f in new:
            m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read_text(errors="replace"), re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.2)
    sys.exit("callgrind wrote no dump")


def count(args: argparse.Namespace, pythonpath: str, label: str) -> dict[str, float]:
    """Instructions per certificate of one checkout, for each workload."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="plica-httpinstr-") as d:
        tmp = Path(d)
        files = make_ca(tmp / "ca", password=PASSWORD)
        env = {**os.environ, **files.env()}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/cg.%p",
               sys.executable, "-m", "plica", "start", "--home", str(files.home), "--password-file",
               str(files.password_file), "--workers", "1"]  # fmt: skip
        log = (tmp / "server.log").open("wb")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_health(files.url, files.root, proc, seconds=900)
            worker = (_children(proc.pid) or [proc.pid])[0]  # one worker: the master serves itself
            ca = CA("plica", files.url, files.config_path, files.root, PASSWORD, proc.pid)
            mat = Material(n=64)
            c, s = args.concurrency, args.seconds
            runs: dict[str, Any] = {}
            for name, target, make in (
                ("sign", "/1.0/sign", mat.sign_bodies),
                ("ssh", "/1.0/ssh/sign", mat.ssh_bodies),
            ):
                if name in args.only:

                    def run_wrk(
                        seconds: int, name: str = name, target: str = target, make: Any = make
                    ) -> int:
                        bodies = tmp / f"{name}.jsonl"
                        make(ca, 100 * seconds + 200, bodies)  # more than valgrind lets the worker issue
                        return _wrk(ca, target, bodies, c, seconds)

                    runs[name] = run_wrk
            if "renew" in args.only and args.stepbench is not None:
                certs = tmp / "renew"
                mat.renew_certs(ca, c, certs)
                runs["renew"] = lambda seconds: _renew(ca, args.stepbench, certs, c, seconds)
            _control("-i", "on", str(worker))
            for name, run in runs.items():
                run(max(5, s // 3))  # warm: the first requests of a route and the JIT of valgrind itself
                before = set(tmp.glob(f"cg.{worker}*"))
                _control("-z", str(worker))
                certs_done = run(s)
                _control("-d", str(worker))
                out[name] = _total(tmp, worker, before) / max(certs_done, 1)
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    for f in set(tmp.glob(f"cg.{worker}*")) - before:
                        shutil.copy(f, args.keep / f"{label.replace(' ', '-')}-{name}.callgrind")
                print(f"{label}: {name:<6} {out[name] / 1e6:7.3f} million instructions per certificate "
                      f"({certs_done} certificates)", flush=True)  # fmt: skip
        finally:
            stop(proc, timeout=120)  # the master under valgrind writes its dump on the way out
            log.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--only", default="sign,ssh,renew", help="comma-separated workloads (sign, ssh, renew)")
    ap.add_argument("--baseline", type=Path, help="another checkout of Plica to count the same way")
    ap.add_argument(
        "--build-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "plica-bench-stepca",
        help="where step-ca's build (and stepbench, the renewal client) is kept",
    )
    ap.add_argument("--keep", type=Path, help="keep each run's callgrind dump here (for callgrind_annotate)")
    args = ap.parse_args()
    args.only = set(args.only.split(","))
    for tool in ("valgrind", "callgrind_control", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install valgrind wrk")
    args.stepbench = None
    if "renew" in args.only:
        bin_dir = build_stepca(args.build_dir)
        if bin_dir is None:
            print("renew skipped: stepbench is built with step-ca")
        else:
            args.stepbench = bin_dir / "stepbench"
    here = count(args, "", "this checkout")
    if args.baseline:
        root = args.baseline.resolve()
        base = count(args, checkout_path(root), f"baseline {root.name}")
        for name in here:
            print(f"{name:<6} this checkout / baseline: {here[name] / base[name]:.3f}")


if __name__ == "__main__":
    main()
