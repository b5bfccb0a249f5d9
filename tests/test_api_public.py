"""The HTTP API of docs/reference/wire.md §3 through the real server: the public GET endpoints, /provisioners
pagination, and hostile bodies sent to every POST endpoint (never a 500).

One CA serves the whole module; each test leaves it usable for the next. Every refusal is checked for
step's status and error shape, and — where a request could have written something — for an unchanged
database.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from plica.testing import Api, db_counts, in_process_ca, make_ca, new_jwk_provisioner, pem_cert

from .api_helpers import Env, api_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with api_env(tmp_path_factory) as e:
        yield e


def fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# ============================================================================ public GET endpoints


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_health_and_version(env: Env, prefix: str) -> None:
    r = await env.api.get(prefix + "/health")
    assert r.status == 200 and r.json == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json") and r.raw.endswith(b"\n")
    r = await env.api.get(prefix + "/version")
    assert r.status == 200
    assert set(r.json) == {"version"} and r.json["version"]  # requireClientAuthentication omitted when false


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_roots_federation_intermediates(env: Env, prefix: str) -> None:
    root = x509.load_pem_x509_certificate(env.files.root.read_bytes())
    inter = x509.load_pem_x509_certificate(env.files.intermediate.read_bytes())
    r = await env.api.get(prefix + "/roots")
    assert r.status == 201 and set(r.json) == {"crts"}
    assert [fp(pem_cert(c)) for c in r.json["crts"]] == [fp(root)]
    r = await env.api.get(prefix + "/roots.pem")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    assert [fp(c) for c in x509.load_pem_x509_certificates(r.raw)] == [fp(root)]
    r = await env.api.get(prefix + "/federation")
    assert r.status == 201
    assert [fp(pem_cert(c)) for c in r.json["crts"]] == [fp(root), fp(env.federated)]
    r = await env.api.get(prefix + "/intermediates")
    assert r.status == 201 and [fp(pem_cert(c)) for c in r.json["crts"]] == [fp(inter)]
    r = await env.api.get(prefix + "/intermediates.pem")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    assert [fp(c) for c in x509.load_pem_x509_certificates(r.raw)] == [fp(inter)]


@pytest.mark.parametrize("prefix", ["", "/1.0"])
async def test_root_by_fingerprint_normalises_dashes_and_case(env: Env, prefix: str) -> None:
    root = x509.load_pem_x509_certificate(env.files.root.read_bytes())
    sha = fp(root)
    assert sha == env.files.fingerprint
    dashed_upper = "-".join(sha[i : i + 8] for i in range(0, 64, 8)).upper()
    for form in (sha, sha.upper(), dashed_upper):
        r = await env.api.get(f"{prefix}/root/{form}")
        assert r.status == 200, form
        assert fp(pem_cert(r.json["ca"])) == sha
    # Federated roots are found too.
    r = await env.api.get(f"{prefix}/root/{fp(env.federated)}")
    assert r.status == 200 and fp(pem_cert(r.json["ca"])) == fp(env.federated)
    missing = hashlib.sha256(b"not a root").hexdigest()
    r = await env.api.get(f"{prefix}/root/{missing.upper()}")
    assert r.status == 404
    assert missing in r.error()["message"]


async def test_ssh_roots_and_federation(env: Env) -> None:
    certs = env.files.home / "certs"
    user = (certs / "ssh_user_ca_key.pub").read_text().split()[1]
    host = (certs / "ssh_host_ca_key.pub").read_text().split()[1]
    for path in ("/ssh/roots", "/1.0/ssh/roots", "/ssh/federation", "/1.0/ssh/federation"):
        r = await env.api.get(path)
        assert r.status == 200 and r.json == {"userKey": [user], "hostKey": [host]}, path


@pytest.mark.parametrize(
    "path",
    ["/health", "/version", "/roots", "/roots.pem", "/federation", "/intermediates", "/intermediates.pem",
     "/provisioners", "/capabilities", "/ssh/roots", "/ssh/federation"],
)  # fmt: skip
async def test_head_answers_every_get(env: Env, path: str) -> None:
    for prefix in ("", "/1.0"):
        get = await env.api.get(prefix + path)
        head = await env.api.call("HEAD", prefix + path)
        assert head.status == get.status and head.raw == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]


async def test_request_id_is_echoed_or_generated(env: Env) -> None:
    r = await env.api.get("/health", headers={"X-Request-Id": "req-42"})
    assert r.headers["X-Request-Id"] == "req-42"
    r = await env.api.get("/health", headers={"X-Smallstep-Id": "legacy-7"})
    assert r.headers["X-Request-Id"] == "legacy-7"
    a = (await env.api.get("/health")).headers["X-Request-Id"]
    b = (await env.api.get("/health")).headers["X-Request-Id"]
    assert a and b and a != b
    # Errors carry it too.
    r = await env.api.post("/sign", {}, headers={"X-Request-Id": "req-err"})
    assert r.status == 400 and r.headers["X-Request-Id"] == "req-err"


async def test_unknown_path_is_a_json_404(env: Env) -> None:
    r = await env.api.get("/no/such/thing")
    assert r.status == 404
    r.error()


async def test_provisioners_list_and_encrypted_key(env: Env) -> None:
    for prefix in ("", "/1.0"):
        r = await env.api.get(prefix + "/provisioners")
        assert r.status == 200 and set(r.json) == {"provisioners", "nextCursor"}
        assert r.json["nextCursor"] == ""
        want = env.files.config()["authority"]["provisioners"]
        assert r.json["provisioners"] == want  # ca.json blocks as they are, encryptedKey included (§10.5)
    admin = next(p for p in want if p["name"] == "admin")
    r = await env.api.get(f"/provisioners/{admin['key']['kid']}/encrypted-key")
    assert r.status == 200 and r.json == {"key": admin["encryptedKey"]}
    r = await env.api.get(f"/1.0/provisioners/{env.provs['rsa'].kid}/encrypted-key")
    assert r.status == 404  # published without an encrypted key
    r.error()
    r = await env.api.get("/provisioners/no-such-kid/encrypted-key")
    assert r.status == 404
    r.error()


@pytest.mark.parametrize("limit", ["x", "1.5", "ten"])
async def test_provisioners_limit_must_be_an_integer(env: Env, limit: str) -> None:
    r = await env.api.get(f"/provisioners?limit={limit}")
    assert r.status == 400
    assert f"limit '{limit}' is not an integer" in r.error()["message"]


async def test_capabilities_lists_jwk(env: Env) -> None:
    r = await env.api.get("/capabilities")
    assert r.status == 200
    rows = {row["type"]: row for row in r.json["provisionerTypes"]}
    assert rows["JWK"]["distribution"] == "plica-jwk"
    assert rows["JWK"]["capabilities"] == [
        "x509-sign", "x509-renew", "x509-revoke", "ssh-user-cert-sign", "ssh-host-cert-sign", "ssh-revoke",
    ]  # fmt: skip
    idents = {row["identifier"]: row["columns"] for row in r.json["identifierTypes"]}
    assert idents["ip-address"]["JWK"] is True


# ============================================================================ /provisioners pagination


@define
class Paged:
    api: Api
    names: list[str]
    uids: list[str]


def step_uid(index: int, pid: str) -> str:
    """docs/reference/wire.md §10.7: hex(SHA-1(id)) with its first 4 bytes replaced by the big-endian insertion index."""
    digest = bytearray(hashlib.sha1(pid.encode()).digest())
    digest[:4] = index.to_bytes(4, "big")
    return digest.hex()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def paged(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Paged]:
    files = make_ca(tmp_path_factory.mktemp("paged"), ssh=False)
    cfg = files.config()
    for i in range(104):
        block, _ = new_jwk_provisioner(f"p{i:03d}")
        cfg["authority"]["provisioners"].append(block)
    files.write_config(cfg)
    blocks = cfg["authority"]["provisioners"]
    # step's JWK id is "<name>:<kid>"; the uid orders the list and makes the cursor.
    uids = [step_uid(i, f"{b['name']}:{b['key']['kid']}") for i, b in enumerate(blocks)]
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        yield Paged(api=Api(files, session), names=[b["name"] for b in blocks], uids=uids)


async def test_provisioners_default_page_is_20(paged: Paged) -> None:
    assert len(paged.names) == 105
    for q in ("", "?limit=0", "?limit=-3", "?limit=", "?cursor="):
        r = await paged.api.get("/provisioners" + q)
        assert r.status == 200, q
        assert [p["name"] for p in r.json["provisioners"]] == paged.names[:20], q
        assert r.json["nextCursor"] == paged.uids[20].lstrip("0"), q


async def test_provisioners_limit_is_capped_at_100(paged: Paged) -> None:
    r = await paged.api.get("/1.0/provisioners?limit=1000")
    assert [p["name"] for p in r.json["provisioners"]] == paged.names[:100]
    assert r.json["nextCursor"] == paged.uids[100].lstrip("0")
    r = await paged.api.get("/provisioners?limit=7")
    assert len(r.json["provisioners"]) == 7 and r.json["nextCursor"] == paged.uids[7].lstrip("0")


async def test_provisioners_cursor_walk_sees_each_once(paged: Paged) -> None:
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        r = await paged.api.get(f"/provisioners?limit=25&cursor={cursor}")
        assert r.status == 200
        seen += [p["name"] for p in r.json["provisioners"]]
        cursor = r.json["nextCursor"]
        pages += 1
        if not cursor:
            break
    assert seen == paged.names and pages == 5
    # A cursor is left-padded to 40 hex digits, so its leading zeros may be given or not.
    padded = paged.uids[42]
    for c in (padded, padded.lstrip("0")):
        r = await paged.api.get(f"/provisioners?limit=3&cursor={c}")
        assert [p["name"] for p in r.json["provisioners"]] == paged.names[42:45]
    # A cursor past the end gives an empty last page.
    r = await paged.api.get("/provisioners?cursor=" + "f" * 40)
    assert r.json == {"provisioners": [], "nextCursor": ""}


# ============================================================================ hostile bodies: never a 500

POSTS = ["/sign", "/renew", "/rekey", "/revoke", "/ssh/sign", "/ssh/renew", "/ssh/rekey", "/ssh/revoke",
         "/ssh/check-host", "/sign-ssh", "/re-sign"]  # fmt: skip
HOSTILE: list[Any] = [
    {"csr": 5, "ott": 5},
    {"csr": ["x"], "ott": {"a": 1}},
    {"csr": "-----BEGIN CERTIFICATE REQUEST-----\n\n-----END CERTIFICATE REQUEST-----\n", "ott": "a.b.c"},
    {"ott": "e30.e30.AA", "csr": None, "notBefore": {}, "notAfter": []},
    {"serial": 5, "reasonCode": "1", "passive": "true", "ott": 1},
    {"serial": "0x", "passive": True, "reasonCode": True},
    {"serial": "-1", "passive": True, "ott": "x"},
    {"serial": "9" * 400, "passive": True, "ott": "x"},
    {"publicKey": 5, "ott": 5, "principals": "root", "certType": 1},
    {"publicKey": "AAAA", "ott": "x.y.z", "validAfter": 5, "validBefore": {}, "keyID": []},
    {"publicKey": "AAAAC3NzaC1lZDI1NTE5AAAAIA==", "ott": "x"},
    {"type": 5, "principal": ["a"]},
    {"type": "host", "principal": 5},
    {"templateData": "x", "csr": "x", "ott": "x"},
    {"\u0000": "\ud7ff", "csr": "\u0000"},
]


@pytest.mark.parametrize("path", POSTS)
async def test_hostile_bodies_get_a_4xx_and_store_nothing(env: Env, path: str) -> None:
    before = db_counts(env.files)
    for body in HOSTILE:
        r = await env.api.post(path, body)
        assert 400 <= r.status < 500 or r.status == 501, (path, body, r.raw)
        r.error()
    for raw in (b"\xff\xfe", b"{" * 5000, b"null", b"1e999", b'{"csr": "' + "é".encode() * 10 + b'"}'):
        r = await env.api.call("POST", path, data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= r.status < 500, (path, raw[:20], r.raw)
        r.error()
    assert db_counts(env.files) == before
