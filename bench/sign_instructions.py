"""Instructions per certificate on the /sign path, counted by valgrind: a figure that does not drift with the
machine, for comparing two versions of the code.

    python bench/sign_instructions.py [--certs 500] [--baseline OTHER_CHECKOUT]

On a shared virtual machine, rates and CPU times drift by a third from one run to the next, which is more
than most single changes to the code move them. This counts instructions instead. Each count runs the sign
path in one process: a CA built in a temp dir, then `Authority.sign` on JWK tokens and CSRs made as
bench/sign_bench.py makes them. That covers the token and CSR checks, the leaf and the stored record,
with the SQLite thread included. The issuing runs 32 at a time, after 64 to warm up. HTTP is left out;
bench/sign_bench.py and bench/sidebyside.py measure the whole request.

The count runs under `valgrind --tool=callgrind` twice, with the same setup and the same number of bodies
made: once issuing no certificates past the warm-up, and once issuing --certs more. It prints the difference
divided by --certs. `--baseline` takes another checkout of Plica (a `git worktree` of an older commit, say),
whose kernel and plugins go first on PYTHONPATH; it counts that checkout the same way and prints the ratio.
The two counts run side by side, one on each core. Each takes a minute or two.

Needs valgrind (Debian package valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARM = 64
BATCH = 32


async def _issue(made: int, issued: int) -> None:
    """The counted program: make `made` bodies, warm up, issue `issued` more certificates."""
    import orjson
    from sign_bench import make_bodies

    from plica.http import wire
    from plica.testing import in_process_ca, make_ca

    with tempfile.TemporaryDirectory(prefix="plica-instr-") as d:
        files = make_ca(Path(d) / "ca")
        async with in_process_ca(files) as authority:
            # Made after the CA started: it refuses tokens issued before its start.
            make_bodies(files, made, Path(d) / "bodies")
            bodies = (Path(d) / "bodies").read_bytes().splitlines()

            async def one(raw: bytes) -> None:
                ott, request = wire.sign_request(orjson.loads(raw))
                await authority.sign(ott, request)

            todo = bodies[: WARM + issued]
            for i in range(0, len(todo), BATCH):
                await asyncio.gather(*(one(b) for b in todo[i : i + BATCH]))


def _count(issued: int, made: int, pythonpath: str) -> int:
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else dict(os.environ)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
           "--child", str(made), str(issued)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    m = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode != 0 or m is None:
        sys.exit(f"the counted run failed:\n{out.stderr[-3000:]}")
    return int(m.group(1).replace(",", ""))


def per_certificate(certs: int, pythonpath: str = "") -> float:
    made = WARM + certs
    with ThreadPoolExecutor(2) as pool:
        small, large = pool.map(lambda n: _count(n, made, pythonpath), [0, certs])
    return (large - small) / certs


def checkout_path(root: Path) -> str:
    """PYTHONPATH that runs another checkout's kernel and plugins (ahead of the installed editable ones)."""
    paths = [root / "core", *sorted(p for p in (root / "plugins").iterdir() if p.is_dir())]
    return os.pathsep.join(map(str, paths))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--certs", type=int, default=500)
    ap.add_argument("--baseline", type=Path, help="another checkout of Plica to count the same way")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, str(HERE))
        asyncio.run(_issue(*args.child))
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed: apt-get install valgrind")
    here = per_certificate(args.certs)
    print(f"this checkout: {here / 1e6:.3f} million instructions per certificate ({args.certs} certificates)")
    if args.baseline:
        root = args.baseline.resolve()
        base = per_certificate(args.certs, checkout_path(root))
        print(f"baseline {root}: {base / 1e6:.3f} million instructions per certificate")
        print(f"this checkout / baseline: {here / base:.3f}")


if __name__ == "__main__":
    main()
