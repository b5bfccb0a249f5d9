"""The responder in process, against a real CA's authority: mangled requests always get a well-formed
OCSPResponse (never an exception), and the responder certificate is renewed before it expires."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from pathlib import Path

import plica_ocsp.responder as responder_mod
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from plica_ocsp.responder import Responder

from plica.testing import make_ca, opened_authority


def _request(issuer: x509.Certificate, serial_of: x509.Certificate) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(serial_of, issuer, hashes.SHA1())
    b = b.add_extension(x509.OCSPNonce(b"n" * 16), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


async def test_mangled_requests_never_raise(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    async with opened_authority(files) as authority:
        r = Responder(authority)
        await r.renew()
        good = _request(r.issuer, r.cert)  # any certificate of this issuer will do for the shape
        rng = random.Random(16)
        statuses = set()
        for i in range(600):
            data = bytearray(good)
            kind = i % 4
            if kind == 0:
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            elif kind == 1:
                data = data[: rng.randrange(len(data))]
            elif kind == 2:
                data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
            else:
                data = bytearray(rng.randbytes(rng.randint(0, 200)))
            der, _ = await r.respond(bytes(data))
            statuses.add(ocsp.load_der_ocsp_response(der).response_status)
        assert ocsp.OCSPResponseStatus.MALFORMED_REQUEST in statuses
        # The unmangled request is answered (the responder certificate itself was never stored: unknown).
        resp = ocsp.load_der_ocsp_response((await r.respond(good))[0])
        assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


async def test_responder_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_ca(tmp_path)
    async with opened_authority(files) as authority:
        r = Responder(authority)
        await r.renew()
        cert = r.cert
        assert cert.issuer == r.issuer.subject
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
        assert cert.extensions.get_extension_for_class(x509.OCSPNoCheck) is not None
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
        assert cert.public_key() == r.key.public_key()
        life = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
        assert dt.timedelta(hours=23) < life <= dt.timedelta(hours=24)
        # Renewed at two thirds of its life: with a 3 s life, after about 2 s.
        monkeypatch.setattr(responder_mod, "RESPONDER_LIFETIME", dt.timedelta(seconds=3))
        await r.renew()
        short = r.cert
        task = asyncio.create_task(r.renew_forever())
        try:
            for _ in range(50):
                await asyncio.sleep(0.1)
                if r.cert.serial_number != short.serial_number:
                    break
            else:
                pytest.fail("the responder certificate was not renewed")
        finally:
            task.cancel()
        assert r.cert.not_valid_after_utc > short.not_valid_after_utc
        assert r.cert.public_key() == r.key.public_key() and r.key.public_key() != short.public_key()
