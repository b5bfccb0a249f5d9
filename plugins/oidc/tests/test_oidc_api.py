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

from plica.testing import Api, CAFiles, csr_pem, db_counts, ec_key, in_process_ca, make_csr, write_leaf
from plica.testing.external import openssl_verify
from plica.testing.tokens import b64url, b64url_decode, tamper_payload

from .oidckit import CLIENT_ID, ES_CLIENT_ID, Provider, SigningKey


def b64json(part: str) -> dict:  # type: ignore[type-arg]
    return json.loads(b64url_decode(part))


def _alg_none(token: str) -> str:
    header = b64json(token.split(".")[0])
    none = b64url(json.dumps({**header, "alg": "none"}).encode())
    return f"{none}.{token.split('.')[1]}."


def refused(r, status: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    body = r.error()
    assert r.status == status, body
    for w in words:
        assert w in body["message"], body


async def sign(api: Api, ott: str, cn: str, sans: list[str], key=None):  # type: ignore[no-untyped-def]
    key = key or ec_key()
    return await api.post("/sign", {"csr": csr_pem(make_csr(key, cn, sans)), "ott": ott}), key


async def test_person_gets_their_identity(
    ca_files: CAFiles,
    provider: Provider,
    id_token: Callable[..., str],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    ca_files.add_provisioner(provider.block(admins=["root@example.com"], domains=["example.com"]))
    ca_files.add_provisioner(provider.block("sso-es", client_id=ES_CLIENT_ID))
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        for client_id, alg in ((CLIENT_ID, "RS256"), (ES_CLIENT_ID, "ES256")):
            tok = await asyncio.to_thread(id_token, "alice", client_id)
            assert b64json(tok.split(".")[0])["alg"] == alg
            r, key = await sign(api, tok, "alice@example.com", ["alice@example.com"])
            assert r.status == 201, r.raw
            crt, key_file = write_leaf(tmp_path, f"alice-{alg}", r, key)
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
            # x509-renew: over mTLS with the certificate itself.
            r = await api.post("/renew", ctx=api.mtls(crt, key_file))
            assert r.status == 201, r.raw
            renewed = x509.load_pem_x509_certificate(r.json["crt"].encode())
            assert renewed.subject == leaf.subject and renewed.serial_number != leaf.serial_number


async def test_names_admins_and_filters(
    ca_files: CAFiles,
    provider: Provider,
    id_token: Callable[..., str],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    ca_files.add_provisioner(
        provider.block(admins=["root@EXAMPLE.com", "ops"], domains=["EXAMPLE.com"], groups=["staff"])
    )
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        # A person asking for a name that is not theirs: 403, nothing stored, the token not spent.
        tok = await asyncio.to_thread(id_token, "alice")
        before = db_counts(ca_files)
        r, _ = await sign(api, tok, "alice@example.com", ["alice@example.com", "www.example.com"])
        refused(r, 403, "www.example.com", "admin")
        r, _ = await sign(api, tok, "bob@example.com", ["bob@example.com"])
        refused(r, 403, "bob@example.com")
        assert db_counts(ca_files) == before
        r, _ = await sign(api, tok, "alice", [f"{provider.issuer}#alice"])
        assert r.status == 201, r.raw
        # Admins by e-mail (domain part case-insensitive, as step-ca) and by group: the CSR's names as asked.
        for login in ("root", "bob.smith"):
            tok = await asyncio.to_thread(id_token, login)
            r, _ = await sign(api, tok, "svc.example.com", ["svc.example.com", "10.0.0.7"])
            assert r.status == 201, r.raw
            leaf = x509.load_pem_x509_certificate(r.json["crt"].encode())
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert san.get_values_for_type(x509.DNSName) == ["svc.example.com"]
            assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "svc.example.com"
        # domains, email_verified and groups, with tokens the provider really issued.
        for login, words in (
            ("mallory", ("mallory@evil.test", "domains")),
            ("eve", ("not verified", "email_verified")),
            ("carol", ("groups",)),
        ):
            tok = await asyncio.to_thread(id_token, login)
            r, _ = await sign(api, tok, f"{login}@example.com", [])
            refused(r, 401, *words)
        assert db_counts(ca_files)["x509_certs"] == before["x509_certs"] + 3


async def test_bad_id_tokens(
    ca_files: CAFiles, provider: Provider, id_token: Callable[..., str], session: aiohttp.ClientSession
) -> None:
    ca_files.add_provisioner(provider.block())
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        real = await asyncio.to_thread(id_token, "alice")
        now = int(time.time())
        forged_key = SigningKey.new("RS256")
        forged_key.kid = provider.keys[0].kid
        cases = [
            (provider.forge({"exp": now - 61, "iat": now}), 401, "expired"),
            (provider.forge({"nbf": now + 600, "iat": now}), 401, "not valid yet"),
            (provider.forge({"iat": now + 600, "exp": now + 900}), 401, "issued in the future"),
            (provider.forge({"aud": [CLIENT_ID + "-other"], "azp": CLIENT_ID}), 401, "audience"),
            (provider.forge({"aud": [CLIENT_ID, "x"], "azp": "x"}), 401, "azp"),
            (provider.forge({"iss": "https://accounts.example.com"}), 401, "issuer"),
            (provider.forge({"email_verified": False}), 401, "email_verified"),
            (provider.forge({"groups": "staff"}), 401, "groups"),
            (provider.forge({}, key=forged_key), 401, "does not verify"),  # someone else's key, our kid
            (provider.forge({}, key=SigningKey.new("ES256")), 401, "does not verify"),  # unknown kid
            (_alg_none(real), 401, "'alg' 'none'"),
            (tamper_payload(real, '"alice"', '"alicf"'), 401, "does not verify"),
            (real.rsplit(".", 1)[0] + ".", 401, "does not verify"),
        ]
        before = db_counts(ca_files)
        for ott, status, words in cases:
            r, _ = await sign(api, ott, "alice@example.com", ["alice@example.com"])
            refused(r, status, words)
        assert db_counts(ca_files) == before
        # After all that, the real token is still good: refusals spend nothing.
        r, _ = await sign(api, real, "alice@example.com", ["alice@example.com"])
        assert r.status == 201, r.raw


async def test_only_admins_revoke(
    ca_files: CAFiles, provider: Provider, id_token: Callable[..., str], session: aiohttp.ClientSession
) -> None:
    ca_files.add_provisioner(provider.block(admins=["root@example.com"]))
    async with in_process_ca(ca_files):
        api = Api(ca_files, session)
        r, _ = await sign(api, await asyncio.to_thread(id_token, "alice"), "alice", ["alice@example.com"])
        assert r.status == 201, r.raw
        serial = str(x509.load_pem_x509_certificate(r.json["crt"].encode()).serial_number)
        body = {"serial": serial, "reasonCode": 1, "reason": "key compromise", "passive": True}
        # The person themselves: 403 (step-ca: only admins revoke with an ID token), nothing stored.
        before = db_counts(ca_files)
        r = await api.post("/revoke", {**body, "ott": await asyncio.to_thread(id_token, "alice")})
        refused(r, 403, "admin", "revoke")
        assert db_counts(ca_files) == before
        # An admin: any serial, although the ID token's subject names a person.
        r = await api.post("/revoke", {**body, "ott": await asyncio.to_thread(id_token, "root")})
        assert r.status == 200, r.raw
        assert db_counts(ca_files)["revoked_x509_certs"] == before["revoked_x509_certs"] + 1
