"""Bad input for a token CA (SoftHSM2): a wrong PIN, an unknown module, a URI naming a missing object, a key
type the CA cannot use, a key manager that is not installed — each a start-up error that names the URI
without the PIN and says what to do, never a traceback. A failed `plica init --kms` takes back the keys and
files it made; an offline root stays out of the token."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from plica.testing import PASSWORD, CAFiles, make_ca, plica_cli

from .conftest import PIN, Module

WRONG_PIN = "wrong-pin-31337"


def start(files: CAFiles, module: Module) -> subprocess.CompletedProcess[str]:
    return plica_cli("start", "--home", str(files.home), "--password-file", str(files.password_file),
                     env={**files.env(), **module.env}, timeout=120)  # fmt: skip


def refused(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" not in out and PIN not in out and WRONG_PIN not in out, out
    for n in needles:
        assert n in out, out
    return out


@pytest.fixture
def files(tmp_path: Path, softhsm: Module) -> CAFiles:
    return make_ca(tmp_path, ssh=True, kms=softhsm.uri())


def set_kms(files: CAFiles, **block: str) -> None:
    cfg = files.config()
    cfg["kms"] = {**cfg["kms"], **block}
    files.write_config(cfg)


def test_wrong_pin(files: CAFiles, softhsm: Module) -> None:
    set_kms(files, uri=f"pkcs11:module-path={softhsm.module_path};token=plica?pin-value={WRONG_PIN}")
    refused(
        start(files, softhsm), "pin-value=***", "refused the PIN", "check pin-value or the pin-source file"
    )
    # The token is not locked by the attempt: the right PIN still opens it.
    softhsm.tool("--list-objects", "--type", "privkey")


def test_unknown_module_path(files: CAFiles, softhsm: Module) -> None:
    set_kms(files, uri="pkcs11:module-path=/nonexistent/libnope.so;token=plica?pin-value=" + PIN)
    refused(start(files, softhsm), "/nonexistent/libnope.so", "check module-path")


def test_unknown_token(files: CAFiles, softhsm: Module) -> None:
    set_kms(
        files,
        uri=f"pkcs11:module-path={softhsm.module_path};token=elsewhere?pin-source=file:{softhsm.pin_file}",
    )
    refused(start(files, softhsm), "token='elsewhere'", "check token=")


def test_unreadable_pin_source(files: CAFiles, softhsm: Module) -> None:
    set_kms(
        files, uri=f"pkcs11:module-path={softhsm.module_path};token=plica?pin-source=file:/nonexistent/pin"
    )
    refused(start(files, softhsm), "cannot read pin-source /nonexistent/pin")


def test_missing_object(files: CAFiles, softhsm: Module) -> None:
    cfg = files.config()
    cfg["key"] = "pkcs11:id=9999;object=no-such-key"
    files.write_config(cfg)
    refused(
        start(files, softhsm), "pkcs11:id=9999;object=no-such-key", "no such key pair", "plica kms create"
    )


@pytest.mark.parametrize("key_type", ["EC:secp521r1", "rsa:1024"])
def test_key_type_the_ca_cannot_use(files: CAFiles, softhsm: Module, key_type: str) -> None:
    softhsm.tool("--keypairgen", "--key-type", key_type, "--id", "99", "--label", "odd-key")
    cfg = files.config()
    cfg["ssh"]["userKey"] = "pkcs11:id=99;object=odd-key"
    files.write_config(cfg)
    refused(
        start(files, softhsm),
        "pkcs11:id=99;object=odd-key",
        "the CA needs EC P-256, EC P-384 or RSA 2048-4096",
    )


def test_key_manager_not_installed(files: CAFiles, softhsm: Module) -> None:
    set_kms(files, type="yubikey")
    refused(start(files, softhsm), "key manager type 'yubikey' is not installed")


def init_args(home: Path, pw: Path, kms: str, *extra: str) -> list[str]:
    return ["init", "--home", str(home), "--name", "T", "--dns", "localhost", "--address", "127.0.0.1:9999",
            "--provisioner", "admin", "--password-file", str(pw), "--kms", kms, *extra]  # fmt: skip


def test_failed_init_removes_what_it_created(tmp_path: Path, softhsm: Module) -> None:
    # The SSH user key's place is taken: init creates the root, intermediate and SSH host keys, then fails.
    r = plica_cli("kms", "create", "--kms", softhsm.uri(), "--key", "pkcs11:id=7333;object=ssh-user-key",
                  env=softhsm.full_env())  # fmt: skip
    assert r.returncode == 0, r.stderr
    pw = tmp_path / "pw"
    pw.write_bytes(PASSWORD)
    home = tmp_path / "ca"
    r = plica_cli(*init_args(home, pw, softhsm.uri(), "--ssh"), env=softhsm.full_env())
    refused(r, "pkcs11:id=7333;object=ssh-user-key", "already has a key")
    assert not home.exists(), sorted(str(p) for p in home.rglob("*"))
    listing = plica_cli("kms", "list", "--kms", softhsm.uri(), env=softhsm.full_env())
    assert listing.stdout.splitlines() == [
        "pkcs11:id=7333;object=ssh-user-key\tEC P-256\tsensitive, never extractable"
    ]


def test_offline_root_stays_out_of_the_token(tmp_path: Path, softhsm: Module) -> None:
    offline = make_ca(tmp_path / "offline", ssh=False)  # a root made elsewhere: its certificate and key file
    pw = tmp_path / "pw"
    pw.write_bytes(PASSWORD)
    home = tmp_path / "ca"
    r = plica_cli(*init_args(home, pw, softhsm.uri(), "--root", str(offline.root), "--key",
                             str(offline.home / "secrets" / "root_ca_key")), env=softhsm.full_env())  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    listing = plica_cli("kms", "list", "--kms", softhsm.uri(), env=softhsm.full_env()).stdout
    assert [line.split("\t")[0] for line in listing.splitlines()] == [
        "pkcs11:id=7331;object=intermediate-key"
    ]
    v = subprocess.run(["openssl", "verify", "-CAfile", str(offline.root), str(home / "certs" / "intermediate_ca.crt")],
                       capture_output=True, text=True)  # fmt: skip
    assert v.returncode == 0, v.stdout + v.stderr
    assert (home / "certs" / "root_ca.crt").read_bytes() == offline.root.read_bytes()
    assert not list((home / "secrets").iterdir())


def test_master_refuses_before_forking_workers(tmp_path: Path, module: Module) -> None:
    """With `--workers 2` the master checks the token and every key (in a child process, never loading the
    module itself) and stops with the URI, without the PIN, before any worker starts."""
    files = make_ca(tmp_path, ssh=False, kms=module.uri(pin_value=True))
    cfg = files.config()
    cfg["key"] = "pkcs11:id=9999;object=not-there"
    files.write_config(cfg)
    r = plica_cli("start", "--workers", "2", "--home", str(files.home), "--password-file", str(files.password_file),
                  env={**files.env(), **module.env}, timeout=120)  # fmt: skip
    out = refused(r, "pkcs11:id=9999;object=not-there", "pin-value=***", "no such key pair in the token")
    assert "serving https" not in out
