"""Single sign-on for CA administration (the spec's tip under "Managing Admin Users"): an OIDC provisioner
linked to the real OpenID provider, an admin whose subject is a person's e-mail, and `plica provisioner
add|update|remove` / `plica admin ...` with `--admin-provisioner sso`, the person signing in at the provider's
login and consent pages (tests/browser.py as $BROWSER, or by hand with --console). A person who is not an
admin gets a certificate from the provisioner but no further: the admin API answers 401; a plain admin
writing admins gets 403; an ID token itself is no admin token."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from plica.testing import CAFiles, ca_process, free_port

from .browser import browse
from .oidckit import CLIENT_ID, CLIENT_SECRET, PASSWORD, Provider
from .test_oidc_cli import BROWSER, read_until, started

pytestmark = pytest.mark.slow


def plica(files: CAFiles, *args: str, login: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**files.env(), "BROWSER": BROWSER if login else "false"}
    if login:
        env.update(OIDC_TEST_LOGIN=login, OIDC_TEST_PASSWORD=PASSWORD)
    return subprocess.run([sys.executable, "-m", "plica", *args], env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def remote_ca(tmp: Path) -> CAFiles:
    """`plica init --remote-management`: `Admin JWK` and super admin `step` in the database."""
    home, port, pw = tmp / "ca", free_port(), tmp / "pw"
    pw.write_text("admin-jwk-password")
    os.chmod(pw, 0o600)
    ok(subprocess.run(
        [sys.executable, "-m", "plica", "init", "--home", str(home), "--name", "SSO", "--dns", "127.0.0.1",
         "--address", f"127.0.0.1:{port}", "--password-file", str(pw), "--remote-management"],
        capture_output=True, text=True, timeout=120,
    ))  # fmt: skip
    d = json.loads((home / "config" / "defaults.json").read_text())
    return CAFiles(home=home, config_path=home / "config" / "ca.json", root=Path(d["root"]),
                   intermediate=home / "certs" / "intermediate_ca.crt", password_file=pw,
                   password=b"admin-jwk-password", port=port, fingerprint=d["fingerprint"])  # fmt: skip


def names(files: CAFiles, *signin: str, login: str | None = None) -> list[str]:
    return [p["name"] for p in json.loads(ok(plica(files, "provisioner", "list", *signin, login=login)))]


def test_admin_signs_in_through_the_oidc_provisioner(tmp_path: Path, provider: Provider) -> None:
    files = remote_ca(tmp_path)
    jwk = ["--admin-provisioner", "Admin JWK", "--admin-password-file", str(files.password_file)]
    sso = ["--admin-provisioner", "sso", "--admin-subject", "alice@example.com"]
    with ca_process(files):
        # the super admin `step` (Admin JWK's password) links the provider and makes alice an admin of it
        out = ok(plica(files, "provisioner", "add", "sso", "--type", "OIDC", "--client-id", CLIENT_ID,
                       "--client-secret", CLIENT_SECRET, "--configuration-endpoint",
                       f"{provider.issuer}/.well-known/openid-configuration", "--domain", "example.com", *jwk))  # fmt: skip
        assert "Added provisioner 'sso' (OIDC) (remote)" in out
        ok(plica(files, "admin", "add", "alice@example.com", "sso", *jwk))

        # alice signs in at the provider (browser) and adds a provisioner
        r = plica(files, "provisioner", "add", "dev", "--create", "--password-file", str(files.password_file),
                  "--x509-default-dur", "2h", *sso, login="alice")  # fmt: skip
        assert "Added provisioner 'dev' (JWK) (remote)" in ok(r)
        assert "Sign in at the identity provider" in r.stderr
        assert names(files, *sso, login="alice") == ["Admin JWK", "sso", "dev"]

        # --console: the device grant, the code entered on the provider's page by hand
        proc = started(files, "provisioner", "update", "dev", "--x509-default-dur", "3h", *sso, "--console")
        m = read_until(proc, r"Visit (\S+) and enter the code (\S+)")
        _, text = browse(m[1], {"user_code": m[2], "login": "alice", "password": PASSWORD})
        assert "Sign-in Success" in text, text
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        assert "Updated provisioner 'dev' (JWK) (remote)" in out
        (dev,) = [p for p in json.loads(ok(plica(files, "provisioner", "list"))) if p["name"] == "dev"]
        assert dev["claims"]["defaultTLSCertDuration"] == "3h"

        # a plain admin may not manage admins: 403 from the CA
        r = plica(files, "admin", "add", "carol@example.com", "sso", *sso, login="alice")
        assert r.returncode != 0 and "403" in r.stderr and "super admin" in r.stderr, r.stderr
        # promoted by `step`, alice manages admins too
        ok(plica(files, "admin", "update", "alice@example.com", "--super", *jwk))
        listed = json.loads(ok(plica(files, "admin", "list", "--json", *sso, login="alice")))
        assert sorted((a["subject"], a["provisioner"], a["type"]) for a in listed) == [
            ("alice@example.com", "sso", "SUPER_ADMIN"), ("step", "Admin JWK", "SUPER_ADMIN"),
        ]  # fmt: skip

        # bob signs in for real and gets his certificate from sso, but he is no admin: 401, nothing changed
        bob = ["--admin-provisioner", "sso", "--admin-subject", "Bob.Smith@example.com"]
        r = plica(files, "provisioner", "remove", "dev", *bob, login="bob.smith")
        assert r.returncode != 0 and "401" in r.stderr and "no admin with subject" in r.stderr, r.stderr
        # without --admin-subject the ID token's e-mail is the subject: still bob's, still no admin
        r = plica(files, "provisioner", "add", "bobs", "--create", "--password-file", str(files.password_file),
                  "--admin-provisioner", "sso", login="bob.smith")  # fmt: skip
        assert r.returncode != 0 and "401" in r.stderr, r.stderr
        assert names(files) == ["Admin JWK", "sso", "dev"]

        # an ID token (alice's, an admin's) is not an admin token: the admin API wants an x5c admin token
        from .conftest import login_token

        token = login_token(provider, "alice")
        ctx = ssl.create_default_context(cafile=str(files.root))
        req = urllib.request.Request(f"https://127.0.0.1:{files.port}/admin/provisioners",
                                     headers={"Authorization": token})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, context=ctx, timeout=30)
        assert e.value.code == 401
        assert json.loads(e.value.read())["type"] == "unauthorized"

        # alice removes what she added, her subject taken from the ID token's e-mail
        ok(plica(files, "provisioner", "remove", "dev", "--admin-provisioner", "sso", login="alice"))
        assert names(files) == ["Admin JWK", "sso"]
