"""A VM gets its certificate with the `plica` command, end to end: `plica provisioner add --type Azure` writes
the block, the real server (`plica start`) fetches the tenant's keys from the local login.microsoftonline.com,
`plica certificate` asks the VM's local IMDS for its token (`Metadata: true`) and the CA signs; openssl
verifies the chain, `plica renew` renews over mTLS, and trust on first use refuses a second certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from plica.testing import CAFiles, ca_process, free_port, make_ca, plica_cli
from plica.testing.external import openssl_verify

from .azurekit import MANAGEMENT, VM, FakeAzure, Tenant

pytestmark = pytest.mark.slow


def plica(
    files: CAFiles, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    r = plica_cli(*args, env={**files.env(), **(env or {})})
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def add_azure(files: CAFiles, azure: FakeAzure, tenant: Tenant, *flags: str) -> None:
    plica(files, "provisioner", "add", "Azure", "--type", "Azure", "--azure-tenant", tenant.tid,
          "--azure-discovery-url", azure.discovery_url(tenant), "--enable-ssh-ca", *flags,
          "--home", str(files.home))  # fmt: skip


def test_plica_certificate_from_imds_verifies_renews_and_is_trusted_on_first_use(
    tmp_path: Path, azure: FakeAzure
) -> None:
    files = make_ca(tmp_path)
    tenant = azure.tenant()
    add_azure(files, azure, tenant, "--azure-resource-group", "backend")
    vm = VM("vm-cli-1", resource_group="backend")
    imds = azure.imds(tenant, vm)
    crt, key = tmp_path / "vm.crt", tmp_path / "vm.key"
    with ca_process(files):
        out = plica(files, "certificate", "vm-cli-1.internal", str(crt), str(key), "--provisioner", "Azure",
                    "--azure-metadata-url", imds)  # fmt: skip
        assert "Certificate" in out.stdout
        first = openssl_verify(files, crt)
        assert first.subject.rfc4514_string() == "CN=vm-cli-1.internal"

        # The request IMDS saw: step's path and query, the Metadata header, no proxy in between.
        seen = [r for r in azure.imds_requests if r["vm"] == "vm-cli-1"]
        assert len(seen) == 1 and seen[0]["headers"].get("Metadata") == "true"
        assert seen[0]["query"] == {"api-version": "2018-02-01", "resource": MANAGEMENT}

        # Renewal over mTLS with the certificate itself: no token, no IMDS.
        plica(files, "renew", str(crt), str(key))
        renewed = openssl_verify(files, crt)
        assert renewed.serial_number != first.serial_number and renewed.subject == first.subject
        assert len([r for r in azure.imds_requests if r["vm"] == "vm-cli-1"]) == 1

        # Trust on first use: the VM's next request (IMDS hands out the same cached token) is refused; the
        # metadata address comes from the environment this time.
        r = plica(files, "certificate", "vm-cli-1.internal", str(tmp_path / "again.crt"), str(tmp_path / "again.key"),
                  "--provisioner", "Azure", ok=False, env={"PLICA_AZURE_METADATA_URL": imds})  # fmt: skip
        assert r.returncode != 0 and "(401)" in r.stderr and "already used" in r.stderr, r.stderr
        assert len([r for r in azure.imds_requests if r["vm"] == "vm-cli-1"]) == 2

        # A VM of a resource group the provisioner does not list is refused, naming the rule.
        other = azure.imds(tenant, VM("vm-cli-2", resource_group="accounting"))
        r = plica(files, "certificate", "vm-cli-2", str(tmp_path / "o.crt"), str(tmp_path / "o.key"),
                  "--provisioner", "Azure", "--azure-metadata-url", other, ok=False)  # fmt: skip
        assert r.returncode != 0 and "resourceGroups" in r.stderr, r.stderr
        assert not (tmp_path / "o.crt").exists()

        # No metadata service: a clear client-side error.
        r = plica(files, "certificate", "vm-cli-3", str(tmp_path / "n.crt"), str(tmp_path / "n.key"),
                  "--provisioner", "Azure", "--azure-metadata-url", f"http://127.0.0.1:{free_port()}", ok=False)  # fmt: skip
        assert r.returncode != 0 and "cannot reach the Azure instance metadata service" in r.stderr, r.stderr


def test_disable_trust_on_first_use_gives_certificates_again_with_the_cached_token(
    tmp_path: Path, azure: FakeAzure
) -> None:
    files = make_ca(tmp_path)
    tenant = azure.tenant()
    add_azure(files, azure, tenant, "--disable-trust-on-first-use", "--disable-custom-sans")
    vm = VM("vm-cli-free")
    imds = azure.imds(tenant, vm)
    with ca_process(files):
        serials = []
        for i in range(2):
            crt = tmp_path / f"{i}.crt"
            plica(files, "certificate", "vm-cli-free", str(crt), str(tmp_path / f"{i}.key"), "--provisioner",
                  "Azure", "--azure-metadata-url", imds)  # fmt: skip
            cert = openssl_verify(files, crt)
            assert cert.subject.rfc4514_string() == "CN=vm-cli-free"
            serials.append(cert.serial_number)
        assert serials[0] != serials[1]
        # disableCustomSANs: a subject other than the VM name is refused (403, nothing issued).
        r = plica(files, "certificate", "web.example", str(tmp_path / "w.crt"), str(tmp_path / "w.key"),
                  "--provisioner", "Azure", "--azure-metadata-url", imds, ok=False)  # fmt: skip
        assert r.returncode != 0 and "(403)" in r.stderr, r.stderr
    # All three came with the one token IMDS cached.
    tokens = [r["token"] for r in azure.imds_requests if r["vm"] == "vm-cli-free"]
    assert len(tokens) == 3 and len(set(tokens)) == 1
