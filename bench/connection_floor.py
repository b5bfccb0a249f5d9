"""What a new mTLS connection with one request costs a server, in CPU, on this machine: the floor under
renewals, for Plica, for servers that do less than Plica, and for step-ca.

    python bench/connection_floor.py [--seconds 8] [--build-dir DIR]

A renewal agent (`step ca renew --daemon`, bench/sidebyside.py's renew load) opens a new TLS connection for
every renewal. This measures what such a connection costs the server when the request is as cheap as a
request can be (`GET /health`), with `openssl s_time -new` as the client (one connection at a time, a full
TLS 1.3 handshake with a client certificate each time, then the request and the close), on:

- tls-only: uvloop's TLS server in front of an asyncio protocol that answers every request with a fixed
  response and closes: the least any Python server that uses the `ssl` module can spend per connection;
- aiohttp: aiohttp's web server on uvloop, a `/health` route and nothing else;
- plica: `plica start --workers 1` (the real server: its guard, access log, middlewares);
- step-ca: step-ca 0.19, built as bench/sidebyside.py builds it (skipped when it cannot be built).

All use the same TLS settings as Plica's server (TLS 1.3, EC P-256 server and client certificates, no
session tickets, client certificates optional and verified, the EC engine of `plica.http.openssl_ec`). For
each it prints the server's CPU (user + system of its process tree) per connection, for the handshake
alone and for the handshake with one request. With step-ca built, it then runs step-ca's renewals for a few
seconds (stepbench, 32 at a time, as bench/sidebyside.py does) and prints the server CPU per renewal that
1.5x step-ca's renewal rate would leave: the two cores' time at that rate, less the load generator's
share. Run it on a quiet machine. Needs openssl (the command).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sidebyside import (
    CA,
    Material,
    budget,
    build_stepca,
    free_port,
    measure,
    plica,
    run_renewals,
    stepca,
    tree_cpu_seconds,
)
from tls_handshake import contexts, server_context

_RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"status":"ok"}'


# ------------------------------------------------------------------------------------------ the servers


def serve(kind: str, port: int, d: Path) -> None:
    """The child process of one minimal server (`--serve KIND PORT DIR`), in the TLS set-up of Plica's."""
    import uvloop

    from plica.http import openssl_ec

    openssl_ec.install()  # as each of Plica's workers does
    ctx = server_context(d)  # plica.http.tls.ServerTLS's options

    async def main() -> None:
        if kind == "aiohttp":
            from aiohttp import web

            async def health(_: web.Request) -> web.Response:
                return web.json_response({"status": "ok"})

            app = web.Application()
            app.router.add_get("/health", health)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
        else:

            class Fixed(asyncio.Protocol):
                def connection_made(self, transport: asyncio.BaseTransport) -> None:
                    self.transport: asyncio.Transport = transport  # type: ignore[assignment]

                def data_received(self, data: bytes) -> None:
                    self.transport.write(_RESPONSE)
                    self.transport.close()

            await asyncio.get_running_loop().create_server(Fixed, "127.0.0.1", port, ssl=ctx)
        print("ready", flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


@contextmanager
def minimal(kind: str, d: Path) -> Iterator[tuple[int, str]]:
    """(pid, host:port) of a minimal server in a child process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(port), str(d)], stdout=subprocess.PIPE
    )
    try:
        if proc.stdout is None or proc.stdout.readline().strip() != b"ready":
            sys.exit(f"the {kind} server did not start")
        yield proc.pid, f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ------------------------------------------------------------------------------------------ measuring


def per_connection(
    pid: int, hostport: str, root: Path, cert: Path, key: Path, seconds: int, get: bool
) -> float:
    """Server CPU seconds per connection over one `openssl s_time -new` run."""
    cmd = ["openssl", "s_time", "-connect", hostport, "-new", "-time", str(seconds), "-CAfile", str(root),
           "-cert", str(cert), "-key", str(key)]  # fmt: skip
    if get:
        cmd += ["-www", "/health"]
    cpu0 = tree_cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    cpu = tree_cpu_seconds(pid) - cpu0
    m = re.search(r"(\d+) connections in [\d.]+s", out)
    if not m or int(m.group(1)) == 0:
        sys.exit(f"openssl s_time made no connection to {hostport}:\n{out[-2000:]}")
    return cpu / int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8, help="length of each s_time run")
    ap.add_argument(
        "--build-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "plica-bench-stepca",
    )
    ap.add_argument("--no-stepca", action="store_true")
    ap.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), Path(args.serve[2]))
        return
    if not shutil.which("openssl"):
        sys.exit("openssl (the command) is needed")
    bin_dir = None if args.no_stepca else build_stepca(args.build_dir)
    print(f"server TLS: Python {ssl.OPENSSL_VERSION}; client: openssl s_time -new, one connection at a time")
    print(f"{'server':<10}{'handshake + close':>20}{'+ GET /health':>16}   (server CPU per connection)")
    renewals: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="plica-floor-") as tmp_name:
        tmp = Path(tmp_name)
        pki = tmp / "pki"
        pki.mkdir()
        contexts(pki)
        mat = Material(32)

        def report(name: str, pid: int, hostport: str, root: Path, cert: Path, key: Path) -> None:
            hs, get = (per_connection(pid, hostport, root, cert, key, args.seconds, g) for g in (False, True))
            print(f"{name:<10}{hs * 1e3:>17.2f} ms{get * 1e3:>13.2f} ms", flush=True)

        for kind in ("tls-only", "aiohttp"):
            with minimal(kind, pki) as (pid, hostport):
                report(kind, pid, hostport, pki / "root.pem", pki / "client.pem", pki / "client.key")
        cas: list[tuple[str, Callable[[], AbstractContextManager[CA]]]] = [("plica", lambda: plica(tmp, 1))]
        if bin_dir is not None:
            cas.append(("step-ca", lambda: stepca(bin_dir, tmp)))
        for name, start in cas:
            with start() as ca:
                certs = tmp / f"{name}-certs"
                mat.renew_certs(ca, 32, certs)
                report(name, ca.pid, ca.url.split("//", 1)[1], ca.root, certs / "0.crt", certs / "0.key")
                if name == "step-ca" and bin_dir is not None:
                    renewals = measure(ca, partial(run_renewals, bin_dir, ca, certs, 32, args.seconds))
    if renewals is not None:
        # the renewals' own load generator, as in bench/sidebyside.py, takes its share of the cores
        print(
            f"step-ca renewed {renewals['certs_per_s']:.0f}/s at {renewals['cpu_ms_per_cert']:.2f} ms of server "
            f"CPU each (stepbench, 32 at a time); 1.5x that rate leaves {budget(renewals, renewals, 1.5):.2f} ms "
            "of server CPU per renewal"
        )


if __name__ == "__main__":
    main()
