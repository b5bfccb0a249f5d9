"""The EAB admin endpoints (`/admin/acme/eab/...`, docs/reference/wire.md §6) with real admin tokens: an admin certificate
from `plica certificate step ... --provisioner admin` (the first JWK provisioner, whose `step` is the super
admin created on first start), tokens made by `plica.admin`, and the keys they create used by real ACME
clients (lego with `--eab --kid --hmac`, and the protocol test client).

The end-to-end test runs `plica start` and talks to it with curl (raw HTTP), `plica acme eab
--admin-cert/--admin-key` (the remote CLI) and lego. Debian packages: curl, lego.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
import pytest

from plica.api import AdminCredentials, b64url_decode, b64url_encode
from plica.testing import CAFiles, admin_token, ca_process, client_context, in_process_ca, make_ca
from plica_acme.store import EAB_PURPOSE

from .acme_helpers.acme_test_ca import client, set_block
from .acme_helpers.acme_test_peers import clean_env, run, sans, verify_chain

EAB = "/admin/acme/eab"


def plica(files: CAFiles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args], capture_output=True, text=True, env=files.env(), timeout=60
    )


def admin_certificate(files: CAFiles) -> tuple[Path, Path]:
    crt, key = files.home.parent / "admin.crt", files.home.parent / "admin.key"
    r = plica(files, "certificate", "step", str(crt), str(key), "--provisioner", "admin",
              "--password-file", str(files.password_file))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return crt, key


async def admin_certificate_async(files: CAFiles) -> AdminCredentials:
    """The same, without blocking the event loop that serves an in-process CA."""
    crt, key = files.home.parent / "admin.crt", files.home.parent / "admin.key"
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plica", "certificate", "step", str(crt), str(key), "--provisioner", "admin",
        "--password-file", str(files.password_file), env=files.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await p.communicate()
    assert p.returncode == 0, (out + err).decode()
    return AdminCredentials.load(crt, key)


def eab_ca(acme_ca: CAFiles) -> CAFiles:
    acme_ca.update_config(enableAdmin=True)
    set_block(acme_ca, requireEAB=True)
    return acme_ca


# ------------------------------------------------------------------------------------------- end to end


def curl(
    files: CAFiles, creds: AdminCredentials, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    token = admin_token(creds, files.url + path.split("?")[0])
    cmd = ["curl", "--silent", "--show-error", "--max-time", "20", "--cacert", str(files.root),
           "-X", method, "-H", f"Authorization: {token}", "-w", "\n%{http_code}", files.url + path]  # fmt: skip
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data", orjson.dumps(body).decode()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text, _, code = out.stdout.rpartition("\n")
    return int(code), orjson.loads(text)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("lego") is None or shutil.which("curl") is None, reason="needs lego and curl"
)
def test_admin_api_keys_for_lego(acme_ca: CAFiles, ports: dict[str, int], tmp_path: Path) -> None:
    files = eab_ca(acme_ca)
    with ca_process(files):
        crt, key = admin_certificate(files)
        creds = AdminCredentials.load(crt, key)
        remote = [
            "--admin-cert",
            str(crt),
            "--admin-key",
            str(key),
            "--ca-url",
            files.url,
            "--root",
            str(files.root),
        ]

        status, body = curl(files, creds, "GET", f"{EAB}/acme")
        assert (status, body) == (200, {"eaks": [], "nextCursor": ""})
        # the remote CLI creates a key through POST /admin/acme/eab/acme
        r = plica(files, "acme", "eab", "add", "acme", "team-a", "--json", *remote)
        assert r.returncode == 0, r.stderr
        made = orjson.loads(r.stdout)
        assert made["reference"] == "team-a" and len(b64url_decode(made["hmacKey"])) == 32
        # curl creates another one and sees the wire form: 201, std-base64 hmacKey, RFC 3339 createdAt
        status, other = curl(files, creds, "POST", f"{EAB}/acme", {"reference": "team-b"})
        assert status == 201, other
        assert len(base64.b64decode(other["hmacKey"], validate=True)) == 32
        assert other["createdAt"].endswith("Z") and other["boundAt"] is None and other["account"] == ""

        lego_dir = tmp_path / "lego"
        # --kid=... : a random key id may start with "-", which lego would take for a flag
        out = run(
            ["lego", "--server", f"{files.url}/acme/acme/directory", "--email", "ops@plica.test", "--accept-tos",
             "--path", str(lego_dir), "--eab", f"--kid={made['id']}", f"--hmac={made['hmacKey']}",
             "--domains", "eab.plica.test", "--http", "--http.port", f"127.0.0.1:{ports['http']}", "run"],
            clean_env(LEGO_CA_CERTIFICATES=str(files.root)),
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        cert = verify_chain(files, lego_dir / "certificates" / "eab.plica.test.crt")
        assert sans(cert) == ["eab.plica.test"]

        # the key is bound now: GET by reference shows the account, never the HMAC key
        status, body = curl(files, creds, "GET", f"{EAB}/acme/team-a")
        assert status == 200, body
        (bound,) = body["eaks"]
        assert bound["id"] == made["id"] and bound["account"] and bound["boundAt"].endswith("Z")
        assert bound["hmacKey"] == ""
        # a second account cannot use the bound key
        again = run(
            ["lego", "--server", f"{files.url}/acme/acme/directory", "--email", "dev@plica.test", "--accept-tos",
             "--path", str(tmp_path / "lego2"), "--eab", f"--kid={made['id']}", f"--hmac={made['hmacKey']}",
             "--domains", "again.plica.test", "--http", "--http.port", f"127.0.0.1:{ports['http']}", "run"],
            clean_env(LEGO_CA_CERTIFICATES=str(files.root)),
        )  # fmt: skip
        assert again.returncode != 0 and "already bound" in again.stdout + again.stderr

        listed = plica(files, "acme", "eab", "list", "acme", "--json", *remote)
        assert listed.returncode == 0, listed.stderr
        assert {k["reference"]: bool(k["account"]) for k in orjson.loads(listed.stdout)} == {
            "team-a": True, "team-b": False,
        }  # fmt: skip
        r = plica(files, "acme", "eab", "remove", "acme", other["id"], *remote)
        assert r.returncode == 0, r.stderr
        gone = plica(files, "acme", "eab", "remove", "acme", other["id"], *remote)
        assert gone.returncode != 0 and "not found" in gone.stderr
        status, body = curl(files, creds, "DELETE", f"{EAB}/acme/{made['id']}")
        assert (status, body) == (200, {"status": "ok"})
        assert curl(files, creds, "GET", f"{EAB}/acme")[1]["eaks"] == []
        # refusals reach the CLI with the CA's reason
        wrong = plica(files, "acme", "eab", "list", "admin", *remote)
        assert wrong.returncode != 0 and "not an ACME provisioner" in wrong.stderr


# ------------------------------------------------------------------------------------------- in process


class Admin:
    def __init__(self, files: CAFiles, session: aiohttp.ClientSession, creds: AdminCredentials) -> None:
        self.files, self.session, self.creds, self.ctx = files, session, creds, client_context(files)

    async def __call__(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        token = token if token is not None else admin_token(self.creds, self.files.url + path.split("?")[0])
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        async with self.session.request(
            method, self.files.url + path, data=data, headers={"Authorization": token}, ssl=self.ctx
        ) as r:
            return r.status, orjson.loads(await r.read())


def admin_error(reply: tuple[int, Any], status: int, kind: str) -> str:
    code, body = reply
    assert code == status, reply
    assert set(body) == {"type", "detail", "message"} and body["type"] == kind, body
    return str(body["message"])


PG_URL = os.environ.get("PLICA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_ca(request: pytest.FixtureRequest, acme_ca: CAFiles) -> AsyncIterator[CAFiles]:
    """The ACME CA on SQLite, and on a database of its own on PostgreSQL (skipped when none listens)."""
    if request.param == "sqlite":
        yield acme_ca
        return
    asyncpg = pytest.importorskip("asyncpg")
    parts = urlsplit(PG_URL)
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 5432)) != 0:
            pytest.skip("no PostgreSQL listening")
    name = f"plica_eab_{secrets.token_hex(6)}"
    cfg = acme_ca.config()
    cfg["db"] = {"type": "postgresql", "dataSource": urlunsplit(parts._replace(path="/" + name))}
    acme_ca.write_config(cfg)  # the CA creates the database on start
    try:
        yield acme_ca
    finally:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_endpoints(engine_ca: CAFiles, session: aiohttp.ClientSession) -> None:
    files = eab_ca(engine_ca)
    files.add_provisioner({"type": "ACME", "name": "open"})  # no requireEAB
    files.add_provisioner({"type": "ACME", "name": "team", "requireEAB": True})
    async with in_process_ca(files) as authority:
        assert authority.storage.engine == files.config().get("db", {}).get("type", "sqlite")
        call = Admin(files, session, await admin_certificate_async(files))

        # create: 201 with the key; the CA stored it sealed with its own key (issue 17.6), never in the clear
        status, key = await call("POST", f"{EAB}/acme", {"reference": "r-1"})
        assert status == 201, key
        assert set(key) == {
            "id",
            "hmacKey",
            "provisioner",
            "reference",
            "account",
            "createdAt",
            "boundAt",
            "policy",
        }
        secret = base64.b64decode(key["hmacKey"], validate=True)
        row = await authority.storage.fetch_one(
            "SELECT hmac_key FROM acme_eab_keys WHERE id = ?", (key["id"],)
        )
        assert row is not None and row[0].startswith("s1.")
        assert b64url_encode(secret) not in row[0]
        opened = authority.sealer(EAB_PURPOSE).open(row[0], key["id"])
        assert b64url_decode(opened.decode()) == secret
        status, no_ref = await call("POST", f"{EAB}/acme", raw=b"")  # an empty body: no reference
        assert status == 201 and no_ref["reference"] == ""

        # the created key registers an ACME account
        c = client(files, session)
        await c.directory()
        r = await c.register(externalAccountBinding=c.eab(key["id"], secret))
        assert r.status == 201, r.body
        status, body = await call("GET", f"{EAB}/acme/r-1")
        assert status == 200 and body["eaks"][0]["account"] == c.kid.rsplit("/", 1)[1], body

        # bad requests
        assert "already exists" in admin_error(
            await call("POST", f"{EAB}/acme", {"reference": "r-1"}), 409, "conflict"
        )
        assert "256" in admin_error(
            await call("POST", f"{EAB}/acme", {"reference": "x" * 257}), 400, "badRequest"
        )
        assert (await call("POST", f"{EAB}/acme", {"reference": "y" * 256}))[0] == 201
        admin_error(await call("POST", f"{EAB}/acme", {"reference": 7}), 400, "badRequest")
        admin_error(await call("POST", f"{EAB}/acme", raw=b"{not json"), 400, "badRequest")
        admin_error(await call("POST", f"{EAB}/acme", raw=b"[]"), 400, "badRequest")
        assert "not enabled" in admin_error(await call("GET", f"{EAB}/open"), 400, "badRequest")
        assert "not enabled" in admin_error(await call("POST", f"{EAB}/open", {}), 400, "badRequest")
        assert "not an ACME" in admin_error(await call("GET", f"{EAB}/admin"), 400, "badRequest")
        admin_error(await call("GET", f"{EAB}/nobody"), 404, "notFound")
        admin_error(await call("GET", f"{EAB}/acme/no-such-reference"), 404, "notFound")
        admin_error(await call("DELETE", f"{EAB}/acme/no-such-id"), 404, "notFound")
        # a key of another provisioner is not found under this one
        status, theirs = await call("POST", f"{EAB}/team", {"reference": "r-1"})
        assert status == 201 and theirs["provisioner"] == "team", theirs
        admin_error(await call("DELETE", f"{EAB}/acme/{theirs['id']}"), 404, "notFound")
        assert (await call("GET", f"{EAB}/team/r-1"))[1]["eaks"][0]["id"] == theirs["id"]

        # tokens: none, for another endpoint, replayed
        admin_error(await call("GET", f"{EAB}/acme", token=""), 401, "unauthorized")
        wrong = admin_token(call.creds, files.url + f"{EAB}/other")
        assert "audience" in admin_error(await call("GET", f"{EAB}/acme", token=wrong), 401, "unauthorized")
        once = admin_token(call.creds, files.url + f"{EAB}/acme")
        assert (await call("GET", f"{EAB}/acme", token=once))[0] == 200
        assert "already used" in admin_error(
            await call("GET", f"{EAB}/acme", token=once), 401, "unauthorized"
        )

        # pagination: a cursor to the next page, every key exactly once (ordered by creation second, then id)
        for i in range(4):
            assert (await call("POST", f"{EAB}/acme", {"reference": f"p-{i}"}))[0] == 201
        seen: list[str] = []
        cursor = ""
        while True:
            status, page = await call("GET", f"{EAB}/acme?limit=2" + (f"&cursor={cursor}" if cursor else ""))
            assert status == 200 and len(page["eaks"]) <= 2, page
            assert all(k["hmacKey"] == "" for k in page["eaks"])
            seen += [k["reference"] for k in page["eaks"]]
            cursor = page["nextCursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(["r-1", "", "y" * 256, "p-0", "p-1", "p-2", "p-3"])
        admin_error(await call("GET", f"{EAB}/acme?cursor=gone"), 400, "badRequest")
        admin_error(await call("GET", f"{EAB}/acme?limit=many"), 400, "badRequest")

        # delete
        assert await call("DELETE", f"{EAB}/acme/{key['id']}") == (200, {"status": "ok"})
        admin_error(await call("DELETE", f"{EAB}/acme/{key['id']}"), 404, "notFound")
        admin_error(await call("GET", f"{EAB}/acme/r-1"), 404, "notFound")


async def test_admin_api_off_is_501(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    files = make_ca(tmp_path)
    files.add_provisioner({"type": "ACME", "name": "acme", "requireEAB": True})
    files.update_config(enableAdmin=True)
    async with in_process_ca(files):
        creds = await admin_certificate_async(files)
    files.update_config(enableAdmin=False)
    async with in_process_ca(files):
        call = Admin(files, session, creds)
        for method, path in (("GET", f"{EAB}/acme"), ("POST", f"{EAB}/acme"), ("DELETE", f"{EAB}/acme/x")):
            msg = admin_error(await call(method, path, {}), 501, "notImplemented")
            assert msg == "administration API not enabled"
