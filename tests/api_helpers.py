"""What tests/test_api_*.py share: one CA per test module, served in this event loop with real TLS and real
SQLite (Env, opened by api_env for the module's `env` fixture), and the check every refusal goes through.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from attrs import define
from cryptography import x509

from plica.testing import (
    Api,
    CAFiles,
    ProvKey,
    admin_key,
    db_counts,
    in_process_ca,
    make_ca,
    new_jwk_provisioner,
)


@define
class Env:
    files: CAFiles
    api: Api
    authority: Any
    admin: ProvKey
    provs: dict[str, ProvKey]
    tmp: Path
    federated: x509.Certificate


@asynccontextmanager
async def api_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("api")
    files = make_ca(tmp)
    # A federated root made by openssl, as an operator would bring one from another PKI.
    fed_crt, fed_key = tmp / "federated.crt", tmp / "federated.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=Federated Root", "-days", "2", "-keyout", str(fed_key), "-out", str(fed_crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    cfg = files.config()
    cfg["federatedRoots"] = [str(fed_crt)]
    files.write_config(cfg)
    provs: dict[str, ProvKey] = {}
    for name, kw in {
        "norenew": {"claims": {"disableRenewal": True}},
        "afterexpiry": {"claims": {"allowRenewalAfterExpiry": True}},
        "nossh": {},
        "rsa": {"kty": "RSA"},
        "okp": {"kty": "OKP"},
        "noext": {"claims": {"disableSmallstepExtensions": True}},
        "gone": {},
    }.items():
        block, key = new_jwk_provisioner(name, **kw)
        files.add_provisioner(block)
        provs[name] = key
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        yield Env(
            files=files,
            api=Api(files, session),
            authority=authority,
            admin=admin_key(files),
            provs=provs,
            tmp=tmp,
            federated=x509.load_pem_x509_certificate(fed_crt.read_bytes()),
        )


async def refused(env: Env, body: Any, status: int, *, data: bytes | None = None, path: str = "/sign") -> str:
    """Send a bad request; it must get `status` in step's error shape and leave the database as it was."""
    before = db_counts(env.files)
    if data is not None:
        r = await env.api.call("POST", path, data=data, headers={"Content-Type": "application/json"})
    else:
        r = await env.api.post(path, body)
    assert r.status == status, r.raw
    msg = r.error()["message"]
    assert db_counts(env.files) == before, "a refused request wrote to the database"
    return msg
