"""End to end, as on an EC2 instance: `plica provisioner add --type AWS`, `plica start`, and the `plica` client
reading the local metadata service (IMDSv2) to get a certificate that OpenSSL verifies, renewing it over mTLS,
refused a second one for the same instance, and, with disableTrustOnFirstUse, given another."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from plica.api import ProvisionerExtension
from plica.testing import ca_process, make_ca
from plica.testing.external import openssl_verify

from .awskit import ACCOUNT, INSTANCE, PRIVATE_IP, plica
from .conftest import Metadata

pytestmark = pytest.mark.slow


def test_an_instance_gets_renews_and_is_refused_a_second_certificate(
    tmp_path: Path, metadata: Metadata, signer_roots: Path
) -> None:
    files = make_ca(tmp_path)
    home = ["--home", str(files.home)]
    plica(files, "provisioner", "add", "aws", "--type", "AWS", "--aws-account", ACCOUNT, "--instance-age", "1h",
          "--iid-roots", str(signer_roots), *home)  # fmt: skip
    plica(files, "provisioner", "add", "aws-multi", "--type", "AWS", "--disable-trust-on-first-use",
          "--iid-roots", str(signer_roots), *home)  # fmt: skip
    imds = ["--aws-metadata-url", metadata.url]
    with ca_process(files):
        crt, key = tmp_path / "host.crt", tmp_path / "host.key"
        plica(files, "certificate", INSTANCE, str(crt), str(key), "--provisioner", "aws", "--san", INSTANCE,
              "--san", PRIVATE_IP, *imds)  # fmt: skip
        first = openssl_verify(files, crt)
        assert first.subject.rfc4514_string() == f"CN={INSTANCE}"
        assert ProvisionerExtension.from_certificate(first) == ProvisionerExtension(
            4, "aws", ACCOUNT, ("InstanceID", INSTANCE)
        )
        # The client spoke IMDSv2: a session token first, then the document and signature with it.
        assert [m for m, _, _ in metadata.service.requests] == ["PUT", "GET", "PUT", "GET"]

        # Renewal over mTLS with the certificate itself.
        plica(files, "renew", str(crt), str(key))
        renewed = openssl_verify(files, crt)
        assert renewed.serial_number != first.serial_number and renewed.subject == first.subject

        # A second certificate for the same instance: refused, whatever the new token.
        again = plica(files, "certificate", INSTANCE, str(tmp_path / "again.crt"), str(tmp_path / "again.key"),
                      "--provisioner", "aws", *imds, ok=False)  # fmt: skip
        assert again.returncode != 0 and "(401)" in again.stderr and "already used" in again.stderr
        assert not (tmp_path / "again.crt").exists()

        # disableTrustOnFirstUse: the same instance gets more; the metadata address from the environment.
        env = {"PLICA_AWS_METADATA_URL": metadata.url}
        for i in range(2):
            out = tmp_path / f"multi-{i}.crt"
            plica(files, "certificate", INSTANCE, str(out), str(tmp_path / f"multi-{i}.key"),
                  "--provisioner", "aws-multi", env=env)  # fmt: skip
            openssl_verify(files, out)
            time.sleep(1.1)  # a token of the same second would be the same token
