"""One-time tokens (docs/reference/wire.md §4): `plica.tokens` on its own, then every way a token can be wrong, sent to
the real server — each must be a 401 (403 for a good token asking too much) and write nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from attrs import define
from hypothesis import given, settings
from hypothesis import strategies as st

from plica.errors import Unauthorized
from plica.snapshot import build_audiences
from plica.testing import (
    Api,
    CAFiles,
    ProvKey,
    admin_key,
    b64url,
    b64url_decode,
    csr_fingerprint,
    csr_pem,
    db_counts,
    ec_key,
    in_process_ca,
    make_ca,
    make_csr,
    new_jwk_provisioner,
    tamper_payload,
)
from plica.tokens import LEEWAY, Token, has_nul, may_hold_nul, normalize_audience, token_sans


def compact(header: dict[str, Any], claims: dict[str, Any], sig: bytes = b"sig") -> str:
    return f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}.{b64url(sig)}"


# ============================================================================ plica.tokens


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.AA",
        f"{b64url(b'[1]')}.{b64url(b'{}')}.AA",
        f"{b64url(b'{}')}.{b64url(b'{}')}.AA",  # no alg
        b64url(b'{"alg": 1}') + "." + b64url(b"{}") + ".AA",
        b64url(b'{"alg": "ES256"}') + "." + b64url(b"not json") + ".AA",
        "x" * (64 * 1024 + 1),
    ],
)
def test_malformed_tokens_are_unauthorized(raw: str) -> None:
    with pytest.raises(Unauthorized):
        Token.parse(raw)


def test_parse_reads_header_claims_and_hash_id() -> None:
    raw = compact({"alg": "ES256", "kid": "k"}, {"sub": "s", "iss": "i", "aud": ["a", "b"]})
    t = Token.parse(raw)
    assert t.header["kid"] == "k" and t.subject == "s" and t.issuer == "i"
    assert t.audiences == ["a", "b"]
    assert t.signing_input == raw.rsplit(".", 1)[0].encode()
    assert t.hash_id() == hashlib.sha256(raw.encode()).hexdigest()  # step's fallback token id
    assert Token.parse(compact({"alg": "x"}, {"aud": "one"})).audiences == ["one"]
    assert Token.parse(compact({"alg": "x"}, {})).subject == ""
    # A registered claim of the wrong JSON type is refused where the token is parsed (as go-jose does).
    for claims in ({"aud": ["a", 5]}, {"sub": 3}, {"sans": "x"}, {"step": {"ssh": {"principals": [1]}}}):
        with pytest.raises(Unauthorized, match="must"):
            Token.parse(compact({"alg": "x"}, claims))


def test_check_times_has_one_minute_of_leeway() -> None:
    now = 1_700_000_000.0

    def tok(**claims: Any) -> Token:
        return Token.parse(compact({"alg": "ES256"}, claims))

    assert LEEWAY == 60
    tok(exp=now - 59).check_times(now=now)
    with pytest.raises(Unauthorized, match="expired"):
        tok(exp=now - 61).check_times(now=now)
    tok(exp=now + 300, nbf=now + 59).check_times(now=now)
    with pytest.raises(Unauthorized, match="not valid yet"):
        tok(exp=now + 300, nbf=now + 61).check_times(now=now)
    with pytest.raises(Unauthorized, match="future"):
        tok(exp=now + 300, iat=now + 61).check_times(now=now)
    with pytest.raises(Unauthorized, match="expiry"):
        tok(nbf=now).check_times(now=now)
    tok(nbf=now).check_times(now=now, require_exp=False)
    for bad in ("soon", True, [1]):
        with pytest.raises(Unauthorized, match="number"):
            tok(exp=bad).check_times(now=now)


def test_audiences_match_without_ports_and_with_fragments() -> None:
    aud = build_audiences(["ca.example", "10.0.0.1", "::1"])
    assert "step-certificate-authority" in aud.sign and "step-certificate-authority" in aud.revoke
    assert "step-certificate-authority" not in aud.renew
    for a in ("https://ca.example/sign", "https://ca.example/1.0/sign", "https://[::1]/1.0/ssh/sign"):
        assert a in aud.sign
    assert {"https://10.0.0.1/sign", "https://10.0.0.1/1.0/ssh/sign"} <= aud.ssh_sign
    assert aud.ssh_revoke == {
        f"https://{h}{p}/ssh/revoke" for h in ("ca.example", "10.0.0.1", "[::1]") for p in ("", "/1.0")
    }

    def t(a: Any) -> Token:
        return Token.parse(compact({"alg": "x"}, {"aud": a}))

    t("https://ca.example:9000/1.0/sign").check_audience(aud.sign)
    t(["https://nope/sign", "https://[::1]:443/sign"]).check_audience(aud.sign)
    t("step-certificate-authority").check_audience(aud.sign)
    with pytest.raises(Unauthorized):
        t("https://ca.example:9000/1.0/renew").check_audience(aud.sign)
    with pytest.raises(Unauthorized):
        t("https://evil.example/1.0/sign").check_audience(aud.sign)
    # Fragment-addressed provisioners: the fragment must be the one asked for, and plain ones refuse it.
    t("https://ca.example/1.0/sign#x5c/dev").check_audience(aud.sign, fragment="x5c/dev")
    with pytest.raises(Unauthorized):
        t("https://ca.example/1.0/sign#x5c/prod").check_audience(aud.sign, fragment="x5c/dev")
    with pytest.raises(Unauthorized):
        t("https://ca.example/1.0/sign#x5c/dev").check_audience(aud.sign)
    with pytest.raises(Unauthorized):
        t("https://ca.example/1.0/sign").check_audience(aud.sign, fragment="x5c/dev")
    assert normalize_audience("https://[::1]:8443/1.0/sign") == "https://[::1]/1.0/sign"
    assert normalize_audience("step-certificate-authority") == "step-certificate-authority"


def test_token_sans_default_to_the_subject() -> None:
    assert token_sans({}, "a.example") == ["a.example"]
    assert token_sans({"sans": []}, "a.example") == ["a.example"]
    assert token_sans({"sans": ["b", 7, "", "c"]}, "a") == ["b", "c"]
    assert token_sans({}, "") == []


# ============================================================================ through the server


@define
class Env:
    files: CAFiles
    api: Api
    admin: ProvKey
    stranger: ProvKey
    start_time: float


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    files = make_ca(tmp_path_factory.mktemp("tokens"), ssh=False)
    # A key the CA does not know, under the admin's name and kid: what a forger would use.
    _, stranger = new_jwk_provisioner("admin")
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        admin = admin_key(files)
        stranger.kid = admin.kid
        yield Env(
            files=files,
            api=Api(files, session),
            admin=admin,
            stranger=stranger,
            start_time=authority.start_time,
        )


async def _sign(env: Env, ott: str, cn: str = "tok.example", csr: Any = None) -> Any:
    csr = csr or make_csr(ec_key(), cn, [cn])
    return await env.api.post("/sign", {"csr": csr_pem(csr), "ott": ott})


async def _refused(env: Env, ott: str, status: int = 401, **kw: Any) -> str:
    before = db_counts(env.files)
    r = await _sign(env, ott, **kw)
    assert r.status == status, r.raw
    assert db_counts(env.files) == before
    return r.error()["message"]


def _bad_tokens(env: Env) -> dict[str, str]:
    a, aud, now = env.admin, env.api.aud("/sign"), int(time.time())
    good = a.token("tok.example", aud)
    none_hdr = {"alg": "none", "kid": a.kid, "typ": "JWT"}
    claims = a.claims("tok.example", aud)
    pub_json = orjson.dumps(env.files.config()["authority"]["provisioners"][0]["key"])
    hs_input = f"{b64url(orjson.dumps({'alg': 'HS256', 'kid': a.kid}))}.{b64url(orjson.dumps(claims))}"
    hs_sig = hmac.new(pub_json, hs_input.encode(), hashlib.sha256).digest()
    return {
        "tampered": tamper_payload(good, '"sub":"tok.example"', '"sub":"tok.exampl3"'),
        "expired": a.token("tok.example", aud, exp=now - 2 * LEEWAY),
        "not yet valid": a.token("tok.example", aud, nbf=now + 5 * 60, exp=now + 10 * 60),
        "issued in the future": a.token("tok.example", aud, iat=now + 5 * 60),
        "no expiry": a.token("tok.example", aud, exp=None),
        "wrong audience": a.token("tok.example", "https://ca.elsewhere.example/1.0/sign"),
        "renew audience": a.token("tok.example", env.api.aud("/renew")),
        "wrong issuer": a.token("tok.example", aud, iss="someone-else"),
        "unknown kid": a.sign(a.claims("tok.example", aud), {"kid": "no-such-kid"}),
        "forged signature": env.stranger.token("tok.example", aud),
        "alg none": f"{b64url(orjson.dumps(none_hdr))}.{b64url(orjson.dumps(claims))}.",
        "HS256 with the public key": f"{hs_input}.{b64url(hs_sig)}",
        "alg does not fit key": tamper_alg(good, "ES384"),
        "RS256 header on an EC key": tamper_alg(good, "RS256"),
        "empty subject": a.token("", aud, sans=["tok.example"]),
        "not a JWS": "hello",
    }


def tamper_alg(token: str, alg: str) -> str:
    h, p, s = token.split(".")
    header = orjson.loads(b64url_decode(h))
    header["alg"] = alg
    return f"{b64url(orjson.dumps(header))}.{p}.{s}"


@pytest.mark.parametrize(
    "case",
    ["tampered", "expired", "not yet valid", "issued in the future", "no expiry", "wrong audience",
     "renew audience", "wrong issuer", "unknown kid", "forged signature", "alg none",
     "HS256 with the public key", "alg does not fit key", "RS256 header on an EC key", "empty subject",
     "not a JWS"],
)  # fmt: skip
@pytest.mark.asyncio(loop_scope="module")
async def test_bad_tokens_are_401_and_store_nothing(env: Env, case: str) -> None:
    tok = _bad_tokens(env)[case]
    msg = await _refused(env, tok)
    assert tok not in msg  # explained, not echoed


@pytest.mark.asyncio(loop_scope="module")
async def test_replayed_token_is_401(env: Env) -> None:
    tok = env.admin.token("tok.example", env.api.aud("/sign"))
    r = await _sign(env, tok)
    assert r.status == 201
    assert "already used" in await _refused(env, tok)
    # Another CSR does not make it new.
    assert "already used" in await _refused(env, tok, csr=make_csr(ec_key(), "tok.example", ["tok.example"]))


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    "aud",
    ["step-certificate-authority", "https://127.0.0.1:1/1.0/sign", "https://localhost/sign",
     "https://localhost:443/1.0/ssh/sign"],
)  # fmt: skip
async def test_accepted_audiences(env: Env, aud: str) -> None:
    r = await _sign(env, env.admin.token("tok.example", aud))
    assert r.status == 201, r.raw


@pytest.mark.asyncio(loop_scope="module")
async def test_token_issued_before_start_is_401(env: Env) -> None:
    before_start = int(env.start_time) - 30
    tok = env.admin.token("tok.example", env.api.aud("/sign"), iat=before_start, nbf=before_start)
    assert "before" in await _refused(env, tok)
    # One second of slack, then a token from after the start is fine.
    tok = env.admin.token("tok.example", env.api.aud("/sign"), iat=int(env.start_time) + 1)
    r = await _sign(env, tok)
    assert r.status == 201, r.raw


@pytest.mark.asyncio(loop_scope="module")
async def test_cnf_binds_the_token_to_one_csr(env: Env) -> None:
    key = ec_key()
    csr = make_csr(key, "tok.example", ["tok.example"])
    other = make_csr(key, "tok.example", ["tok.example"])  # same key and names, another signature
    tok = env.admin.token("tok.example", env.api.aud("/sign"), cnf={"x5rt#S256": csr_fingerprint(csr)})
    assert "cnf" in await _refused(env, tok, 403, csr=make_csr(ec_key(), "tok.example", ["tok.example"]))
    assert csr_fingerprint(other) != csr_fingerprint(csr)  # ECDSA signatures are randomised
    assert "cnf" in await _refused(env, tok, 403, csr=other)
    r = await _sign(env, tok, csr=csr)
    assert r.status == 201, r.raw


@pytest.mark.asyncio(loop_scope="module")
async def test_disable_issued_at_check(tmp_path_factory: pytest.TempPathFactory) -> None:
    files = make_ca(tmp_path_factory.mktemp("iat"), ssh=False)
    files.update_config(disableIssuedAtCheck=True)
    now = int(time.time())
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        api = Api(files, session)
        tok = admin_key(files).token("old.example", api.aud("/sign"), iat=now - 3600, nbf=now - 3600)
        csr = make_csr(ec_key(), "old.example", ["old.example"])
        r = await api.post("/sign", {"csr": csr_pem(csr), "ott": tok})
        assert r.status == 201, r.raw


def test_token_claims_as_step_clients_write_them() -> None:
    from plica.tokens import token_claims

    c = token_claims("admin", "a.example", "https://ca/1.0/sign", sans=["a.example"], now=1_000)
    assert c.pop("jti") != token_claims("i", "s", "a")["jti"]
    assert c == {
        "iss": "admin",
        "sub": "a.example",
        "aud": "https://ca/1.0/sign",
        "iat": 1_000,
        "nbf": 1_000,
        "exp": 1_300,
        "sans": ["a.example"],
    }
    c = token_claims("i", "s", "a", sans=[], lifetime=60, extra={"step": {"ssh": {}}, "sub": "other"}, now=5)
    assert "sans" not in c and c["exp"] == 65 and c["sub"] == "other" and c["step"] == {"ssh": {}}
    assert len(c["jti"]) == 64


# ---------------------------------------------------------------------------- NUL scan


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(alphabet=st.sampled_from('ab\x00\\"u0')),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ab\x00u"), inner, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_the_byte_scan_never_passes_what_the_walk_refuses(doc: Any) -> None:
    """`may_hold_nul` on the JSON text lets `check_claims` skip `has_nul`'s walk: it must say "may" for
    every document the walk refuses (NUL anywhere, as orjson and as Python's json write it)."""
    for text in (orjson.dumps(doc), json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False).encode()):
        if has_nul(doc):
            assert may_hold_nul(text), text


def test_tokens_with_a_nul_or_deep_nesting_are_refused() -> None:
    header = b64url(orjson.dumps({"alg": "ES256"}))

    def token(claims: bytes) -> str:
        return f"{header}.{b64url(claims)}.{b64url(b'sig')}"

    for claims in (
        b'{"sub":"a\\u0000b"}',
        b'{"a\\u0000":1}',
        b'{"step":{"ssh":{"principals":["root\\u0000"]}}}',
        b'{"x":' + b"[" * 70 + b"]" * 70 + b"}",
    ):
        with pytest.raises(Unauthorized, match="NUL"):
            Token.parse(token(claims))
    # An escaped backslash before "u0000" is text, not a NUL: the scan says "may", the walk says no.
    assert Token.parse(token(b'{"sub":"a\\\\u0000b"}')).claims["sub"] == "a\\u0000b"
