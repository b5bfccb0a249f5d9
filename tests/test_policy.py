"""Name policies (docs/reference/wire.md §7e; docs/policy.md): step-ca's engine semantics, the authority policy and the
per-provisioner policy, checked as units and through the real server (403 naming the name and the rule)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from plica.cli.client_cmds import build_csr
from plica.errors import ConfigError, Forbidden
from plica.names import SANs, split_sans
from plica.plugins import get_plugins
from plica.policy import NamePolicy
from plica.testing import client_context, in_process_ca, make_ca
from plica.types import ClientContext

AUTH = "ca.json.authority.policy"


def pol(data: dict[str, Any]) -> NamePolicy:
    return NamePolicy.from_json(data, path=AUTH)


def name(cn: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])


def allowed(p: NamePolicy, *sans: str, cn: str | None = None) -> bool:
    try:
        p.check_x509(name(cn), split_sans(sans))
    except Forbidden:
        return False
    return True


def ssh_allowed(p: NamePolicy, cert_type: str, *principals: str) -> bool:
    try:
        p.check_ssh(cert_type, "key-id", list(principals))
    except Forbidden:
        return False
    return True


# ============================================================================ X.509 semantics


def test_no_constraints_restrict_nothing() -> None:
    p = pol({"x509": {"allowWildcardNames": False}, "ssh": {"user": {}, "host": {"allow": {}}}})
    assert p.empty
    assert allowed(p, "*.anything.org", "10.0.0.1", "a@b.c", "spiffe://x/y", cn="whatever")
    assert ssh_allowed(p, "host") and ssh_allowed(p, "user", "root")


def test_dns_wildcard_rule_matches_exactly_one_label() -> None:
    for rule in ("*.example.com", ".example.com"):
        p = pol({"x509": {"allow": {"dns": [rule]}}})
        assert allowed(p, "www.example.com")
        assert allowed(p, "WWW.Example.COM")
        assert not allowed(p, "example.com")
        assert not allowed(p, "a.b.example.com")
        assert not allowed(p, "www.example.org")


def test_dns_plain_rule_is_an_exact_name() -> None:
    p = pol({"x509": {"allow": {"dns": ["example.com"]}}})
    assert allowed(p, "example.com")
    assert not allowed(p, "www.example.com")


def test_allow_rules_make_other_name_types_explicit() -> None:
    # step: once any allow rule exists, a name type with no rule at all is "not explicitly permitted".
    p = pol({"x509": {"allow": {"dns": ["*.example.com"]}}})
    assert not allowed(p, "www.example.com", "10.0.0.1")
    assert not allowed(p, "www.example.com", "ops@example.com")
    assert not allowed(p, "spiffe://example.com/a")
    # ... but a type with deny rules only is allowed unless denied.
    p = pol({"x509": {"allow": {"dns": ["*.example.com"]}, "deny": {"ip": ["10.0.0.0/8"]}}})
    assert allowed(p, "www.example.com", "192.168.1.1")
    assert not allowed(p, "www.example.com", "10.1.2.3")


def test_deny_wins() -> None:
    p = pol({"x509": {"allow": {"dns": ["*.example.com"]}, "deny": {"dns": ["admin.example.com"]}}})
    assert allowed(p, "www.example.com")
    with pytest.raises(Forbidden) as e:
        p.check_x509(name(None), split_sans(["admin.example.com"]))
    msg = e.value.public_message()
    assert "admin.example.com" in msg and f"{AUTH}.x509.deny.dns[0]" in msg
    assert e.value.status == 403


def test_deny_only_policy() -> None:
    p = pol({"x509": {"deny": {"dns": ["*.internal"]}}})
    assert not allowed(p, "db.internal")
    assert allowed(p, "www.example.com", "10.0.0.1", "a@b.example")


def test_ip_ranges_and_single_addresses() -> None:
    p = pol({"x509": {"allow": {"ip": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}}})
    assert allowed(p, "10.20.30.40")
    assert allowed(p, "192.168.1.7")
    assert not allowed(p, "192.168.1.8")
    assert allowed(p, "2001:db8::1")
    assert not allowed(p, "2001:db9::1")
    assert not allowed(p, "www.example.com")


def test_email_rules() -> None:
    p = pol({"x509": {"allow": {"email": ["jane@example.com", "@corp.example", "example.org"]}}})
    assert allowed(p, "jane@example.com")
    assert allowed(p, "jane@EXAMPLE.com")  # the domain is case-insensitive
    assert not allowed(p, "JANE@example.com")  # the local part is not
    assert not allowed(p, "john@example.com")
    assert allowed(p, "anyone@corp.example")
    assert allowed(p, "anyone@example.org")
    assert not allowed(p, "anyone@sub.example.org")


def test_uri_rules_match_the_host() -> None:
    p = pol({"x509": {"allow": {"uri": ["*.example.com", "spiffe.example"]}}})
    assert allowed(p, "https://api.example.com/v1")
    assert allowed(p, "https://api.example.com:8443/v1")
    assert allowed(p, "spiffe://spiffe.example/ns/default/sa/web")
    assert not allowed(p, "https://example.com/")
    assert not allowed(p, "https://10.0.0.1/")  # an IP host cannot be matched by a domain rule
    assert not allowed(p, "urn:uuid:1234")


def test_wildcard_names_need_allow_wildcard_names() -> None:
    p = pol({"x509": {"allow": {"dns": ["*.example.com"]}}})
    with pytest.raises(Forbidden, match="allowWildcardNames"):
        p.check_x509(name(None), split_sans(["*.example.com"]))
    p = pol({"x509": {"allow": {"dns": ["*.example.com"]}, "allowWildcardNames": True}})
    assert allowed(p, "*.example.com")
    assert not allowed(p, "*.example.org")
    # deny rules apply to wildcard names too (step lets a wildcard slip past a deny rule)
    p = pol({"x509": {"deny": {"dns": ["*.example.com"]}, "allowWildcardNames": True}})
    assert not allowed(p, "*.example.com")
    assert not allowed(p, "www.example.com")
    assert allowed(p, "*.example.org")


def test_common_name_is_checked() -> None:
    p = pol({"x509": {"allow": {"dns": ["*.example.com"], "cn": ["Build Service"]}}})
    assert allowed(p, "www.example.com", cn="www.example.com")  # CN checked as a DNS name
    assert allowed(p, "www.example.com", cn="Build Service")  # CN allowed by a cn rule
    assert allowed(p, "www.example.com", cn="build service")
    with pytest.raises(Forbidden) as e:
        p.check_x509(name("evil.org"), split_sans(["www.example.com"]))
    assert "common name 'evil.org'" in e.value.message
    p = pol({"x509": {"allow": {"dns": ["*.example.com"]}, "deny": {"cn": ["www.example.com"]}}})
    assert not allowed(p, "api.example.com", cn="www.example.com")
    assert allowed(p, "api.example.com", cn="api.example.com")


def test_cn_allow_does_not_override_a_deny() -> None:
    p = pol({"x509": {"allow": {"cn": ["secret.example.com"]}, "deny": {"dns": ["secret.example.com"]}}})
    assert not allowed(p, cn="secret.example.com")


# ============================================================================ SSH semantics


def test_ssh_user_policy() -> None:
    p = pol({"ssh": {"user": {"allow": {"principal": ["alice", "bob"], "email": ["@example.com"]}}}})
    assert ssh_allowed(p, "user", "alice")
    assert ssh_allowed(p, "user", "ALICE", "bob")
    assert ssh_allowed(p, "user", "alice", "alice@example.com")
    assert not ssh_allowed(p, "user", "carol")
    assert not ssh_allowed(p, "user", "alice@example.org")
    assert not ssh_allowed(p, "user", "10.0.0.1")  # IP principals make no sense for users
    assert not ssh_allowed(p, "user")  # valid for every principal
    with pytest.raises(Forbidden, match="only SSH user certificates"):
        p.check_ssh("host", "web", ["web.internal"])


def test_ssh_host_policy() -> None:
    p = pol({"ssh": {"host": {"allow": {"dns": ["*.internal"], "ip": ["10.0.0.0/8"]}}}})
    assert ssh_allowed(p, "host", "web.internal", "10.1.2.3")
    assert not ssh_allowed(p, "host", "web.example.com")
    assert not ssh_allowed(p, "host", "192.168.0.1")
    assert not ssh_allowed(p, "user", "root")  # no user policy: user certificates are refused
    p = pol({"ssh": {"host": {"allow": {"principal": ["bastion"], "dns": ["*.internal"]}}}})
    assert ssh_allowed(p, "host", "bastion", "db.internal")
    assert not ssh_allowed(p, "host", "gateway")
    p = pol({"ssh": {"host": {"deny": {"principal": ["bastion"]}}}})
    assert not ssh_allowed(p, "host", "bastion")
    assert ssh_allowed(p, "host", "gateway")


def test_principal_star_allows_any_plain_principal() -> None:
    p = pol({"ssh": {"user": {"allow": {"principal": ["*"]}, "deny": {"principal": ["root"]}}}})
    assert ssh_allowed(p, "user", "anyone")
    assert not ssh_allowed(p, "user", "root")
    assert not ssh_allowed(p, "user", "anyone@example.com")  # emails need an email rule


# ============================================================================ configuration errors


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"x509": {"allow": {"dsn": ["a.example"]}}}, f"{AUTH}.x509.allow.dsn"),
        ({"x509": {"allow": {"ip": ["10.0.0.0/8", "10.0.0.300"]}}}, f"{AUTH}.x509.allow.ip[1]"),
        ({"x509": {"deny": {"dns": ["a*.example.com"]}}}, f"{AUTH}.x509.deny.dns[0]"),
        ({"x509": {"deny": {"dns": "example.com"}}}, f"{AUTH}.x509.deny.dns"),
        ({"x509": {"allow": {"email": ["*@example.com"]}}}, f"{AUTH}.x509.allow.email[0]"),
        ({"x509": {"allow": {"email": [".example.com"]}}}, f"{AUTH}.x509.allow.email[0]"),
        ({"x509": {"allowWildcardNames": "yes"}}, f"{AUTH}.x509.allowWildcardNames"),
        ({"ssh": {"user": {"allow": {"dns": ["a.example"]}}}}, f"{AUTH}.ssh.user.allow.dns"),
        ({"ssh": {"host": {"allow": {"email": ["a@example.com"]}}}}, f"{AUTH}.ssh.host.allow.email"),
        ({"ssh": {"hosts": {}}}, f"{AUTH}.ssh.hosts"),
        ({"x509": []}, f"{AUTH}.x509"),
        ([], AUTH),
    ],
)
def test_config_errors_name_the_json_path(data: Any, path: str) -> None:
    with pytest.raises(ConfigError) as e:
        NamePolicy.from_json(data, path=AUTH)
    assert e.value.path == path


def test_checks_take_the_kernel_types() -> None:
    p = pol({"x509": {"allow": {"ip": ["127.0.0.0/8"]}}})
    p.check_x509(name(None), SANs(ips=[ipaddress.ip_address("127.0.0.1")]))
    with pytest.raises(Forbidden):
        p.check_x509(name(None), SANs(ips=[ipaddress.ip_address("::1")]))


# ============================================================================ through the real server


async def _provisioner(session: aiohttp.ClientSession, url: str, prov_name: str) -> dict[str, Any]:
    async with session.get(f"{url}/provisioners?limit=100") as r:
        body = await r.json()
    return next(p for p in body["provisioners"] if p["name"] == prov_name)


async def _token(
    session: aiohttp.ClientSession,
    files: Any,
    prov_name: str,
    subject: str,
    sans: list[str],
    op: str,
    extra: dict[str, Any] | None = None,
) -> str:
    prov = await _provisioner(session, files.url, prov_name)
    path = {"sign": "/1.0/sign", "ssh-sign": "/1.0/ssh/sign"}[op]
    ctx = ClientContext(
        provisioner=prov,
        ca_url=files.url,
        audience=files.url + path,
        subject=subject,
        sans=sans,
        options={"password": files.password},
        extra_claims=extra or {},
    )
    # Only the type's own plugin makes its tokens (the kernel asks no other).
    make = get_plugins().type_hook("JWK", "client_token")
    return make(provisioner_type="JWK", context=ctx, operation=op)


async def _sign(
    session: aiohttp.ClientSession, files: Any, prov_name: str, subject: str, sans: list[str]
) -> tuple[int, dict[str, Any]]:
    ott = await _token(session, files, prov_name, subject, sans, "sign")
    csr = build_csr(ec.generate_private_key(ec.SECP256R1()), subject, sans)
    async with session.post(f"{files.url}/1.0/sign", json={"csr": csr, "ott": ott}) as r:
        return r.status, await r.json()


async def _ssh_sign(
    session: aiohttp.ClientSession, files: Any, cert_type: str, principals: list[str]
) -> tuple[int, dict[str, Any]]:
    step = {"ssh": {"certType": cert_type, "keyID": principals[0], "principals": principals}}
    ott = await _token(session, files, "admin", principals[0], [], "ssh-sign", {"step": step})
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1]
    body = {"publicKey": blob.decode(), "ott": ott, "certType": cert_type, "principals": principals}
    async with session.post(f"{files.url}/1.0/ssh/sign", json=body) as r:
        return r.status, await r.json()


def _restricted_block(files: Any) -> dict[str, Any]:
    admin = next(p for p in files.config()["authority"]["provisioners"] if p["name"] == "admin")
    # Same key as admin, another name: the token key is "<name>:<kid>", so both can coexist.
    return {
        "type": "JWK",
        "name": "restricted",
        "key": admin["key"],
        "encryptedKey": admin["encryptedKey"],
        "policy": {"x509": {"deny": {"dns": ["secret.example.com"]}}},
    }


async def test_policies_through_the_server(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    files.update_config(
        policy={
            "x509": {"allow": {"dns": ["*.example.com"]}},
            "ssh": {
                "user": {"allow": {"principal": ["alice"]}},
                "host": {"allow": {"dns": ["*.internal"]}},
            },
        }
    )
    files.add_provisioner(_restricted_block(files))
    async with in_process_ca(files):
        conn = aiohttp.TCPConnector(ssl=client_context(files))
        async with aiohttp.ClientSession(connector=conn) as s:
            status, body = await _sign(s, files, "admin", "www.example.com", ["www.example.com"])
            assert status == 201, body
            crt = x509.load_pem_x509_certificate(body["crt"].encode())
            assert crt.subject.rfc4514_string() == "CN=www.example.com"

            status, body = await _sign(s, files, "admin", "www.evil.org", ["www.evil.org"])
            assert status == 403
            assert "www.evil.org" in body["message"]
            assert "ca.json.authority.policy.x509.allow.dns" in body["message"]

            # the authority policy allows secret.example.com, the provisioner's own policy does not
            status, body = await _sign(s, files, "admin", "secret.example.com", ["secret.example.com"])
            assert status == 201, body
            status, body = await _sign(s, files, "restricted", "secret.example.com", ["secret.example.com"])
            assert status == 403
            assert "provisioners[2].policy.x509.deny.dns[0]" in body["message"], body
            assert "provisioner 'restricted'" in body["message"]
            status, body = await _sign(s, files, "restricted", "api.example.com", ["api.example.com"])
            assert status == 201, body

            status, body = await _ssh_sign(s, files, "user", ["alice"])
            assert status == 201, body
            status, body = await _ssh_sign(s, files, "user", ["root"])
            assert status == 403 and "'root'" in body["message"], body
            status, body = await _ssh_sign(s, files, "host", ["db.internal"])
            assert status == 201, body
            status, body = await _ssh_sign(s, files, "host", ["db.example.com"])
            assert status == 403 and "db.example.com" in body["message"], body


async def test_a_bad_policy_stops_the_ca_with_its_json_path(tmp_path: Path) -> None:
    files = make_ca(tmp_path)
    files.update_config(policy={"x509": {"allow": {"ip": ["10.0.0.0/33"]}}})
    with pytest.raises(ConfigError) as e:
        async with in_process_ca(files):
            pass
    assert e.value.path == "ca.json.authority.policy.x509.allow.ip[0]"
