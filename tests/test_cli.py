"""The `plica` command: --help everywhere, `plica init` answered through stdin (keys encrypted and 0600),
then that CA started and used: `plica root` with the right and a wrong fingerprint, `plica provisioner list`."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plica.cli.main import build_cli
from plica.jose import jwe_decrypt_pbes2, key_from_jwk, public_jwk
from plica.testing import CAFiles, ca_process, free_port, plica_cli

PASSWORD = "init-pass-1234"


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))


def test_help_works_on_every_command() -> None:
    cli = build_cli().load_all()
    paths = list(all_commands(cli))
    for must in (("init",), ("start",), ("certificate",), ("renew",), ("revoke",), ("root",), ("token",),
                 ("ssh", "certificate"), ("provisioner", "capabilities")):  # fmt: skip
        assert must in paths
    runner = CliRunner()
    for path in [(), *paths]:
        for flag in ("--help", "-h"):
            r = runner.invoke(cli, [*path, flag])
            assert r.exit_code == 0, (path, r.output)
            assert r.output.startswith("Usage: ") and " ".join(path) in r.output.splitlines()[0]
    # And as a real process, the way users run it.
    r = plica_cli("--help")
    assert r.returncode == 0 and "certificate" in r.stdout and "provisioner" in r.stdout
    r = plica_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("plica, version ")


@pytest.fixture(scope="module")
def initialised(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, int, subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.mktemp("init") / "ca"
    port = free_port()
    answers = f"Init Test PKI\nlocalhost,127.0.0.1\n127.0.0.1:{port}\nops\n{PASSWORD}\n{PASSWORD}\n"
    r = plica_cli("init", "--home", str(home), "--ssh", input=answers)
    return home, port, r


@pytest.mark.slow
def test_init_answers_prompts_from_stdin(
    initialised: tuple[Path, int, subprocess.CompletedProcess[str]],
) -> None:
    home, port, r = initialised
    assert r.returncode == 0, r.stdout + r.stderr
    for prompt in ("name your new PKI", "DNS names", "bind to", "first provisioner", "password"):
        assert prompt in r.stdout + r.stderr, prompt
    assert PASSWORD not in r.stdout + r.stderr
    root = x509.load_pem_x509_certificate((home / "certs" / "root_ca.crt").read_bytes())
    fp = hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert f"Root fingerprint: {fp}" in r.stdout
    assert "Init Test PKI" in root.subject.rfc4514_string()
    cfg = orjson.loads((home / "config" / "ca.json").read_bytes())
    assert cfg["address"] == f"127.0.0.1:{port}" and cfg["dnsNames"] == ["localhost", "127.0.0.1"]
    (prov,) = [p for p in cfg["authority"]["provisioners"] if p["type"] == "JWK"]
    assert prov["name"] == "ops"
    defaults = orjson.loads((home / "config" / "defaults.json").read_bytes())
    assert defaults["ca-url"] == f"https://localhost:{port}" and defaults["fingerprint"] == fp
    # The provisioner's published key opens with the password and is the provisioner's key.
    _, plain = jwe_decrypt_pbes2(prov["encryptedKey"], PASSWORD.encode())
    assert public_jwk(key_from_jwk(orjson.loads(plain))) == {
        k: prov["key"][k] for k in ("kty", "crv", "x", "y")
    }
    # Refuses to overwrite.
    again = plica_cli("init", "--home", str(home), "--name", "x", "--dns", "x", "--address", ":1",
                      "--provisioner", "x", "--password-file", str(home / "config" / "ca.json"))  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.slow
def test_private_keys_are_encrypted_and_private(
    initialised: tuple[Path, int, subprocess.CompletedProcess[str]],
) -> None:
    home, _, _ = initialised
    secrets = home / "secrets"
    assert os.stat(secrets).st_mode & 0o777 == 0o700
    names = sorted(p.name for p in secrets.iterdir())
    assert names == ["intermediate_ca_key", "root_ca_key", "ssh_host_ca_key", "ssh_user_ca_key"]
    for p in secrets.iterdir():
        assert os.stat(p).st_mode & 0o777 == 0o600, p
        text = p.read_text()
        assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----"), p
        # openssl opens it with the password, and only with it.
        ok = subprocess.run(["openssl", "pkey", "-in", str(p), "-passin", f"pass:{PASSWORD}", "-noout"],
                            capture_output=True)  # fmt: skip
        assert ok.returncode == 0, (p, ok.stderr)
        bad = subprocess.run(
            ["openssl", "pkey", "-in", str(p), "-passin", "pass:wrong", "-noout"], capture_output=True
        )
        assert bad.returncode != 0
    # Nothing else under the CA's home holds a private key in the clear.
    for f in home.rglob("*"):
        if f.is_file() and f.suffix != ".db" and "db" not in f.parts:
            assert (
                b"BEGIN PRIVATE KEY" not in f.read_bytes() and b"BEGIN EC PRIVATE KEY" not in f.read_bytes()
            )


@pytest.mark.slow
def test_the_initialised_ca_serves_root_and_provisioners(
    initialised: tuple[Path, int, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    home, port, _ = initialised
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    root_path = home / "certs" / "root_ca.crt"
    root = x509.load_pem_x509_certificate(root_path.read_bytes())
    fp = hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()
    files = CAFiles(home=home, config_path=home / "config" / "ca.json", root=root_path,
                    intermediate=home / "certs" / "intermediate_ca.crt", password_file=pw,
                    password=PASSWORD.encode(), port=port, fingerprint=fp)  # fmt: skip
    # A client that knows nothing but the URL and the fingerprint (no PLICA_HOME, no root yet).
    bare = {k: v for k, v in os.environ.items() if not k.startswith("PLICA_")} | {"HOME": str(tmp_path)}
    with ca_process(files, log=tmp_path / "server.log"):
        out = tmp_path / "root.crt"
        colon_upper = ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()
        r = plica_cli("root", str(out), "--ca-url", f"https://127.0.0.1:{port}", "--fingerprint", colon_upper,
                      env=bare)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert x509.load_pem_x509_certificate(out.read_bytes()) == root
        wrong = tmp_path / "wrong.crt"
        r = plica_cli("root", str(wrong), "--ca-url", f"https://127.0.0.1:{port}", "--fingerprint",
                      hashlib.sha256(b"x").hexdigest(), env=bare)  # fmt: skip
        assert r.returncode == 1 and "fingerprint" in r.stderr and not wrong.exists()
        # The downloaded root is enough to talk to the CA.
        r = plica_cli(
            "provisioner", "list", "--ca-url", f"https://127.0.0.1:{port}", "--root", str(out), env=bare
        )
        assert r.returncode == 0, r.stderr
        listed = orjson.loads(r.stdout)
        assert [p["name"] for p in listed] == [p["name"] for p in files.config()["authority"]["provisioners"]]


def test_a_missing_or_broken_ca_json_is_named_once(tmp_path: Path) -> None:
    """`plica admin` and `plica acme eab` name a missing ca.json once, and prefix a fault in its contents
    with the file."""
    cli = build_cli()
    runner = CliRunner()
    home = tmp_path / "ca"
    commands = [["admin", "list", "--home", str(home)], ["acme", "eab", "list", "acme", "--home", str(home)]]
    path = home / "config" / "ca.json"
    for args in commands:
        r = runner.invoke(cli, args)
        assert r.exit_code != 0
        assert r.output.count(str(path)) == 1 and "No such file or directory" in r.output, r.output
    path.parent.mkdir(parents=True)
    path.write_text('{"root": 5}')
    for args in commands:
        r = runner.invoke(cli, args)
        assert r.exit_code != 0
        assert f"Error: {path}: ca.json.root: expected a string" in r.output and "cannot read" not in r.output
