"""End to end through the real HTTPS server (in-process) with this suite's own ACME client: an account, an
order for DNS and IP identifiers, each challenge type against real responders, finalize, download, and
the certificate checked with openssl against the CA root."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plica.api import ProvisionerExtension
from plica.testing import CAFiles, client_context, db_row, in_process_ca

from .acme_helpers.acme_test_client import Acme
from .acme_helpers.acme_test_responders import HTTP01


def client(files: CAFiles, session: aiohttp.ClientSession, prefix: str = "") -> Acme:
    return Acme(session, f"{files.url}{prefix}/acme/acme/directory", client_context(files))


def openssl_verify(files: CAFiles, chain_pem: bytes, tmp: Path) -> None:
    certs = x509.load_pem_x509_certificates(chain_pem)
    leaf = tmp / "leaf.pem"
    leaf.write_bytes(chain_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n")
    untrusted = tmp / "chain.pem"
    untrusted.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]))
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", str(files.root), "-untrusted", str(untrusted), str(leaf)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and ": OK" in out.stdout, out.stdout + out.stderr


async def test_http01_dns_and_ip(
    acme_ca: CAFiles, session: aiohttp.ClientSession, ports: dict[str, int], tmp_path: Path
) -> None:
    async with in_process_ca(acme_ca), HTTP01(ports["http"]) as web01:
        c = client(acme_ca, session)
        r = await c.register(contact=["mailto:ops@plica.test"])
        assert r.status == 201, r.body
        r = await c.new_order("www.plica.test", "127.0.0.1")
        assert r.status == 201, r.body
        order_url, order = r.location, r.body
        assert order["status"] == "pending"
        for authz in await c.authorizations(order):
            types = [ch["type"] for ch in authz["challenges"]]
            if authz["identifier"]["type"] == "ip":
                assert types == ["http-01", "tls-alpn-01"]
            else:
                assert types == ["http-01", "dns-01", "tls-alpn-01"]
            ch = c.challenge(authz, "http-01")
            web01.tokens[ch["token"]] = c.key_authorization(ch["token"])
            r = await c.post(ch["url"], {})
            assert r.status == 200, r.body
            assert r.body["status"] in ("processing", "valid")
            assert authz["url"] in r.links("up")
        r = await c.poll(order_url, ("ready", "invalid"))
        assert r.body["status"] == "ready", r.body
        key = ec.generate_private_key(ec.SECP256R1())
        r = await c.finalize(order, key, ["www.plica.test", "127.0.0.1"])
        assert r.status == 200, r.body
        assert r.body["status"] == "valid"
        cert_url = r.body["certificate"]
        r = await c.get(cert_url)
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/pem-certificate-chain"
        chain = x509.load_pem_x509_certificates(r.raw)
        leaf = chain[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["www.plica.test"]
        assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        ext = ProvisionerExtension.from_certificate(leaf)
        assert ext is not None and ext.name == "acme" and ext.type == 6
        openssl_verify(acme_ca, r.raw, tmp_path)
        assert len(web01.hits) >= 2
        # finalize stores the names the inventory searches with the certificate
        names = db_row(acme_ca, "SELECT names FROM x509_certs WHERE serial = ?", (str(leaf.serial_number),))
        assert names == ("www.plica.test\n127.0.0.1",)
