"""A CA whose keys are in a PKCS#11 token, end to end, against SoftHSM2 and against tpm2-pkcs11 on swtpm:
`plica init --kms` makes never-extractable token keys (pkcs11-tool says so) and no key file; the CA it makes
issues X.509 certificates that openssl verifies and SSH certificates that OpenSSH's sshd accepts; taking the
token away gives 503s and one log line, giving it back heals the CA without a restart."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate

from plica.testing import (
    CAFiles,
    ProvKey,
    ca_process,
    csr_pem,
    ec_key,
    free_port,
    make_ca,
    make_csr,
    plica_cli,
)
from plica.testing.external import SSHD, host_ca_known_hosts, openssl_verify, ssh_login, sshd
from plica.testing.httpapi import Api
from plica.testing.tokens import admin_key

from .conftest import PIN, Module

pytestmark = pytest.mark.slow


def cli(files: CAFiles, module: Module, *args: str) -> str:
    r = plica_cli(*args, env={**files.env(), **module.env}, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_init_kms_makes_token_keys_and_no_key_files(tmp_path: Path, module: Module) -> None:
    files = make_ca(tmp_path, ssh=True, kms=module.uri())
    cfg = files.config()
    assert cfg["kms"] == {"type": "pkcs11", "uri": module.uri()}
    assert cfg["key"] == "pkcs11:id=7331;object=intermediate-key"
    assert cfg["ssh"]["hostKey"] == "pkcs11:id=7332;object=ssh-host-key"
    assert cfg["ssh"]["userKey"] == "pkcs11:id=7333;object=ssh-user-key"
    # The CA directory holds no private key: only the password file make_ca writes for the provisioner.
    assert sorted(p.name for p in (files.home / "secrets").iterdir()) == ["password"]
    listing = module.tool("--list-objects", "--type", "privkey")
    blocks = [b for b in listing.split("Private Key Object") if b.strip()]
    labels = sorted(re.search(r"label:\s+(\S+)", b).group(1) for b in blocks)  # type: ignore[union-attr]
    assert labels == ["intermediate-key", "root-key", "ssh-host-key", "ssh-user-key"]
    for b in blocks:
        assert re.search(r"Access:\s+.*\bsensitive\b", b) and "never extractable" in b, b
    # The root and intermediate certificates are signed by the token's keys.
    r = plica_cli("kms", "list", "--home", str(files.home), env={**files.env(), **module.env})
    assert r.returncode == 0 and "never extractable" in r.stdout, r.stderr
    openssl_verify_chain(files)


def openssl_verify_chain(files: CAFiles) -> None:
    r = subprocess.run(
        ["openssl", "verify", "-CAfile", str(files.root), str(files.intermediate)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH's sshd is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="sshd must run as root to log a certificate holder in")
def test_token_keys_issue_x509_for_openssl_and_ssh_for_sshd(tmp_path: Path, module: Module) -> None:
    files = make_ca(tmp_path, ssh=True, kms=module.uri(pin_value=True))
    assert files.config_path.stat().st_mode & 0o777 == 0o600  # it holds the PIN
    port = free_port()
    log = files.home / "plica.log"
    with ca_process(files, env=module.env, workers=module.workers, log=log):
        all_serving(log, module.workers)
        sign_on_every_worker(files, admin_key(files), module.workers, tmp_path)
        crt, key = tmp_path / "web.crt", tmp_path / "web.key"
        cli(files, module, "certificate", "web.example", str(crt), str(key), "--provisioner", "admin",
            "--password-file", str(files.password_file))  # fmt: skip
        leaf = openssl_verify(files, crt)
        assert "Intermediate CA" in leaf.issuer.rfc4514_string()
        renewed = tmp_path / "renewed.crt"  # a renewal (mTLS) is signed by the token too
        cli(files, module, "renew", str(crt), str(key), "--out", str(renewed))
        assert openssl_verify(files, renewed).serial_number != leaf.serial_number
        host_key = tmp_path / "ssh_host_key"
        cli(files, module, "ssh", "certificate", "127.0.0.1", str(host_key), "--host", "--principal", "127.0.0.1",
            "--provisioner", "admin", "--password-file", str(files.password_file))  # fmt: skip
        host_cert = Path(f"{host_key}-cert.pub")
        cert = serialization.load_ssh_public_identity(host_cert.read_bytes().strip())
        assert isinstance(cert, SSHCertificate) and cert.type.name == "HOST"
        cert.verify_cert_signature()
        user_key = tmp_path / "id_root"
        cli(files, module, "ssh", "certificate", "root", str(user_key), "--principal", "root",
            "--provisioner", "admin", "--password-file", str(files.password_file))  # fmt: skip
        known_hosts = host_ca_known_hosts(files, port, tmp_path / "known_hosts")
        with sshd(tmp_path, port, host_key, host_cert, files.home / "certs" / "ssh_user_ca_key.pub"):
            r = ssh_login(port, user_key, known_hosts, "echo", "signed-by-a-token")
            assert r.returncode == 0 and "signed-by-a-token" in r.stdout, r.stderr
            assert f"serial {cert.serial} " in r.stderr
        provisioners = asyncio.run(_provisioners(files))
    # Each worker opened the module itself after the fork; the master never did.
    pids = set(re.findall(r"PKCS#11 token connected: .* \(pid (\d+)\)", log.read_text()))
    assert len(pids) == module.workers, log.read_text()
    # The PIN is in ca.json (pin-value) but nowhere the CA shows or logs.
    assert PIN not in orjson.dumps(provisioners).decode()
    assert PIN not in log.read_text()


def all_serving(log: Path, workers: int) -> None:
    """The CA answers as soon as one worker listens: wait for all of them."""
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("serving https://") < workers:
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


def sign_on_every_worker(files: CAFiles, prov: ProvKey, workers: int, tmp: Path) -> None:
    """/1.0/sign on new connections until every worker has answered 201, each certificate verified by openssl.
    A worker is told by its TLS certificate: each issues its own at start, signed by the token too."""
    ctx = ssl.create_default_context(cafile=str(files.root))
    answered: dict[bytes, int] = {}
    for i in range(60):
        cn = f"w{i}.example"
        ott = prov.token(cn, f"{files.url}/1.0/sign", sans=[cn])
        body = orjson.dumps({"csr": csr_pem(make_csr(ec_key(), cn, [cn])), "ott": ott})
        conn = http.client.HTTPSConnection("127.0.0.1", files.port, context=ctx, timeout=30)
        try:
            conn.request("POST", "/1.0/sign", body=body, headers={"Content-Type": "application/json"})
            assert conn.sock is not None
            server_cert = conn.sock.getpeercert(binary_form=True) or b""
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        assert r.status == 201, data
        crt = tmp / f"w{i}.crt"
        crt.write_text(orjson.loads(data)["crt"])
        openssl_verify(files, crt)
        if server_cert not in answered:
            tls = tmp / f"tls{len(answered)}.crt"
            tls.write_bytes(ssl.DER_cert_to_PEM_cert(server_cert).encode())
            openssl_verify(files, tls)  # the worker's own TLS certificate, signed by the token in that worker
        answered[server_cert] = answered.get(server_cert, 0) + 1
        if len(answered) == workers and i >= 3:
            break
    assert len(answered) == workers, f"{len(answered)} of {workers} workers answered: {answered.values()}"


async def _provisioners(files: CAFiles) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as s:
        return await Api(files, s).provisioners()


async def _sign_until(api: Api, prov: object, want: int, timeout: float) -> tuple[int, object]:
    deadline = time.monotonic() + timeout
    while True:
        r, _ = await api.sign(prov, "heal.example")  # type: ignore[arg-type]
        if r.status == want or time.monotonic() > deadline:
            return r.status, r
        await asyncio.sleep(0.3)


def test_token_taken_away_answers_503_and_heals_without_restart(tmp_path: Path, module: Module) -> None:
    files = make_ca(tmp_path, ssh=False, kms=module.uri())
    log = files.home / "plica.log"
    workers = module.workers

    async def run() -> None:
        prov = admin_key(files)
        async with aiohttp.ClientSession() as s:
            api = Api(files, s)
            r, _ = await api.sign(prov, "before.example")
            assert r.status == 201, r.raw
            module.take_away()
            try:
                for _ in range(6):
                    r, _ = await api.sign(prov, "away.example")
                    assert r.status == 503, r.raw
                    assert r.error() == {"status": 503, "message": "signing key unavailable"}
                health = await api.get("/health")
                assert health.status == 200  # the CA stays up
            finally:
                module.give_back()
            status, r = await _sign_until(api, prov, 201, timeout=30)
            assert status == 201, r

    with ca_process(files, env=module.env, workers=workers):
        all_serving(log, workers)  # the token goes away from every worker, not from one still starting
        asyncio.run(run())
        text = log.read_text()
    lost = [line for line in text.splitlines() if "signing key unavailable" in line]
    # Logged once per worker that met the loss (never once per request), and healed in the same processes.
    assert 1 <= len(lost) <= workers, text
    assert "signing key available again" in text, text
    assert "Traceback" not in text and PIN not in text


def test_pin_source_file_is_read_and_never_shown(tmp_path: Path, module: Module) -> None:
    files = make_ca(tmp_path, ssh=False, kms=module.uri())
    assert PIN not in files.config_path.read_text()  # ca.json names the file, not the PIN
    with ca_process(files, env=module.env):
        ctx = ssl.create_default_context(cafile=str(files.root))
        with urllib.request.urlopen(files.url + "/provisioners", context=ctx) as r:
            assert PIN not in r.read().decode()


def test_a_changed_pin_is_not_retried_until_the_pin_source_changes(tmp_path: Path, softhsm: Module) -> None:
    """The token comes back with another PIN: the CA tries the old one once (no lock-out by retries), stays
    unavailable, and heals when the pin-source file has the new PIN."""
    files = make_ca(tmp_path, ssh=False, kms=softhsm.uri())
    new_pin = "changed-pin-2468"
    log = files.home / "plica.log"

    async def run() -> None:
        prov = admin_key(files)
        async with aiohttp.ClientSession() as s:
            api = Api(files, s)
            assert (await api.sign(prov, "before.example"))[0].status == 201
            softhsm.take_away()
            assert (await api.sign(prov, "away.example"))[0].status == 503
            softhsm.give_back()
            softhsm.tool("--change-pin", "--new-pin", new_pin)  # logs in with the old PIN
            for _ in range(8):  # several reconnect periods: each finds the PIN refused
                r, _ = await api.sign(prov, "old-pin.example")
                assert r.status == 503 and r.error()["message"] == "signing key unavailable"
                await asyncio.sleep(0.4)
            softhsm.pin_file.write_text(new_pin + "\n")
            status, r = await _sign_until(api, prov, 201, timeout=30)
            assert status == 201, r

    with ca_process(files, env=softhsm.env, workers=1):
        asyncio.run(run())
        text = log.read_text()
    assert text.count("the token refused the PIN") == 1, text  # tried once, not at every reconnect
    assert "signing key available again" in text
    assert PIN not in text and new_pin not in text
