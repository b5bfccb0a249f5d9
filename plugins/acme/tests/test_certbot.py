"""certbot (Debian's) against the real CA (`plica start`, two worker processes sharing the database, so
nonces and validation cross processes): http-01 with its standalone server, dns-01 through manual hooks
that publish the TXT record in the test DNS server, an IP identifier by http-01, renewal, revocation with
the account key and with the certificate key, and a failing challenge reported with the server's reason."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plica.testing import CAFiles, ca_process

from .acme_helpers.acme_test_dns import TestDNS
from .acme_helpers.acme_test_peers import clean_env, is_revoked, run, sans, script, verify_chain

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("certbot") is None, reason="needs certbot (apt-get install certbot)"),
]


class Certbot:
    def __init__(self, files: CAFiles, tmp: Path, http_port: int) -> None:
        self.files = files
        self.dir = tmp / "certbot"
        self.http_port = http_port
        self.env = clean_env(REQUESTS_CA_BUNDLE=str(files.root))

    def common(self) -> list[str]:
        return [
            "--non-interactive",
            "--config-dir", str(self.dir / "config"),
            "--work-dir", str(self.dir / "work"),
            "--logs-dir", str(self.dir / "logs"),
        ]  # fmt: skip

    def server(self) -> list[str]:
        return ["--server", f"{self.files.url}/acme/acme/directory"]

    def __call__(self, *args: str, timeout: float = 120) -> str:
        out = run(["certbot", *args, *self.common()], self.env, timeout)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout + out.stderr

    def fails(self, *args: str, timeout: float = 120) -> str:
        out = run(["certbot", *args, *self.common()], self.env, timeout)
        assert out.returncode != 0, out.stdout + out.stderr
        return out.stdout + out.stderr

    def standalone(self, *domains: str, extra: tuple[str, ...] = ()) -> list[str]:
        return [
            "certonly", "--standalone", "--preferred-challenges", "http",
            "--http-01-port", str(self.http_port), "--http-01-address", "127.0.0.1",
            "--agree-tos", "-m", "ops@plica.test", "--no-eff-email", *self.server(),
            *[a for d in domains for a in ("-d", d)], *extra,
        ]  # fmt: skip

    def live(self, name: str) -> Path:
        return self.dir / "config" / "live" / name


def test_http01_obtain_renew_revoke(acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path) -> None:
    bot = Certbot(acme_ca, tmp_path, ports["http"])
    with ca_process(acme_ca, workers=2):
        bot(*bot.standalone("www.plica.test", "api.plica.test"))
        live = bot.live("www.plica.test")
        first = verify_chain(acme_ca, live / "cert.pem", live / "chain.pem")
        verify_chain(acme_ca, live / "fullchain.pem")
        assert sans(first) == ["api.plica.test", "www.plica.test"]

        # Renewal: a new order, a new certificate for the same names.
        bot("renew", "--force-renewal", "--no-random-sleep-on-renew")
        renewed = verify_chain(acme_ca, live / "cert.pem", live / "chain.pem")
        assert renewed.serial_number != first.serial_number
        assert sans(renewed) == sans(first)

        # Revocation signed with the account key (kid).
        bot("revoke", "--cert-path", str(live / "cert.pem"), "--reason", "superseded",
            "--no-delete-after-revoke", *bot.server())  # fmt: skip
        assert is_revoked(acme_ca, renewed.serial_number)
        # The first certificate, revoked with its own key (jwk): certbot signs with --key-path.
        archive = bot.dir / "config" / "archive" / "www.plica.test"
        bot("revoke", "--cert-path", str(archive / "cert1.pem"), "--key-path", str(archive / "privkey1.pem"),
            "--no-delete-after-revoke", *bot.server())  # fmt: skip
        assert is_revoked(acme_ca, first.serial_number)
        # Revoking it again: the server answers alreadyRevoked (certbot 2.1 with Debian's josepy then trips
        # over its own error handling, so the answer is read from certbot's log of the exchange).
        bot.fails("revoke", "--cert-path", str(archive / "cert1.pem"), "--no-delete-after-revoke",
                  *bot.server())  # fmt: skip
        log = (bot.dir / "logs" / "letsencrypt.log").read_text()
        assert "urn:ietf:params:acme:error:alreadyRevoked" in log


def test_dns01_manual_hooks_with_wildcard(
    acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path, dns_server: TestDNS
) -> None:
    bot = Certbot(acme_ca, tmp_path, ports["http"])
    records = dns_server.records_dir
    auth = script(
        tmp_path / "auth.sh",
        f'printf "%s\\n" "$CERTBOT_VALIDATION" >> "{records}/_acme-challenge.$CERTBOT_DOMAIN"\n',
    )
    cleanup = script(tmp_path / "cleanup.sh", f'rm -f "{records}/_acme-challenge.$CERTBOT_DOMAIN"\n')
    with ca_process(acme_ca, workers=2):
        bot("certonly", "--manual", "--preferred-challenges", "dns",
            "--manual-auth-hook", str(auth), "--manual-cleanup-hook", str(cleanup),
            "--agree-tos", "-m", "ops@plica.test", "--no-eff-email", *bot.server(),
            "-d", "dns.plica.test", "-d", "*.dns.plica.test")  # fmt: skip
        cert = verify_chain(acme_ca, bot.live("dns.plica.test") / "fullchain.pem")
        assert sans(cert) == ["*.dns.plica.test", "dns.plica.test"]
    # The validator really asked the test DNS server for the TXT record.
    assert ("_acme-challenge.dns.plica.test", "TXT") in dns_server.queries


def test_ip_identifier_http01(acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path) -> None:
    # certbot takes IP identifiers only from a CSR (its -d refuses addresses): the order has the DNS name and
    # the IP address, and both are proved by http-01 against its standalone server.
    bot = Certbot(acme_ca, tmp_path, ports["http"])
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ip.plica.test")]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("ip.plica.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    csr_path = tmp_path / "ip.csr"
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "ip"
    out.mkdir()
    with ca_process(acme_ca):
        bot(*bot.standalone("ip.plica.test", extra=(
            "--csr", str(csr_path), "--cert-path", str(out / "cert.pem"),
            "--chain-path", str(out / "chain.pem"), "--fullchain-path", str(out / "fullchain.pem"),
        )))  # fmt: skip
        cert = verify_chain(acme_ca, out / "cert.pem", out / "chain.pem")
    assert sans(cert) == ["127.0.0.1", "ip.plica.test"]


def test_failing_dns01_is_reported(
    acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path, dns_server: TestDNS
) -> None:
    bot = Certbot(acme_ca, tmp_path, ports["http"])
    records = dns_server.records_dir
    wrong = script(
        tmp_path / "wrong.sh", f'echo "not-the-digest" >> "{records}/_acme-challenge.$CERTBOT_DOMAIN"\n'
    )
    with ca_process(acme_ca):
        started = time.monotonic()
        out = bot.fails("certonly", "--manual", "--preferred-challenges", "dns",
                        "--manual-auth-hook", str(wrong), "--agree-tos", "-m", "ops@plica.test",
                        "--no-eff-email", *bot.server(), "-d", "bad.plica.test")  # fmt: skip
        elapsed = time.monotonic() - started
    assert "incorrectResponse" in out or "do not hold the expected digest" in out, out
    assert "not-the-digest" in out, out
    assert elapsed < 60
