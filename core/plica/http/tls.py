"""The server's HTTPS: step-ca's TLS options from ca.json, client certificates verified against the CA's
own roots and intermediates (mTLS renew, rekey, revoke), and a server certificate the CA issues to itself
for its `dnsNames` and renews at two thirds of its life."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import secrets
import ssl
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.authority import Authority
from plica.pki import random_serial

log = logging.getLogger("plica.server")

SERVER_CERT_LIFETIME = dt.timedelta(hours=24)

_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
}
_TLS_VERSIONS = {
    1.0: ssl.TLSVersion.TLSv1,
    1.1: ssl.TLSVersion.TLSv1_1,
    1.2: ssl.TLSVersion.TLSv1_2,
    1.3: ssl.TLSVersion.TLSv1_3,
}


class ServerTLS:
    """The HTTPS context, with a leaf the CA issues to itself for `dnsNames` and renews at 2/3 of its life."""

    def __init__(self, authority: Authority) -> None:
        self.a = authority
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls = authority.config.tls
        self.ctx.minimum_version = _TLS_VERSIONS.get(tls.min_version, ssl.TLSVersion.TLSv1_2)
        self.ctx.maximum_version = _TLS_VERSIONS.get(tls.max_version, ssl.TLSVersion.TLSv1_3)
        ciphers = [_CIPHERS[c] for c in tls.cipher_suites if c in _CIPHERS]
        if ciphers:
            self.ctx.set_ciphers(":".join(ciphers))
        self.ctx.options |= ssl.OP_NO_RENEGOTIATION
        # No TLS 1.3 session tickets (OpenSSL sends two after every handshake): making them is ~20 % of a
        # full handshake's CPU, and nobody uses them. Renewal agents (step's renew daemon, Go and Python
        # clients) open each connection without a session cache; each worker has its own ticket key, so a
        # ticket would not resume on the port's other workers anyway; and an mTLS ticket would carry the
        # client certificate of a handshake that authorized an earlier request.
        self.ctx.num_tickets = 0
        # mTLS: verify client certificates if given, against roots + intermediates (as step-ca does).
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        # Each of them is a trust anchor, as in step-ca's Go pool: a client certificate issued by an
        # intermediate is accepted on the intermediate's signature, without checking the intermediate's
        # own signature by the root on every handshake (~65 µs of a ~1 ms mTLS handshake; bench/tls_handshake.py).
        self.ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        m = authority.material
        self.ctx.load_verify_locations(cadata="".join([*m.root_pem, *m.chain_pem]))
        self.not_after = dt.datetime.now(dt.UTC)
        self.issue()

    def issue(self) -> None:
        """A new server certificate, signed in this thread (at start-up, before serving)."""
        key, builder, now = self._builder()
        self._install(key, self.a.material.sign_builder_now(builder), now)

    async def reissue(self) -> None:
        """A new server certificate while serving: a token's signature is made off the event loop."""
        key, builder, now = self._builder()
        self._install(key, await self.a.material.sign_builder(builder), now)

    def _builder(self) -> tuple[Any, x509.CertificateBuilder, dt.datetime]:
        a = self.a
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for n in a.config.dns_names:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                names.append(x509.DNSName(n))
        now = dt.datetime.now(dt.UTC)
        cn = a.config.dns_names[0] if a.config.dns_names else "localhost"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(a.material.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(random_serial())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + SERVER_CERT_LIFETIME)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(a.material.akid, critical=False)  # type: ignore[arg-type]
        )
        return key, cert, now

    def _install(self, key: Any, leaf: x509.Certificate, now: dt.datetime) -> None:
        a = self.a
        chain = leaf.public_bytes(serialization.Encoding.PEM) + "".join(a.material.chain_pem).encode()
        # ssl can only load from files: a private temp dir, the key encrypted with a one-time password.
        pw = secrets.token_bytes(24)
        with tempfile.TemporaryDirectory(prefix="plica-tls-") as d:
            cpath, kpath = Path(d) / "crt.pem", Path(d) / "key.pem"
            cpath.write_bytes(chain)
            fd = os.open(kpath, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(
                fd,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(pw),
                ),
            )
            os.close(fd)
            self.ctx.load_cert_chain(cpath, kpath, password=pw)
        self.not_after = now + SERVER_CERT_LIFETIME
        self.lifetime = SERVER_CERT_LIFETIME

    async def renew_forever(self) -> None:
        while True:
            renew_at = self.not_after - self.lifetime / 3
            await asyncio.sleep(max(1.0, (renew_at - dt.datetime.now(dt.UTC)).total_seconds()))
            try:
                await self.reissue()
                log.info("renewed the server certificate (valid until %s)", self.not_after.isoformat())
            except Exception:
                log.exception("could not renew the server certificate; retrying in a minute")
                await asyncio.sleep(60)
