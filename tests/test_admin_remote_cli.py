"""The CLI against a remote CA's admin API, as the spec's procedures run it: `plica init
--remote-management`, then `plica provisioner add|update|remove` and `plica admin add|update|list|remove`
signing in through the `Admin JWK` provisioner's password or with an admin certificate, and `plica
certificate list` (table, --json, --csv). The real `plica start` and the real `plica` command."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from cryptography import x509

from plica.testing import CAFiles, ca_process, free_port

pytestmark = pytest.mark.slow


def plica(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plica", *args], env=files.env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def new_ca(tmp: Path) -> CAFiles:
    home, port = tmp / "ca", free_port()
    pw = tmp / "pw"
    pw.write_text("secret-password")
    os.chmod(pw, 0o600)
    r = subprocess.run(
        [sys.executable, "-m", "plica", "init", "--home", str(home), "--name", "Remote", "--dns", "127.0.0.1",
         "--address", f"127.0.0.1:{port}", "--password-file", str(pw), "--remote-management"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Admin JWK (JWK)" in r.stdout and "Super admin: step" in r.stdout
    d = orjson.loads((home / "config" / "defaults.json").read_bytes())
    return CAFiles(home=home, config_path=home / "config" / "ca.json", root=Path(d["root"]),
                   intermediate=home / "certs" / "intermediate_ca.crt", password_file=pw,
                   password=b"secret-password", port=port, fingerprint=d["fingerprint"])  # fmt: skip


def test_remote_management_from_init(tmp_path: Path) -> None:
    files = new_ca(tmp_path)
    cfg = files.config()
    assert cfg["authority"]["enableAdmin"] is True and cfg["authority"]["provisioners"] == []
    signin = ["--admin-provisioner", "Admin JWK", "--admin-password-file", str(files.password_file)]
    with ca_process(files):
        r = plica(files, "provisioner", "add", "dev", "--create", "--password-file", str(files.password_file),
                  "--x509-default-dur", "2h", *signin)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Added provisioner 'dev' (JWK) (remote)" in r.stdout
        r = plica(files, "provisioner", "update", "dev", "--x509-default-dur", "3h", *signin)
        assert r.returncode == 0, r.stdout + r.stderr
        listed = orjson.loads(plica(files, "provisioner", "list").stdout)
        dev = next(p for p in listed if p["name"] == "dev")
        assert dev["claims"]["defaultTLSCertDuration"] == "3h"
        assert [p["name"] for p in listed] == ["Admin JWK", "dev"]

        # an admin certificate for unattended use, then admins managed with it
        crt, key = tmp_path / "step.crt", tmp_path / "step.key"
        r = plica(files, "certificate", "step", str(crt), str(key), "--provisioner", "Admin JWK",
                  "--password-file", str(files.password_file))  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        cert = ["--admin-cert", str(crt), "--admin-key", str(key)]
        r = plica(files, "admin", "add", "carl", "Admin JWK", "--json", *cert)
        assert r.returncode == 0, r.stdout + r.stderr
        assert orjson.loads(r.stdout)[0]["type"] == "ADMIN"
        r = plica(files, "admin", "update", "carl", "--super", *cert)
        assert r.returncode == 0, r.stdout + r.stderr
        admins = orjson.loads(plica(files, "admin", "list", "--json", *cert).stdout)
        assert sorted((a["subject"], a["provisioner"], a["type"]) for a in admins) == [
            ("carl", "Admin JWK", "SUPER_ADMIN"), ("step", "Admin JWK", "SUPER_ADMIN"),
        ]  # fmt: skip
        assert plica(files, "admin", "remove", "carl", *cert).returncode == 0
        last = plica(files, "admin", "remove", "step", *cert)
        assert last.returncode != 0 and "last super admin" in last.stderr

        # the inventory: the admin certificate itself, in three forms
        table = plica(files, "certificate", "list", *cert)
        assert table.returncode == 0, table.stderr
        assert table.stdout.splitlines()[0].split()[:3] == ["SERIAL", "SUBJECT", "PROVISIONER"]
        as_json = orjson.loads(plica(files, "certificate", "list", "--json", "--name", "ste", *cert).stdout)
        # the admin certificate, and the short-lived ones the sign-ins above got, all of `step`
        assert {(c["subject"], c["provisioner"], c["status"]) for c in as_json} == {
            ("step", "Admin JWK", "valid")
        }
        serial = str(x509.load_pem_x509_certificate(crt.read_bytes()).serial_number)
        assert serial in {c["serial"] for c in as_json} and len(as_json) == 3
        assert plica(files, "certificate", "list", "--json", "--name", "nobody", *cert).stdout.strip() == "[]"
        rows = list(
            csv.reader(
                io.StringIO(
                    plica(files, "certificate", "list", "--csv", "--expiring-before", "30d", *cert).stdout
                )
            )
        )
        assert rows[0][:2] == ["serial", "subject"] and {r[1] for r in rows[1:]} >= {"step"}
        assert (
            orjson.loads(plica(files, "certificate", "list", "--json", "--status", "revoked", *cert).stdout)
            == []
        )

        r = plica(files, "provisioner", "remove", "dev", *cert)
        assert r.returncode == 0, r.stdout + r.stderr
        assert [p["name"] for p in orjson.loads(plica(files, "provisioner", "list").stdout)] == ["Admin JWK"]
        # without an admin, nothing
        r = plica(files, "certificate", "list")
        assert r.returncode != 0 and "admin" in r.stderr
