"""The K8sSA ca.json block (the spec's example, the README's, what `provisioner add` writes, what is refused
at start-up) and the client end to end: `plica start` and `plica certificate --k8ssa-token-path`."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import click
import orjson
import pytest
from cryptography import x509

from plica.api import ConfigError
from plica.testing import CAFiles, ca_process, get_plugins, in_process_ca, make_ca

from .k8ssakit import SAKey, b64, legacy_claims

SPEC = Path(__file__).resolve().parents[3] / "docs" / "reference" / "provisioners.md"
# docs/reference/provisioners.md, "K8sSA": the example as it stands there (checked against the file).
SPEC_EXAMPLE = (
    '{ "type": "K8sSA", "name": "my-kube-provisioner", "publicKeys": "LS0tLS1...LS0tCg==", "claims": { '
    '"maxTLSCertDuration": "8h", "defaultTLSCertDuration": "2h" }, "options": { "x509": { "templateFile": '
    '"templates/certs/x509/default.tpl" } } }'
)
README = Path(__file__).resolve().parents[1] / "README.md"
# step's default leaf template (x509util.DefaultLeafTemplate), as `templates/certs/x509/default.tpl`.
DEFAULT_TPL = """{
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


def spec_example() -> dict[str, Any]:
    assert SPEC_EXAMPLE in SPEC.read_text(), f"the K8sSA example of {SPEC} changed"
    return orjson.loads(SPEC_EXAMPLE)


def readme_block() -> dict[str, Any]:
    m = re.search(r"```json\n(\{.*?\})\n```", README.read_text(), re.DOTALL)
    assert m, "README.md shows no ca.json block"
    return orjson.loads(m.group(1))


def sign_body(ott: str, cn: str = "my-app.default.svc") -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return orjson.dumps({"csr": csr.public_bytes(serialization.Encoding.PEM).decode(), "ott": ott})


async def post_sign(files: CAFiles, ott: str) -> tuple[int, dict[str, Any]]:
    import ssl

    ctx = ssl.create_default_context(cafile=str(files.root))
    async with (
        aiohttp.ClientSession() as s,
        s.post(files.url + "/1.0/sign", data=sign_body(ott), ssl=ctx) as r,
    ):
        return r.status, orjson.loads(await r.read())


async def test_spec_example_loads_and_signs(tmp_path: Path) -> None:
    """The example of docs/reference/provisioners.md as it stands; only the elided `publicKeys` ("LS0tLS1...LS0tCg==")
    gets a real key, and the template file it names is created where it points."""
    example = spec_example()
    assert example["publicKeys"].startswith("LS0tLS1") and "..." in example["publicKeys"]
    sa = SAKey.rsa()
    example["publicKeys"] = b64(sa.public_pem())
    files = make_ca(tmp_path)
    tpl = files.home / example["options"]["x509"]["templateFile"]
    tpl.parent.mkdir(parents=True, exist_ok=True)
    tpl.write_text(DEFAULT_TPL)
    files.add_provisioner(example)
    async with in_process_ca(files):
        status, body = await post_sign(files, sa.sign(legacy_claims()))
    assert status == 201, body
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    # "defaultTLSCertDuration": "2h" (plus the default one-minute backdate).
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(hours=2, minutes=1)


async def test_readme_block_loads(tmp_path: Path) -> None:
    block = readme_block()
    assert block["type"] == "K8sSA"
    block["publicKeys"] = b64(SAKey.ec().public_pem())
    # The README's issuer is a cluster's; this test has none to discover from.
    block["disableDiscovery"] = True
    files = make_ca(tmp_path)
    files.add_provisioner(block)
    async with in_process_ca(files) as authority:
        prov = authority.provisioners_of_type("K8sSA")[0]
        assert prov.state.audiences == frozenset(block["audiences"])


async def test_a_second_k8ssa_provisioner_is_refused_at_start(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    pem = b64(SAKey.rsa().public_pem())
    files.add_provisioner({"type": "K8sSA", "name": "kube-a", "publicKeys": pem})
    files.add_provisioner({"type": "k8ssa", "name": "kube-b", "publicKeys": pem})
    with pytest.raises(ConfigError) as e:
        async with in_process_ca(files):
            pass
    second = len(files.config()["authority"]["provisioners"]) - 1
    assert e.value.path.endswith(f"provisioners[{second}]") and "at most 1" in e.value.message
    # The real `plica start` exits with that message instead of serving.
    r = subprocess.run(
        [sys.executable, "-m", "plica", "start", "--home", str(files.home), "--password-file", str(files.password_file)],
        capture_output=True, text=True, timeout=60, env=files.env(),
    )  # fmt: skip
    assert r.returncode != 0 and "at most 1" in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize(
    ("block", "path", "needle"),
    [
        ({}, "publicKeys", "is required"),
        ({"publicKeys": "-----BEGIN PUBLIC KEY-----"}, "publicKeys", "not the PEM text itself"),
        ({"publicKeys": "%%%"}, "publicKeys", "base64"),
        (
            {"publicKeys": base64.b64encode(b"-----BEGIN FOO-----\nAA==\n-----END FOO-----\n").decode()},
            "publicKeys",
            "not a public key",
        ),
        ({"issuers": ["http://cluster.example"]}, "issuers", "https"),
        ({"issuers": ["kubernetes/serviceaccount"]}, "issuers", "always accepted"),
        ({"issuers": "https://x"}, "issuers", "array"),
        ({"jwksURL": "ftp://x/jwks"}, "jwksURL", "https"),
        ({"jwksURL": "https://admin:hunter2@k.example/jwks"}, "jwksURL", "credentials"),
        ({"issuers": ["https://k.example"], "discoveryRoots": "nope!"}, "discoveryRoots", "base64"),
    ],
)
async def test_bad_blocks_fail_at_start(
    tmp_path: Path, block: dict[str, Any], path: str, needle: str
) -> None:
    files = make_ca(tmp_path)
    files.add_provisioner({"type": "K8sSA", "name": "kube", **block})
    with pytest.raises(ConfigError) as e:
        async with in_process_ca(files):
            pass
    assert e.value.path.endswith(f"].{path}") and needle in e.value.message, str(e.value)
    assert "hunter2" not in str(e.value)


def block_from_cli(options: dict[str, Any], existing: dict[str, Any] | None = None) -> Any:
    hook = get_plugins().type_hook("K8sSA", "provisioner_block_from_cli")
    return hook(provisioner_type="K8sSA", name="kube", options=options, existing=existing)


def test_block_from_cli(tmp_path: Path) -> None:
    a, b = SAKey.rsa(), SAKey.ec()
    (tmp_path / "a.pem").write_bytes(a.public_pem())
    (tmp_path / "b.pem").write_bytes(b.public_pem())
    block = block_from_cli({"pem_keys": (str(tmp_path / "a.pem"), str(tmp_path / "b.pem"))})
    assert block["type"] == "K8sSA" and block["name"] == "kube"
    assert base64.b64decode(block["publicKeys"]) == a.public_pem() + b.public_pem()
    block = block_from_cli(
        {"k8ssa_issuer": ("https://kubernetes.default.svc.cluster.local",), "k8ssa_audience": ("plica",),
         "k8ssa_jwks_url": "https://10.0.0.1:6443/openid/v1/jwks", "k8ssa_disable_discovery": None},
        block,
    )  # fmt: skip
    assert block["issuers"] == ["https://kubernetes.default.svc.cluster.local"]
    assert block["audiences"] == ["plica"] and block["jwksURL"].endswith("/openid/v1/jwks")
    assert "publicKeys" in block and "disableDiscovery" not in block
    with pytest.raises(click.UsageError, match="--pem-keys"):
        block_from_cli({})
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(click.UsageError, match="no PEM public key"):
        block_from_cli({"pem_keys": (str(tmp_path / "bad.pem"),)})
    with pytest.raises(click.UsageError, match="https"):
        block_from_cli({"k8ssa_jwks_url": "http://10.0.0.1/jwks"})


def test_cli_options_are_registered() -> None:
    pm = get_plugins().pm
    client = {o.name: o for res in pm.hook.cli_client_options() for o in (res or [])}
    assert client["k8ssa_token_path"].default == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    add = {o.name for res in pm.hook.provisioner_cli_options() for o in (res or [])}
    assert {"pem_keys", "k8ssa_issuer", "k8ssa_audience", "k8ssa_jwks_url"} <= add


def test_plica_certificate_with_a_service_account_token(tmp_path: Path) -> None:
    sa = SAKey.rsa()
    files = make_ca(tmp_path)
    files.add_provisioner(
        {"type": "K8sSA", "name": "my-kube-provisioner", "publicKeys": b64(sa.public_pem())}
    )
    token = tmp_path / "token"
    token.write_text(sa.sign(legacy_claims("my-app")) + "\n")
    crt, key = tmp_path / "app.crt", tmp_path / "app.key"

    def plica(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "plica", *args],
            env=files.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    with ca_process(files):
        r = plica(
            "certificate", "my-app.default.svc", str(crt), str(key), "--provisioner", "my-kube-provisioner",
            "--san", "my-app.default.svc", "--san", "my-app.default.svc.cluster.local",
            "--k8ssa-token-path", str(token),
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        v = subprocess.run(
            ["openssl", "verify", "-CAfile", str(files.root), "-untrusted", str(files.intermediate), str(crt)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert v.returncode == 0, v.stdout + v.stderr
        leaf = x509.load_pem_x509_certificates(crt.read_bytes())[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [
            "my-app.default.svc",
            "my-app.default.svc.cluster.local",
        ]
        # No token file where it is looked for: a clear client error, not a traceback.
        r = plica(
            "certificate", "x", str(tmp_path / "x.crt"), str(tmp_path / "x.key"), "--provisioner",
            "my-kube-provisioner", "--k8ssa-token-path", str(tmp_path / "missing"),
        )  # fmt: skip
        assert r.returncode != 0 and "cannot read the service-account token" in r.stderr, r.stderr
        # A token of another key: the CA says 401.
        token.write_text(SAKey.rsa().sign(legacy_claims("my-app")))
        r = plica(
            "certificate", "x", str(tmp_path / "x.crt"), str(tmp_path / "x.key"), "--provisioner",
            "my-kube-provisioner", "--k8ssa-token-path", str(token),
        )  # fmt: skip
        assert r.returncode != 0 and "401" in r.stderr, r.stderr
