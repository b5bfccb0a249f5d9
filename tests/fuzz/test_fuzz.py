"""Property-based fuzzing of every route the CA serves (the kernel's and every installed plugin's, found in the
running application): malformed and boundary requests must get an answer below 500, within 5 s, with no
traceback or path in it, and nothing may reach the server's catch-all.

The bounded run (PLICA_FUZZ_EXAMPLES per route, 10 by default: ~1,300 requests) is part of the normal test run;
`tox -e fuzz` sets PLICA_FUZZ_EXAMPLES (and PLICA_FUZZ_DB=postgresql for the PostgreSQL run).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from plica.http.wire import BODIES
from plica.testing import postgres_database

from .fuzz_harness import FuzzCA, RouteInfo, fill_path, fuzz_ca, token_for
from .strategies import (
    acme_payloads,
    claim_sets,
    csr_b64_values,
    hostile_text,
    json_values,
    path_values,
    step_bodies,
)

EXAMPLES = int(os.environ.get("PLICA_FUZZ_EXAMPLES", "10"))
DB = os.environ.get("PLICA_FUZZ_DB", "sqlite")
DUMP = os.environ.get("PLICA_FUZZ_DUMP", "")
PROGRESS = os.environ.get("PLICA_FUZZ_PROGRESS", "")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzCA]:
    tmp = tmp_path_factory.mktemp("fuzz")
    if DB == "postgresql":
        with (
            postgres_database("plica_hostile") as url,
            fuzz_ca(tmp, db={"type": "postgresql", "dataSource": url}) as c,
        ):
            yield c
    else:
        with fuzz_ca(tmp) as c:
            yield c


def tokens(ca: FuzzCA, route: RouteInfo) -> st.SearchStrategy[str]:
    aud = ca.url("/1.0" + route.kernel_path)
    signed = st.builds(lambda c: token_for(ca.jwk, c), claim_sets(ca.jwk, aud))
    crit = st.builds(lambda c: token_for(ca.jwk, c, {"crit": ["exp"]}), claim_sets(ca.jwk, aud))
    # Tokens for the other token-based types (X5C, SSHPOP, ...): their issuer, and the header each reads
    # (a certificate chain, an SSH certificate) holding hostile values; the JWK key signs (its signature
    # is checked after the header is parsed, which is what this reaches).
    other = st.builds(
        lambda c, iss, hname, hval: token_for(ca.jwk, _with_iss(c, iss), {hname: hval}),
        claim_sets(ca.jwk, aud),
        st.sampled_from(["x5c", "sshpop", "acme", "scep", "nobody"]),
        st.sampled_from(["x5c", "x5cInsecure", "sshpop", "nebula", "kid", "jwk"]),
        st.one_of(json_values(), st.lists(hostile_text(), max_size=3), csr_b64_values()),
    )
    return st.one_of(signed, signed, crit, other, hostile_text(), st.just("é.é.é"), st.just("a.b.c"))


def _with_iss(claims: bytes, iss: str) -> bytes:
    c = json.loads(claims)
    if isinstance(c, dict):
        c["iss"] = iss
    return json.dumps(c).encode()


def header_value(s: str) -> bytes:
    return s.replace("\r", "").replace("\n", "").encode("utf-8", "surrogatepass")


@st.composite
def requests(
    draw: st.DrawFn, ca: FuzzCA, route: RouteInfo
) -> tuple[str, str, bytes | None, dict[str, Any], bool]:
    """(method, path with query, body, headers, whether the body is an ACME payload still to sign)."""
    path = fill_path(route, {p: draw(path_values(p)) for p in route.params})
    # step's paging, and SCEP's GET (operation=GetCACert|PKIOperation&message=<base64>)
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "cursor", "operation", "message", "x"]), hostile_text(), max_size=2
        )
    )
    if query:
        path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    headers: dict[str, Any] = {}
    body: bytes | None = None
    acme = "/acme/" in route.path and route.method == "POST"
    acme_sign = False
    if route.kernel_path in BODIES and route.method == "POST":
        fields = draw(step_bodies(route.kernel_path, tokens(ca, route)))
        body = json.dumps(fields, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    elif acme:
        headers["Content-Type"] = "application/jose+json"
        if draw(st.integers(0, 4)):
            # Signed in the test with a fresh nonce (a request to the CA), not here inside the strategy.
            body = draw(acme_payloads())
            acme_sign = True
        else:
            body = json.dumps(draw(json_values())).encode()
    elif route.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = json.dumps(draw(json_values())).encode()
    if draw(st.booleans()) or route.kernel_path in ("/renew", "/re-sign"):
        tok = draw(tokens(ca, route))
        headers["Authorization"] = header_value(draw(st.sampled_from(["Bearer ", ""])) + tok)
    return route.method, path, body, headers, acme_sign


# The CA's thread uses the global `random` (the storage's retry jitter) while a strategy draws; hypothesis
# sees the state change and warns, though no strategy uses it.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
def test_every_route_survives_hostile_requests(ca: FuzzCA) -> None:
    """Each route in turn, EXAMPLES requests each; every failing request of every route is reported (the
    CA is stateful, a token or nonce is spent once, so hypothesis could not replay one to shrink it: each
    failure names the request instead)."""
    failures: list[str] = []
    t0 = time.monotonic()
    for route in ca.routes:
        failures += fuzz_route(ca, route)
        if PROGRESS:  # PLICA_FUZZ_PROGRESS=file: one line per route, for a long run
            with open(PROGRESS, "a") as f:
                f.write(
                    f"{time.monotonic() - t0:7.0f}s {route.method} {route.path}: {dict(sorted(ca.statuses.items()))}\n"
                )
    total = sum(ca.statuses.values())
    server_errors = sum(n for st, n in ca.statuses.items() if st >= 500 and st != 501)
    print(
        f"fuzz ({DB}): {total} requests over {len(ca.routes)} routes, statuses {dict(sorted(ca.statuses.items()))}, {server_errors} x 5xx"
    )
    assert not failures, f"{len(failures)} request(s) failed:\n" + "\n\n".join(failures)


def fuzz_route(ca: FuzzCA, route: RouteInfo) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=EXAMPLES <= 50,  # the bounded run is the same every time; the long run explores
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.generate],
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        method, path, body, headers, acme_sign = data.draw(requests(ca, route))
        if acme_sign:
            body = ca.acme_jws(path, body or b"")
        try:
            try:
                status, _, answer, took = ca.request(method, path, body, headers)
            except (ssl.SSLError, ConnectionError, http.client.HTTPException):
                if not malformed_http(path, headers):
                    raise
                # aiohttp answers a request line or header it cannot parse (over 8,190 bytes, a control
                # character) with a 400 and closes at once: a client still sending its body sees the close.
                status, answer, took = 400, b"", 0.0
            ca.check(f"{method} {path[:200]}", status, answer, took)
        except Exception as e:
            if DUMP:  # PLICA_FUZZ_DUMP=dir keeps each failing request whole, to replay it by hand
                Path(DUMP, f"{len(os.listdir(DUMP))}.json").write_text(
                    json.dumps(
                        {
                            "method": method,
                            "path": path,
                            "headers": {
                                k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                                for k, v in headers.items()
                            },
                            "body": (body or b"").decode("utf-8", "surrogateescape"),
                        }
                    )
                )
            if len(failures) < 3:
                failures.append(
                    f"{route.method} {route.path}: {type(e).__name__}: {str(e)[:1500]}\n  body: {(body or b'')[:600]!r}\n  headers: {headers!r:.300}"
                )

    run()
    return failures


def malformed_http(path: str, headers: dict[str, Any]) -> bool:
    if len(path) > 8000:
        return True
    for v in headers.values():
        raw = v if isinstance(v, bytes) else str(v).encode()
        if len(raw) > 8000 or any((b < 0x20 and b != 0x09) or b == 0x7F for b in raw):
            return True
    return False


def test_routes_include_every_plugin(ca: FuzzCA) -> None:
    """Discovery finds the kernel's routes, ACME's and the admin API's (so a new plugin's are found too)."""
    paths = {r.path for r in ca.routes}
    assert {"/sign", "/1.0/ssh/sign", "/renew", "/revoke", "/health"} <= paths
    assert any(p.startswith("/acme/{provisioner}/new-order") for p in paths)
    assert any(p.startswith("/admin/") for p in paths)
