"""Provisioners in the database (`enableAdmin`) and the admin API's `/admin/provisioners`,
`/admin/admins` and `/admin/certificates`, against the real HTTPS server in this process: the first
start's migration, rights, refusals in step-ca's admin error shape that leave nothing behind, and the
inventory. (smallstep's own Go admin client: tests/test_admin_provisioners_go.py; several instances:
tests/test_admin_instances.py.)"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from plica.admin.client import admin_token
from plica.config import load as load_config
from plica.errors import ConfigError
from plica.http.server import load_material, open_authority
from plica.jose import jwe_decrypt_pbes2
from plica.plugins import get_plugins
from plica.testing import CAFiles, in_process_ca, make_ca
from plica.testing.db import db_row
from plica.testing.httpapi import Api
from plica.testing.tokens import admin_key, new_jwk_provisioner

from .admin_helpers import Admin, credentials, jwk_body, refused

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def state(files: CAFiles) -> tuple[Any, ...]:
    """Rows and the change counter: a refused write must leave both as they were."""
    rows = db_row(files, "SELECT COUNT(*), (SELECT version FROM config_state) FROM provisioners")
    admins = db_row(files, "SELECT COUNT(*), SUM(type = 'SUPER_ADMIN') FROM admins")
    assert rows is not None and admins is not None
    return (*rows, *admins)


@pytest.fixture
def files(tmp_path: Any) -> CAFiles:
    f = make_ca(tmp_path)
    f.update_config(enableAdmin=True)
    return f


async def test_first_start_migrates_and_later_starts_ignore_ca_json(
    files: CAFiles, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with in_process_ca(files):
        api = Api(files, session)
        names = [p["name"] for p in await api.provisioners()]
        assert names == ["admin", "sshpop"]
    assert db_row(files, "SELECT name, type FROM provisioners WHERE name = 'admin'") == ("admin", "JWK")
    assert db_row(files, "SELECT subject, provisioner_name, type FROM admins") == (
        "step",
        "admin",
        "SUPER_ADMIN",
    )
    # A provisioner added to ca.json afterwards is not served: the database's are, and the log says so.
    block, _ = new_jwk_provisioner("late")
    files.add_provisioner(block)
    with caplog.at_level(logging.WARNING, logger="plica.admin"):
        async with in_process_ca(files):
            assert [p["name"] for p in await Api(files, session).provisioners()] == ["admin", "sshpop"]
    assert "ignored" in caplog.text


async def test_rights_and_refusals(files: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(files):
        api = Api(files, session)
        step = Admin(api, await credentials(api, admin_key(files), "step"))
        before = state(files)

        # Malformed bodies, unknown types, mismatches, unusable keys: 400 in the admin shape, nothing stored
        bad = [
            (None, b"{not json"),
            (["a list"], None),
            ({"type": "NOPE", "name": "x", "details": {"NOPE": {}}}, None),
            ({"type": 99, "name": "x", "details": {}}, None),
            ({"type": "JWK", "name": "x"}, None),
            ({"type": "JWK", "name": "x", "details": {"ACME": {}}}, None),
            ({"type": "JWK", "name": "x", "details": {"JWK": {"publicKey": "!!"}}}, None),
            ({"type": "JWK", "name": "x", "details": {"JWK": {}}}, None),
            ({"type": "ACME", "name": "x", "details": {"ACME": {"nope": 1}}}, None),
            (jwk_body("x", claims={"x509": {"durations": {"default": "48h", "max": "24h"}}}), None),
            (jwk_body("admin"), None),
            ({"type": "JWK", "name": "", "details": {"JWK": {}}}, None),
        ]
        for body, raw in bad:
            status, reply = await step("POST", "/admin/provisioners", body, raw=raw)
            assert refused(status, reply, 400, "badRequest"), body
            assert state(files) == before, body
        assert "already exists" in refused(
            *await step("POST", "/admin/provisioners", jwk_body("admin")), 400, "badRequest"
        )
        assert refused(*await step("GET", "/admin/provisioners/nope"), 404, "notFound")

        # an admin (not super) manages provisioners but not admins
        status, made = await step(
            "POST", "/admin/admins", {"subject": "carl", "provisioner": "admin", "type": 1}
        )
        assert status == 201 and made["type"] == "ADMIN" and made["provisionerId"]
        assert refused(
            *await step("POST", "/admin/admins", {"subject": "x", "provisioner": "admin", "type": "ADMIN"}),
            400,
            "badRequest",
        )
        carl = Admin(api, await credentials(api, admin_key(files), "carl"))
        status, dev = await carl("POST", "/admin/provisioners", jwk_body("dev"))
        assert status == 201 and dev["name"] == "dev" and dev["deletedAt"] == "0001-01-01T00:00:00Z"
        mid = state(files)
        assert "super admin" in refused(
            *await carl("POST", "/admin/admins", {"subject": "eve", "provisioner": "admin", "type": 2}),
            403,
            "forbidden",
        )
        assert refused(*await carl("DELETE", f"/admin/admins/{made['id']}"), 403, "forbidden")
        assert state(files) == mid

        # the last super admin can be neither removed nor demoted, nor lose its provisioner
        status, admins = await step("GET", "/admin/admins")
        step_id = next(a["id"] for a in admins["admins"] if a["subject"] == "step")
        assert admins["admins"][0]["created_at"]["seconds"] > 0 and {a["type"] for a in admins["admins"]} == {
            1,
            2,
        }
        assert "last super admin" in refused(
            *await step("DELETE", f"/admin/admins/{step_id}"), 400, "badRequest"
        )
        assert "last super admin" in refused(
            *await step("PATCH", f"/admin/admins/{step_id}", {"type": 1}), 400, "badRequest"
        )
        assert "last super admin" in refused(
            *await step("DELETE", "/admin/provisioners/admin"), 400, "badRequest"
        )
        assert refused(*await step("PATCH", "/admin/admins/nope", {"type": 1}), 404, "notFound")
        assert state(files) == mid
        # once carl is a super admin too, step may go
        status, up = await step("PATCH", f"/admin/admins/{made['id']}", {"type": 2})
        assert status == 200 and up["type"] == "SUPER_ADMIN"
        assert (await step("DELETE", f"/admin/admins/{step_id}"))[0] == 200
        assert "no admin" in refused(*await step("GET", "/admin/provisioners"), 401, "unauthorized")

        # a replayed token, and one for another path
        token = admin_token(carl.creds, files.url + "/admin/provisioners")
        ok = await api.call("GET", "/admin/provisioners", headers={"Authorization": token})
        assert ok.status == 200
        again = await api.call("GET", "/admin/provisioners", headers={"Authorization": token})
        assert "already used" in refused(again.status, again.json, 401, "unauthorized")
        other = admin_token(carl.creds, files.url + "/admin/admins")
        wrong = await api.call("GET", "/admin/provisioners", headers={"Authorization": other})
        assert "audience" in refused(wrong.status, wrong.json, 401, "unauthorized")


async def test_update_and_remove(files: CAFiles, session: aiohttp.ClientSession) -> None:
    async with in_process_ca(files) as authority:
        api = Api(files, session)
        step = Admin(api, await credentials(api, admin_key(files), "step"))
        status, acme = await step(
            "POST",
            "/admin/provisioners",
            {
                "type": "ACME",
                "name": "acme",
                "details": {"ACME": {"requireEab": True, "challenges": ["HTTP_01", "DNS_01"]}},
            },
        )
        assert status == 201, acme
        assert acme["details"] == {"ACME": {"requireEab": True, "challenges": ["HTTP_01", "DNS_01"]}}
        assert authority.provisioner_by_name("acme").raw["challenges"] == ["http-01", "dns-01"]
        changed = {**acme, "details": {"ACME": {"forceCn": True}}, "type": "X5C"}
        assert "disagrees" in refused(
            *await step("PUT", "/admin/provisioners/acme", changed), 400, "badRequest"
        )
        assert "id" in refused(
            *await step("PUT", "/admin/provisioners/acme", {**acme, "id": "other"}), 400, "badRequest"
        )
        status, up = await step(
            "PUT", "/admin/provisioners/acme", {**acme, "details": {"ACME": {"forceCn": True}}}
        )
        assert status == 200 and up["details"] == {"ACME": {"forceCn": True}} and up["id"] == acme["id"]
        status, by_id = await step("GET", f"/admin/provisioners/id?id={acme['id']}")
        assert status == 200 and by_id == up
        assert (await step("DELETE", f"/admin/provisioners/id?id={acme['id']}")) == (200, {"status": "ok"})
        assert authority.provisioner_by_name("acme") is None
        assert refused(*await step("DELETE", "/admin/provisioners/acme"), 404, "notFound")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decrypter() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SCEP RA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "decrypterCertificate": b64(cert.public_bytes(serialization.Encoding.PEM)),
        "decrypterKeyPEM": b64(pem),
    }


def details_for(type_name: str, files: CAFiles, tmp: Path) -> dict[str, Any]:
    """Valid linkedca details for every type a plugin of this repository provides (as step's client
    would send them)."""
    root_pem = files.root.read_bytes()
    if type_name == "NEBULA":
        subprocess.run(["nebula-cert", "ca", "-name", "Test Nebula", "-out-crt", str(tmp / "n.crt"),
                        "-out-key", str(tmp / "n.key")], check=True, capture_output=True, timeout=30)  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "JWK": lambda: jwk_body("x")["details"]["JWK"],
        "ACME": lambda: {"forceCn": True, "requireEab": True, "challenges": ["HTTP_01", "TLS_ALPN_01"]},
        "X5C": lambda: {"roots": [b64(root_pem)]},
        "K8SSA": lambda: {"publicKeys": [b64(spki)]},
        "SSHPOP": lambda: {},
        "NEBULA": lambda: {"roots": [b64((tmp / "n.crt").read_bytes())]},
        "AWS": lambda: {"accounts": ["123456789012"], "disableCustomSans": True, "instanceAge": "1h"},
        "GCP": lambda: {
            "projectIds": ["my-project"],
            "serviceAccounts": ["sa@my-project.iam.gserviceaccount.com"],
        },
        "AZURE": lambda: {"tenantId": "b17c217c-84db-43f0-babd-e06a71083cda", "resourceGroups": ["rg"]},
        # linkedca's SCEP has no decrypter: an ECDSA CA's SCEP provisioner needs Plica's extension, the
        # ca.json fields as they are
        "SCEP": lambda: {
            "challenge": "secret",
            "forceCn": True,
            "minimumPublicKeyLength": 2048,
            **decrypter(),
        },
        "OIDC": lambda: {
            "clientId": "plica",
            "clientSecret": "s3cret",
            "domains": ["example.com"],
            "configurationEndpoint": "https://127.0.0.1:1/.well-known/openid-configuration",
        },
    }[type_name]()


async def test_every_installed_type_is_creatable(
    files: CAFiles, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    plugins = get_plugins()
    async with in_process_ca(files, plugins) as authority:
        api = Api(files, session)
        step = Admin(api, await credentials(api, admin_key(files), "step"))
        created = []
        for key, entry in sorted(plugins.types.items()):
            enum = key.upper()
            if enum == "SSHPOP":
                continue  # the CA has one already (at most one per CA)
            details = details_for(enum, files, tmp_path)
            name = f"made-{key}"
            oneof = {"AZURE": "Azure", "K8SSA": "K8sSA", "NEBULA": "Nebula"}.get(enum, enum)
            status, made = await step(
                "POST", "/admin/provisioners", {"type": enum, "name": name, "details": {oneof: details}}
            )
            assert status == 201, (enum, made)
            # the answer holds what linkedca can (step's client refuses anything else); the rest is stored
            shown = {k: v for k, v in details.items() if not k.startswith("decrypter")}
            assert made["type"] == enum and made["details"] == {oneof: shown}, made
            raw = authority.provisioner_by_name(name).raw
            assert all(raw[k] == v for k, v in details.items() if k.startswith("decrypter"))
            status, got = await step("GET", f"/admin/provisioners/{name}")
            assert status == 200 and got == made
            created.append((name, entry.type.name))
        # a PUT of what step's client read back keeps what linkedca cannot carry (SCEP's decrypter)
        status, scep = await step("GET", "/admin/provisioners/made-scep")
        scep["details"]["SCEP"]["forceCn"] = False
        status, _ = await step("PUT", "/admin/provisioners/made-scep", scep)
        assert status == 200
        raw = authority.provisioner_by_name("made-scep").raw
        assert raw["decrypterCertificate"] and raw["decrypterKeyPEM"] and not raw.get("forceCN")
        published = {(p["name"], p["type"]) for p in await api.provisioners()}
        assert set(created) <= published
        assert len(created) == len(plugins.types) - 1


async def test_migrating_a_ca_without_jwk_creates_admin_jwk(
    files: CAFiles, session: aiohttp.ClientSession
) -> None:
    cfg = files.config()
    cfg["authority"]["provisioners"] = [p for p in cfg["authority"]["provisioners"] if p["type"] != "JWK"]
    files.write_config(cfg)
    ca_cfg = load_config(files.config_path)
    material = load_material(ca_cfg, files.password)
    # without a password for its key there is no Admin JWK: a clear refusal, nothing migrated
    with pytest.raises(ConfigError, match="Admin JWK"):
        await open_authority(ca_cfg, material, get_plugins(), start_time=0)
    assert db_row(files, "SELECT COUNT(*), (SELECT migrated FROM config_state) FROM provisioners") == (0, 0)
    authority = await open_authority(ca_cfg, material, get_plugins(), start_time=0, password=files.password)
    await authority.storage.close()
    name, block = db_row(files, "SELECT name, block FROM provisioners ORDER BY seq LIMIT 1") or ("", "")
    assert name == "Admin JWK"
    _, plain = jwe_decrypt_pbes2(orjson.loads(block)["encryptedKey"], files.password)
    assert orjson.loads(plain)["d"]  # the private key, encrypted with the CA's password
    assert db_row(files, "SELECT subject, provisioner_name, type FROM admins") == (
        "step",
        "Admin JWK",
        "SUPER_ADMIN",
    )
    assert [r for r in [db_row(files, "SELECT name FROM provisioners WHERE name = 'sshpop'")] if r] == [
        ("sshpop",)
    ]
