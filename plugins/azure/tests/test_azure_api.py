"""The Azure provisioner through the real server (in this event loop, real TLS, real SQLite): managed-identity
tokens signed by the local Azure's tenant keys (joserfc, RS256), verified with the keys the CA fetched from the
tenant's discovery document and JWKS (azurekit.FakeAzure). One CA, one Azure provisioner per tenant: `open`
(the defaults), `strict` (disableCustomSANs and every allow-list) and `free` (disableTrustOnFirstUse)."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from plica.api import ProvisionerExtension, b64url_encode
from plica.testing import (
    DEFAULT_LEAF_TEMPLATE,
    Api,
    CAFiles,
    csr_for,
    db_counts,
    ec_key,
    in_process_ca,
    make_ca,
    make_csr,
)
from plica.testing.csrs import csr_pem

from .azurekit import MANAGEMENT, VM, FakeAzure, SigningKey, Tenant, guid

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALLOWED_SUBSCRIPTION = guid()
ALLOWED_OBJECTS = [guid(), guid()]


@define
class Env:
    files: CAFiles
    api: Api
    azure: FakeAzure
    open: Tenant
    strict: Tenant
    free: Tenant
    templated: Tenant
    stranger: Tenant  # a tenant no provisioner of the CA trusts

    async def sign(self, token: str, names: list[str] | str | None = None, **csr: Any) -> Any:
        req = csr.get("csr") or csr_for(names if names is not None else "host.example").pem
        return await self.api.post("/1.0/sign", {"csr": req, "ott": token})

    async def ssh(
        self, token: str, *, key_id: str = "", principals: list[str] | None = None, cert_type: str = "host"
    ) -> Any:
        pub = ed25519.Ed25519PrivateKey.generate().public_key()
        blob = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1]
        body = {
            "publicKey": blob.decode(),
            "ott": token,
            "certType": cert_type,
            "keyID": key_id,
            "principals": principals or [],
        }
        return await self.api.post("/1.0/ssh/sign", body)

    def counts(self) -> dict[str, int]:
        return db_counts(self.files)


def strict_vm(name: str, **kw: Any) -> VM:
    """A VM every allow-list of the `strict` provisioner lets through (unless `kw` says otherwise)."""
    return VM(
        name,
        **{
            "resource_group": "backend",
            "subscription": ALLOWED_SUBSCRIPTION,
            "object_id": ALLOWED_OBJECTS[1],
            **kw,
        },
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, azure: FakeAzure) -> AsyncIterator[Env]:
    files = make_ca(tmp_path_factory.mktemp("ca"))
    open_t, strict_t, free_t, templated_t, stranger = (azure.tenant() for _ in range(5))
    template = files.home / "templates" / "certs" / "x509" / "default.tpl"
    template.parent.mkdir(parents=True)
    template.write_text(DEFAULT_LEAF_TEMPLATE)

    def block(name: str, tenant: Tenant, **fields: Any) -> dict[str, Any]:
        return {"type": "Azure", "name": name, "tenantId": tenant.tid, "discoveryURL": azure.discovery_url(tenant),
                "claims": {"enableSSHCA": True}, **fields}  # fmt: skip

    files.add_provisioner(block("open", open_t))
    files.add_provisioner(
        block(
            "strict",
            strict_t,
            disableCustomSANs=True,
            resourceGroups=["Backend", "frontend"],  # Azure's names have no case: "backend" matches
            subscriptionIDs=[ALLOWED_SUBSCRIPTION.upper()],
            objectIDs=ALLOWED_OBJECTS,
        )
    )
    files.add_provisioner(block("free", free_t, disableTrustOnFirstUse=True))
    # The options of docs/reference/provisioners.md's example: step's default.tpl.
    files.add_provisioner(
        block(
            "templated", templated_t, options={"x509": {"templateFile": "templates/certs/x509/default.tpl"}}
        )
    )
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        for p in authority.provisioners_of_type("Azure"):
            assert p.state.source.fetched, p.state.source.last_error  # fetched before the CA served
        yield Env(files, Api(files, session), azure, open_t, strict_t, free_t, templated_t, stranger)


def leaf(reply: Any) -> x509.Certificate:
    assert reply.status == 201, reply.raw
    return x509.load_pem_x509_certificate(reply.json["crt"].encode())


def names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName) + san.get_values_for_type(x509.IPAddress)]


def cn_of(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def refused(reply: Any, status: int, *words: str) -> str:
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.raw!r}"
    message = reply.error()["message"]
    for w in words:
        assert w in message, message
    return message


# ============================================================================ certificates


async def test_vm_gets_a_certificate_with_its_requested_names(env: Env) -> None:
    vm = VM("vm-open-1")
    cert = leaf(await env.sign(env.open.token(vm), ["web.internal.example", "10.1.2.3"]))
    # Custom SANs allowed: the CSR's common name and names as they are (step's IID template).
    assert cn_of(cert) == "web.internal.example"
    assert names_of(cert) == ["web.internal.example", "10.1.2.3"]
    ext = ProvisionerExtension.from_certificate(cert)
    assert ext is not None and (ext.type, ext.name, ext.credential_id) == (5, "open", env.open.tid)


async def test_a_second_certificate_for_the_same_vm_is_refused_and_stores_nothing(env: Env) -> None:
    vm = VM("vm-open-2")
    leaf(await env.sign(env.open.token(vm)))
    before = env.counts()
    # A new token of the same VM (IMDS would hand out the cached one; a fresh one is no different).
    refused(await env.sign(env.open.token(vm)), 401, "already used")
    # The VM's id is its resource id, whatever case a token writes it in.
    upper = env.open.token(vm, xms_mirid=vm.resource_id.upper())
    refused(await env.sign(upper), 401, "already used")
    assert env.counts() == before
    # Another VM of the tenant, and a user-assigned identity, are instances of their own.
    leaf(await env.sign(env.open.token(VM("vm-open-3", resource_group=vm.resource_group))))
    leaf(await env.sign(env.open.token(VM("shared-identity", kind="identity"))))


async def test_a_token_issued_before_the_ca_started_is_accepted(env: Env) -> None:
    # IMDS hands out one cached token for up to a day: step's "issued before the CA started" rule does not apply.
    token = env.open.token(VM("vm-open-old"), now=time.time() - 6 * 3600)
    leaf(await env.sign(token))


async def test_disable_trust_on_first_use_takes_the_same_token_again(env: Env) -> None:
    token = env.free.token(VM("vm-free"))
    first, second = leaf(await env.sign(token)), leaf(await env.sign(token))
    assert first.serial_number != second.serial_number
    assert ProvisionerExtension.from_certificate(second).name == "free"  # type: ignore[union-attr]


async def test_a_template_sees_the_vm_name_as_subject(env: Env) -> None:
    # step-ca's template data for an Azure token: .Subject.CommonName is the VM's name; the CSR's names
    # become .SANs only with disableCustomSANs, so step's default.tpl makes a certificate without SANs.
    cert = leaf(await env.sign(env.templated.token(VM("vm-templated")), ["web.example", "10.0.0.7"]))
    assert cn_of(cert) == "vm-templated" and names_of(cert) == []
    assert ProvisionerExtension.from_certificate(cert).name == "templated"  # type: ignore[union-attr]


# ============================================================================ disableCustomSANs


async def test_disable_custom_sans_gives_the_vm_name_even_from_a_csr_without_names(env: Env) -> None:
    vm = strict_vm("vm-strict-1")
    csr = csr_pem(make_csr(ec_key(), None, []))
    cert = leaf(await env.sign(env.strict.token(vm), csr=csr))
    assert cn_of(cert) == "vm-strict-1" and names_of(cert) == ["vm-strict-1"]


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["vm-strict-2", "other.example"], "DNS names"),
        (["vm-strict-2", "10.0.0.4"], "IP addresses"),
        (["vm-strict-2", "ops@example.com"], "email"),
        (["vm-strict-2", "spiffe://example/vm"], "URIs"),
        (["not-the-vm"], "common name"),
    ],
)
async def test_disable_custom_sans_refuses_other_names_and_uses_up_nothing(
    env: Env, names: list[str], why: str
) -> None:
    vm = strict_vm("vm-strict-2")
    before = env.counts()
    refused(await env.sign(env.strict.token(vm), names), 403, why)
    assert env.counts() == before


async def test_a_refused_first_request_does_not_use_up_the_vm(env: Env) -> None:
    vm = strict_vm("vm-strict-3")
    refused(await env.sign(env.strict.token(vm), ["vm-strict-3", "evil.example"]), 403)
    cert = leaf(await env.sign(env.strict.token(vm), ["vm-strict-3"]))
    assert names_of(cert) == ["vm-strict-3"]
    refused(await env.sign(env.strict.token(vm), ["vm-strict-3"]), 401, "already used")


# ============================================================================ allow-lists


@pytest.mark.parametrize(
    ("vm", "rule"),
    [
        (strict_vm("vm-rg", resource_group="accounting"), "resourceGroups"),
        (strict_vm("vm-sub", subscription=guid()), "subscriptionIDs"),
        (strict_vm("vm-oid", object_id=guid()), "objectIDs"),
    ],
    ids=["resourceGroups", "subscriptionIDs", "objectIDs"],
)
async def test_each_allow_list_refuses_what_it_does_not_list(env: Env, vm: VM, rule: str) -> None:
    before = env.counts()
    refused(await env.sign(env.strict.token(vm), [vm.name]), 401, rule)
    refused(await env.ssh(env.strict.token(vm), key_id=vm.name), 401, rule)  # SSH too (step-ca skips them)
    assert env.counts() == before


async def test_allow_lists_compare_without_case(env: Env) -> None:
    vm = strict_vm("vm-case", resource_group="FRONTEND", object_id=ALLOWED_OBJECTS[0].upper())
    leaf(await env.sign(env.strict.token(vm), [vm.name]))


# ============================================================================ bad tokens: 4xx, never 500, nothing stored


def forge(tenant: Tenant, vm: VM, **claims: Any) -> str:
    """A token with the tenant's kid, signed by a key that is not the tenant's."""
    return SigningKey().sign(tenant.claims(vm, **claims), kid=tenant.keys[0].kid)


def with_header(token: str, header: dict[str, Any]) -> str:
    _, payload, sig = token.split(".")
    return ".".join([b64url_encode(orjson.dumps(header)), payload, sig])


BAD_TOKENS = {
    "forged signature": (lambda e: forge(e.open, VM("vm-bad")), 401, "signature"),
    "unknown kid": (lambda e: SigningKey().sign(e.open.claims(VM("vm-bad"))), 401, "signature"),
    "alg none": (lambda e: with_header(e.open.token(VM("vm-bad")), {"alg": "none", "kid": e.open.keys[0].kid}), 401, "alg"),
    "HS256 with the public key": (
        lambda e: with_header(e.open.token(VM("vm-bad")), {"alg": "HS256", "kid": e.open.keys[0].kid}), 401, "alg"),
    "PS256 with the tenant's own key": (
        lambda e: e.open.keys[0].sign(e.open.claims(VM("vm-bad")), alg="PS256"), 401, "alg"),
    "garbage": (lambda e: "not.a.token", 401, ""),
    "no dots": (lambda e: "garbage", 401, ""),
    "another tenant": (lambda e: e.stranger.token(VM("vm-bad")), 401, "does not belong"),
    "wrong audience": (lambda e: e.open.token(VM("vm-bad"), "https://vault.azure.net"), 401, "audience"),
    "audience without its slash": (lambda e: e.open.token(VM("vm-bad"), "https://management.azure.com"), 401, "audience"),
    "issuer of another tenant": (lambda e: e.open.token(VM("vm-bad"), iss=e.stranger.issuer), 401, "issuer"),
    "expired": (lambda e: e.open.token(VM("vm-bad"), now=time.time() - 2 * 86400), 401, "expired"),
    "not valid yet": (lambda e: e.open.token(VM("vm-bad"), nbf=int(time.time()) + 3600), 401, "not valid yet"),
    "no tid, routed by an audience fragment": (
        lambda e: e.open.token(VM("vm-bad"), tid=None, aud=[MANAGEMENT, f"https://ca/1.0/sign#{e.open.tid}"]), 401, "tid"),
    "tid of another tenant, routed by an audience fragment": (
        lambda e: e.open.token(VM("vm-bad"), tid=e.stranger.tid, aud=[MANAGEMENT, f"https://ca/1.0/sign#{e.open.tid}"]),
        401, "tenant (tid)"),
    "no xms_mirid": (lambda e: e.open.token(VM("vm-bad"), xms_mirid=None), 401, "xms_mirid"),
    "xms_mirid of a storage account": (
        lambda e: e.open.token(VM("vm-bad"), xms_mirid=f"/subscriptions/{guid()}/resourcegroups/rg/providers/Microsoft.Storage/storageAccounts/x"),
        401, "xms_mirid"),
    "xms_mirid with a trailing part": (
        lambda e: e.open.token(VM("vm-bad"), xms_mirid=VM("vm-bad").resource_id + "/extensions/x"), 401, "xms_mirid"),
    "xms_mirid not a string": (lambda e: e.open.token(VM("vm-bad"), xms_mirid=["/subscriptions/x"]), 401, "xms_mirid"),
    "exp not a number": (lambda e: e.open.token(VM("vm-bad"), exp="tomorrow"), 401, "exp"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_bad_tokens_are_refused_with_the_rule_and_store_nothing(env: Env, case: str) -> None:
    make, status, words = BAD_TOKENS[case]
    token = make(env)
    before = env.counts()
    refused(await env.sign(token), status, words)
    refused(await env.ssh(token, key_id="vm-bad", principals=["vm-bad"]), status, words)
    assert env.counts() == before


async def test_a_refusal_names_no_allowed_value(env: Env) -> None:
    message = refused(await env.sign(env.strict.token(strict_vm("vm-x", resource_group="secret-rg"))), 401)
    assert "frontend" not in message.lower() and ALLOWED_SUBSCRIPTION not in message.lower()


# ============================================================================ SSH host certificates


def parse_ssh(reply: Any) -> Any:
    assert reply.status == 201, reply.raw
    blob = base64.b64decode(reply.json["crt"])
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
    return serialization.load_ssh_public_identity(kind + b" " + reply.json["crt"].encode())


async def test_a_vm_gets_both_its_x509_and_its_ssh_host_certificate_once(env: Env) -> None:
    vm = VM("vm-ssh-1")
    cert = parse_ssh(
        await env.ssh(env.open.token(vm), key_id=vm.name, principals=["vm-ssh-1.internal", "10.0.0.9"])
    )
    assert cert.type == serialization.SSHCertificateType.HOST
    assert cert.key_id == b"vm-ssh-1" and cert.valid_principals == [b"vm-ssh-1.internal", b"10.0.0.9"]
    leaf(await env.sign(env.open.token(vm)))  # trust on first use keeps one record per kind
    before = env.counts()
    refused(await env.ssh(env.open.token(vm), key_id=vm.name, principals=["x"]), 401, "already used")
    refused(await env.sign(env.open.token(vm)), 401, "already used")
    assert env.counts() == before


async def test_ssh_host_certificate_rules(env: Env) -> None:
    vm = VM("vm-ssh-2")
    before = env.counts()
    refused(await env.ssh(env.open.token(vm), key_id=vm.name, principals=[]), 403, "principals")
    refused(await env.ssh(env.open.token(vm), key_id="another-name", principals=["a"]), 403, "keyID")
    refused(
        await env.ssh(env.open.token(vm), key_id=vm.name, principals=["a"], cert_type="user"),
        401,
        "capability",
    )
    assert env.counts() == before
    # disableCustomSANs: the VM name is the principal; a request may name it, or nothing, but not more.
    s1, s2 = strict_vm("vm-ssh-3"), strict_vm("vm-ssh-4")
    refused(
        await env.ssh(env.strict.token(s1), key_id=s1.name, principals=["vm-ssh-3", "other"]),
        403,
        "principals",
    )
    cert = parse_ssh(await env.ssh(env.strict.token(s1), key_id=s1.name))
    assert cert.valid_principals == [b"vm-ssh-3"]
    cert = parse_ssh(await env.ssh(env.strict.token(s2), principals=["vm-ssh-4"]))
    assert cert.valid_principals == [b"vm-ssh-4"] and cert.key_id == b"vm-ssh-4"
