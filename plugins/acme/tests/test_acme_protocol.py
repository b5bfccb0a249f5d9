"""The protocol's edges against the real HTTPS server (in-process): the directory, nonces, JWS checks
(each failure is the RFC's error type as a problem document, never a 500), accounts and key rollover."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from plica.api import b64url_decode, b64url_encode, private_jwk, public_jwk
from plica.testing import CAFiles, client_context, in_process_ca

from .acme_helpers.acme_test_ca import client, set_block
from .acme_helpers.acme_test_client import Acme, Resp


def rewrite(**changes: Any) -> Any:
    """Change the protected header after signing (what a broken or hostile client would send)."""

    def tamper(body: dict[str, str]) -> dict[str, str]:
        header = {**orjson.loads(b64url_decode(body["protected"])), **changes}
        return {**body, "protected": b64url_encode(orjson.dumps(header))}

    return tamper


def problem(r: Resp, kind: str, status: int) -> None:
    assert r.status == status, (r.status, r.body)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.body["type"] == f"urn:ietf:params:acme:error:{kind}", r.body
    assert r.body["detail"]
    assert "Replay-Nonce" in r.headers  # a client can retry at once (RFC 8555 §6.5)


async def test_directory_nonces_and_mounts(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    set_block(
        acme_ca,
        termsOfService="https://plica.test/tos",
        website="https://plica.test",
        caaIdentities=["plica.test"],
    )
    ctx = client_context(acme_ca)
    async with in_process_ca(acme_ca):
        for prefix in ("", "/2.0"):
            c = client(acme_ca, session, prefix)
            d = await c.directory()
            base = f"{acme_ca.url}{prefix}/acme/acme"
            assert d["newNonce"] == f"{base}/new-nonce"
            assert d["newAccount"] == f"{base}/new-account"
            assert d["newOrder"] == f"{base}/new-order"
            assert d["revokeCert"] == f"{base}/revoke-cert"
            assert d["keyChange"] == f"{base}/key-change"
            assert d["renewalInfo"] == f"{base}/renewal-info"
            assert d["meta"] == {
                "termsOfService": "https://plica.test/tos",
                "website": "https://plica.test",
                "caaIdentities": ["plica.test"],
            }
            async with session.head(d["newNonce"], ssl=ctx) as r:
                assert r.status == 200
                assert r.headers["Cache-Control"] == "no-store"
                assert f'<{base}/directory>;rel="index"' in r.headers.getall("Link")
                n1 = r.headers["Replay-Nonce"]
            async with session.get(d["newNonce"], ssl=ctx) as r:
                assert r.status == 204
                n2 = r.headers["Replay-Nonce"]
            assert n1 != n2 and len(b64url_decode(n1)) >= 16
            # base64url whose length needs no padding, so strict decoders take it too
            assert re.fullmatch(r"[A-Za-z0-9_-]{32}", n1) and len(base64.urlsafe_b64decode(n1)) == 24
            async with session.head(f"{base}/directory", ssl=ctx) as r:
                assert r.status == 200
        # Unknown provisioner, and a provisioner that is not ACME (the CA's JWK "admin").
        for name in ("nope", "admin"):
            async with session.get(f"{acme_ca.url}/acme/{name}/directory", ssl=ctx) as r:
                assert r.status == 404
                assert r.headers["Content-Type"].startswith("application/problem+json")
                body = await r.json(content_type=None)
                assert body["type"] == "urn:ietf:params:acme:error:malformed"
        # Terms of service are required once configured.
        c = client(acme_ca, session)
        await c.directory()
        problem(await c.register(termsOfServiceAgreed=False), "userActionRequired", 403)
        r = await c.register()
        assert r.status == 201, r.body
        assert r.body["termsOfServiceAgreed"] is True


async def test_jws_failures_are_rfc_problems(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        assert (await c.register()).status == 201
        url = c.dir["newOrder"]
        order = {"identifiers": [{"type": "dns", "value": "a.plica.test"}]}

        # A nonce is good once: the replay is badNonce (and so is none at all, or one never issued).
        nonce = await c.nonce()
        assert (await c.post(url, order, nonce=nonce)).status == 201
        problem(await c.post(url, order, nonce=nonce), "badNonce", 400)
        problem(await c.post(url, order, nonce=None), "badNonce", 400)
        problem(await c.post(url, order, nonce=b64url_encode(b"x" * 16)), "badNonce", 400)

        # A signature that does not verify.
        def flip(body: dict[str, str]) -> dict[str, str]:
            sig = bytearray(b64url_decode(body["signature"]))
            sig[5] ^= 0xFF
            return {**body, "signature": b64url_encode(bytes(sig))}

        problem(await c.post(url, order, tamper=flip), "malformed", 400)
        # Signed by another key than the account's.
        problem(await c.post(url, order, key=ec.generate_private_key(ec.SECP256R1())), "malformed", 400)
        # The url in the JWS is not the URL posted to.
        problem(await c.post(url, order, header={"url": c.dir["newAccount"]}), "unauthorized", 403)
        # An account that does not exist, and a kid that is no account URL at all.
        problem(await c.post(url, order, header={"kid": c.kid + "x"}), "accountDoesNotExist", 400)
        problem(await c.post(url, order, header={"kid": "https://elsewhere/x"}), "accountDoesNotExist", 400)
        # Content type, algorithm, jwk/kid rules, body shape.
        problem(await c.post(url, order, content_type="application/json"), "malformed", 415)
        problem(await c.post(url, order, tamper=rewrite(alg="none")), "badSignatureAlgorithm", 400)
        r = await c.post(url, order, tamper=rewrite(alg="HS256"))
        problem(r, "badSignatureAlgorithm", 400)
        assert "ES256" in r.body["algorithms"]
        problem(await c.post(url, order, header={"jwk": public_jwk(c.key)}), "malformed", 400)
        problem(await c.post(url, order, use_jwk=True), "malformed", 400)
        problem(await c.post(url, order, tamper=lambda b: {**b, "header": {}}), "malformed", 400)
        problem(await c.post(url, order, tamper=lambda b: {"protected": b["protected"]}), "malformed", 400)
        problem(await c.post(url, order, tamper=lambda b: {**b, "protected": "%%%"}), "malformed", 400)
        big = b'{"protected": "' + b"A" * (2 << 20) + b'"}'
        async with session.post(
            url, data=big, headers={"Content-Type": "application/jose+json"}, ssl=c.ssl
        ) as r:
            assert r.status == 413
            assert (await r.json(content_type=None))["type"] == "urn:ietf:params:acme:error:malformed"
        # newAccount with a private key as jwk, and with a too-small RSA key.
        fresh = Acme(c.session, c.directory_url, c.ssl, dir=c.dir)
        problem(
            await fresh.post(c.dir["newAccount"], {}, use_jwk=True, header={"jwk": private_jwk(fresh.key)}),
            "badPublicKey",
            400,
        )
        small = rsa.generate_private_key(65537, 1024)
        problem(await fresh.post(c.dir["newAccount"], {}, use_jwk=True, key=small), "badPublicKey", 400)
        # Identifiers the server will not order.
        bad = await c.post(url, {"identifiers": [{"type": "dns", "value": "bad_name.plica.test"}]})
        problem(bad, "rejectedIdentifier", 400)
        assert bad.body["subproblems"][0]["identifier"]["value"] == "bad_name.plica.test"
        problem(
            await c.post(url, {"identifiers": [{"type": "email", "value": "a@b.c"}]}),
            "unsupportedIdentifier",
            400,
        )
        problem(await c.post(url, {"identifiers": []}), "malformed", 400)
        problem(
            await c.post(
                url,
                {"identifiers": [{"type": "dns", "value": "x_.plica.test"}, {"type": "uri", "value": "u:x"}]},
            ),
            "compound",
            400,
        )


async def test_account_algorithms(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(acme_ca):
        for key in (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP384R1()),
            rsa.generate_private_key(65537, 2048),
            ed25519.Ed25519PrivateKey.generate(),
        ):
            c = Acme(session, f"{acme_ca.url}/acme/acme/directory", client_context(acme_ca), key=key)
            r = await c.register()
            assert r.status == 201, r.body
            r = await c.new_order("alg.plica.test")
            assert r.status == 201, r.body


async def test_accounts(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.directory()
        # onlyReturnExisting for a key without an account.
        problem(
            await c.post(c.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True),
            "accountDoesNotExist",
            400,
        )
        problem(await c.register(contact=["mailto:not-an-address"]), "invalidContact", 400)
        problem(await c.register(contact=["tel:+123"]), "unsupportedContact", 400)
        r = await c.register(contact=["mailto:a@plica.test"])
        assert r.status == 201 and r.body["contact"] == ["mailto:a@plica.test"]
        kid = c.kid
        assert r.body["orders"] == f"{kid}/orders"
        # The same key again: the same account, 200.
        r = await c.register()
        assert r.status == 200 and r.location == kid
        r = await c.post(c.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
        assert r.status == 200 and r.location == kid
        # Update the contact; read it back with POST-as-GET.
        r = await c.post(kid, {"contact": ["mailto:b@plica.test"]})
        assert r.status == 200 and r.body["contact"] == ["mailto:b@plica.test"]
        assert (await c.get(kid)).body["contact"] == ["mailto:b@plica.test"]
        # The orders list.
        o1 = (await c.new_order("one.plica.test")).location
        o2 = (await c.new_order("two.plica.test")).location
        r = await c.get(f"{kid}/orders")
        assert r.status == 200 and set(r.body["orders"]) == {o1, o2}
        # Another account cannot read this one, nor its orders.
        other = client(acme_ca, session)
        await other.register()
        problem(await other.get(kid), "unauthorized", 403)
        problem(await other.get(f"{kid}/orders"), "unauthorized", 403)
        problem(await other.get(o1), "unauthorized", 403)
        problem(await c.post(kid, {"status": "revoked"}), "malformed", 400)
        # Deactivation: the account is done; its key can do nothing more.
        r = await c.post(kid, {"status": "deactivated"})
        assert r.status == 200 and r.body["status"] == "deactivated"
        problem(await c.new_order("three.plica.test"), "unauthorized", 403)
        problem(await c.post(c.dir["newAccount"], {}, use_jwk=True), "unauthorized", 403)


async def test_key_rollover(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        old_key = c.key
        new_key = ec.generate_private_key(ec.SECP384R1())

        def inner(
            url: str, key: Any = new_key, account: str | None = None, old: Any = None
        ) -> dict[str, Any]:
            payload = {"account": account or c.kid, "oldKey": public_jwk(old or old_key)}
            return c.signed(url, payload, None, use_jwk=True, key=key)

        url = c.dir["keyChange"]
        problem(await c.post(url, inner(c.dir["newOrder"])), "unauthorized", 403)  # inner url
        problem(await c.post(url, inner(url, old=new_key)), "unauthorized", 403)  # wrong oldKey
        problem(await c.post(url, inner(url, account=c.kid + "x")), "unauthorized", 403)
        with_nonce = c.signed(
            url, {"account": c.kid, "oldKey": public_jwk(old_key)}, "n", use_jwk=True, key=new_key
        )
        problem(await c.post(url, with_nonce), "malformed", 400)
        # A key that already belongs to another account: 409 with that account's URL.
        other = client(acme_ca, session)
        await other.register()
        r = await c.post(url, inner(url, key=other.key))
        problem(r, "malformed", 409)
        assert r.location == other.kid
        # The rollover itself.
        r = await c.post(url, inner(url))
        assert r.status == 200, r.body
        problem(await c.new_order("k.plica.test"), "malformed", 400)  # the old key no longer signs
        c.key = new_key
        assert (await c.new_order("k.plica.test")).status == 201
        # The new key finds the same account; the old key finds none.
        r = await c.post(c.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
        assert r.location == c.kid
        r = await c.post(c.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True, key=old_key)
        problem(r, "accountDoesNotExist", 400)
