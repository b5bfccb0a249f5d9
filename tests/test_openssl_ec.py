"""plica.http.openssl_ec: with the engine installed, Python's ssl decodes and checks EC keys through
OpenSSL's built-in EC method, and every handshake ends as it does without it. Each mode runs in its own
process (the engine is process-wide): the same certificates, the same handshakes (TLS 1.2 and 1.3, P-256
and X25519 key exchange, EC and RSA client certificates, forged and broken ones), the same outcomes."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from plica.errors import ConfigError
from plica.http import openssl_ec
from plica.testing import make_ca
from plica.testing.csrs import tls_cert

needs_engine = pytest.mark.skipif(
    ssl.OPENSSL_VERSION_INFO[:2] != (3, 0), reason="the engine applies to OpenSSL 3.0 only"
)


def _write(path: Path, *items: Any) -> str:
    out = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            out += item.public_bytes(serialization.Encoding.PEM)
        else:
            out += item.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
    path.write_bytes(out)
    return str(path)


def _broken_point(cert: x509.Certificate) -> x509.Certificate:
    # The same certificate with one byte of its EC point changed: the point is no longer on the curve.
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    point = cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    at = bytes(der).index(point)
    der[at + 40] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def _material(tmp: Path) -> dict[str, Any]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = tls_cert("root", root_key, None, ca=True)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = tls_cert("intermediate", inter_key, (root, root_key), ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = tls_cert("server", server_key, (inter, inter_key), ca=False)
    clients: dict[str, Any] = {}
    for name, key, issuer in [
        ("ec-p256", ec.generate_private_key(ec.SECP256R1()), (inter, inter_key)),
        ("ec-p384", ec.generate_private_key(ec.SECP384R1()), (inter, inter_key)),
        ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048), (inter, inter_key)),
        ("untrusted", ec.generate_private_key(ec.SECP256R1()), None),
    ]:
        leaf = tls_cert(name, key, issuer, ca=False)
        clients[name] = (_write(tmp / f"{name}.crt", leaf, inter), _write(tmp / f"{name}.key", key))
        if name == "ec-p256":  # without its intermediate, against the broken one below
            clients["broken"] = (_write(tmp / "leaf-only.crt", leaf), clients[name][1])
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = tls_cert("forged", key, (inter, ec.generate_private_key(ec.SECP256R1())), ca=False)
    clients["forged"] = (_write(tmp / "forged.crt", leaf, inter), _write(tmp / "forged.key", key))
    return {
        "trust": _write(tmp / "trust.pem", root, inter),
        "root": _write(tmp / "root.pem", root),  # the clients' (so that OpenSSL adds no chain of its own)
        # the intermediate with a point off the curve: its certificates cannot be checked against it
        "broken_trust": _write(tmp / "broken.pem", root, _broken_point(inter)),
        "server": (_write(tmp / "server.crt", server, inter), _write(tmp / "server.key", server_key)),
        "clients": clients,
    }


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> dict[str, Any]:
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    done = {"server": False, "client": False}
    errors: dict[str, str] = {}
    for _ in range(20):
        for side, obj, out, peer_in in [("client", client, c_out, s_in), ("server", server, s_out, c_in)]:
            if not done[side] and side not in errors:
                try:
                    obj.do_handshake()
                    done[side] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except ssl.SSLError as e:
                    errors[side] = e.reason or str(e)
            peer_in.write(out.read())
        if all(done.values()) or errors:
            break
    if all(done.values()):  # TLS 1.3: the server judges the client's certificate once it has its Finished
        try:
            client.write(b"ping")
            s_in.write(c_out.read())
            assert server.read(4) == b"ping"
        except ssl.SSLError as e:
            errors["server"] = e.reason or str(e)
    return {
        "errors": errors,
        "version": server.version() if not errors else None,
        "peer": server.getpeercert() if not errors else None,
    }


def _run_all(material: dict[str, Any]) -> dict[str, Any]:
    results = {}
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        for curve in ("prime256v1", "X25519"):
            for name, (crt, key) in material["clients"].items():
                server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server_ctx.load_cert_chain(*material["server"])
                server_ctx.verify_mode = ssl.CERT_REQUIRED
                server_ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
                server_ctx.load_verify_locations(material["broken_trust" if name == "broken" else "trust"])
                server_ctx.set_ecdh_curve(curve)
                server_ctx.maximum_version = version
                client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                client_ctx.load_verify_locations(material["root"])
                client_ctx.maximum_version = version
                client_ctx.load_cert_chain(crt, key)
                results[f"{version.name} {curve} {name}"] = _handshake(server_ctx, client_ctx)
    return results


def _in_process(mode: str, tmp: Path) -> tuple[dict[str, Any], int]:
    r = subprocess.run(
        [sys.executable, __file__, mode, str(tmp)],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", openssl_ec.ENV: mode},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return out["results"], out["calls"]


@needs_engine
def test_handshakes_end_the_same_with_and_without_the_engine(tmp_path: Path) -> None:
    (tmp_path / "material.json").write_text(json.dumps(_material(tmp_path)))
    with_engine, calls = _in_process("on", tmp_path)
    without, no_calls = _in_process("off", tmp_path)
    assert calls > 0 and no_calls == 0
    assert with_engine == without
    for key, r in with_engine.items():
        version, curve, name = key.split()
        # TLS 1.2 accepts an EC client certificate only on a curve of the server's key exchange groups
        ok = name == "rsa" or (
            name in ("ec-p256", "ec-p384")
            and (version == "TLSv1_3" or (curve, name) == ("prime256v1", "ec-p256"))
        )
        assert (not r["errors"]) == ok, (key, r)
        if ok:
            assert dict(x[0] for x in r["peer"]["subject"])["commonName"] == name
    assert {r["version"] for r in with_engine.values() if r["version"]} == {"TLSv1.2", "TLSv1.3"}


@needs_engine
def test_install_is_once_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(openssl_ec.ENV, "auto")
    assert openssl_ec.install() and openssl_ec.install()
    assert openssl_ec.active()


def test_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(openssl_ec.ENV, "off")
    assert not openssl_ec.wanted()
    monkeypatch.setenv(openssl_ec.ENV, "On")
    assert openssl_ec.wanted() == (ssl.OPENSSL_VERSION_INFO[0] == 3)
    monkeypatch.setenv(openssl_ec.ENV, "sometimes")
    with pytest.raises(ConfigError, match="unknown value 'sometimes'"):
        openssl_ec.wanted()


def test_unknown_setting_stops_the_start(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    r = subprocess.run(
        [sys.executable, "-m", "plica", "start", "--home", str(files.home), "--password-file",
         str(files.password_file)],
        capture_output=True, text=True, env={**files.env(), openssl_ec.ENV: "sometimes"}, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "unknown value 'sometimes'" in r.stderr and "Traceback" not in r.stderr


if __name__ == "__main__":
    mode, tmp = sys.argv[1], Path(sys.argv[2])
    installed = openssl_ec.install()
    assert installed == (mode == "on") and openssl_ec.active() == installed
    results = _run_all(json.loads((tmp / "material.json").read_text()))
    print(json.dumps({"results": results, "calls": openssl_ec.calls()}))
