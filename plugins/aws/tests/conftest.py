"""Fixtures for the AWS tests: a signing certificate standing in for AWS's, a local metadata service serving a
document it signed, and a CA whose AWS provisioners trust that certificate through `iidRoots`. The helpers
live in imdskit.py (tests import them relatively)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define

from plica.testing import Api, CAFiles, in_process_ca, make_ca

from .awskit import Env
from .imdskit import IMDS, SigningCert, running


@define
class Metadata:
    service: IMDS
    url: str


@pytest.fixture(scope="session")
def signer() -> SigningCert:
    return SigningCert.create()


@pytest.fixture
def metadata(signer: SigningCert) -> Iterator[Metadata]:
    """The metadata service of instance i-0123456789abcdef0 (IMDSv2 enforced), on 127.0.0.1."""
    service = IMDS.signed(signer)
    with running(service) as url:
        yield Metadata(service, url)


@pytest.fixture
def signer_roots(tmp_path: Path, signer: SigningCert) -> Path:
    """`signer`'s certificate as a PEM file, for `iidRoots`."""
    return signer.write(tmp_path / "iid-roots.pem")


def aws_block(name: str, roots: Path, **fields: Any) -> dict[str, Any]:
    return {"type": "AWS", "name": name, "iidRoots": str(roots), "claims": {"enableSSHCA": True}, **fields}


@pytest.fixture
def aws_files(tmp_path: Path, signer_roots: Path) -> CAFiles:
    """A CA with AWS provisioners trusting `signer`: `aws` (trust on first use), `aws-multi`
    (disableTrustOnFirstUse), `aws-strict` (disableCustomSANs, accounts, instanceAge); and `aws-default`,
    which trusts AWS's published certificates (no iidRoots)."""
    files = make_ca(tmp_path)
    roots = signer_roots
    files.add_provisioner(aws_block("aws", roots))
    files.add_provisioner(aws_block("aws-multi", roots, disableTrustOnFirstUse=True))
    files.add_provisioner(
        aws_block(
            "aws-strict",
            roots,
            disableCustomSANs=True,
            accounts=["123456789012", "210987654321"],
            instanceAge="1h",
        )
    )
    files.add_provisioner({"type": "AWS", "name": "aws-default"})
    return files


@pytest_asyncio.fixture
async def env(aws_files: CAFiles) -> AsyncIterator[Env]:
    """`aws_files` served by the real server in the test's event loop."""
    async with aiohttp.ClientSession() as session, in_process_ca(aws_files) as authority:
        yield Env(aws_files, Api(aws_files, session), authority)
