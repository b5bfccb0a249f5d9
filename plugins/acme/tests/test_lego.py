"""lego (Debian's) against the real CA (`plica start`): http-01 with its built-in server, tls-alpn-01 with
its built-in TLS server, dns-01 through the `exec` provider writing into the test DNS server (which lego
also uses as its resolver). lego 4.9 sends IP addresses as dns identifiers and DNS names, which the server
accepts as step-ca does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plica.testing import CAFiles, ca_process

from .acme_helpers.acme_test_dns import TestDNS
from .acme_helpers.acme_test_peers import clean_env, run, sans, script, verify_chain

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("lego") is None, reason="needs lego (apt-get install lego)"),
]


class Lego:
    def __init__(self, files: CAFiles, tmp: Path) -> None:
        self.files = files
        self.path = tmp / "lego"
        self.env = clean_env(LEGO_CA_CERTIFICATES=str(files.root))

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> str:
        cmd = [
            "lego", "--server", f"{self.files.url}/acme/acme/directory", "--email", "ops@plica.test",
            "--accept-tos", "--path", str(self.path), *args,
        ]  # fmt: skip
        out = run(cmd, {**self.env, **(env or {})})
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout + out.stderr

    def cert(self, name: str) -> Path:
        return self.path / "certificates" / f"{name.replace('*', '_')}.crt"


def test_http01(acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path) -> None:
    lego = Lego(acme_ca, tmp_path)
    with ca_process(acme_ca, workers=2):
        lego("--domains", "web.plica.test", "--domains", "127.0.0.1",
             "--http", "--http.port", f"127.0.0.1:{ports['http']}", "run")  # fmt: skip
    cert = verify_chain(acme_ca, lego.cert("web.plica.test"))
    assert sans(cert) == ["127.0.0.1", "web.plica.test"]


def test_tls_alpn01(acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path) -> None:
    lego = Lego(acme_ca, tmp_path)
    with ca_process(acme_ca):
        lego("--domains", "tls.plica.test", "--tls", "--tls.port", f"127.0.0.1:{ports['tls']}", "run")
    cert = verify_chain(acme_ca, lego.cert("tls.plica.test"))
    assert sans(cert) == ["tls.plica.test"]


def test_dns01_exec(acme_ca: CAFiles, tmp_path: Path, dns_server: TestDNS) -> None:
    lego = Lego(acme_ca, tmp_path)
    records = dns_server.records_dir
    # lego's exec provider: `<script> present|cleanup <fqdn.> <value>`.
    hook = script(
        tmp_path / "exec.sh",
        f'name="${{2%.}}"\n'
        f'if [ "$1" = present ]; then printf "%s\\n" "$3" >> "{records}/$name"; else rm -f "{records}/$name"; fi\n',
    )
    # Both names share one TXT record, so lego presents them in turn, 60 s apart unless told otherwise.
    env = {
        "EXEC_PATH": str(hook),
        "EXEC_PROPAGATION_TIMEOUT": "20",
        "EXEC_POLLING_INTERVAL": "1",
        "EXEC_SEQUENCE_INTERVAL": "1",
    }
    with ca_process(acme_ca):
        lego("--domains", "lego.plica.test", "--domains", "*.lego.plica.test",
             "--dns", "exec", "--dns.resolvers", f"127.0.0.1:{dns_server.port}", "--dns.disable-cp",
             "run", env=env)  # fmt: skip
    cert = verify_chain(acme_ca, lego.cert("lego.plica.test"))
    assert sans(cert) == ["*.lego.plica.test", "lego.plica.test"]
