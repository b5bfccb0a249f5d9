"""The CRL on SQLite, in process: two authorities on one file (two workers) take turns generating, a
revocation recorded straight through the storage (as ACME's revokeCert does) is on the next CRL with
generateOnRevoke, enabling CRLs by a reload works, and a changed idpURL makes a new CRL instead of serving
the stored one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography import x509

from plica import config as config_mod
from plica.authority import Authority
from plica.errors import NotFound
from plica.testing import CAFiles, make_ca, opened_authority
from plica.x509.crl import RECHECK


def _enable(files: CAFiles, **crl: object) -> None:
    cfg = files.config()
    cfg["crl"] = {"enabled": True, **crl}
    files.write_config(cfg)


async def _revoke(authority: Authority, serial: int) -> None:
    await authority.storage.revoke_x509(str(serial), provisioner_id="p", reason_code=4, reason="",
                                        mtls=False, token_id=None, now=int(time.time()))  # fmt: skip


async def test_two_workers_on_one_file_take_turns(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    _enable(files, generateOnRevoke=True)
    async with opened_authority(files) as a, opened_authority(files) as b:
        # Revoked through the storage on both "workers" at once: each revocation regenerates the CRL.
        await asyncio.gather(*(_revoke((a, b)[i % 2], 500 + i) for i in range(10)))
        await asyncio.sleep(RECHECK + 0.1)
        ca, cb = await a.crl.current(), await b.crl.current()
        assert ca == cb and ca.number == 9  # numbers 0..9, one per revocation, none twice
        crl = x509.load_der_x509_crl(ca.der)
        assert sorted(r.serial_number for r in crl) == list(range(500, 510))
        entry = crl.get_revoked_certificate_by_serial_number(500)
        assert entry is not None
        assert (
            entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            == x509.ReasonFlags.superseded
        )


async def test_reload_enables_and_changes_the_crl(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    async with opened_authority(files) as a:
        with pytest.raises(NotFound):
            await a.crl.current()
        _enable(files)
        a.install(a.load_snapshot(config_mod.load(files.config_path)))
        first = await a.crl.current()
        assert first.number == 0
        assert (await a.crl.current()) is first  # served from memory
        # Without generateOnRevoke a revocation waits for the next renewal.
        await _revoke(a, 42)
        assert (
            x509.load_der_x509_crl((await a.crl.current()).der).get_revoked_certificate_by_serial_number(42)
            is None
        )
        # Another idpURL: the stored CRL no longer fits, a new one (with the revocation) is made.
        _enable(files, idpURL="http://crl.example/crl")
        a.install(a.load_snapshot(config_mod.load(files.config_path)))
        second = await a.crl.current()
        assert second.number == 1
        crl = x509.load_der_x509_crl(second.der)
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        assert idp.critical and idp.value.full_name == [
            x509.UniformResourceIdentifier("http://crl.example/crl")
        ]
        assert crl.get_revoked_certificate_by_serial_number(42) is not None
