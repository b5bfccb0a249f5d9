"""The Nebula provisioner end to end: the ca.json block as `provisioner add --nebula-root` writes it (and as
the README shows it), the real `plica start` server, and the `plica` client commands with
`--nebula-cert/--nebula-key` on files written by the real `nebula-cert`."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import orjson
import pytest
from cryptography import x509

from plica.testing import CAFiles, ca_process, get_plugins, make_ca

README = Path(__file__).resolve().parents[1] / "README.md"


def plica(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args], env=files.env(), capture_output=True, text=True, timeout=120
    )


def block_from_cli(name: str, options: dict[str, Any], existing: dict[str, Any] | None = None) -> Any:
    hook = get_plugins().type_hook("Nebula", "provisioner_block_from_cli")
    return hook(provisioner_type="Nebula", name=name, options=options, existing=existing)


def readme_block() -> dict[str, Any]:
    m = re.search(r"```json\n(\{.*?\})\n```", README.read_text(), re.DOTALL)
    assert m, "README.md shows no ca.json block"
    return orjson.loads(m.group(1))


def test_cli_options_are_registered() -> None:
    pm = get_plugins().pm
    client = {o.name for res in pm.hook.cli_client_options() for o in (res or [])}
    assert {"nebula_cert", "nebula_key"} <= client
    add = {o.name for res in pm.hook.provisioner_cli_options() for o in (res or [])}
    assert "nebula_root" in add


def test_block_from_cli(pki: Any, host: Any) -> None:
    block = block_from_cli("nebula", {"nebula_root": str(pki.ca_crt)})
    assert block == {"type": "Nebula", "name": "nebula", "roots": pki.roots_b64}
    assert base64.b64decode(block["roots"]) == pki.ca_crt.read_bytes()
    # update keeps the other fields
    updated = block_from_cli("nebula", {}, {**block, "claims": {"enableSSHCA": True}})
    assert updated["claims"] == {"enableSSHCA": True} and updated["roots"] == block["roots"]
    with pytest.raises(click.UsageError, match="not a CA"):
        block_from_cli("nebula", {"nebula_root": str(host.crt)})
    with pytest.raises(click.UsageError, match="--nebula-root"):
        block_from_cli("nebula", {})


def test_end_to_end_with_plica_start(tmp_path: Path, pki: Any, host: Any, host_two_ips: Any) -> None:
    files = make_ca(tmp_path)
    # The README's block, with the roots of this test's Nebula CA in place of the elided value.
    example = readme_block()
    assert example["type"] == "Nebula" and set(example) >= {"name", "roots"}
    example["roots"] = block_from_cli(example["name"], {"nebula_root": str(pki.ca_crt)})["roots"]
    files.add_provisioner(example)
    name = example["name"]
    with ca_process(files):
        crt, key = tmp_path / "host2.crt", tmp_path / "host2.key"
        r = plica(
            files, "certificate", "host2.example", str(crt), str(key), "--provisioner", name,
            "--san", "host2.example", "--san", "10.1.0.6", "--san", "10.2.0.6",
            "--nebula-cert", str(host_two_ips.crt), "--nebula-key", str(host_two_ips.key),
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        v = subprocess.run(
            ["openssl", "verify", "-CAfile", str(files.root), "-untrusted", str(files.intermediate), str(crt)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert v.returncode == 0, v.stdout + v.stderr
        leaf = x509.load_pem_x509_certificates(crt.read_bytes())[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["host2.example"]
        assert sorted(map(str, san.get_values_for_type(x509.IPAddress))) == ["10.1.0.6", "10.2.0.6"]

        # Another IP: the CA refuses with 403 and names the Nebula name.
        r = plica(
            files, "certificate", "host1.example", str(tmp_path / "x.crt"), str(tmp_path / "x.key"),
            "--provisioner", name, "--san", "host1.example", "--san", "10.3.0.1",
            "--nebula-cert", str(host.crt), "--nebula-key", str(host.key),
        )  # fmt: skip
        assert r.returncode != 0 and "403" in r.stderr and "host1.example" in r.stderr, r.stderr

        # A key that is not the certificate's: the client refuses before asking the CA.
        r = plica(
            files, "token", "host1.example", "--provisioner", name,
            "--nebula-cert", str(host.crt), "--nebula-key", str(host_two_ips.key),
        )  # fmt: skip
        assert r.returncode != 0 and "not the private key" in r.stderr, r.stderr

        # `plica token` prints the token: XEdDSA, the raw certificate in the `nebula` header.
        r = plica(
            files, "token", "host1.example", "--provisioner", name,
            "--nebula-cert", str(host.crt), "--nebula-key", str(host.key),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        header = orjson.loads(base64.urlsafe_b64decode(r.stdout.strip().split(".")[0] + "=="))
        assert header["alg"] == "XEdDSA"
        assert base64.b64decode(header["nebula"]) == host.cert.raw

        # SSH host certificate for its name (the example block enables the SSH CA).
        sshkey = tmp_path / "ssh_host_key"
        r = plica(
            files, "ssh", "certificate", "host1.example", str(sshkey), "--host", "--provisioner", name,
            "--principal", "host1.example", "--principal", "10.1.0.5",
            "--nebula-cert", str(host.crt), "--nebula-key", str(host.key),
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        out = subprocess.run(
            ["ssh-keygen", "-L", "-f", str(sshkey) + "-cert.pub"], capture_output=True, text=True, check=True
        ).stdout
        assert "host certificate" in out
        assert out.split("Principals:")[1].split("Critical Options:")[0].split() == [
            "host1.example",
            "10.1.0.5",
        ]
