"""Requests that arrive together go through the pipeline's steps together (plica.stages): every request
of a loop turn is authorized before the first of their certificates is signed. Recorded on the real
authority: the token checks (`Authority.parse_token`) and the CA key's signatures (its `Signer`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from plica.authority import Authority
from plica.errors import Unauthorized
from plica.http import wire
from plica.testing import ProvKey
from plica.testing.csrs import csr_for
from plica.testing.pytest_plugin import RunningCA

REQUESTS = 4


def record(monkeypatch: pytest.MonkeyPatch, signer: Any) -> list[str]:
    """The order of the token checks ("token") and of `signer`'s signatures ("sign") from now on."""
    events: list[str] = []
    real_parse, real_sign = Authority.parse_token, signer.sign

    def parse_token(self: Authority, ott: str) -> Any:
        events.append("token")
        return real_parse(self, ott)

    async def sign(*args: Any, **kwargs: Any) -> bytes:
        events.append("sign")
        return await real_sign(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Authority, "parse_token", parse_token)
    monkeypatch.setattr(signer, "sign", sign)
    return events


async def test_x509_requests_of_one_turn_are_all_authorized_before_any_is_signed(
    ca: RunningCA, admin: ProvKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = ca.authority
    events = record(monkeypatch, a.material.intermediate_signer)
    aud = f"{ca.files.url}/1.0/sign"
    bodies = []
    for i in range(REQUESTS):
        name = f"h{i}.stages.test"
        bodies.append({"csr": csr_for(name).pem, "ott": admin.token(name, aud, sans=[name])})
    # One forged token among them: its request fails alone, the others are issued.
    bodies.append(
        {"csr": csr_for("bad.stages.test").pem, "ott": admin.token("bad.stages.test", aud)[:-4] + "AAAA"}
    )
    requests = [wire.sign_request(b) for b in bodies]
    results = await asyncio.gather(*(a.sign(ott, req) for ott, req in requests), return_exceptions=True)
    assert isinstance(results[-1], Unauthorized)
    issued = [r[0] for r in results[:-1]]  # type: ignore[index]
    assert [c.subject.rfc4514_string() for c in issued] == [f"CN=h{i}.stages.test" for i in range(REQUESTS)]
    # Interleaved (token, sign, token, sign, ...) before the steps were split.
    assert events == ["token"] * (REQUESTS + 1) + ["sign"] * REQUESTS


async def test_ssh_requests_of_one_turn_are_all_authorized_before_any_is_signed(
    ca: RunningCA, admin: ProvKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = ca.authority
    events = record(monkeypatch, a.material.ssh_user_signer)
    aud = f"{ca.files.url}/1.0/ssh/sign"
    requests = []
    for i in range(REQUESTS):
        user = f"user{i}"
        pub = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .split()[1]
            .decode()
        )
        ott = admin.token(user, aud, step={"ssh": {"certType": "user", "keyID": user, "principals": [user]}})
        requests.append(wire.ssh_sign_request({"publicKey": pub, "ott": ott, "certType": "user"}))
    results = await asyncio.gather(
        *(a.ssh_sign(r.ott, r.request, cert_type_named=r.cert_type_named) for r in requests)
    )
    assert [cert.cert.key_id for cert, _ in results] == [f"user{i}".encode() for i in range(REQUESTS)]
    assert events == ["token"] * REQUESTS + ["sign"] * REQUESTS
