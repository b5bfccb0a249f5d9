"""The OIDC provisioner through the CA's real API, with ID tokens the real oidc-provider issued after the
person signed in at its pages: identity-only certificates, admins, SSH, and every ID-token rule."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.x509.oid import NameOID

from plica.testing import Api, CAFiles, csr_pem, db_counts, ec_key, in_process_ca, make_csr
from plica.testing.external import openssl_verify
from plica.testing.tokens import b64url_decode, tamper_payload

from .oidckit import CLIENT_ID, ES_CLIENT_ID, Provider, SigningKey


def b64json(part: str) -> dict:  # type: ignore[type-arg]
    return json.loads(b64url_decode(part))


def refused(r, status: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    body = r.error()
    assert r.status == status, body
    for w in words:
        assert w in body["message"], body


async def sign(api: Api, ott: str, cn: str, sans: list[str], key=None):  # type: ignore[no-untyped-def]
    key = key or ec_key()
    return await api.post("/sign", {"csr": csr_pem(make_csr(key, cn, sans)), "ott": ott}), key


async def test_person_gets_their_identity(
    ca_files: CAFiles, provider: Provider, id_token: Callable[..., str], session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    ca_files.add_provisioner(provider.block(admins=["root@example.com"], domains=["example.com"]))
    ca_files.add_provisioner(provider.block("sso-es", client_id=ES_CLIENT_ID))
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        for client_id, alg in ((CLIENT_ID, "RS256"), (ES_CLIENT_ID, "ES256")):
            tok = await asyncio.to_thread(id_token, "alice", client_id)
            assert b64json(tok.split(".")[0])["alg"] == alg
            r, _ = await sign(api, tok, "alice@example.com", ["alice@example.com"])
            assert r.status == 201, r.raw
            crt = tmp_path / f"alice-{alg}.crt"
            crt.write_text("".join(r.json["certChain"]))
            leaf = openssl_verify(ca_files, crt)
            # step's default leaf for a person: subject `sub`, SANs the e-mail and <iss>#<sub>.
            assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
            assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"{provider.issuer}#alice"]
            assert san.get_values_for_type(x509.DNSName) == []
            # The same ID token again: spent.
            before = db_counts(ca_files)
            r, _ = await sign(api, tok, "alice@example.com", ["alice@example.com"])
            refused(r, 401, "already used")
            assert db_counts(ca_files) == before
