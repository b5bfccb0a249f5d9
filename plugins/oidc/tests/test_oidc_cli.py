"""End to end with the `plica` command and the real OpenID provider: `plica provisioner add|update --type
OIDC` with step's flags, then `plica certificate`, `plica token` and `plica ssh certificate` signing in
through a browser on a loopback redirect (the $BROWSER command is tests/browser.py, a person filling in the
provider's pages), the URL printed when no browser opens, and `--console`: the device authorization grant."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate
from cryptography.x509.oid import NameOID

from plica.testing import CAFiles, ca_process, free_port, make_ca
from plica.testing.external import openssl_verify
from plica.testing.tokens import b64url_decode

from .browser import browse, sign_in
from .oidckit import CLIENT_ID, CLIENT_SECRET, PASSWORD, Provider

pytestmark = pytest.mark.slow
BROWSER = f"{sys.executable} {Path(__file__).resolve().parent / 'browser.py'} %s"


def plica(files: CAFiles, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "plica", *args], env={**files.env(), **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def block(files: CAFiles) -> dict[str, object]:
    (b,) = [p for p in files.config()["authority"]["provisioners"] if p["name"] == "sso"]
    return b


def started(files: CAFiles, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "plica", *args], env={**files.env(), "BROWSER": "false", **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def read_until(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"{pattern!r} never printed:\n{''.join(seen)}")


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    return out


def test_add_update_and_sign_in(tmp_path: Path, provider: Provider) -> None:
    files = make_ca(tmp_path)
    listen = f"127.0.0.1:{free_port()}"
    endpoint = f"{provider.issuer}/.well-known/openid-configuration"
    plica(files, "provisioner", "add", "sso", "--type", "OIDC", "--client-id", CLIENT_ID,
          "--client-secret", CLIENT_SECRET, "--configuration-endpoint", endpoint, "--domain", "example.com",
          "--domain", "example.org", "--group", "staff", "--admin", "ops", "--listen-address", listen,
          "--scope", "openid", "--scope", "email", "--scope", "groups", "--enable-ssh-ca")  # fmt: skip
    b = block(files)
    assert b["clientID"] == CLIENT_ID and b["clientSecret"] == CLIENT_SECRET
    assert b["configurationEndpoint"] == endpoint and b["listenAddress"] == listen
    assert (
        b["domains"] == ["example.com", "example.org"] and b["groups"] == ["staff"] and b["admins"] == ["ops"]
    )
    plica(files, "provisioner", "update", "sso", "--remove-domain", "example.org", "--admin", "root@example.com",
          "--remove-admin", "ops", "--group", "contractors", "--tenant-id", "t1")  # fmt: skip
    b = block(files)
    assert b["domains"] == ["example.com"] and b["admins"] == ["root@example.com"]
    assert b["groups"] == ["staff", "contractors"] and b["tenantID"] == "t1"
    plica(files, "provisioner", "update", "sso", "--tenant-id", "")
    assert "tenantID" not in block(files)
    r = plica(files, "provisioner", "add", "bad", "--type", "OIDC", "--client-id", "x", ok=False)
    assert r.returncode != 0 and "--configuration-endpoint" in r.stderr, r.stderr
    r = plica(files, "provisioner", "add", "bad", "--type", "OIDC", "--client-id", "x",
              "--configuration-endpoint", "http://idp.example.com/", ok=False)  # fmt: skip
    assert r.returncode != 0 and "https" in r.stderr, r.stderr

    with ca_process(files):
        # A browser opens ($BROWSER) and comes back to the provisioner's listenAddress.
        crt, key = tmp_path / "alice.crt", tmp_path / "alice.key"
        r = plica(files, "certificate", "alice@example.com", str(crt), str(key), "--provisioner", "sso",
                  BROWSER=BROWSER, OIDC_TEST_LOGIN="alice", OIDC_TEST_PASSWORD=PASSWORD)  # fmt: skip
        assert "redirect_uri=http%3A%2F%2F" + listen.replace(":", "%3A") in r.stderr, r.stderr
        leaf = openssl_verify(files, crt)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]

        # No browser: the URL is printed, the person opens it elsewhere; --listen fixes the address.
        other = f"127.0.0.1:{free_port()}"
        proc = started(files, "certificate", "alice@example.com", str(tmp_path / "b.crt"),
                       str(tmp_path / "b.key"), "--provisioner", "sso", "--listen", other)  # fmt: skip
        url = read_until(proc, r"^(http://\S+)")[1]
        assert "redirect_uri=http%3A%2F%2F" + other.replace(":", "%3A") in url
        assert "code_challenge_method=S256" in url
        sign_in(url, "alice", PASSWORD)
        finish(proc)
        openssl_verify(files, tmp_path / "b.crt")

        # `plica token`: the ID token itself, issued by the provider for the client id.
        r = plica(files, "token", "alice@example.com", "--provisioner", "sso", BROWSER=BROWSER,
                  OIDC_TEST_LOGIN="alice", OIDC_TEST_PASSWORD=PASSWORD)  # fmt: skip
        claims = json.loads(b64url_decode(r.stdout.strip().split(".")[1]))
        assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID and claims["sub"] == "alice"

        # --console: the device authorization grant; the person enters the code on the provider's page.
        proc = started(files, "ssh", "certificate", "alice@example.com", str(tmp_path / "id_alice"),
                       "--provisioner", "sso", "--principal", "alice", "--console")  # fmt: skip
        m = read_until(proc, r"Visit (\S+) and enter the code (\S+)")
        _, text = browse(m[1], {"user_code": m[2], "login": "alice", "password": PASSWORD})
        assert "Sign-in Success" in text, text
        finish(proc)
        cert = serialization.load_ssh_public_identity((tmp_path / "id_alice-cert.pub").read_bytes().strip())
        assert isinstance(cert, SSHCertificate)
        assert cert.valid_principals == [b"alice", b"alice@example.com"]

        # A person outside the domains, signing in for real: refused by the CA, nothing written.
        r = plica(files, "certificate", "mallory@evil.test", str(tmp_path / "m.crt"), str(tmp_path / "m.key"),
                  "--provisioner", "sso", ok=False, BROWSER=BROWSER, OIDC_TEST_LOGIN="mallory",
                  OIDC_TEST_PASSWORD=PASSWORD)  # fmt: skip
        assert r.returncode != 0 and "domains" in r.stderr, r.stderr
        assert not (tmp_path / "m.crt").exists()
