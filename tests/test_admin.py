"""Admin authentication (docs/reference/wire.md §5b) against a real CA served in-process: admin certificates from the real
`plica certificate` command, admin tokens signed by a third-party JOSE library (joserfc) the way step's
admin client signs them, the first super admin `step` created on start, and `plica admin list|add|remove`.

The endpoints under test belong to a small plugin registered here through the public hooks, exactly as a
plugin uses `plica.admin` (`require_admin` + `admin_route`). Refusals are checked for the admin error shape
`{"type", "detail", "message"}` and for leaving the token unspent. The admins table is also exercised on
PostgreSQL when a server listens on 127.0.0.1:5432 (or PLICA_TEST_POSTGRES).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.admin.auth import ADMIN_ISSUER, require_admin
from plica.admin.client import AdminClient, AdminCredentials
from plica.admin.errors import AdminError, admin_route
from plica.admin.store import add_admin, bootstrap, find_admin, list_admins, remove_admin
from plica.asn1 import ProvisionerExtension
from plica.client import CAClientError
from plica.config import load as load_config
from plica.hookspecs import hookimpl
from plica.http.server import load_material
from plica.plugins import load_plugins
from plica.storage import open_storage
from plica.testing import (
    CAFiles,
    client_context,
    in_process_ca,
    jose_sign,
    make_ca,
    new_jwk_provisioner,
    plica_cli,
)
from plica.types import Route

WHOAMI = "/test/admin/whoami"
SUDO = "/test/admin/sudo"


class AdminProbe:
    """A plugin with two admin endpoints: any admin, and super admins only."""

    @hookimpl
    def http_routes(self, authority: Any) -> list[Route]:
        @admin_route
        async def whoami(request: web.Request) -> web.Response:
            a = await require_admin(request, authority)
            return web.json_response(a.to_json())

        @admin_route
        async def sudo(request: web.Request) -> web.Response:
            a = await require_admin(request, authority, super_admin=True)
            return web.json_response(a.to_json())

        return [Route("GET", WHOAMI, whoami), Route("POST", SUDO, sudo)]


PLUGINS = load_plugins([AdminProbe()])


# ------------------------------------------------------------------------------------------- helpers


def admin_ca(tmp: Path, *, enable: bool = True) -> CAFiles:
    files = make_ca(tmp)
    files.update_config(enableAdmin=enable)
    return files


async def plica(files: CAFiles, *args: str) -> tuple[int, str, str]:
    """The real `plica` command, without blocking the event loop that serves the CA."""
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plica", *args, env=files.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(p.communicate(), 60)
    return p.returncode or 0, out.decode(), err.decode()


async def issue(
    files: CAFiles, subject: str, provisioner: str = "admin", password: Path | None = None
) -> Any:
    """`plica certificate SUBJECT` with a JWK provisioner: the admin certificate (chain) and its key."""
    crt, key = (
        files.home.parent / f"{subject}-{provisioner}.crt",
        files.home.parent / f"{subject}-{provisioner}.key",
    )
    rc, out, err = await plica(
        files, "certificate", subject, str(crt), str(key), "--provisioner", provisioner,
        "--password-file", str(password or files.password_file),
    )  # fmt: skip
    assert rc == 0, out + err
    return AdminCredentials.load(crt, key)


def step_token(
    creds: Any, aud: str, *, key: Any = None, iss: str = ADMIN_ISSUER, sub: str | None = None,
    now: float | None = None, lifetime: int = 300, chain: list[x509.Certificate] | None = None,
) -> str:  # fmt: skip
    """An admin token as step's admin client makes it (ca/adminClient.go), signed by joserfc."""
    t = int(time.time() if now is None else now)
    x5c = [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain or creds.chain
    ]
    claims = {
        "iss": iss, "sub": creds.subject if sub is None else sub, "aud": aud,
        "iat": t, "nbf": t, "exp": t + lifetime, "jti": secrets.token_hex(32),
    }  # fmt: skip
    return jose_sign(key or creds.key, {"alg": "ES256", "typ": "JWT", "x5c": x5c}, claims)


def forge(
    files: CAFiles, cn: str, *, provisioner: str = "admin", eku: list[Any] | None = None,
    not_after: dt.datetime | None = None, can_sign: bool = True,
) -> Any:  # fmt: skip
    """A leaf signed with the intermediate key of `files`' CA (for refusals a real provisioner would never
    issue: expired, without clientAuth, or from another CA)."""
    material = load_material(load_config(files.config_path), files.password)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(material.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=2))
        .not_valid_after(not_after or now + dt.timedelta(hours=1))
        .add_extension(
            x509.KeyUsage(can_sign, not can_sign, False, False, False, False, False, False, False), True
        )
        .add_extension(
            x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            False,
        )
        .add_extension(ProvisionerExtension(1, provisioner, "kid").extension(), False)
    )
    cert = material.sign_builder_now(builder)
    return AdminCredentials(chain=[cert, material.intermediate], key=key)


class Caller:
    def __init__(self, files: CAFiles, session: aiohttp.ClientSession) -> None:
        self.files, self.session, self.ctx = files, session, client_context(files)

    async def __call__(
        self, token: str | None, path: str = WHOAMI, method: str = "GET"
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": token} if token is not None else {}
        async with self.session.request(method, self.files.url + path, headers=headers, ssl=self.ctx) as r:
            return r.status, orjson.loads(await r.read())


def refused(status: int, body: dict[str, Any], kind: str = "unauthorized", code: int = 401) -> str:
    assert status == code, (status, body)
    assert set(body) == {"type", "detail", "message"}, body
    assert body["type"] == kind, body
    return str(body["message"])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# ------------------------------------------------------------------------------------------- tests


async def test_first_start_makes_step_a_super_admin_of_the_first_jwk(tmp_path: Path) -> None:
    files = admin_ca(tmp_path)
    # A non-JWK provisioner first: the super admin goes to the first *JWK* one (step-ca's rule).
    cfg = files.config()
    cfg["authority"]["provisioners"].insert(0, {"type": "ACME", "name": "acme"})
    files.write_config(cfg)
    async with in_process_ca(files, PLUGINS) as a:
        admins = await list_admins(a.storage)
    assert [(x.subject, x.provisioner, x.type) for x in admins] == [("step", "admin", "SUPER_ADMIN")]
    async with in_process_ca(files, PLUGINS) as a:  # a second start adds nobody
        assert await list_admins(a.storage) == admins

    off = admin_ca(tmp_path / "off", enable=False)
    async with in_process_ca(off, PLUGINS) as a:
        assert await list_admins(a.storage) == []


async def test_admin_token_of_step(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    files = admin_ca(tmp_path)
    async with in_process_ca(files, PLUGINS):
        step = await issue(files, "step")
        call = Caller(files, session)
        # step's client puts the CA URL (with its port) and the path in `aud`
        status, body = await call(step_token(step, files.url + WHOAMI))
        assert status == 200, body
        assert body["subject"] == "step" and body["provisioner"] == "admin" and body["type"] == "SUPER_ADMIN"
        # the bare path, another of the CA's dnsNames without a port, the provisioner's name as issuer
        for token in (
            step_token(step, WHOAMI),
            step_token(step, f"https://localhost{WHOAMI}"),
            step_token(step, files.url + WHOAMI, iss="admin"),
        ):
            status, body = await call(token)
            assert status == 200, body
        # a query is not part of the audience
        status, body = await call(step_token(step, files.url + WHOAMI + "?limit=5"), WHOAMI + "?limit=5")
        assert status == 200, body
        # the super admin endpoint
        status, body = await call(step_token(step, files.url + SUDO), SUDO, "POST")
        assert status == 200, body


async def test_refusals_are_401_in_the_admin_shape(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    files = admin_ca(tmp_path)
    block, _ = new_jwk_provisioner("ops")
    files.add_provisioner(block)
    other = make_ca(tmp_path / "other")
    async with in_process_ca(files, PLUGINS):
        call = Caller(files, session)
        step = await issue(files, "step")
        aud = files.url + WHOAMI

        assert "missing" in refused(*await call(None))
        assert "malformed" in refused(*await call("not.a-token"))
        assert "x5c" in refused(*await call(jose_sign(step.key, {"alg": "ES256"}, {"aud": aud})))

        # claims
        assert "audience" in refused(*await call(step_token(step, files.url + SUDO)))
        assert "audience" in refused(*await call(step_token(step, f"https://evil.example{WHOAMI}")))
        assert "issuer" in refused(*await call(step_token(step, aud, iss="someone")))
        assert "subject" in refused(*await call(step_token(step, aud, sub="")))
        assert "expired" in refused(*await call(step_token(step, aud, now=time.time() - 3600)))
        assert "longer than 5 minutes" in refused(*await call(step_token(step, aud, lifetime=3600)))

        # a signature by another key than the certificate's
        wrong = ec.generate_private_key(ec.SECP256R1())
        assert "signature" in refused(*await call(step_token(step, aud, key=wrong)))

        # replay: the same token twice
        token = step_token(step, aud)
        assert (await call(token))[0] == 200
        assert "already used" in refused(*await call(token))

        # a subject that is not an admin, and the admin's name issued by another provisioner
        alice = await issue(files, "alice")
        assert "no admin" in refused(*await call(step_token(alice, aud)))
        step_of_ops = forge(files, "step", provisioner="ops")
        assert "no admin" in refused(*await call(step_token(step_of_ops, aud)))

        # certificates this CA never issued, or that cannot be used
        foreign = forge(other, "step")
        assert "chain" in refused(*await call(step_token(foreign, aud)))
        expired = forge(files, "step", not_after=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        assert "expired" in refused(*await call(step_token(expired, aud)))
        server_only = forge(files, "step", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
        assert "clientAuth" in refused(*await call(step_token(server_only, aud)))
        no_signing = forge(files, "step", can_sign=False)
        assert "digitalSignature" in refused(*await call(step_token(no_signing, aud)))
        garbage = jose_sign(step.key, {"alg": "ES256", "x5c": ["bm90IGEgY2VydA=="]}, {"aud": aud})
        assert "x5c" in refused(*await call(garbage))
        unknown = forge(files, "step", provisioner="gone")
        assert "gone" in refused(*await call(step_token(unknown, aud)))
        # the forged-but-valid control: the same CA, the right names, works (so the refusals above are
        # each about the one thing that differs)
        assert (await call(step_token(forge(files, "step"), aud)))[0] == 200


async def test_refused_tokens_are_not_spent(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    files = admin_ca(tmp_path)
    async with in_process_ca(files, PLUGINS) as a:
        call = Caller(files, session)
        step = await issue(files, "step")
        await add_admin(a.storage, "carl", "admin")
        carl = await issue(files, "carl")
        token = step_token(carl, files.url + SUDO)
        assert "super admin" in refused(*await call(token, SUDO, "POST"), "forbidden", 403)
        # carl becomes a super admin: the very token that was refused now works (it was not burnt)
        await a.storage.execute("UPDATE admins SET type = 'SUPER_ADMIN' WHERE subject = 'carl'")
        status, body = await call(token, SUDO, "POST")
        assert status == 200 and body["subject"] == "carl", body
        # a plain admin reaches the endpoints for any admin
        assert (await call(step_token(carl, files.url + WHOAMI)))[0] == 200
        assert (await call(step_token(step, files.url + WHOAMI)))[0] == 200


async def test_admin_api_disabled_is_501(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    files = admin_ca(tmp_path)
    async with in_process_ca(files, PLUGINS):
        step = await issue(files, "step")
    files.update_config(enableAdmin=False)
    async with in_process_ca(files, PLUGINS):
        call = Caller(files, session)
        msg = refused(*await call(step_token(step, files.url + WHOAMI)), "notImplemented", 501)
        assert msg == "administration API not enabled"
        refused(*await call(None), "notImplemented", 501)


async def test_admin_client(tmp_path: Path) -> None:
    """plica.admin.AdminClient (what `plica acme eab --admin-cert` uses) against the real server."""
    files = admin_ca(tmp_path)
    async with in_process_ca(files, PLUGINS):
        step = await issue(files, "step")
        client = AdminClient(files.url, files.root, step)
        body = await asyncio.to_thread(client.request, "GET", WHOAMI)
        assert body["subject"] == "step"
        with pytest.raises(CAClientError) as e:
            await asyncio.to_thread(
                AdminClient(files.url, files.root, forge(files, "zed")).request, "GET", WHOAMI
            )
        assert e.value.status == 401 and "no admin" in e.value.message
    other_key = tmp_path / "other.key"
    other_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="does not belong"):
        AdminCredentials.load(tmp_path / "step-admin.crt", other_key)


def test_plica_admin_cli(tmp_path: Path) -> None:
    files = admin_ca(tmp_path)
    block, _ = new_jwk_provisioner("ops")
    files.add_provisioner(block)
    env = files.env()

    def run(*args: str) -> Any:
        return plica_cli("admin", *args, "--home", str(files.home), env=env)

    r = run("list", "--json")
    assert r.returncode == 0, r.stderr
    assert [(a["subject"], a["provisioner"], a["type"]) for a in orjson.loads(r.stdout)] == [
        ("step", "admin", "SUPER_ADMIN")
    ]
    assert run("add", "carl", "admin").returncode == 0
    assert run("add", "carl", "ops", "--super").returncode == 0
    dup = run("add", "carl", "admin")
    assert dup.returncode != 0 and "already exists" in dup.stderr
    nope = run("add", "dave", "missing")
    assert nope.returncode != 0 and "no provisioner named 'missing'" in nope.stderr
    r = run("list", "--super", "--json")
    assert sorted(a["subject"] for a in orjson.loads(r.stdout)) == ["carl", "step"]
    r = run("list", "--provisioner", "ops")
    assert "carl" in r.stdout and "step" not in r.stdout
    ambiguous = run("remove", "carl")
    assert ambiguous.returncode != 0 and "--provisioner" in ambiguous.stderr
    assert run("remove", "carl", "--provisioner", "admin").returncode == 0
    # step and carl@ops are the super admins: one may go, the last may not
    assert run("remove", "step").returncode == 0
    last = run("remove", "carl")
    assert last.returncode != 0 and "last super admin" in last.stderr
    assert run("remove", "nobody").returncode != 0
    r = run("list", "--json")
    assert [(a["subject"], a["provisioner"]) for a in orjson.loads(r.stdout)] == [("carl", "ops")]

    off = admin_ca(tmp_path / "off", enable=False)
    r = plica_cli("admin", "list", "--home", str(off.home), env=off.env())
    assert r.returncode == 0 and "enableAdmin" in r.stderr and "No admins." in r.stdout


# ------------------------------------------------------------------------------------------- both engines

PG_URL = os.environ.get("PLICA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_listening() -> bool:
    parts = urlsplit(PG_URL)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 5432)) == 0


@pytest.fixture(params=["sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        s = open_storage("sqlite", str(tmp_path / "plica.db"))
        await s.open()
        await s.migrate([])
        yield s
        await s.close()
        return
    asyncpg = pytest.importorskip("asyncpg")
    if not _pg_listening():
        pytest.skip("no PostgreSQL listening")
    name = f"plica_admin_{secrets.token_hex(6)}"
    url = urlunsplit(urlsplit(PG_URL)._replace(path="/" + name))
    s = open_storage("postgresql", url)  # creates the database, as step-ca does
    await s.open()
    await s.migrate([])
    try:
        yield s
    finally:
        await s.close()
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_admins_table(storage: Any) -> None:
    provs = [{"type": "X5C", "name": "x5c"}, {"type": "JWK", "name": "first"}, {"type": "JWK", "name": "b"}]
    made = await asyncio.gather(*(bootstrap(storage, provs) for _ in range(4)))
    assert sum(m is not None for m in made) == 1  # concurrent first starts create one super admin
    assert await bootstrap(storage, provs) is None
    carl = await add_admin(storage, "carl", "b")
    with pytest.raises(AdminError) as e:
        await add_admin(storage, "carl", "b", "SUPER_ADMIN")
    assert e.value.status == 409
    with pytest.raises(AdminError):
        await add_admin(storage, " carl", "b")
    assert (await find_admin(storage, ["x", "carl"], "b")) == carl
    assert await find_admin(storage, ["carl"], "first") is None
    step = await find_admin(storage, ["step"], "first")
    assert step is not None and step.is_super
    with pytest.raises(AdminError, match="last super admin"):
        await remove_admin(storage, step.id)
    await remove_admin(storage, carl.id)
    with pytest.raises(AdminError) as e:
        await remove_admin(storage, carl.id)
    assert e.value.status == 404
    assert [a.subject for a in await list_admins(storage)] == ["step"]
