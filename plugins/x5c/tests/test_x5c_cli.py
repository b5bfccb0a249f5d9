"""End to end: `plica start`, the `plica` client with --x5c-cert/--x5c-key, OpenSSL checking the results, and
the spec's ca.json example loaded as written."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from plica.api import ProvisionerExtension, b64url_decode
from plica.testing import CAFiles, ca_process, make_ca
from plica.testing.external import openssl_verify

pytestmark = pytest.mark.slow

# docs/reference/provisioners.md, "X5C": the example block exactly as printed; its `roots` is elided in the middle.
SPEC_EXAMPLE = (
    '{ "type": "X5C", "name": "x5c", "roots": "LS0tLS1 ... Q0FURS0tLS0tCg==", "claims": { "maxTLSCertDuration": '
    '"8h", "defaultTLSCertDuration": "2h", "disableRenewal": true }, "options": { "x509": { "templateFile": '
    '"templates/certs/x509/default.tpl" }, "ssh": { "templateFile": "templates/certs/ssh/default.tpl" } } }'
)
ELIDED_ROOTS = "LS0tLS1 ... Q0FURS0tLS0tCg=="

# step's default leaf and SSH templates, as an operator would have them under templates/certs/.
X509_DEFAULT_TPL = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}
"""
# docs/reference/step-templates.md §7.15 "SSH from an X5C certificate": principals come from the authorizing certificate.
SSH_X5C_TPL = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .AuthorizationCrt.Subject.CommonName }},
	"principals": [
		{{ replace "@example.com" "" .AuthorizationCrt.Subject.CommonName | toJson }},
		{{ toJson .AuthorizationCrt.Subject.CommonName }}
	],
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
}
"""


def plica(files: CAFiles, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "plica", *args], env=files.env(), capture_output=True, text=True, timeout=120
    )
    if ok:
        assert r.returncode == 0, f"plica {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def jwk_certificate(files: CAFiles, tmp: Path, cn: str) -> tuple[Path, Path]:
    crt, key = tmp / f"{cn}.crt", tmp / f"{cn}.key"
    plica(files, "certificate", cn, str(crt), str(key), "--provisioner", "admin",
          "--password-file", str(files.password_file))  # fmt: skip
    return crt, key


def test_ca_root_recipe_any_ca_certificate_becomes_a_provisioner(tmp_path: Path) -> None:
    """docs/reference/provisioners.md: an X5C provisioner on the CA's own root makes every certificate the CA signed a
    provisioner — get one from JWK, then use it and its key as x5c for another."""
    files = make_ca(tmp_path)
    # step ca provisioner add x5c-smallstep --type X5C --x5c-root $(step path)/certs/root_ca.crt
    plica(files, "provisioner", "add", "x5c-smallstep", "--type", "X5C", "--x5c-root", str(files.root),
          "--home", str(files.home))  # fmt: skip
    block = files.config()["authority"]["provisioners"][-1]
    assert block == {
        "type": "X5C",
        "name": "x5c-smallstep",
        "roots": base64.b64encode(files.root.read_bytes()).decode(),
    }
    # The flag is required, and must name a PEM certificate file; a refusal leaves ca.json as it was.
    before = files.config_path.read_bytes()
    r = plica(files, "provisioner", "add", "other", "--type", "X5C", "--home", str(files.home), ok=False)
    assert r.returncode != 0 and "--x5c-root" in r.stderr
    r = plica(files, "provisioner", "add", "other", "--type", "X5C", "--x5c-root", str(files.password_file),
              "--home", str(files.home), ok=False)  # fmt: skip
    assert r.returncode != 0 and "no PEM certificate" in r.stderr
    assert files.config_path.read_bytes() == before
    with ca_process(files):
        first_crt, first_key = jwk_certificate(files, tmp_path, "first.example")
        second_crt, second_key = tmp_path / "second.crt", tmp_path / "second.key"
        plica(files, "certificate", "second.example", str(second_crt), str(second_key), "--san", "second.example",
              "--san", "10.0.0.7", "--provisioner", "x5c-smallstep", "--x5c-cert", str(first_crt),
              "--x5c-key", str(first_key))  # fmt: skip
        openssl_verify(files, second_crt)
        first = x509.load_pem_x509_certificates(first_crt.read_bytes())[0]
        second = x509.load_pem_x509_certificates(second_crt.read_bytes())[0]
        assert second.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "second.example"
        san = second.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["second.example"]
        assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
        ext = ProvisionerExtension.from_certificate(second)
        assert ext is not None and (ext.type, ext.name) == (7, "x5c-smallstep")
        assert second.not_valid_after_utc <= first.not_valid_after_utc

        # And the chain goes on: the X5C-issued certificate authenticates the next request. With
        # --x5c-cert the client needs no --provisioner: the CA's only X5C provisioner is the candidate.
        third_crt = tmp_path / "third.crt"
        plica(files, "certificate", "third.example", str(third_crt), str(tmp_path / "third.key"),
              "--x5c-cert", str(second_crt), "--x5c-key", str(second_key))  # fmt: skip
        openssl_verify(files, third_crt)

        # `plica token` makes the same kind of token.
        tok = plica(files, "token", "t.example", "--provisioner", "x5c-smallstep", "--x5c-cert", str(first_crt),
                    "--x5c-key", str(first_key)).stdout.strip()  # fmt: skip
        header = json.loads(b64url_decode(tok.split(".")[0]))
        payload = json.loads(b64url_decode(tok.split(".")[1]))
        assert header["alg"] == "ES256"
        assert [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]] == (
            x509.load_pem_x509_certificates(first_crt.read_bytes())
        )
        assert payload["iss"] == "x5c-smallstep" and payload["sub"] == "t.example"
        assert payload["aud"] == f"{files.url}/1.0/sign#x5c/x5c-smallstep"

        # Without the flags the client says what it needs instead of failing obscurely.
        r = plica(files, "certificate", "x.example", str(tmp_path / "x.crt"), str(tmp_path / "x.key"),
                  "--provisioner", "x5c-smallstep", ok=False)  # fmt: skip
        assert r.returncode != 0 and "--x5c-cert" in r.stderr
        # A key that is not the certificate's is refused by the client before the CA sees it.
        r = plica(files, "certificate", "x.example", str(tmp_path / "x.crt"), str(tmp_path / "x.key"),
                  "--provisioner", "x5c-smallstep", "--x5c-cert", str(first_crt), "--x5c-key", str(second_key),
                  ok=False)  # fmt: skip
        assert r.returncode != 0 and "does not belong" in r.stderr


def test_spec_example_block_loads_and_works(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    real_roots = base64.b64encode(files.root.read_bytes()).decode()
    # The elision ("LS0tLS1" = "-----B…") stands for a real bundle: the CA's own root here.
    assert real_roots.startswith("LS0tLS1")
    block = json.loads(SPEC_EXAMPLE.replace(ELIDED_ROOTS, real_roots))
    for kind, text in (("x509", X509_DEFAULT_TPL), ("ssh", SSH_X5C_TPL)):
        path = files.home / "templates" / "certs" / kind / "default.tpl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    block["claims"]["enableSSHCA"] = True  # only for the SSH half below; the example's claims stay as written
    files.add_provisioner(block)
    with ca_process(files):
        first_crt, first_key = jwk_certificate(files, tmp_path, "alice@example.com")
        x5c = ["--provisioner", "x5c", "--x5c-cert", str(first_crt), "--x5c-key", str(first_key)]
        crt = tmp_path / "svc.crt"
        plica(files, "certificate", "svc.example", str(crt), str(tmp_path / "svc.key"), *x5c)
        openssl_verify(files, crt)
        cert = x509.load_pem_x509_certificates(crt.read_bytes())[0]
        # defaultTLSCertDuration 2h (+ the 1m backdate).
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert dt.timedelta(hours=2) <= life <= dt.timedelta(hours=2, minutes=2), life
        # maxTLSCertDuration 8h.
        r = plica(files, "certificate", "svc.example", str(tmp_path / "long.crt"), str(tmp_path / "long.key"),
                  "--not-after", "9h", *x5c, ok=False)  # fmt: skip
        assert r.returncode != 0 and "403" in r.stderr and "maximum" in r.stderr
        # disableRenewal.
        r = plica(files, "renew", str(crt), str(tmp_path / "svc.key"), ok=False)
        assert r.returncode != 0 and "401" in r.stderr and "renew is disabled" in r.stderr

        # The SSH template reads the authorizing certificate (.AuthorizationCrt).
        plica(files, "ssh", "certificate", "alice@example.com", str(tmp_path / "id_alice"), *x5c)
        out = subprocess.run(["ssh-keygen", "-L", "-f", str(tmp_path / "id_alice-cert.pub")],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert 'Key ID: "alice@example.com"' in out
        principals = out.split("Principals:")[1].split("Critical Options:")[0].split()
        assert principals == ["alice", "alice@example.com"]
