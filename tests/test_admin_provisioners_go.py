"""Remote provisioner management with smallstep's own admin client: a program built on step-ca's Go
library (`ca.AdminClient`, certificates 0.19 as Debian packages it), unchanged, creates, updates and
removes a JWK, an ACME and an X5C provisioner and an admin against a real `plica start` whose
provisioners are in the database (`enableAdmin`). The program is tests/goadmin/main.go.

Debian packages: golang-go, golang-github-smallstep-certificates-dev, openssl.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from plica.jose import jwe_encrypt_pbes2, private_jwk, public_jwk, thumbprint
from plica.testing import ca_process, make_ca

from .go_programs import go_build

pytestmark = pytest.mark.slow

GOADMIN = Path(__file__).resolve().parent / "goadmin"


def plica(files: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.sys.executable, "-m", "plica", *args],
        env=files.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("goadmin")
    binary = go_build(GOADMIN, tmp)
    files = make_ca(tmp)
    files.update_config(enableAdmin=True)
    key = ec.generate_private_key(ec.SECP256R1())
    pub = public_jwk(key.public_key())
    pub.update(kid=thumbprint(pub), use="sig", alg="ES256")
    (tmp / "dev.pub.json").write_bytes(orjson.dumps(pub))
    (tmp / "dev.jwe").write_text(jwe_encrypt_pbes2(orjson.dumps(private_jwk(key)), b"dev-password"))
    with ca_process(files):
        # The admin certificate of the super admin `step`, from the first JWK provisioner (`admin`),
        # which the first start moved into the database.
        crt, k = tmp / "step.crt", tmp / "step.key"
        r = plica(files, "certificate", "step", str(crt), str(k), "--provisioner", "admin",
                  "--password-file", str(files.password_file))  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        started = time.monotonic()
        r = subprocess.run(
            [str(binary), "-ca-url", files.url, "-root", str(files.root), "-cert", str(crt), "-key", str(k),
             "-jwk-pub", str(tmp / "dev.pub.json"), "-jwk-enc", str(tmp / "dev.jwe"),
             "-x5c-root", str(files.root)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        print(f"goadmin: {time.monotonic() - started:.2f} s")
    log = (files.home / "plica.log").read_text()
    assert r.returncode == 0, f"goadmin exited {r.returncode}:\n{r.stdout}\n{r.stderr}\n--- CA log ---\n{log}"
    assert "Traceback" not in log, log
    return {d["step"]: d for d in map(json.loads, r.stdout.splitlines())}


def test_every_step_ends_as_expected(steps: dict[str, dict[str, Any]]) -> None:
    failures = {n for n, d in steps.items() if not d["ok"]}
    assert failures == {"create_duplicate", "get_admin_without_token", "remove_removed_admin"}, steps
    assert all(d["ok"] == (d["expect"] == "ok") for d in steps.values())
    assert "already exists" in steps["create_duplicate"]["error"]
    # step's GetAdmin sends no token (the client's bug; step-ca refuses it as well)
    assert "authorization" in steps["get_admin_without_token"]["error"]
    assert "does not exist" in steps["remove_removed_admin"]["error"]


def test_provisioners_round_trip(steps: dict[str, dict[str, Any]]) -> None:
    assert steps["list_before"]["provisioners"] == ["JWK:admin", "SSHPOP:sshpop"]
    jwk = steps["create_jwk"]
    assert jwk["name"] == "dev" and jwk["default"] == "1h" and jwk["same_key"] and jwk["id"]
    assert steps["get_jwk"] == {**steps["get_jwk"], "id": jwk["id"], "type": "JWK", "enc": True}
    assert steps["get_jwk_by_id"]["name"] == "dev" and steps["get_jwk_by_id"]["default"] == "2h"
    assert steps["create_acme"]["require_eab"] is True
    assert steps["get_acme"]["require_eab"] is False and steps["get_acme"]["force_cn"] is True
    assert steps["create_x5c"]["roots"] == 1
    assert steps["list_during"]["provisioners"] == [
        "JWK:admin", "SSHPOP:sshpop", "JWK:dev", "ACME:acme", "X5C:x5c",
    ]  # fmt: skip
    assert steps["list_after"]["provisioners"] == ["JWK:admin", "SSHPOP:sshpop"]


def test_admin_round_trip(steps: dict[str, dict[str, Any]]) -> None:
    made = steps["create_admin"]
    assert made["subject"] == "carl" and made["type"] == "ADMIN" and made["provisioner_id"]
    assert steps["update_admin"]["type"] == "SUPER_ADMIN"
    assert sorted(steps["list_admins"]["admins"]) == ["carl:SUPER_ADMIN", "step:SUPER_ADMIN"]
    assert steps["list_admins_after"]["admins"] == ["step:SUPER_ADMIN"]
