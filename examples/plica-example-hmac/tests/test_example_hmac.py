"""The example plugin, installed as a real distribution into a private directory, seen by the kernel
and used to issue a certificate through the real server and the real `plica` client."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from plica.testing import ca_process, make_ca

HERE = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(HERE),
        ],
        check=True,
    )
    return target


def env_with(target: Path, base: dict[str, str]) -> dict[str, str]:
    return {**base, "PYTHONPATH": os.pathsep.join([str(target), base.get("PYTHONPATH", "")])}


def test_capability_matrix_lists_the_installed_type(installed: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "plica", "provisioner", "capabilities", "--json"],
        check=True,
        capture_output=True,
        env=env_with(installed, dict(os.environ)),
    ).stdout
    rows = {r["type"]: r for r in orjson.loads(out)["provisionerTypes"]}
    assert rows["HMAC"]["capabilities"] == ["x509-sign"]
    assert rows["HMAC"]["distribution"] == "plica-example-hmac"


def test_issue_a_certificate_through_the_example_type(installed: Path, tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    secret = base64.b64encode(os.urandom(32)).decode()
    files.add_provisioner({"type": "HMAC", "name": "fleet", "secret": secret})
    secret_file = tmp_path / "secret.b64"
    secret_file.write_text(secret)
    files_env = env_with(installed, files.env())
    os.environ["PYTHONPATH"] = files_env["PYTHONPATH"]  # the server subprocess inherits it
    try:
        with ca_process(files):
            provs = subprocess.run(
                [sys.executable, "-m", "plica", "provisioner", "list"],
                check=True,
                capture_output=True,
                env=files_env,
            ).stdout
            fleet = next(p for p in orjson.loads(provs) if p["name"] == "fleet")
            assert "secret" not in fleet
            crt, key = tmp_path / "a.crt", tmp_path / "a.key"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "plica",
                    "certificate",
                    "a.fleet.internal",
                    str(crt),
                    str(key),
                    "--provisioner",
                    "fleet",
                    "--hmac-secret-file",
                    str(secret_file),
                ],
                check=True,
                env=files_env,
            )
            subprocess.run(
                [
                    "openssl",
                    "verify",
                    "-CAfile",
                    str(files.root),
                    "-untrusted",
                    str(files.intermediate),
                    str(crt),
                ],
                check=True,
            )
            # A token signed with another secret is refused.
            bad = tmp_path / "bad.b64"
            bad.write_text(base64.b64encode(os.urandom(32)).decode())
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "plica",
                    "certificate",
                    "b.fleet.internal",
                    str(tmp_path / "b.crt"),
                    str(tmp_path / "b.key"),
                    "--provisioner",
                    "fleet",
                    "--hmac-secret-file",
                    str(bad),
                ],
                env=files_env,
                capture_output=True,
                text=True,
            )
            assert r.returncode != 0
            assert "401" in r.stderr
    finally:
        os.environ.pop("PYTHONPATH", None)
