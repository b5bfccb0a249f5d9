"""What one TLS handshake costs the server, in CPU, on this machine: the floor under mTLS renewals.

    python bench/tls_handshake.py [--count 2000]

`step ca renew --daemon` (and bench/sidebyside.py's renew load) opens a new TLS connection for every
renewal, so each renewal pays a full TLS 1.3 handshake with a client certificate before any of the CA's
own work. This measures that handshake alone, with the TLS stack Plica's server uses (Python's `ssl`
module and the OpenSSL it is linked against) and the options `plica.http.tls.ServerTLS` sets (no session
tickets, client certificates optional, verified against the root and intermediate, each a trust anchor) and
the EC engine its workers install on OpenSSL 3.0 (`plica.http.openssl_ec`; `PLICA_TLS_EC_ENGINE=off` runs
without it, for comparison): a throwaway EC P-256
root, intermediate, server and client certificate, both ends in this process over memory BIOs, and the
server end's CPU time (`time.thread_time`, so other load on the machine does not count) summed over its
handshake steps. Also prints the cryptographic operations inside such a handshake, timed alone through
`cryptography` (whose OpenSSL may be another version), to show how much of the handshake they are.

Two variants ask whether a different set-up would lower that floor:
- the key exchange on P-256 instead of X25519 (the server offers P-256 only; a client that sends an
  X25519 share first, as Go's and OpenSSL's do, gets a HelloRetryRequest);
- the same handshake on the OpenSSL inside `cryptography` (a newer one than Python's `ssl` is linked
  against, without the EC engine, which only concerns OpenSSL 3.0's decoders), through pyOpenSSL: run
  only when pyOpenSSL is installed. Plica does not use it, and pyOpenSSL 26.4 wants cryptography below 51,
  so install it in an environment of its own (`python -m venv /tmp/tls && /tmp/tls/bin/pip install -e .
  pyopenssl`), not in Plica's: pip would replace cryptography there.

Each line runs in slices, one slice of each line in turn, and prints the mean and the slices' range.
"""

from __future__ import annotations

import argparse
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from plica.http import openssl_ec
from plica.testing.csrs import tls_cert


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def contexts(d: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context with a certificate, client context without one)."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(4)]
    root = tls_cert("Bench Root", keys[0], ca=True)
    inter = tls_cert("Bench Intermediate", keys[1], (root, keys[0]), ca=True)
    server = tls_cert("localhost", keys[2], (inter, keys[1]))
    client = tls_cert("client.bench", keys[3], (inter, keys[1]))
    for name, data in {
        "root.pem": _pem(root),
        "cas.pem": _pem(root, inter),
        "server.pem": _pem(server, inter),
        "server.key": _key_pem(keys[2]),
        "client.pem": _pem(client, inter),
        "client.key": _key_pem(keys[3]),
    }.items():
        (d / name).write_bytes(data)
    srv = server_context(d)
    mtls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    mtls.load_verify_locations(d / "root.pem")
    mtls.load_cert_chain(d / "client.pem", d / "client.key")
    plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    plain.load_verify_locations(d / "root.pem")
    return srv, mtls, plain


def server_context(d: Path) -> ssl.SSLContext:
    """The server's context over the files `contexts` wrote to `d`, as plica.http.tls.ServerTLS sets it up."""
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.options |= ssl.OP_NO_RENEGOTIATION
    srv.num_tickets = 0
    srv.verify_mode = ssl.CERT_OPTIONAL
    srv.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    srv.load_verify_locations(d / "cas.pem")
    srv.load_cert_chain(d / "server.pem", d / "server.key")
    return srv


def client_step(client: ssl.SSLObject) -> bool:
    """One step of the client's end of a handshake; True once it is done."""
    try:
        client.do_handshake()
        return True
    except ssl.SSLWantReadError:
        return False


def handshake(srv: ssl.SSLContext, cli: ssl.SSLContext, mtls: bool) -> float:
    """One handshake; the server end's CPU seconds."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cli.wrap_bio(c_in, c_out, server_hostname="localhost")
    cpu = 0.0
    t = time.thread_time()
    server = srv.wrap_bio(s_in, s_out, server_side=True)
    cpu += time.thread_time() - t
    client_done = server_done = False
    while not server_done:
        if not client_done:
            client_done = client_step(client)
        t = time.thread_time()
        s_in.write(c_out.read())
        try:
            server.do_handshake()
            server_done = True
        except ssl.SSLWantReadError:
            pass
        out = s_out.read()
        cpu += time.thread_time() - t
        c_in.write(out)
    if mtls and server.getpeercert(binary_form=True) is None:
        raise SystemExit("the server did not get the client certificate")
    return cpu


def pyopenssl_server(d: Path) -> Any:
    """A pyOpenSSL server context with the options of `server_context`, or None without pyOpenSSL."""
    try:
        from OpenSSL import SSL
    except ImportError:
        return None
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_RENEGOTIATION)
    ctx.use_certificate_chain_file(str(d / "server.pem"))
    ctx.use_privatekey_file(str(d / "server.key"))
    ctx.load_verify_locations(str(d / "cas.pem"))
    ctx.set_verify(SSL.VERIFY_PEER, None)  # optional: a client without a certificate is not refused
    ctx.get_cert_store().set_flags(0x80000)  # X509_V_FLAG_PARTIAL_CHAIN, as VERIFY_X509_PARTIAL_CHAIN
    return ctx


def pyopenssl_handshake(srv: Any, cli: ssl.SSLContext, mtls: bool) -> float:
    """`handshake`, with the server end on pyOpenSSL (its memory BIO)."""
    from OpenSSL import SSL

    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cli.wrap_bio(c_in, c_out, server_hostname="localhost")
    t = time.thread_time()
    server = SSL.Connection(srv, None)
    server.set_accept_state()
    cpu = time.thread_time() - t
    client_done = server_done = False
    while not (server_done and client_done):
        if not client_done:
            client_done = client_step(client)
        t = time.thread_time()
        data = c_out.read()
        if data:
            server.bio_write(data)
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except SSL.WantReadError:
                pass
        try:
            out = server.bio_read(65536)
        except SSL.WantReadError:
            out = b""
        cpu += time.thread_time() - t
        c_in.write(out)
    if mtls and server.get_peer_certificate() is None:
        raise SystemExit("the pyOpenSSL server did not get the client certificate")
    return cpu


def per_op(fn: Callable[[], object], n: int) -> float:
    t = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000)
    args = ap.parse_args()
    engine = openssl_ec.install()  # as each worker does (plica.http.openssl_ec; PLICA_TLS_EC_ENGINE=off: not)
    keys = "OpenSSL's built-in EC method" if engine else "OpenSSL's provider decoders"
    with tempfile.TemporaryDirectory() as d:
        srv, mtls, plain = contexts(Path(d))
        print(f"server TLS: Python {ssl.OPENSSL_VERSION}; EC P-256 certificates; TLS 1.3; no session tickets")
        print(f"EC keys in certificates: {keys}")
        p256 = server_context(Path(d))
        p256.set_ecdh_curve("prime256v1")  # the groups list of OpenSSL 3: P-256 alone
        runs: list[tuple[str, Callable[[], float]]] = [
            ("mTLS (client certificate)", lambda: handshake(srv, mtls, True)),
            ("server-only", lambda: handshake(srv, plain, False)),
            ("mTLS, P-256 key exchange (HelloRetryRequest)", lambda: handshake(p256, mtls, True)),
        ]
        other = pyopenssl_server(Path(d))
        if other is not None:
            from OpenSSL import SSL

            version = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
            runs.append((f"mTLS on {version} (pyOpenSSL)", lambda: pyopenssl_handshake(other, mtls, True)))
        # In slices, one of each in turn: the machine's speed drifts over a run, and each line should see
        # the same drift.
        slices = 5
        per = max(args.count // slices, 1)
        cpu: dict[str, list[float]] = {label: [] for label, _ in runs}
        for _, run in runs:
            for _ in range(50):
                run()
        for _ in range(slices):
            for label, run in runs:
                cpu[label].append(sum(run() for _ in range(per)) / per)
        for label, _ in runs:
            mean = sum(cpu[label]) / slices
            lo, hi = min(cpu[label]), max(cpu[label])
            print(
                f"  {label:<46} {mean * 1e6:5.0f} µs of server CPU per handshake ({lo * 1e6:.0f}-{hi * 1e6:.0f})"
            )
        if other is None:
            print("  (pyOpenSSL is not installed: the handshake on cryptography's OpenSSL is left out)")
    key = ec.generate_private_key(ec.SECP256R1())
    msg = b"x" * 200
    sig = key.sign(msg, ec.ECDSA(hashes.SHA256()))
    pub = key.public_key()
    xpub = x25519.X25519PrivateKey.generate().public_key()
    n = max(args.count, 500)
    ops = {
        "ECDSA P-256 sign (server's CertificateVerify)": per_op(
            lambda: key.sign(msg, ec.ECDSA(hashes.SHA256())), n
        ),
        "ECDSA P-256 verify (x2 with a client certificate)": per_op(
            lambda: pub.verify(sig, msg, ec.ECDSA(hashes.SHA256())), n
        ),
        "X25519 key pair + shared secret": per_op(
            lambda: x25519.X25519PrivateKey.generate().exchange(xpub), n
        ),
    }
    print(f"its cryptography alone ({backend.openssl_version_text()} through cryptography):")
    for label, s in ops.items():
        print(f"  {label:<50} {s * 1e6:6.0f} µs")
    floor = (
        ops["ECDSA P-256 sign (server's CertificateVerify)"]
        + 2 * ops["ECDSA P-256 verify (x2 with a client certificate)"]
        + ops["X25519 key pair + shared secret"]
    )
    print(f"  {'sum for an mTLS handshake':<50} {floor * 1e6:6.0f} µs")


if __name__ == "__main__":
    main()
