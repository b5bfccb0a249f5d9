"""Plica and step-ca 0.19 side by side on this machine: the same load, alternating runs.

    python bench/sidebyside.py [--seconds 10] [--rounds 1] [--concurrency 1,8,32] [--workers 2]

Builds step-ca 0.19.0 from Debian's Go source packages (bench/stepca/build.sh; golang-go and
golang-github-smallstep-certificates-dev; without them step-ca is skipped with a message and Plica runs
alone), creates both CAs in a temp dir (step-ca with smallstep's own `pki` package, Plica with
`plica.testing.make_ca`: EC P-256 root, intermediate and SSH CA keys, one JWK provisioner), starts both,
then runs each workload on step-ca and then on Plica, every round:

- sign: JWK tokens + CSRs POSTed to /1.0/sign with wrk (one thread, keep-alive), at each concurrency;
- renew: /renew over mTLS with a new TLS connection per renewal, each loop then holding the renewed
  certificate (`step ca renew --daemon`'s pattern; stepbench, a Go load generator: wrk has no client
  certificates);
- ssh: SSH user certificates, JWK SSH tokens POSTed to /1.0/ssh/sign with wrk.

Tokens and CSRs are made before each run starts (after the CAs started: step-ca refuses older tokens).
For each run it prints certificates/s, p50/p99 latency and the server's CPU per certificate (user +
system time of the CA's whole process tree, Plica's master and workers) and the load generator's, then
Plica's ratios, and the CPU per certificate at which Plica would reach 1.5x and 2x step-ca's rate (the
load generator takes its share of the same cores). Run it on a quiet machine: the load generator shares
the cores, and anything else running hits whichever CA runs then. Needs wrk (Debian package wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plica.jose import jwe_decrypt_pbes2, key_from_jwk, sign_compact
from plica.testing import ca_process, make_ca

HERE = Path(__file__).resolve().parent
PASSWORD = b"sidebyside-bench-password"


# ------------------------------------------------------------------------------------------ one CA


class CA:
    """One running CA: where it listens, its root, what its JWK provisioner signs tokens with."""

    def __init__(self, name: str, url: str, config: Path, root: Path, password: bytes, pid: int) -> None:
        self.name, self.url, self.root, self.pid = name, url, root, pid
        cfg = json.loads(config.read_text())
        prov = next(p for p in cfg["authority"]["provisioners"] if p["type"].upper() == "JWK")
        self.issuer = prov["name"]
        self.kid = prov["key"]["kid"]
        self.key = key_from_jwk(orjson.loads(jwe_decrypt_pbes2(prov["encryptedKey"], password)[1]))

    def token(self, sub: str, path: str, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": f"{self.url}{path}", "jti": secrets.token_hex(32),
                  "iat": now, "nbf": now, "exp": now + 290, **extra}  # fmt: skip
        return sign_compact({"alg": "ES256", "kid": self.kid, "typ": "JWT"}, claims, self.key)  # type: ignore[arg-type]

    def cpu_seconds(self) -> float:
        """User + system time of the CA's process tree (Plica: master and workers)."""
        return tree_cpu_seconds(self.pid)


def tree_cpu_seconds(pid: int) -> float:
    """User + system seconds of `pid` and its descendants."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent[int(d)] = int(f[1])
            ticks[int(d)] = int(f[11]) + int(f[12])
    tree, grew = {pid}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------ bodies


class Material:
    """CSRs and SSH keys made once; each run only mints fresh tokens (minting CSRs would be most of it)."""

    def __init__(self, n: int = 512) -> None:
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(32)]
        self.csrs: list[tuple[str, str]] = []
        for i in range(n):
            name = f"h{i}.sbs.internal"
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(keys[i % len(keys)], hashes.SHA256())
            )
            self.csrs.append((name, csr.public_bytes(serialization.Encoding.PEM).decode()))
        self.keys = keys
        self.ssh_pubs = [
            k.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1].decode()
            for k in keys
        ]  # fmt: skip

    def sign_bodies(self, ca: CA, n: int, out: Path) -> None:
        with out.open("wb") as f:
            for i in range(n):
                name, csr = self.csrs[i % len(self.csrs)]
                ott = ca.token(name, "/1.0/sign", {"sans": [name]})
                f.write(orjson.dumps({"csr": csr, "ott": ott}) + b"\n")

    def ssh_bodies(self, ca: CA, n: int, out: Path) -> None:
        with out.open("wb") as f:
            for i in range(n):
                user = f"user{i % 1000}"
                opts = {
                    "certType": "user",
                    "keyID": user,
                    "principals": [user],
                    "validAfter": "",
                    "validBefore": "",
                }
                ott = ca.token(user, "/1.0/ssh/sign", {"step": {"ssh": opts}})
                body = {"publicKey": self.ssh_pubs[i % len(self.ssh_pubs)], "ott": ott, "certType": "user",
                        "keyID": user, "principals": [user]}  # fmt: skip
                f.write(orjson.dumps(body) + b"\n")

    def renew_certs(self, ca: CA, n: int, out: Path) -> None:
        """n certificates (and their keys) to renew, issued through /1.0/sign."""
        out.mkdir(parents=True, exist_ok=True)
        ctx = ssl.create_default_context(cafile=str(ca.root))
        for i in range(n):
            name, csr = self.csrs[i]
            body = orjson.dumps({"csr": csr, "ott": ca.token(name, "/1.0/sign", {"sans": [name]})})
            req = urllib.request.Request(
                ca.url + "/1.0/sign", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                chain = orjson.loads(r.read())["certChain"]
            (out / f"{i}.crt").write_text("".join(chain))
            key = self.keys[i % len(self.keys)]
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            (out / f"{i}.key").write_bytes(pem)


# ------------------------------------------------------------------------------------------ runs


def parse_result(text: str) -> dict[str, int]:
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT")), "")
    if not line:
        raise RuntimeError(f"the load generator printed no RESULT line:\n{text}")
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def run_wrk(ca: CA, target: str, bodies: Path, c: int, seconds: int) -> dict[str, int]:
    """One wrk run POSTing each line of `bodies` once; exits when the CA issued them all before the run
    ended (the rest of the run would count as idle: the rate would read low)."""
    made = sum(1 for _ in bodies.open("rb"))
    r = _wrk(ca, target, bodies, c, seconds)
    if r["ok"] >= made:
        sys.exit(f"{ca.name} issued all {made} pre-made requests before the {seconds} s run ended: make more")
    return r


def _wrk(ca: CA, target: str, bodies: Path, c: int, seconds: int) -> dict[str, int]:
    env = {**os.environ, "BODIES": str(bodies), "TARGET": target}
    cmd = [
        "wrk",
        "-t1",
        f"-c{c}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "sidebyside.lua"),
        ca.url,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.stderr.strip():
        print(f"  [{ca.name}] {r.stderr.strip()[:300]}", file=sys.stderr)
    return parse_result(r.stdout)


def run_renewals(bin_dir: Path, ca: CA, certs: Path, concurrency: int, seconds: int) -> dict[str, int]:
    """One stepbench run renewing the certificates in `certs` over mTLS, a new connection each time."""
    cmd = [str(bin_dir / "stepbench"), "renew", "--url", ca.url, "--root", str(ca.root), "--certs", str(certs),
           "--concurrency", str(concurrency), "--seconds", str(seconds)]  # fmt: skip
    return parse_result(subprocess.run(cmd, capture_output=True, text=True).stdout)


def client_cpu_seconds() -> float:
    """User + system time of this process's reaped children: the load generator of a finished run (the
    CAs are children too, but are reaped only when they stop)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(ca: CA, go: Any) -> dict[str, Any]:
    cpu0, client0 = ca.cpu_seconds(), client_cpu_seconds()
    r = go()
    cpu, client = ca.cpu_seconds() - cpu0, client_cpu_seconds() - client0
    ok = r["ok"]
    return {
        "ca": ca.name,
        "certs_per_s": round(ok / (r["duration_us"] / 1e6), 1),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "cpu_ms_per_cert": round(1000 * cpu / max(ok, 1), 3),
        "client_cpu_ms_per_cert": round(1000 * client / max(ok, 1), 3),
        "ok": ok,
        "errors": r["bad"],
    }


def budget(stepca: dict[str, Any], plica: dict[str, Any], ratio: float) -> float:
    """Plica's CPU per certificate (ms) at which it would issue `ratio` times step-ca's rate, with the
    machine's cores fully used: the load generator shares them, its CPU per certificate as in Plica's run.
    Negative: out of reach even for a CA that used no CPU at all."""
    cores = os.cpu_count() or 1
    return cores * 1000 / (ratio * max(stepca["certs_per_s"], 1e-9)) - plica["client_cpu_ms_per_cert"]


def workloads(
    args: argparse.Namespace, mat: Material, tmp: Path, bin_dir: Path | None
) -> list[tuple[str, int, Any]]:
    """(name, concurrency, run(ca) -> result) for every run of a round."""
    out: list[tuple[str, int, Any]] = []
    for c in args.concurrency:
        n = args.seconds * (1500 if c == 1 else 6000)  # more than either CA issues in the run

        def sign(ca: CA, c: int = c, n: int = n) -> dict[str, Any]:
            bodies = tmp / f"{ca.name}-sign.jsonl"
            mat.sign_bodies(ca, n, bodies)
            return measure(ca, lambda: run_wrk(ca, "/1.0/sign", bodies, c, args.seconds))

        out.append(("sign", c, sign))
    if bin_dir is not None:  # the renewal load generator is built with step-ca
        rc = args.renew_concurrency

        def renew(ca: CA, bin_dir: Path = bin_dir) -> dict[str, Any]:
            certs = tmp / f"{ca.name}-renew"
            if not certs.exists():
                mat.renew_certs(ca, rc, certs)
            return measure(ca, lambda: run_renewals(bin_dir, ca, certs, rc, args.seconds))

        out.append(("renew", rc, renew))
    c = args.ssh_concurrency

    def ssh(ca: CA) -> dict[str, Any]:
        bodies = tmp / f"{ca.name}-ssh.jsonl"
        mat.ssh_bodies(ca, args.seconds * 6000, bodies)
        return measure(ca, lambda: run_wrk(ca, "/1.0/ssh/sign", bodies, c, args.seconds))

    out.append(("ssh", c, ssh))
    return out


# ------------------------------------------------------------------------------------------ the CAs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_stepca(out: Path) -> Path | None:
    r = subprocess.run(
        ["bash", str(HERE / "stepca" / "build.sh"), str(out)], text=True, stderr=subprocess.PIPE
    )
    if r.returncode == 3:
        print(f"step-ca skipped: {r.stderr.strip()}")
        return None
    if r.returncode != 0:
        sys.exit(f"building step-ca failed:\n{r.stderr}")
    return out


@contextmanager
def stepca(bin_dir: Path, tmp: Path) -> Iterator[CA]:
    home = tmp / "step"
    pw = tmp / "step-password"
    pw.write_bytes(PASSWORD)
    port = free_port()
    env = {**os.environ, "STEPPATH": str(home)}
    subprocess.run([str(bin_dir / "stepbench"), "init", "--name", "Bench", "--dns", "127.0.0.1,localhost",
                    "--address", f"127.0.0.1:{port}", "--provisioner", "admin", "--password-file", str(pw)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    log = (tmp / "step-ca.log").open("wb")
    # Go's flag parsing stops at the first argument: the flags come before ca.json.
    proc = subprocess.Popen([str(bin_dir / "step-ca"), "--password-file", str(pw), str(home / "config" / "ca.json")],
                            env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = f"https://127.0.0.1:{port}"
        wait_health(url, home / "certs" / "root_ca.crt", proc)
        yield CA(
            "step-ca", url, home / "config" / "ca.json", home / "certs" / "root_ca.crt", PASSWORD, proc.pid
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def wait_health(url: str, root: Path, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Until `url` answers /health (a CA under valgrind takes minutes); exits if `proc` ends first."""
    ctx = ssl.create_default_context(cafile=str(root))
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if proc.poll() is not None:
            sys.exit(f"{url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", context=ctx, timeout=min(30.0, seconds / 10)):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer /health in {seconds:.0f} s")


@contextmanager
def plica(tmp: Path, workers: int) -> Iterator[CA]:
    files = make_ca(tmp / "plica", password=PASSWORD)
    with ca_process(files, workers=workers) as proc:
        yield CA("plica", files.url, files.config_path, files.root, PASSWORD, proc.pid)


# ------------------------------------------------------------------------------------------ main


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())  # fmt: skip
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, load average {load[0]:.2f} at start"


def row(name: str, c: int, r: dict[str, Any]) -> str:
    return (f"{name:<6}{c:>4}  {r['ca']:<8}{r['certs_per_s']:>9.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['cpu_ms_per_cert']:>10.3f}{r['client_cpu_ms_per_cert']:>11.3f}{r['errors']:>7}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    ap.add_argument("--renew-concurrency", type=int, default=32)
    ap.add_argument("--ssh-concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="Plica's worker processes")
    ap.add_argument("--only", default="", help="comma-separated workloads to run (sign, renew, ssh)")
    ap.add_argument("--no-stepca", action="store_true", help="run Plica alone")
    ap.add_argument(
        "--build-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "plica-bench-stepca",
    )
    ap.add_argument("--json", action="store_true", help="also print one JSON line per run")
    ap.add_argument(
        "--markdown", action="store_true", help="also print each round as a Markdown table (the README's)"
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    bin_dir = None if args.no_stepca else build_stepca(args.build_dir)
    if bin_dir is None and not args.no_stepca:
        print("running Plica alone")
    print(f"machine: {machine()}")
    print(f"plica: {args.workers} workers; runs of {args.seconds} s; EC P-256 CAs, CSRs and tokens")
    with tempfile.TemporaryDirectory(prefix="plica-sbs-") as d:
        tmp = Path(d)
        mat = Material()
        with plica(tmp, args.workers) as p, stepca(bin_dir, tmp) if bin_dir else _none() as s:
            cas = [ca for ca in (s, p) if ca is not None]
            runs = workloads(args, mat, tmp, bin_dir)
            if args.only:
                runs = [r for r in runs if r[0] in args.only.split(",")]
            print(
                f"{'run':<6}{'c':>4}  {'CA':<8}{'certs/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>10}{'client ms':>11}{'errors':>7}"
            )
            for rnd in range(args.rounds):
                table: list[tuple[str, int, list[dict[str, Any]]]] = []
                for name, c, go in runs:
                    res = [go(ca) for ca in cas]
                    table.append((name, c, res))
                    for r in res:
                        print(row(name, c, r), flush=True)
                        if args.json:
                            print(json.dumps({"round": rnd + 1, "run": name, "c": c, **r}))
                    if len(res) == 2:
                        st, pl = res
                        print(f"{'':<12}plica/step-ca: {pl['certs_per_s'] / max(st['certs_per_s'], 1e-9):.2f}x certs/s, "
                              f"p50 {pl['p50_ms'] / max(st['p50_ms'], 1e-9):.2f}x, p99 {pl['p99_ms'] / max(st['p99_ms'], 1e-9):.2f}x, "
                              f"CPU/cert {pl['cpu_ms_per_cert'] / max(st['cpu_ms_per_cert'], 1e-9):.2f}x; "
                              f"1.5x/2x would need <= {budget(st, pl, 1.5):.2f}/{budget(st, pl, 2):.2f} ms", flush=True)  # fmt: skip
                if args.markdown and len(cas) == 2:
                    print(f"\nround {rnd + 1} of {args.rounds}:\n{markdown(table)}", flush=True)


def markdown(table: list[tuple[str, int, list[dict[str, Any]]]]) -> str:
    """One round, step-ca and Plica side by side, and Plica's ratios."""
    rows = [
        "| run | c | step-ca certs/s | Plica certs/s | ratio | p50 ms (step-ca / Plica) | p99 ms (step-ca / Plica) "
        "| CPU ms/cert (step-ca / Plica) | load generator CPU ms/cert (step-ca / Plica) | Plica CPU ms/cert for 1.5x / 2x |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, c, (st, pl) in table:
        ratio = pl["certs_per_s"] / max(st["certs_per_s"], 1e-9)
        rows.append(
            f"| {name} | {c} | {st['certs_per_s']:,.0f} | {pl['certs_per_s']:,.0f} | {ratio:.2f}x "
            f"| {st['p50_ms']:.1f} / {pl['p50_ms']:.1f} | {st['p99_ms']:.1f} / {pl['p99_ms']:.1f} "
            f"| {st['cpu_ms_per_cert']:.2f} / {pl['cpu_ms_per_cert']:.2f} "
            f"| {st['client_cpu_ms_per_cert']:.2f} / {pl['client_cpu_ms_per_cert']:.2f} "
            f"| {budget(st, pl, 1.5):.2f} / {budget(st, pl, 2):.2f} |"
        )
    return "\n".join(rows)


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
