"""The spec's procedures for remote provisioner management, one test each, run with the real `plica`
command (`plica` in place of `step`) against a real `plica start`: a new CA with --remote-management,
migrating an existing CA (with and without a JWK provisioner), creating, promoting and removing admins,
and unattended management with an admin certificate (`--admin-cert=admin.crt --admin-key=admin.key`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from plica.testing import CAFiles, ca_process, free_port, make_ca, wait_for

pytestmark = pytest.mark.slow


def plica(
    files: CAFiles, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plica", *args], env={**files.env(), **env}, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def names(provs: str) -> list[str]:
    return [p["name"] for p in orjson.loads(provs)]


def client_env(tmp: Path) -> dict[str, str]:
    """Another machine: a home without a CA (PLICA_CA_URL and PLICA_ROOT still say which CA)."""
    home = tmp / "client"
    home.mkdir(exist_ok=True)
    return {"PLICA_HOME": str(home)}


def test_new_ca(tmp_path: Path) -> None:
    """`plica init --remote-management`: `Admin JWK` in the database, super admin `step` linked to it."""
    home, port, pw = tmp_path / "ca", free_port(), tmp_path / "pw"
    pw.write_text("admin-password")
    os.chmod(pw, 0o600)
    r = subprocess.run(
        [sys.executable, "-m", "plica", "init", "--home", str(home), "--name", "New", "--dns", "127.0.0.1",
         "--address", f"127.0.0.1:{port}", "--password-file", str(pw), "--remote-management"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    d = orjson.loads((home / "config" / "defaults.json").read_bytes())
    files = CAFiles(home=home, config_path=home / "config" / "ca.json", root=Path(d["root"]),
                    intermediate=home / "certs" / "intermediate_ca.crt", password_file=pw,
                    password=b"admin-password", port=port, fingerprint=d["fingerprint"])  # fmt: skip
    assert files.config()["authority"]["provisioners"] == []
    # on the CA machine, before it ever started: the database's provisioners and admins
    assert names(ok(plica(files, "provisioner", "list", "--home", str(home)))) == ["Admin JWK"]
    (step,) = orjson.loads(ok(plica(files, "admin", "list", "--json")))
    assert (step["subject"], step["provisioner"], step["type"]) == ("step", "Admin JWK", "SUPER_ADMIN")
    with ca_process(files):
        assert names(ok(plica(files, "provisioner", "list"))) == ["Admin JWK"]
        signin = ["--admin-provisioner", "Admin JWK", "--admin-password-file", str(pw)]
        listed = orjson.loads(ok(plica(files, "provisioner", "list", *signin)))
        assert [(p["name"], p["type"]) for p in listed] == [("Admin JWK", "JWK")]
        assert "encryptedKey" in listed[0]


def test_migrating_an_existing_ca(tmp_path: Path) -> None:
    """Stop, `enableAdmin: true`, start: ca.json's provisioners move to the database, the first JWK
    (`admin`) becomes the admin provisioner of super admin `step`; then ca.json's list is emptied."""
    files = make_ca(tmp_path)
    ok(plica(files, "provisioner", "add", "acme", "--type", "ACME"))
    ok(plica(files, "provisioner", "add", "second", "--create", "--password-file", str(files.password_file)))
    before = names(ok(plica(files, "provisioner", "list", "--home", str(files.home))))
    assert before[0] == "admin" and before[-2:] == ["acme", "second"]  # make_ca's, then these
    after = before[:-1]
    files.update_config(enableAdmin=True)
    log = tmp_path / "first.log"
    with ca_process(files, log=log):
        assert names(ok(plica(files, "provisioner", "list"))) == before
        assert "migrated provisioner 'acme' (ACME)" in log.read_text()
        admins = orjson.loads(ok(plica(files, "admin", "list", "--json")))
        assert [(a["subject"], a["provisioner"], a["type"]) for a in admins] == [
            ("step", "admin", "SUPER_ADMIN")
        ]
        signin = ["--admin-provisioner", "admin", "--admin-password-file", str(files.password_file)]
        ok(plica(files, "provisioner", "remove", "second", *signin))
    # a later start ignores ca.json's list, and says so
    log2 = tmp_path / "second.log"
    with ca_process(files, log=log2):
        assert names(ok(plica(files, "provisioner", "list"))) == after
        wait_for(lambda: "ignored" in log2.read_text(), timeout=10, what="the warning")
    # step 4: remove them from ca.json; the CA keeps serving the database's
    files.update_config(provisioners=[])
    assert names(ok(plica(files, "provisioner", "list", "--home", str(files.home)))) == after
    log3 = tmp_path / "third.log"
    with ca_process(files, log=log3):
        assert names(ok(plica(files, "provisioner", "list"))) == after
        assert "ignored" not in log3.read_text()


def test_migrating_a_ca_without_jwk(tmp_path: Path) -> None:
    """Without a JWK provisioner the first start adds `Admin JWK`, its key under the password the CA was
    started with."""
    files = make_ca(tmp_path)
    files.update_config(enableAdmin=True, provisioners=[{"type": "ACME", "name": "acme"}])
    with ca_process(files):
        assert names(ok(plica(files, "provisioner", "list"))) == ["Admin JWK", "acme"]
        signin = ["--admin-provisioner", "Admin JWK", "--admin-password-file", str(files.password_file)]
        ok(plica(files, "provisioner", "update", "acme", "--x509-default-dur", "1h", *signin))
        (acme,) = [p for p in orjson.loads(ok(plica(files, "provisioner", "list"))) if p["name"] == "acme"]
        assert acme["claims"]["defaultTLSCertDuration"] == "1h"


def test_managing_admins(tmp_path: Path) -> None:
    """`plica admin add carl "Admin JWK"` from another machine, as the spec writes it: the command signs in
    through the admin provisioner, prompting for its password."""
    files = make_ca(tmp_path)
    files.update_config(enableAdmin=True, provisioners=[])  # a new CA's first start: `Admin JWK`
    client = client_env(tmp_path)
    password = files.password.decode() + "\n"
    with ca_process(files):
        r = plica(files, "admin", "add", "carl", "Admin JWK", stdin=password, **client)
        out = ok(r)
        assert "carl" in out and "ADMIN" in out
        r = plica(files, "admin", "update", "carl", "--super", stdin=password, **client)
        assert "SUPER_ADMIN" in ok(r)
        listed = orjson.loads(ok(plica(files, "admin", "list", "--json", stdin=password, **client)))
        assert sorted((a["subject"], a["type"]) for a in listed) == [
            ("carl", "SUPER_ADMIN"),
            ("step", "SUPER_ADMIN"),
        ]
        # carl signs in as himself and removes `step`; then carl is the last super admin
        carl = ["--admin-subject", "carl"]
        ok(plica(files, "admin", "remove", "step", *carl, stdin=password, **client))
        r = plica(files, "admin", "remove", "carl", *carl, stdin=password, **client)
        assert r.returncode != 0 and "last super admin" in r.stderr, r.stderr
        # `plica provisioner add` from the other machine goes to the CA too
        r = plica(files, "provisioner", "add", "dev", "--type", "ACME", *carl, stdin=password, **client)
        assert "Added provisioner 'dev' (ACME) (remote)" in ok(r)
        assert names(ok(plica(files, "provisioner", "list"))) == ["Admin JWK", "dev"]
        r = plica(files, "admin", "remove", "carl", "--admin-subject", "step", stdin=password, **client)
        assert r.returncode != 0 and "401" in r.stderr, r.stderr


def test_unattended_management(tmp_path: Path) -> None:
    """An admin certificate from `plica certificate step admin.crt admin.key --provisioner "Admin JWK"`,
    then `--admin-cert=admin.crt --admin-key=admin.key` for provisioners and (a super admin's) admins.
    A revoked admin certificate works until it expires; removing the admin ends it at once."""
    files = make_ca(tmp_path)
    files.update_config(enableAdmin=True, provisioners=[])
    crt, key = tmp_path / "admin.crt", tmp_path / "admin.key"
    with ca_process(files):
        ok(plica(files, "certificate", "step", str(crt), str(key), "--provisioner", "Admin JWK",
                 "--password-file", str(files.password_file)))  # fmt: skip
        cert = [f"--admin-cert={crt}", f"--admin-key={key}"]
        ok(plica(files, "provisioner", "add", "acme", "--type", "ACME", *cert))
        ok(plica(files, "admin", "add", "ops", "Admin JWK", *cert))
        ops_crt, ops_key = tmp_path / "ops.crt", tmp_path / "ops.key"
        ok(plica(files, "certificate", "ops", str(ops_crt), str(ops_key), "--provisioner", "Admin JWK",
                 "--password-file", str(files.password_file)))  # fmt: skip
        ops = [f"--admin-cert={ops_crt}", f"--admin-key={ops_key}"]
        ok(plica(files, "provisioner", "update", "acme", "--x509-max-dur", "48h", *ops))
        assert names(ok(plica(files, "provisioner", "list", *ops))) == ["Admin JWK", "acme"]
        r = plica(files, "admin", "add", "eve", "Admin JWK", *ops)
        assert r.returncode != 0 and "403" in r.stderr, r.stderr
        # passively revoked: still an admin certificate until it expires
        ok(plica(files, "revoke", "--cert", str(ops_crt), "--key-file", str(ops_key)))
        ok(plica(files, "provisioner", "update", "acme", "--x509-max-dur", "24h", *ops))
        ok(plica(files, "admin", "remove", "ops", *cert))
        r = plica(files, "provisioner", "remove", "acme", *ops)
        assert r.returncode != 0 and "401" in r.stderr, r.stderr
        ok(plica(files, "provisioner", "remove", "acme", *cert))
        assert names(ok(plica(files, "provisioner", "list", *cert))) == ["Admin JWK"]


def test_provisioner_list_with_admin_credentials_reads_every_page(tmp_path: Path) -> None:
    """`plica provisioner list` signed in as an admin lists through /admin/provisioners, 100 a page; a
    wrong password for the admin provisioner is no sign-in; without credentials, the public list."""
    files = make_ca(tmp_path)
    jwk = [p for p in files.config()["authority"]["provisioners"] if p["type"] == "JWK"][:1]
    many = [{"type": "ACME", "name": f"acme-{i:03d}"} for i in range(130)]
    files.update_config(enableAdmin=True, provisioners=[*jwk, *many])
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password")
    with ca_process(files):
        signin = ["--admin-provisioner", jwk[0]["name"], "--admin-password-file", str(files.password_file)]
        listed = names(ok(plica(files, "provisioner", "list", *signin)))
        assert listed == [jwk[0]["name"], *(p["name"] for p in many)]
        assert names(ok(plica(files, "provisioner", "list"))) == listed
        r = plica(files, "provisioner", "list", "--admin-provisioner", jwk[0]["name"], "--admin-password-file",
                  str(wrong))  # fmt: skip
        assert r.returncode != 0 and "password" in r.stderr.lower(), r.stderr
    files.update_config(provisioners=[])
    assert names(ok(plica(files, "provisioner", "list", "--home", str(files.home)))) == listed


def test_sign_in_needs_the_admin_provisioner_named_when_several_could_be(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    ok(plica(files, "provisioner", "add", "second", "--create", "--password-file", str(files.password_file)))
    files.update_config(enableAdmin=True)
    with ca_process(files):
        r = plica(files, "admin", "list", stdin=files.password.decode() + "\n", **client_env(tmp_path))
        assert r.returncode != 0 and "--admin-provisioner" in r.stderr, r.stderr
