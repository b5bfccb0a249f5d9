"""The GCP provisioner through the real server (in this event loop, real TLS, real SQLite): identity tokens
minted by the local metadata server (gcpkit.py) with a key the test made, verified through the CA's own code
with Google's keys fetched from the local JWKS endpoint (`jwksURL`). Every rule that refuses says which rule
it was, with a 4xx, and leaves the database as it was."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from plica.api import PROVISIONER_OID, ProvisionerExtension
from plica.testing import (
    CAFiles,
    admin_key,
    csr_for,
    csr_pem,
    db_counts,
    ec_key,
    free_port,
    garbage_token,
    in_process_ca,
    make_ca,
    make_csr,
    new_jwk_provisioner,
)
from plica.testing.httpapi import Api, Reply
from plica_gcp.client import fetch_identity_token, sign_audience

from .gcpkit import VM, Google, GoogleKey, identity_claims

pytestmark = pytest.mark.asyncio(loop_scope="module")

SSH = {"enableSSHCA": True}


@define
class Env:
    files: CAFiles
    api: Api
    authority: Any

    def aud(self, name: str) -> str:
        return sign_audience(self.files.url, name)

    async def sign(
        self, ott: str, names: list[str] | None = None, *, cn: str | None = "web-1.example"
    ) -> Reply:
        csr = make_csr(ec_key(), cn, names if names is not None else [cn] if cn else [])
        return await self.api.post("/sign", {"csr": csr_pem(csr), "ott": ott})

    async def ssh(
        self, ott: str, principals: list[str], *, cert_type: str = "host", key_id: str = "web-1"
    ) -> Reply:
        pub = ed25519.Ed25519PrivateKey.generate().public_key()
        blob = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1]
        body = {"publicKey": blob.decode(), "ott": ott, "certType": cert_type, "keyID": key_id,
                "principals": principals}  # fmt: skip
        return await self.api.post("/ssh/sign", body)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, google_servers: Google) -> AsyncIterator[Env]:
    files = make_ca(tmp_path_factory.mktemp("ca"))
    jwks = {"jwksURL": google_servers.jwks_url}
    for block in (
        {"name": "gcp", "claims": SSH},
        {"name": "gcp-many", "disableTrustOnFirstUse": True, "claims": SSH},
        {"name": "gcp-strict", "disableCustomSANs": True, "instanceAge": "1h", "claims": SSH,
         "serviceAccounts": ["112233445566778899000", "other@plica-test.iam.gserviceaccount.com"],
         "projectIDs": ["plica-test", "plica-prod"]},
        {"name": "gcp-email", "serviceAccounts": ["vm-runner@plica-test.iam.gserviceaccount.com"]},
        {"name": "gcp-nokeys", "jwksURL": f"http://127.0.0.1:{free_port()}/oauth2/v3/certs"},
    ):  # fmt: skip
        files.add_provisioner({"type": "GCP", **jwks, **block})
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        yield Env(files, Api(files, session), authority)


def leaf(r: Reply) -> x509.Certificate:
    assert r.status == 201, r.raw
    return x509.load_pem_x509_certificate(r.json["crt"].encode())


def names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName) + san.get_values_for_type(x509.IPAddress)]


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def refused(r: Reply, status: int, *needles: str) -> str:
    assert r.status == status, r.raw
    message = r.error()["message"]
    for needle in needles:
        assert needle in message, message
    return message


# ============================================================================ a certificate on first use


async def test_the_metadata_servers_token_gets_a_certificate_with_the_csrs_names(
    env: Env, google: Google
) -> None:
    # The plugin's client asks the metadata server exactly as step's does.
    ott = fetch_identity_token(google.metadata_url, env.aud("gcp"))
    (asked,) = google.requests
    assert asked["query"] == {"audience": env.aud("gcp"), "format": "full", "licenses": "FALSE"}
    assert asked["headers"]["Metadata-Flavor"] == "Google"

    cert = leaf(await env.sign(ott, ["web-1.example", "10.0.0.7"]))
    # Custom SANs (the default): the CSR's names as they are, trusted on first use.
    assert common_name(cert) == "web-1.example"
    assert names(cert) == ["web-1.example", "10.0.0.7"]
    ext = ProvisionerExtension.from_der(cert.extensions.get_extension_for_oid(PROVISIONER_OID).value.value)  # type: ignore[attr-defined]
    assert ext == ProvisionerExtension(
        type=3, name="gcp", credential_id=google.vm.account_id,
        key_value_pairs=("InstanceID", google.vm.instance_id, "InstanceName", "web-1"),
    )  # fmt: skip


async def test_one_certificate_per_instance(env: Env, google: Google) -> None:
    assert (await env.sign(google.mint(env.aud("gcp")))).status == 201
    before = db_counts(env.files)
    # Another token of the same instance: trust on first use is spent.
    r = await env.sign(google.mint(env.aud("gcp")))
    refused(r, 401, "already used")
    assert db_counts(env.files) == before
    # Another instance is another first use.
    assert (await env.sign(google.mint(env.aud("gcp"), VM()))).status == 201


async def test_disable_trust_on_first_use_allows_more_certificates_but_each_token_once(
    env: Env, google: Google
) -> None:
    first = google.mint(env.aud("gcp-many"))
    assert (await env.sign(first)).status == 201
    assert (await env.sign(google.mint(env.aud("gcp-many"), iat=int(time.time()) + 1))).status == 201
    refused(await env.sign(first), 401, "already used")


async def test_a_refused_request_uses_up_nothing(env: Env, google: Google) -> None:
    ott = google.mint(env.aud("gcp-strict"))
    refused(await env.sign(ott, ["elsewhere.example"], cn=None), 403, "DNS names")
    # The instance still has its first use: the same token, with names the document allows.
    assert (await env.sign(ott, google.vm.dns_names, cn=None)).status == 201


# ============================================================================ disableCustomSANs


async def test_disable_custom_sans_gives_exactly_the_instances_names(env: Env, google: Google) -> None:
    vm = google.vm
    # A CSR with no SANs at all still gets both internal names.
    cert = leaf(await env.sign(google.mint(env.aud("gcp-strict")), [], cn=vm.name))
    assert common_name(cert) == vm.name
    assert (
        names(cert)
        == vm.dns_names
        == ["web-1.c.plica-test.internal", "web-1.europe-west1-b.c.plica-test.internal"]
    )
    # The CSR's names, when it has any, must be exactly those.
    other = VM()
    ott = google.mint(env.aud("gcp-strict"), other)
    cert = leaf(await env.sign(ott, list(reversed(other.dns_names)), cn=other.dns_names[1]))
    assert sorted(names(cert)) == sorted(other.dns_names)


@pytest.mark.parametrize(
    ("csr_names", "cn", "needle"),
    [
        (["web-1.c.plica-test.internal"], None, "DNS names"),
        (["web-1.c.plica-test.internal", "web-1.europe-west1-b.c.plica-test.internal", "evil.example"],
         None, "DNS names"),
        (["10.0.0.7"], None, "IP addresses"),
        (["ops@example.com"], None, "email"),
        (["spiffe://plica/web"], None, "URIs"),
        ([], "evil.example", "common name"),
    ],
)  # fmt: skip
async def test_disable_custom_sans_refuses_other_names(
    env: Env, google: Google, csr_names: list[str], cn: str | None, needle: str
) -> None:
    before = db_counts(env.files)
    refused(await env.sign(google.mint(env.aud("gcp-strict")), csr_names, cn=cn), 403, needle)
    assert db_counts(env.files) == before


async def test_disable_custom_sans_allows_the_instance_id_as_common_name(env: Env, google: Google) -> None:
    cert = leaf(await env.sign(google.mint(env.aud("gcp-strict")), [], cn=google.vm.instance_id))
    assert common_name(cert) in (google.vm.instance_id, google.vm.name)
    assert names(cert) == google.vm.dns_names


# ============================================================================ the allow-lists and instanceAge


async def test_service_accounts_match_sub_or_email(env: Env, google: Google) -> None:
    assert (await env.sign(google.mint(env.aud("gcp-strict")), google.vm.dns_names, cn=None)).status == 201
    # gcp-email lists the service account's e-mail address, not its id.
    assert (await env.sign(google.mint(env.aud("gcp-email")))).status == 201


@pytest.mark.parametrize(
    ("vm", "provisioner", "needle"),
    [
        (
            VM(account_id="999", email="intruder@other.iam.gserviceaccount.com"),
            "gcp-strict",
            "serviceAccounts",
        ),
        (VM(email="someone-else@plica-test.iam.gserviceaccount.com"), "gcp-email", "serviceAccounts"),
        (VM(project_id="someone-elses-project"), "gcp-strict", "projectIDs"),
        (VM(created=time.time() - 7200), "gcp-strict", "instanceAge"),
    ],
    ids=["account", "email", "project", "instance-age"],
)
async def test_allow_lists_and_instance_age_refuse(
    env: Env, google: Google, vm: VM, provisioner: str, needle: str
) -> None:
    before = db_counts(env.files)
    refused(await env.sign(google.mint(env.aud(provisioner), vm), vm.dns_names, cn=None), 401, needle)
    assert db_counts(env.files) == before


async def test_instance_age_needs_the_creation_time(env: Env, google: Google) -> None:
    claims = {"google": {"compute_engine": {"instance_id": "1", "instance_name": "web-1", "project_id": "plica-test",
                                            "zone": "europe-west1-b"}}}  # fmt: skip
    r = await env.sign(google.mint(env.aud("gcp-strict"), **claims), google.vm.dns_names, cn=None)
    refused(r, 401, "instance_creation_timestamp", "instanceAge")


# ============================================================================ bad tokens: 4xx, never 500


def _compute_engine(**change: Any) -> dict[str, Any]:
    ce = {"instance_creation_timestamp": int(time.time()), "instance_id": "42", "instance_name": "web-1",
          "project_id": "plica-test", "project_number": 1, "zone": "europe-west1-b", **change}  # fmt: skip
    return {"google": {"compute_engine": ce}}


@pytest.mark.parametrize(
    ("claims", "needle"),
    [
        ({"iss": "accounts.google.com"}, "issuer"),
        ({"exp": lambda now: now - 120}, "expired"),
        ({"exp": None}, "expiry"),
        ({"nbf": lambda now: now + 600}, "not valid yet"),
        ({"google": None}, "google.compute_engine"),
        (_compute_engine(instance_id=""), "instance_id cannot be empty"),
        (_compute_engine(instance_name=""), "instance_name cannot be empty"),
        (_compute_engine(project_id=""), "project_id cannot be empty"),
        (_compute_engine(zone=""), "zone cannot be empty"),
        (_compute_engine(instance_id=42), "must be a string"),
        (_compute_engine(instance_creation_timestamp="yesterday"), "instance_creation_timestamp"),
    ],
)
async def test_claims_are_checked(env: Env, google: Google, claims: dict[str, Any], needle: str) -> None:
    # Times relative to when the test runs, not to when the suite was collected (minutes earlier).
    now = int(time.time())
    claims = {k: v(now) if callable(v) else v for k, v in claims.items()}
    refused(await env.sign(google.mint(env.aud("gcp"), **claims)), 401, needle)


async def test_the_audience_names_this_ca_and_provisioner(env: Env, google: Google) -> None:
    # Another CA's audience with this provisioner's fragment.
    refused(await env.sign(google.mint("https://ca.example.com/1.0/sign#gcp/gcp")), 401, "audience")
    # A token for another provisioner of this CA is that provisioner's (and spends its first use only there).
    assert (await env.sign(google.mint(env.aud("gcp-many")))).status == 201
    assert (await env.sign(google.mint(env.aud("gcp")))).status == 201
    # A provisioner this CA does not have.
    refused(await env.sign(google.mint(env.aud("gcp-unknown"))), 401, "does not belong to any provisioner")
    # An audience without the fragment (as `gcloud` would ask for) finds no provisioner.
    refused(await env.sign(google.mint(f"{env.files.url}/1.0/sign")), 401)


async def test_a_token_signed_by_another_key_is_refused(env: Env, google: Google) -> None:
    before = db_counts(env.files)
    # Another key under the published key's kid: the signature does not verify.
    google.signer = GoogleKey(kid=google.keys[0].kid)
    refused(await env.sign(google.mint(env.aud("gcp"))), 401, "signature does not verify")
    # Another key under a kid nobody published.
    google.signer = GoogleKey()
    refused(await env.sign(google.mint(env.aud("gcp"))), 401, "signature does not verify", google.signer.kid)
    assert db_counts(env.files) == before
    # The VM was not spent by the forgeries: its real token still gets its certificate.
    google.signer = None
    assert (await env.sign(google.mint(env.aud("gcp")))).status == 201


async def test_another_provisioners_credentials_get_nowhere(env: Env, google: Google) -> None:
    """The CA's own JWK provisioner key signing a GCP-shaped token for the GCP provisioner: refused there;
    and a GCP token is no JWK token (sent without the fragment it finds no provisioner)."""
    admin = admin_key(env.files)
    claims = identity_claims(google.vm, env.aud("gcp"))
    refused(await env.sign(admin.sign(claims)), 401, "RS256")
    rsa_key = new_jwk_provisioner("rsa", kty="RSA")[1]
    refused(await env.sign(rsa_key.sign(claims)), 401, "signature does not verify")
    refused(await env.sign(google.mint(f"{env.files.url}/1.0/sign#jwk/admin")), 401)
    # None of it spent the VM's first use.
    assert (await env.sign(google.mint(env.aud("gcp")))).status == 201


async def test_no_keys_from_google_yet_is_401_not_500(env: Env, google: Google) -> None:
    # gcp-nokeys' JWKS URL answers nothing: its source has never fetched a key.
    refused(await env.sign(google.mint(env.aud("gcp-nokeys"))), 401, "have not been fetched")


async def test_tampered_and_garbage_tokens_are_4xx(env: Env, google: Google) -> None:
    ott = google.mint(env.aud("gcp"))
    head, _, sig = ott.split(".")
    other = google.mint(env.aud("gcp"), VM()).split(".")[1]
    refused(await env.sign(f"{head}.{other}.{sig}"), 401, "signature does not verify")
    # HS256 with Google's public key as the secret (alg confusion), and an unsigned token.
    for alg in ("HS256", "none"):
        forged = garbage_token("https://accounts.google.com", env.aud("gcp"), alg=alg)
        refused(await env.sign(forged), 401, "RS256")
    for junk in ("", "x", "a.b.c", "e30.e30.", ott[:-10]):
        r = await env.sign(junk)
        assert 400 <= r.status < 500, (junk, r.raw)
        r.error()


# ============================================================================ SSH host certificates


async def test_ssh_host_certificate_with_the_requests_principals(env: Env, google: Google) -> None:
    r = await env.ssh(google.mint(env.aud("gcp")), ["web-1.example", "10.0.0.7"])
    assert r.status == 201, r.raw
    cert = serialization.load_ssh_public_identity(
        f"ssh-ed25519-cert-v01@openssh.com {r.json['crt']}".encode()
    )
    assert cert.type == serialization.SSHCertificateType.HOST  # type: ignore[union-attr]
    assert cert.valid_principals == [b"web-1.example", b"10.0.0.7"]  # type: ignore[union-attr]
    assert cert.key_id == b"web-1"  # type: ignore[union-attr]
    # Without custom SANs restrictions a host certificate must still name its principals.
    refused(await env.ssh(google.mint(env.aud("gcp"), VM()), []), 403, "principals")


async def test_an_instance_gets_one_x509_and_one_ssh_host_certificate(env: Env, google: Google) -> None:
    assert (await env.sign(google.mint(env.aud("gcp")))).status == 201
    assert (await env.ssh(google.mint(env.aud("gcp")), ["web-1.example"])).status == 201
    refused(await env.ssh(google.mint(env.aud("gcp")), ["web-1.example"]), 401, "already used")
    refused(await env.sign(google.mint(env.aud("gcp"))), 401, "already used")


async def test_ssh_with_disable_custom_sans(env: Env, google: Google) -> None:
    vm = google.vm
    r = await env.ssh(google.mint(env.aud("gcp-strict")), [])
    assert r.status == 201, r.raw
    cert = serialization.load_ssh_public_identity(
        f"ssh-ed25519-cert-v01@openssh.com {r.json['crt']}".encode()
    )
    assert cert.valid_principals == [n.encode() for n in vm.dns_names]  # type: ignore[union-attr]
    other = VM()
    r = await env.ssh(google.mint(env.aud("gcp-strict"), other), other.dns_names[:1])
    assert r.status == 201, r.raw
    refused(await env.ssh(google.mint(env.aud("gcp-strict"), VM()), ["evil.example"]), 403, "principals")


async def test_ssh_user_certificates_are_not_a_gcp_capability(env: Env, google: Google) -> None:
    refused(await env.ssh(google.mint(env.aud("gcp")), ["root"], cert_type="user"), 401, "ssh-user-cert-sign")


async def test_revocation_is_not_a_gcp_capability(env: Env, google: Google) -> None:
    r = await env.api.post("/revoke", {"serial": "1", "ott": google.mint(env.aud("gcp")), "passive": True})
    refused(r, 401, "x509-revoke")


# ============================================================================ renewal over mTLS


async def test_renewal_over_mtls(env: Env, google: Google, tmp_path: Any) -> None:
    c = csr_for(["web-1.example"])
    r = await env.api.post("/sign", {"csr": c.pem, "ott": google.mint(env.aud("gcp"))})
    first = leaf(r)
    crt, key = tmp_path / "web.crt", tmp_path / "web.key"
    crt.write_text(r.json["crt"])
    key.write_bytes(
        c.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    )  # fmt: skip
    r = await env.api.post("/renew", ctx=env.api.mtls(crt, key))
    renewed = leaf(r)
    assert renewed.serial_number != first.serial_number
    assert names(renewed) == names(first) == ["web-1.example"]
    assert renewed.extensions.get_extension_for_oid(
        PROVISIONER_OID
    ) == first.extensions.get_extension_for_oid(PROVISIONER_OID)
