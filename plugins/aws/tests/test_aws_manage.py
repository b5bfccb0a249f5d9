"""`plica provisioner add|update --type AWS` with step's flags: the block each writes, that it loads in the real
server, and what is refused (the file is left as it was)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from plica.testing import CAFiles, in_process_ca, make_ca, root_ca

from .awskit import plica
from .imdskit import SigningCert


def run(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return plica(files, "provisioner", *args, "--home", str(files.home), ok=False)


def block(files: CAFiles, name: str) -> dict[str, Any]:
    return next(p for p in files.config()["authority"]["provisioners"] if p["name"] == name)


async def test_add_and_update_with_steps_flags(tmp_path: Path, signer: SigningCert) -> None:
    files = make_ca(tmp_path)
    roots = signer.write(tmp_path / "roots.pem")
    res = run(files, "add", "aws", "--type", "AWS", "--aws-account", "123456789042", "--aws-account", "210987654321",
              "--instance-age", "1h", "--disable-custom-sans", "--iid-roots", str(roots), "--imds-version", "v2",
              "--enable-ssh-ca")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert block(files, "aws") == {
        "type": "AWS",
        "name": "aws",
        "accounts": ["123456789042", "210987654321"],
        "instanceAge": "1h",
        "disableCustomSANs": True,
        "disableTrustOnFirstUse": False,
        "iidRoots": str(roots.resolve()),
        "imdsVersions": ["v2"],
        "claims": {"enableSSHCA": True},
    }
    res = run(files, "update", "aws", "--aws-account", "555555555555", "--remove-aws-account", "123456789042",
              "--disable-custom-sans=false", "--disable-trust-on-first-use", "--instance-age", "")  # fmt: skip
    assert res.returncode == 0, res.stderr
    updated = block(files, "aws")
    assert updated["accounts"] == ["210987654321", "555555555555"]
    assert updated["disableCustomSANs"] is False and updated["disableTrustOnFirstUse"] is True
    assert "instanceAge" not in updated and updated["imdsVersions"] == ["v2"]
    async with in_process_ca(files) as authority:
        prov = authority.provisioner_by_name("aws")
        assert prov is not None and prov.state.accounts == ("210987654321", "555555555555")


def test_refusals_leave_ca_json_as_it_was(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    not_rsa = tmp_path / "ec-root.pem"
    not_rsa.write_bytes(root_ca("EC root")[0].public_bytes(serialization.Encoding.PEM))
    before = files.config_path.read_bytes()
    for args, words in (
        (["--instance-age", "an hour"], "--instance-age"),
        (["--instance-age", "-1h"], "negative"),
        (["--iid-roots", str(files.password_file)], "no usable PEM certificate"),
        (["--iid-roots", str(not_rsa)], "no RSA key"),
        (["--imds-version", "v3"], "v3"),
        (["--disable-custom-sans=maybe"], "maybe"),
    ):
        res = run(files, "add", "aws", "--type", "AWS", *args)
        assert res.returncode != 0 and words in res.stderr, (args, res.stderr)
    # Another type's flags are not AWS's, and AWS's are not another type's.
    res = run(files, "add", "aws", "--type", "AWS", "--x5c-root", str(files.root))
    assert res.returncode != 0 and "--x5c-root is not an option of provisioner type AWS" in res.stderr
    res = run(files, "update", "admin", "--aws-account", "1")
    assert res.returncode != 0 and "--aws-account is not an option of provisioner type JWK" in res.stderr
    assert files.config_path.read_bytes() == before
