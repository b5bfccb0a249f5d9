"""`plica plugin new NAME`: the distribution it writes is complete (layout, README block, imports only the
public face) and, installed as a user installs it, passes its own tests at once, shows in the capability
matrix, and issues a certificate through the real server with the README's commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from plica.cli.main import build_cli
from plica.testing import ca_process, make_ca, plica_cli
from plica.testing.conformance import readme_block

REPO = Path(__file__).resolve().parents[1]
FILES = [
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "plica_demo_type/__init__.py",
    "plica_demo_type/client.py",
    "plica_demo_type/manage.py",
    "plica_demo_type/provisioner.py",
    "tests/test_conformance.py",
    "tests/test_tokens.py",
]


def new(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(build_cli(), ["plugin", "new", *args])
    return r.exit_code, r.output


def test_the_layout_and_the_readme_block(tmp_path: Path) -> None:
    target = tmp_path / "plugins" / "plica-demo-type"
    code, out = new("demo-type", "--dir", str(target))
    assert code == 0, out
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == sorted(FILES)
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points."plica.provisioners"]\ndemo-type = "plica_demo_type"' in pyproject
    block = readme_block(target / "README.md", "DemoType")
    assert block["name"] == "devices" and block["key"]["kty"] == "EC" and "d" not in block["key"]
    readme = (target / "README.md").read_text()
    for flag in ("--demo-type-key", "--demo-type-new-key", "--demo-type-public-key"):
        assert f"`{flag} FILE`" in readme
    # It imports nothing of the kernel but its public face (and plica.testing in its tests).
    r = subprocess.run(
        [sys.executable, str(REPO / "tools" / "check_plugin_imports.py"), str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", ["x", "acme-lite", "hsm-signed-tokens"])
def test_the_code_is_lint_clean(tmp_path: Path, name: str) -> None:
    """What it writes passes the ruff settings of its own pyproject.toml (as this repository's code does)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (tox's lint and tests environments have it)")
    code, out = new(name, "--dir", str(tmp_path / name))
    assert code == 0, out
    for args in (["check", "."], ["format", "--check", "."]):
        r = subprocess.run([ruff, *args], cwd=tmp_path / name, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_type_name_and_id_options(tmp_path: Path) -> None:
    code, out = new("fleet", "--dir", str(tmp_path / "f"), "--type", "FLEET", "--type-id", "1234")
    assert code == 0, out
    text = (tmp_path / "f" / "plica_fleet" / "provisioner.py").read_text()
    assert 'name="FLEET"' in text and "type_id=1234," in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (["Bad_Name"], "NAME"),
        (["-x"], "No such option"),
        (["ok", "--type", "no-dashes"], "--type"),
        (["ok", "--type-id", "7"], "--type-id"),
    ],
)
def test_refusals(tmp_path: Path, args: list[str], needle: str) -> None:
    code, out = new(*args, "--dir", str(tmp_path / "x"))
    assert code != 0 and needle in out, out
    assert not (tmp_path / "x").exists()


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep")
    code, out = new("demo", "--dir", str(tmp_path / "x"))
    assert code != 0 and "not empty" in out
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["mine.txt"]


@pytest.mark.slow
def test_the_new_distribution_installs_passes_its_tests_and_issues(tmp_path: Path) -> None:
    """As a user would: `plica plugin new acme-lite`, `pip install` it (into a directory of its own on
    PYTHONPATH, so that this environment stays as it was), its own `pytest`, the capability matrix, and the
    README's commands against `plica start`."""
    r = subprocess.run(
        [sys.executable, "-m", "plica", "plugin", "new", "acme-lite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    dist, site = tmp_path / "plica-acme-lite", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(dist)],
        check=True,
    )  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }

    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=dist, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert " passed" in r.stdout and "failed" not in r.stdout and "error" not in r.stdout.lower(), r.stdout

    r = plica_cli("provisioner", "capabilities", "--json", env=env)
    assert r.returncode == 0, r.stderr
    rows = {row["type"]: row for row in orjson.loads(r.stdout)["provisionerTypes"]}
    assert rows["AcmeLite"]["capabilities"] == ["x509-sign", "x509-renew"]
    assert rows["AcmeLite"]["distribution"] == "plica-acme-lite"
    assert [
        b for b in orjson.loads(r.stdout)["brokenPlugins"] if b["distribution"] == "plica-acme-lite"
    ] == []

    files = make_ca(tmp_path / "ca")
    files_env = {**files.env(), "PYTHONPATH": env["PYTHONPATH"]}
    key = tmp_path / "devices.key.json"
    r = plica_cli(
        "provisioner", "add", "devices", "--type", "AcmeLite", "--acme-lite-new-key", str(key),
        "--home", str(files.home), env=files_env,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    with ca_process(files, env={"PYTHONPATH": env["PYTHONPATH"]}):
        crt, crt_key = tmp_path / "foo.crt", tmp_path / "foo.key"
        r = plica_cli(
            "certificate", "foo.internal", str(crt), str(crt_key), "--provisioner", "devices",
            "--acme-lite-key", str(key), env=files_env,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        subprocess.run(
            ["openssl", "verify", "-CAfile", str(files.root), "-untrusted", str(files.intermediate), str(crt)],
            check=True, capture_output=True,
        )  # fmt: skip
