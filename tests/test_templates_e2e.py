"""Templates through the real server: provisioner `options.x509`/`options.ssh` (inline, base64, file),
`templateData`, request `templateData` (`.Insecure.User`), template errors, and the default leaf that the
kernel builds without a template compared with step's DefaultLeafTemplate rendered by the engine."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.certdesc.defaults import DEFAULT_LEAF_TEMPLATE
from plica.testing import (
    Api,
    CAFiles,
    ProvKey,
    csr_pem,
    db_counts,
    ec_key,
    in_process_ca,
    make_ca,
    make_csr,
    new_jwk_provisioner,
    pem_cert,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

# docs/reference/step-templates.md §7.1: provisioner templateData + a template using it.
ORG_UNIT_TEMPLATE = """{
	"subject": {
		"organizationalUnit": {{ toJson .OrganizationalUnit }},
		"commonName": {{ toJson .Subject.CommonName }}
	},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

# docs/reference/step-templates.md §7.7: user-provided values (request templateData → .Insecure.User).
USER_TEMPLATE = """{
	"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": {{ toJson .Insecure.User.org }}},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["clientAuth"]
}"""

FAIL_TEMPLATE = """{{ if lt (len .SANs) 2 }}{{ fail "at least two names are needed" }}{{ end }}
{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }} }"""

BROKEN_TEMPLATE = """{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }} """  # no closing brace

SSH_TEMPLATE = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson (append .Principals "ops") }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {"force-command": "echo hello"}
}"""


@define
class Env:
    files: CAFiles
    api: Api
    provs: dict[str, ProvKey]
    tmp: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("templates")
    files = make_ca(tmp)
    (files.home / "templates").mkdir()
    (files.home / "templates" / "ou.tpl").write_text(ORG_UNIT_TEMPLATE)
    blocks: dict[str, dict[str, Any]] = {
        "inline": {
            "x509": {"template": ORG_UNIT_TEMPLATE, "templateData": {"OrganizationalUnit": "Inline Eng"}}
        },
        "b64": {
            "x509": {
                "template": base64.b64encode(ORG_UNIT_TEMPLATE.encode()).decode(),
                "templateData": {"OrganizationalUnit": "Base64 Eng"},
            }
        },
        "file": {
            "x509": {"templateFile": "templates/ou.tpl", "templateData": {"OrganizationalUnit": "File Eng"}}
        },
        "user": {"x509": {"template": USER_TEMPLATE}},
        "fail": {"x509": {"template": FAIL_TEMPLATE}},
        "broken": {"x509": {"template": BROKEN_TEMPLATE}},
        "ssh": {"ssh": {"template": SSH_TEMPLATE}},
        "policed": {"x509": {"template": ORG_UNIT_TEMPLATE, "templateData": {"OrganizationalUnit": "Ops"}}},
        "plain": {},
    }
    provs: dict[str, ProvKey] = {}
    for name, options in blocks.items():
        block, key = new_jwk_provisioner(name, claims={"enableSSHCA": True})
        if options:
            block["options"] = options
        if name == "policed":
            block["policy"] = {"x509": {"deny": {"dns": ["*.internal.example.com"]}}}
        files.add_provisioner(block)
        provs[name] = key
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        yield Env(files=files, api=Api(files, session), provs=provs, tmp=tmp)


def ou(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]


@pytest.mark.parametrize(
    ("prov", "unit"), [("inline", "Inline Eng"), ("b64", "Base64 Eng"), ("file", "File Eng")]
)
async def test_provisioner_template_and_data(env: Env, prov: str, unit: str) -> None:
    r, _ = await env.api.sign(env.provs[prov], "svc.example.com")
    assert r.status == 201, r.raw
    cert = pem_cert(r.json["crt"])
    assert ou(cert) == [unit]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "svc.example.com"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.example.com"]
    # The provisioner extension is added to templated leaves too.
    assert cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1"))


async def test_request_template_data_reaches_insecure_user(env: Env) -> None:
    r, _ = await env.api.sign(env.provs["user"], "bob", ["bob"], templateData={"org": "Bob's Org"})
    assert r.status == 201, r.raw
    cert = pem_cert(r.json["crt"])
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Bob's Org"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


async def test_fail_in_a_template_is_a_400_with_its_message(env: Env) -> None:
    r, _ = await env.api.sign(env.provs["fail"], "one.example.com")
    assert r.status == 400
    assert "at least two names are needed" in r.error()["message"]
    r, _ = await env.api.sign(env.provs["fail"], "one.example.com", ["one.example.com", "two.example.com"])
    assert r.status == 201, r.raw


async def test_broken_template_names_the_template(env: Env) -> None:
    r, _ = await env.api.sign(env.provs["broken"], "x.example.com")
    assert r.status == 500
    assert "'broken'" in r.error()["message"]


async def test_ssh_template(env: Env) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    opts = {"certType": "user", "keyID": "carol", "principals": ["carol"]}
    ott = env.provs["ssh"].token("carol", env.api.aud("/ssh/sign"), step={"ssh": opts})
    r = await env.api.post(
        "/ssh/sign",
        {"publicKey": pub.split(b" ")[1].decode(), "ott": ott, "certType": "user", "keyID": "carol"},
    )
    assert r.status == 201, r.raw
    blob = base64.b64decode(r.json["crt"])
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
    cert = serialization.load_ssh_public_identity(kind + b" " + r.json["crt"].encode())
    assert [p.decode() for p in cert.valid_principals] == ["carol", "ops"]
    assert cert.critical_options == {b"force-command": b"echo hello"}
    assert b"permit-pty" in cert.extensions


@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_default_leaf_matches_step_default_template(env: Env, kind: str) -> None:
    """The kernel's template-free fast path gives the same certificate as DefaultLeafTemplate rendered by
    the template engine (everything but serial, key ids' randomness and validity instants)."""
    leaf_key = ec_key() if kind == "ec" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = ["jane@doe.com", "jane.example.com", "10.0.0.7"]
    fast, _ = await env.api.sign(env.provs["plain"], "jane@doe.com", names, key=leaf_key)
    assert fast.status == 201, fast.raw
    # The same request to a second CA whose provisioner has step's default template, verbatim.
    tpl_name = f"deftpl-{kind}"
    files = make_ca(env.tmp / tpl_name)
    tblock, tkey = new_jwk_provisioner(tpl_name)
    tblock["options"] = {"x509": {"template": DEFAULT_LEAF_TEMPLATE}}
    files.add_provisioner(tblock)
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        api = Api(files, session)
        ott = tkey.token("jane@doe.com", api.aud("/sign"), sans=names)
        templ = await api.post(
            "/sign", {"csr": csr_pem(make_csr(leaf_key, "jane@doe.com", names)), "ott": ott}
        )
    assert templ.status == 201, templ.raw
    a, b = pem_cert(fast.json["crt"]), pem_cert(templ.json["crt"])
    assert a.subject == b.subject
    assert a.version == b.version
    assert (a.not_valid_after_utc - a.not_valid_before_utc) == (
        b.not_valid_after_utc - b.not_valid_before_utc
    )

    def exts(c: x509.Certificate) -> dict[str, tuple[bool, Any]]:
        out = {}
        for e in c.extensions:
            if isinstance(e.value, x509.AuthorityKeyIdentifier | x509.UnrecognizedExtension):
                out[e.oid.dotted_string] = (
                    e.critical,
                    type(e.value).__name__,
                )  # CA- and provisioner-specific
            else:
                out[e.oid.dotted_string] = (e.critical, e.value)
        return out

    assert exts(a) == exts(b)
    ku = a.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment == (kind == "rsa")
    assert a.not_valid_before_utc < dt.datetime.now(dt.UTC)


async def test_policy_applies_to_what_the_template_produced(env: Env) -> None:
    before = db_counts(env.files)
    r, _ = await env.api.sign(env.provs["policed"], "db.internal.example.com")
    assert r.status == 403, r.raw
    assert "db.internal.example.com" in r.error()["message"]
    after = db_counts(env.files)
    assert (after["x509_certs"], after["used_tokens"]) == (before["x509_certs"], before["used_tokens"])
    r, _ = await env.api.sign(env.provs["policed"], "www.example.com")
    assert r.status == 201, r.raw
