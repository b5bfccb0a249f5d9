"""`plica provisioner add|update|remove|list` editing ca.json: every JSON example of docs/reference/provisioners.md
is produced by `add` with the spec's flags (for each type installed now; others are skipped), and loads
in the real server; edits are validated, atomic, backed up, keep unknown fields, and are serialised."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from plica.certdesc.defaults import DEFAULT_LEAF_TEMPLATE, SSH_DEFAULT_TEMPLATE
from plica.cli.main import build_cli
from plica.plugins import KNOWN_DISTRIBUTIONS, get_plugins
from plica.testing import CAFiles, in_process_ca, make_ca

SPEC_FILE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "provisioners.md"


def run(files: CAFiles, *args: str) -> Any:
    """`plica provisioner ...` in process (the same click command the `plica` script runs)."""
    return CliRunner().invoke(build_cli(), ["provisioner", *args, "--home", str(files.home)], env=files.env())


def provisioners(files: CAFiles) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in files.config()["authority"]["provisioners"]}


def installed(type_name: str) -> bool:
    return type_name.lower() in get_plugins().types


# ============================================================================ the spec's examples


def spec_examples() -> dict[str, dict[str, Any]]:
    """The ca.json provisioner examples of docs/reference/provisioners.md, by type (its SCEP example has a trailing
    comma, which JSON does not allow; everything else is taken as written)."""
    out: dict[str, dict[str, Any]] = {}
    for line in SPEC_FILE.read_text().splitlines():
        m = re.search(r'\{ "type": "(\w+)"', line)
        if not m:
            continue
        text = line[m.start() :].strip()
        text = re.sub(r",\s*}\s*$", " }", text)
        out[m.group(1)] = orjson.loads(text)
    return out


# Flags per type, as the spec's `step ca provisioner add` lines (and step's flag names) give them, plus
# the value of each example field the scrape of the spec emptied (e-mail addresses and URLs).
# `material` are fields holding keys made or read at add time: compared by presence, not value.
SPEC_CASES: dict[str, dict[str, Any]] = {
    "JWK": {"name": "jane@example.com", "flags": ["--create"], "material": {"key", "encryptedKey"}},
    "OIDC": {
        "flags": [
            "--client-id",
            "1087160488420-8qt7bavg3qesdhs6it824mhnfgcfe8il.apps.googleusercontent.com",
            "--client-secret",
            "udTrOT3gzrO7W9fDPgZQLfYJ",
            "--configuration-endpoint",
            "{oidc}",
            "--admin",
            "mariano@smallstep.com",
            "--domain",
            "smallstep.com",
            "--listen-address",
            ":10000",
        ],
        "fill": {
            "clientID": "1087160488420-8qt7bavg3qesdhs6it824mhnfgcfe8il.apps.googleusercontent.com",
            "configurationEndpoint": "{oidc}",
            "admins": ["mariano@smallstep.com"],
            "domains": ["smallstep.com"],
        },
    },
    "X5C": {"flags": ["--x5c-root", "{root}"], "material": {"roots"}},
    "SSHPOP": {"flags": []},
    "ACME": {"flags": ["--force-cn"]},
    "SCEP": {
        "flags": [
            "--challenge",
            "secret1234",
            "--encryption-algorithm-identifier",
            "2",
            "--force-cn",
            "--include-root",
            "--min-public-key-length",
            "2048",
        ],
        "kty": "RSA",
    },
    "K8sSA": {"flags": ["--pem-keys", "{pem_keys}"], "material": {"publicKeys"}},
    "AWS": {"flags": ["--aws-account", "123456789042", "--instance-age", "1h"]},
    "GCP": {
        "flags": [
            "--gcp-service-account",
            "1234567890",
            "--gcp-project",
            "project-id",
            "--instance-age",
            "1h",
        ]
    },
    "Azure": {
        "flags": [
            "--azure-tenant",
            "b17c217c-84db-43f0-babd-e06a71083cda",
            "--azure-resource-group",
            "backend",
            "--azure-resource-group",
            "accounting",
        ],
    },
}

CLAIM_FLAGS = {
    "minTLSCertDuration": "--x509-min-dur",
    "maxTLSCertDuration": "--x509-max-dur",
    "defaultTLSCertDuration": "--x509-default-dur",
    "minUserSSHCertDuration": "--ssh-user-min-dur",
    "maxUserSSHCertDuration": "--ssh-user-max-dur",
    "defaultUserSSHCertDuration": "--ssh-user-default-dur",
    "minHostSSHCertDuration": "--ssh-host-min-dur",
    "maxHostSSHCertDuration": "--ssh-host-max-dur",
    "defaultHostSSHCertDuration": "--ssh-host-default-dur",
}


def common_flags(example: dict[str, Any]) -> list[str]:
    """The kernel's flags that produce the example's claims and options."""
    flags: list[str] = []
    for key, value in (example.get("claims") or {}).items():
        if key in CLAIM_FLAGS:
            flags += [CLAIM_FLAGS[key], value]
        elif key == "enableSSHCA":
            flags.append("--enable-ssh-ca" if value else "--disable-ssh-ca")
        elif key == "disableRenewal":
            flags.append(f"--disable-renewal={str(value).lower()}")
        elif key == "allowRenewalAfterExpiry":
            flags.append(f"--allow-renewal-after-expiry={str(value).lower()}")
        else:
            raise AssertionError(f"no flag for claim {key}")
    for kind, opt in (example.get("options") or {}).items():
        flags += [f"--{kind}-template", opt["templateFile"]]
    return flags


@contextlib.contextmanager
def oidc_discovery() -> Iterator[str]:
    """A local OpenID discovery document, so an OIDC block can load without the network."""
    state: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = state["base"]
            docs = {
                "/.well-known/openid-configuration": {
                    "issuer": base, "jwks_uri": f"{base}/jwks", "authorization_endpoint": f"{base}/auth",
                    "token_endpoint": f"{base}/token", "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                },
                "/jwks": {"keys": []},
            }  # fmt: skip
            body = docs.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(orjson.dumps(body or {}))

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["base"] = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield state["base"] + "/.well-known/openid-configuration"
    finally:
        srv.shutdown()


def write_templates(files: CAFiles) -> None:
    for kind, text in (("x509", DEFAULT_LEAF_TEMPLATE), ("ssh", SSH_DEFAULT_TEMPLATE)):
        p = files.home / "templates" / "certs" / kind / "default.tpl"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def fixture_values(files: CAFiles, tmp: Path, oidc: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = tmp / "k8s-sa.pub"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return {"{root}": str(files.root), "{pem_keys}": str(pem), "{oidc}": oidc}


def test_the_spec_has_the_examples_this_test_reproduces() -> None:
    if not SPEC_FILE.exists():
        pytest.skip(f"{SPEC_FILE} is not beside the repository")
    assert set(spec_examples()) == set(SPEC_CASES)


@pytest.mark.parametrize("type_name", sorted(SPEC_CASES))
async def test_add_produces_the_spec_example(tmp_path: Path, type_name: str) -> None:
    if not SPEC_FILE.exists():
        pytest.skip(f"{SPEC_FILE} is not beside the repository")
    if not installed(type_name):
        pytest.skip(
            f"provisioner type {type_name} is not installed ({KNOWN_DISTRIBUTIONS[type_name.lower()]})"
        )
    example = spec_examples()[type_name]
    case = SPEC_CASES[type_name]
    files = make_ca(tmp_path, kty=case.get("kty", "EC"))
    write_templates(files)
    pw = tmp_path / "password"
    pw.write_text("asdf")
    with oidc_discovery() as oidc:
        values = fixture_values(files, tmp_path, oidc)
        name = case.get("name") or example["name"]
        if name in provisioners(files):  # `plica init --ssh` already made the `sshpop` provisioner
            assert run(files, "remove", name).exit_code == 0
        flags = [values.get(f, f) for f in case["flags"]]
        args = ["add", name, "--type", type_name, *flags, *common_flags(example), "--password-file", str(pw)]
        res = run(files, *args)
        assert res.exit_code == 0, res.output
        produced = provisioners(files)[name]

        expected = {**example, "name": name}
        for key, value in case.get("fill", {}).items():
            expected[key] = values.get(value, value) if isinstance(value, str) else value
        material = case.get("material", set())
        for key, want in expected.items():
            if key in material:
                assert produced.get(key), f"{key} is missing"
            elif key in produced:
                assert produced[key] == want, f"{key}: {produced[key]!r} != spec {want!r}"
            else:
                # a field the example spells out with its default value (false, "") may be left out
                assert not want, f"{key} ({want!r}) is missing from {produced}"
        extra = set(produced) - set(expected)
        assert not extra, f"fields the spec example does not have: {extra}"

        # it loads in the real server, which publishes it
        async with in_process_ca(files) as authority:
            assert authority.provisioner_by_name(name) is not None
            assert authority.provisioner_by_name(name).claims is not None


# ============================================================================ the commands


def test_add_update_remove_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    pw = tmp_path / "pw"
    pw.write_text("pw")
    res = run(files, "add", "ci", "--create", "--password-file", str(pw), "--x509-default-dur", "1h",
              "--disable-renewal", "--enable-ssh-ca")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Send SIGHUP" in res.output
    block = provisioners(files)["ci"]
    assert list(block)[:2] == ["type", "name"]
    assert block["claims"] == {"defaultTLSCertDuration": "1h", "disableRenewal": True, "enableSSHCA": True}

    res = run(files, "update", "ci", "--disable-renewal=false", "--disable-ssh-ca", "--x509-default-dur", "",
              "--ssh-user-max-dur", "20h", "--allow-renewal-after-expiry")  # fmt: skip
    assert res.exit_code == 0, res.output
    block = provisioners(files)["ci"]
    assert block["claims"] == {
        "disableRenewal": False,
        "enableSSHCA": False,
        "maxUserSSHCertDuration": "20h",
        "allowRenewalAfterExpiry": True,
    }

    tpl = tmp_path / "leaf.tpl"
    tpl.write_text(DEFAULT_LEAF_TEMPLATE)
    data = tmp_path / "data.json"
    data.write_bytes(orjson.dumps({"team": "ci"}))
    res = run(files, "update", "ci", "--x509-template", str(tpl), "--x509-template-data", str(data))
    assert res.exit_code == 0, res.output
    assert provisioners(files)["ci"]["options"] == {
        "x509": {"templateFile": str(tpl.resolve()), "templateData": {"team": "ci"}}
    }
    res = run(files, "update", "ci", "--x509-template", "", "--x509-template-data", "")
    assert res.exit_code == 0, res.output
    assert "options" not in provisioners(files)["ci"]

    res = run(files, "list")
    assert res.exit_code == 0, res.output
    assert [p["name"] for p in orjson.loads(res.output)] == list(provisioners(files))

    res = run(files, "remove", "ci")
    assert res.exit_code == 0, res.output
    assert "ci" not in provisioners(files)


def test_refusals_name_the_problem_and_leave_the_file(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    before = files.config_path.read_bytes()
    missing = next((t for t in KNOWN_DISTRIBUTIONS if not installed(t)), None)
    cases: list[tuple[list[str], str]] = [
        (["add", "admin", "--create"], "already has a provisioner named 'admin'"),
        (["update", "nobody", "--x509-max-dur", "1h"], "no provisioner named 'nobody'"),
        (["remove", "nobody"], "no provisioner named 'nobody'"),
        (["update", "admin", "--x509-min-dur", "2h", "--x509-max-dur", "1h"],
         "ca.json.authority.provisioners[0].claims.maxTLSCertDuration"),
        (["update", "admin", "--x509-max-dur", "soon"], "invalid duration"),
        (["update", "admin", "--x509-min-dur", "-5m"], "positive duration"),
        (["update", "admin", "--disable-renewal=maybe"], "is not true or false"),
        (["update", "admin", "--x509-template", "nope.tpl"], "template file 'nope.tpl' not found"),
        (["add", "x", "--type", "Frobnicator"], "pip install the plugin that provides provisioner type 'Frobnicator'"),
        (["add", "x", "--create"], "a password is needed"),
        (["update", "admin", "--create", "--private-key", ""], "cannot be combined"),
    ]  # fmt: skip
    if missing:
        cases.append((["add", "x", "--type", missing], f"pip install {KNOWN_DISTRIBUTIONS[missing]}"))
    if installed("X5C"):
        cases.append((["update", "admin", "--x5c-root", str(files.root)], "--x5c-root is not an option of provisioner type JWK"))  # fmt: skip
    for args, want in cases:
        res = run(files, *args)
        assert res.exit_code != 0, (args, res.output)
        assert want in res.output, (args, res.output)
        assert "Traceback" not in res.output
        assert files.config_path.read_bytes() == before, args
    assert not (files.config_path.parent / "ca.json.bak").exists()


def test_edits_keep_unknown_fields_back_up_and_keep_the_mode(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    cfg = files.config()
    cfg["x-operator-note"] = {"owner": "pki-team", "ticket": 4711}
    cfg["authority"]["x-future"] = [1, 2.5, None]
    cfg["authority"]["provisioners"][0]["x-comment"] = "first JWK"
    files.write_config(cfg)
    os.chmod(files.config_path, 0o600)
    previous = files.config_path.read_bytes()

    res = run(files, "update", "admin", "--x509-min-dur", "10m")
    assert res.exit_code == 0, res.output
    after = files.config()
    assert after["x-operator-note"] == {"owner": "pki-team", "ticket": 4711}
    assert after["authority"]["x-future"] == [1, 2.5, None]
    assert after["authority"]["provisioners"][0]["x-comment"] == "first JWK"
    assert after["authority"]["provisioners"][0]["claims"]["minTLSCertDuration"] == "10m"
    assert {k: v for k, v in after.items() if k != "authority"} == {
        k: v for k, v in cfg.items() if k != "authority"
    }
    backup = files.config_path.parent / "ca.json.bak"
    assert backup.read_bytes() == previous
    assert (files.config_path.stat().st_mode & 0o777) == 0o600
    assert (backup.stat().st_mode & 0o777) == 0o600
    leftovers = [p.name for p in files.config_path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_concurrent_edits_are_serialised(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    keys = []
    for i in range(6):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        p = tmp_path / f"k{i}.pem"
        p.write_bytes(
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        keys.append(p)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plica",
                "provisioner",
                "add",
                f"p{i}",
                "--public-key",
                str(k),
                "--home",
                str(files.home),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=files.env(),
        )
        for i, k in enumerate(keys)
    ]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out.decode()
    assert {f"p{i}" for i in range(6)} <= set(provisioners(files))


def test_reload_without_a_running_ca_says_the_change_is_saved(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    res = run(files, "update", "admin", "--x509-min-dur", "10m", "--reload")
    assert res.exit_code == 1
    assert "the change is saved" in res.output
    assert provisioners(files)["admin"]["claims"]["minTLSCertDuration"] == "10m"
    # a stale pid file that names a process which is not plica is not signalled
    pid_file = files.home / "run" / "plica.pid"
    pid_file.parent.mkdir(exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        pid_file.write_text(f"{sleeper.pid}\n")
        res = run(files, "update", "admin", "--x509-min-dur", "11m", "--reload")
        assert res.exit_code == 1 and "is not a running plica" in res.output, res.output
        assert sleeper.poll() is None  # still alive: no SIGHUP was sent to it
    finally:
        sleeper.kill()
        sleeper.wait()


def test_list_reads_ca_json_with_home_or_config(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    for args in (["list", "--home", str(files.home)], ["list", "--config", str(files.config_path)]):
        res = CliRunner().invoke(build_cli(), ["provisioner", *args], env=files.env())
        assert res.exit_code == 0, res.output
        assert orjson.loads(res.output) == files.config()["authority"]["provisioners"]


def test_a_file_that_does_not_load_cannot_be_edited(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    cfg = files.config()
    cfg["db"]["dataSource"] += "?synchronous=SOMETIMES"
    files.write_config(cfg)
    before = files.config_path.read_bytes()
    res = run(files, "update", "admin", "--x509-min-dur", "10m")
    assert res.exit_code == 1
    assert "ca.json.db.dataSource" in res.output and "SOMETIMES" in res.output, res.output
    assert files.config_path.read_bytes() == before


def test_a_symlinked_ca_json_stays_a_link(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    managed = tmp_path / "managed"
    managed.mkdir()
    real = managed / "ca.json"
    files.config_path.rename(real)
    files.config_path.symlink_to(real)
    res = run(files, "update", "admin", "--x509-min-dur", "10m")
    assert res.exit_code == 0, res.output
    assert files.config_path.is_symlink()
    assert (
        orjson.loads(real.read_bytes())["authority"]["provisioners"][0]["claims"]["minTLSCertDuration"]
        == "10m"
    )
    assert (managed / "ca.json.bak").exists()
