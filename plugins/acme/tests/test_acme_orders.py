"""Orders, challenges and finalize against the real HTTPS server (in-process) with real responders:
failing challenges (invalid within the retry window, with the reason), dns-01 through a CNAME and for a
wildcard, tls-alpn-01 for a name and an address, the finalize rules, validity, alternates, claims,
templates and forceCN."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from plica.testing import DEFAULT_LEAF_TEMPLATE, CAFiles, in_process_ca, make_ca

from .acme_helpers.acme_test_ca import acme_block, client, obtain, set_block, validate_http01
from .acme_helpers.acme_test_client import Acme, Resp
from .acme_helpers.acme_test_dns import TestDNS
from .acme_helpers.acme_test_responders import HTTP01, TLSALPN01


def problem(r: Resp, kind: str, status: int) -> None:
    assert r.status == status, (r.status, r.body)
    assert r.body["type"] == f"urn:ietf:params:acme:error:{kind}", r.body


async def trigger(c: Acme, order: dict[str, Any], ch_type: str) -> dict[str, Any]:
    (authz,) = await c.authorizations(order)
    ch = c.challenge(authz, ch_type)
    r = await c.post(ch["url"], {})
    assert r.status == 200, r.body
    assert r.body["status"] == "processing"
    return authz


async def fails_with(c: Acme, order_url: str, authz: dict[str, Any], ch_type: str, kind: str) -> str:
    """Wait for the authorization to turn invalid; check the challenge's and the order's problem."""
    started = time.monotonic()
    r = await c.poll(authz["url"], ("valid", "invalid"), timeout=20)
    assert r.body["status"] == "invalid", r.body
    assert time.monotonic() - started < 10  # retry window 2 s, timeout 2 s
    ch = c.challenge(r.body, ch_type)
    assert ch["status"] == "invalid"
    assert ch["error"]["type"] == f"urn:ietf:params:acme:error:{kind}", ch["error"]
    o = (await c.get(order_url)).body
    assert o["status"] == "invalid"
    assert o["error"]["type"] == ch["error"]["type"]
    assert r.body["identifier"]["value"] in o["error"]["detail"]
    return ch["error"]["detail"]


async def test_failing_challenges(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int], dns_server: TestDNS
) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        # http-01 with nothing listening.
        r = await c.new_order("down.plica.test")
        authz = await trigger(c, r.body, "http-01")
        detail = await fails_with(c, r.location, authz, "http-01", "connection")
        assert str(ports["http"]) in detail
        # A second challenge of a finished authorization does not restart anything.
        ch = c.challenge((await c.get(authz["url"])).body, "dns-01")
        assert (await c.post(ch["url"], {})).body["status"] == "pending"
        # http-01 answered with the wrong content, and with a 404.
        async with HTTP01(ports["http"]) as web01:
            r = await c.new_order("wrong.plica.test")
            (a,) = await c.authorizations(r.body)
            web01.tokens[c.challenge(a, "http-01")["token"]] = "something else"
            authz = await trigger(c, r.body, "http-01")
            detail = await fails_with(c, r.location, authz, "http-01", "incorrectResponse")
            assert "something else" in detail
            r = await c.new_order("missing.plica.test")
            authz = await trigger(c, r.body, "http-01")
            assert "404" in await fails_with(c, r.location, authz, "http-01", "incorrectResponse")
            # Redirects are followed on the validation ports only.
            r = await c.new_order("redirect.plica.test")
            (a,) = await c.authorizations(r.body)
            token = c.challenge(a, "http-01")["token"]
            web01.redirects[token] = f"http://redirect.plica.test:{ports['http'] + 1}/moved/{token}"
            authz = await trigger(c, r.body, "http-01")
            assert "only ports" in await fails_with(c, r.location, authz, "http-01", "connection")
        # dns-01 with a wrong TXT record, and with none.
        dns_server.txt["_acme-challenge.txt.plica.test"] = ["wrong-value"]
        r = await c.new_order("txt.plica.test")
        authz = await trigger(c, r.body, "dns-01")
        assert "wrong-value" in await fails_with(c, r.location, authz, "dns-01", "incorrectResponse")
        r = await c.new_order("notxt.plica.test")
        authz = await trigger(c, r.body, "dns-01")
        assert "no TXT record" in await fails_with(c, r.location, authz, "dns-01", "dns")
        # A name that does not resolve (http-01 through the configured resolver).
        r = await c.new_order("nowhere.example")
        authz = await trigger(c, r.body, "http-01")
        assert "NXDOMAIN" in await fails_with(c, r.location, authz, "http-01", "dns")
        # tls-alpn-01 with nothing listening, and with a certificate whose extension is not critical.
        r = await c.new_order("tls.plica.test")
        authz = await trigger(c, r.body, "tls-alpn-01")
        await fails_with(c, r.location, authz, "tls-alpn-01", "connection")
        r = await c.new_order("tls2.plica.test")
        (a,) = await c.authorizations(r.body)
        alpn = TLSALPN01(ports["tls"])
        alpn.add(
            "tls2.plica.test", c.key_authorization(c.challenge(a, "tls-alpn-01")["token"]), critical=False
        )
        async with alpn:
            authz = await trigger(c, r.body, "tls-alpn-01")
            assert "not critical" in await fails_with(
                c, r.location, authz, "tls-alpn-01", "incorrectResponse"
            )
        # Finalizing an invalid order.
        problem(
            await c.finalize(r.body, ec.generate_private_key(ec.SECP256R1()), ["tls2.plica.test"]),
            "orderNotReady",
            403,
        )


async def test_http01_follows_redirects(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int]
) -> None:
    async with in_process_ca(acme_ca), HTTP01(ports["http"]) as web01:
        c = client(acme_ca, session)
        await c.register()
        r = await c.new_order("moved.plica.test")
        (a,) = await c.authorizations(r.body)
        token = c.challenge(a, "http-01")["token"]
        web01.redirects[token] = f"/moved/{token}"
        web01.tokens[token] = c.key_authorization(token) + "\n"  # trailing whitespace is allowed
        await trigger(c, r.body, "http-01")
        done = (await c.poll(a["url"])).body
        assert done["status"] == "valid", done
        assert web01.hits.count(token) == 2


async def test_retry_until_the_responder_is_up(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int], dns_server: TestDNS
) -> None:
    validation = acme_block(dns_server, ports)["validation"]
    set_block(acme_ca, validation={**validation, "timeout": "1s", "retryWindow": "20s"})
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        r = await c.new_order("late.plica.test")
        authz = await trigger(c, r.body, "http-01")
        await c.poll(authz["url"], ("valid", "invalid"), timeout=1.5)
        ch = c.challenge((await c.get(authz["url"])).body, "http-01")
        # Still retrying, and saying what went wrong so far.
        assert ch["status"] == "processing" and ch["error"]["type"].endswith(":connection")
        async with HTTP01(ports["http"]) as web01:
            web01.tokens[ch["token"]] = c.key_authorization(ch["token"])
            done = await c.poll(authz["url"], ("valid", "invalid"), timeout=20)
        assert done.body["status"] == "valid"
        ch = c.challenge(done.body, "http-01")
        assert ch["status"] == "valid" and "validated" in ch and "error" not in ch


async def test_dns01_cname_and_wildcard(
    acme_ca: CAFiles, session: aiohttp.ClientSession, dns_server: TestDNS
) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        r = await c.new_order("*.alias.plica.test", "alias.plica.test")
        assert r.status == 201, r.body
        order_url, order = r.location, r.body
        authzs = await c.authorizations(order)
        wild = next(a for a in authzs if a.get("wildcard"))
        plain = next(a for a in authzs if not a.get("wildcard"))
        assert wild["identifier"] == {"type": "dns", "value": "alias.plica.test"}
        assert [ch["type"] for ch in wild["challenges"]] == ["dns-01"]
        # _acme-challenge is delegated by CNAME to another zone; the server answers only the alias.
        dns_server.cname["_acme-challenge.alias.plica.test"] = "alias.validation.example"
        values = [c.dns01_value(c.challenge(a, "dns-01")["token"]) for a in authzs]
        dns_server.txt["alias.validation.example"] = values
        for a in (wild, plain):
            assert (await c.post(c.challenge(a, "dns-01")["url"], {})).status == 200
        r = await c.poll(order_url, ("ready", "invalid"))
        assert r.body["status"] == "ready", r.body
        assert ("alias.validation.example", "TXT") in dns_server.queries
        key = ec.generate_private_key(ec.SECP256R1())
        r = await c.finalize(order, key, ["*.alias.plica.test", "alias.plica.test"])
        assert r.status == 200, r.body


async def test_tls_alpn01_name_and_address(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int]
) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        r = await c.new_order("alpn.plica.test", "127.0.0.1")
        order_url, order = r.location, r.body
        alpn = TLSALPN01(ports["tls"])
        authzs = await c.authorizations(order)
        for a in authzs:
            value = a["identifier"]["value"]
            sni = ipaddress.ip_address(value).reverse_pointer if a["identifier"]["type"] == "ip" else value
            alpn.add(value, c.key_authorization(c.challenge(a, "tls-alpn-01")["token"]), sni=sni)
        async with alpn:
            for a in authzs:
                assert (await c.post(c.challenge(a, "tls-alpn-01")["url"], {})).status == 200
            r = await c.poll(order_url, ("ready", "invalid"))
        assert r.body["status"] == "ready", r.body


async def test_finalize_rules_validity_and_alternates(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int]
) -> None:
    async with in_process_ca(acme_ca) as authority, HTTP01(ports["http"]) as web01:
        c = client(acme_ca, session)
        await c.register()
        not_after = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
        r = await c.new_order(
            "fin.plica.test", "127.0.0.1", notAfter=not_after.isoformat().replace("+00:00", "Z")
        )
        order_url, order = r.location, r.body
        assert order["notAfter"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        key = ec.generate_private_key(ec.SECP256R1())
        problem(await c.finalize(order, key, ["fin.plica.test", "127.0.0.1"]), "orderNotReady", 403)
        await validate_http01(c, order, web01)
        assert (await c.poll(order_url, ("ready", "invalid"))).body["status"] == "ready"
        # The CSR must name exactly the identifiers.
        problem(await c.finalize(order, key, ["fin.plica.test"]), "badCSR", 400)
        problem(
            await c.finalize(order, key, ["fin.plica.test", "127.0.0.1", "more.plica.test"]), "badCSR", 400
        )
        problem(
            await c.finalize(order, key, ["fin.plica.test", "127.0.0.1"], cn="other.plica.test"),
            "badCSR",
            400,
        )
        problem(await c.post(order["finalize"], {"csr": "!!"}), "badCSR", 400)
        problem(
            await c.finalize(order, rsa.generate_private_key(65537, 1024), ["fin.plica.test", "127.0.0.1"]),
            "badCSR",
            400,
        )
        # Still ready after the refusals; another account cannot finalize it.
        assert (await c.get(order_url)).body["status"] == "ready"
        other = client(acme_ca, session)
        await other.register()
        problem(await other.finalize(order, key, ["fin.plica.test", "127.0.0.1"]), "unauthorized", 403)
        r = await c.finalize(order, key, ["fin.plica.test", "127.0.0.1"], cn="fin.plica.test")
        assert r.status == 200 and r.body["status"] == "valid"
        assert r.location == order_url
        problem(await c.finalize(order, key, ["fin.plica.test", "127.0.0.1"]), "orderNotReady", 403)
        cert_url = r.body["certificate"]
        r = await c.get(cert_url)
        chain = x509.load_pem_x509_certificates(r.raw)
        leaf = chain[0]
        assert abs((leaf.not_valid_after_utc - not_after).total_seconds()) < 2
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "fin.plica.test"
        # The default chain ends at the intermediate; the alternate adds the root.
        assert chain[-1].subject == authority.intermediates[-1].subject
        (alt,) = r.links("alternate")
        r = await c.get(alt)
        assert r.status == 200
        alt_chain = x509.load_pem_x509_certificates(r.raw)
        assert alt_chain[:-1] == chain and alt_chain[-1] == authority.roots[0]
        problem(await other.get(cert_url), "unauthorized", 403)
        problem(await c.get(cert_url + "/7"), "malformed", 404)
        # notBefore/notAfter rules at newOrder.
        problem(await c.new_order("x.plica.test", notAfter="2001-01-01T00:00:00Z"), "malformed", 400)
        problem(await c.new_order("x.plica.test", notBefore="yesterday"), "malformed", 400)


async def test_authorization_deactivation(acme_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(acme_ca):
        c = client(acme_ca, session)
        await c.register()
        r = await c.new_order("deact.plica.test")
        (a,) = await c.authorizations(r.body)
        d = await c.post(a["url"], {"status": "deactivated"})
        assert d.status == 200 and d.body["status"] == "deactivated"
        assert (await c.get(r.location)).body["status"] == "invalid"
        problem(await c.post(a["url"], {"status": "deactivated"}), "malformed", 400)


@pytest.mark.parametrize("kty", ["EC", "RSA"])
async def test_spec_example_claims_template_force_cn(
    tmp_path: Path, dns_server: TestDNS, ports: dict[str, int], session: aiohttp.ClientSession, kty: str
) -> None:
    """docs/reference/provisioners.md's ACME block as is (forceCN, claims, a template file) loads and governs issuance."""
    files = make_ca(tmp_path)
    tpl = files.home / "templates" / "certs" / "x509" / "default.tpl"
    tpl.parent.mkdir(parents=True)
    # step's default leaf template, with one more field to show the template was used.
    tpl.write_text(
        DEFAULT_LEAF_TEMPLATE.replace(
            '"sans":',
            '"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organizationalUnit": ["acme-template"]},\n\t"sans":',
            1,
        ).replace('\t"subject": {{ toJson .Subject }},\n', "", 1)
    )
    example = {
        "type": "ACME",
        "name": "acme",
        "forceCN": True,
        "claims": {"maxTLSCertDuration": "8h", "defaultTLSCertDuration": "2h"},
        "options": {"x509": {"templateFile": "templates/certs/x509/default.tpl"}},
    }
    files.add_provisioner({**example, "validation": acme_block(dns_server, ports)["validation"]})
    async with in_process_ca(files), HTTP01(ports["http"]) as web01:
        c = client(files, session)
        await c.register()
        key = (
            ec.generate_private_key(ec.SECP256R1()) if kty == "EC" else rsa.generate_private_key(65537, 2048)
        )
        _, _, chain = await obtain(c, web01, "force.plica.test", "second.plica.test", key=key)
        leaf = chain[0]
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "force.plica.test"
        assert (
            leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "acme-template"
        )
        life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert dt.timedelta(hours=2) <= life <= dt.timedelta(hours=2, minutes=2)
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.key_encipherment is (kty == "RSA")
        # Beyond the provisioner's maximum: the kernel's claims refuse it at finalize.
        far = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = await c.new_order("long.plica.test", notAfter=far)
        await validate_http01(c, r.body, web01)
        await c.poll(r.location, ("ready", "invalid"))
        refused = await c.finalize(r.body, key, ["long.plica.test"])
        problem(refused, "unauthorized", 403)
        assert "maximum" in refused.body["detail"]
        assert (await c.get(r.location)).body["status"] == "ready"
