"""The console over real HTTPS with a browser-like client: sign-in, sessions, CSRF, rights, escaping, and
that refused requests change nothing. The browser itself (chromium) is test_console_browser.py."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from plica.api import add_admin
from plica.testing import CAFiles, admin_key, in_process_ca
from plica.testing.httpapi import Api

from .conftest import ConsoleCA, configure
from .consolekit import Browser, csrf_of

SCRIPT_CN = "<script>alert(1)</script>"


async def issue(ca: ConsoleCA, cn: str, sans: list[str] | None = None) -> str:
    """A certificate through the real /sign; returns its decimal serial."""
    from cryptography import x509

    async with __import__("aiohttp").ClientSession() as s:
        r, _ = await Api(ca.files, s).sign(admin_key(ca.files), cn, sans)
        assert r.status == 201, r.raw
        return str(x509.load_pem_x509_certificate(r.json["crt"].encode()).serial_number)


async def revoked(ca: ConsoleCA, serial: str) -> bool:
    return await ca.authority.storage.is_x509_revoked(serial)


async def test_password_sign_in_pages_and_headers(console_ca: ConsoleCA, browser: Browser) -> None:
    serial = await issue(console_ca, "web.example.com")
    first = await browser.get("/console/")
    assert first.url.endswith("/console/signin"), "a page without a session leads to the sign-in page"
    page = await browser.sign_in("step", console_ca.files.password.decode())
    assert page.status == 200 and "Overview" in page.text, page.text
    for name, n in (("valid", 1), ("expiring7", 1), ("expiring30", 1), ("revoked", 0)):
        assert f'id="count-{name}">{n}<' in page.text, name
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script" not in page.text
    for path in (
        "/console/certificates",
        f"/console/certificates/{serial}",
        "/console/provisioners",
        "/console/admins",
    ):
        p = await browser.get(path)
        assert p.status == 200, (path, p.text)
    listing = await browser.get("/console/certificates?name=web.example")
    assert "web.example.com" in listing.text
    pem = await browser.get(f"/console/certificates/{serial}/pem")
    assert pem.text.startswith("-----BEGIN CERTIFICATE-----")
    css = await browser.get("/console/static/console.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css"), (
        css.status,
        css.text[:300],
    )
    csv = await browser.get("/console/certificates.csv")
    assert csv.text.splitlines()[0].startswith("serial,subject") and serial in csv.text


async def test_session_cookie_flags(console_ca: ConsoleCA, browser: Browser) -> None:
    signin = await browser.get("/console/signin")
    page = await browser.post(
        "/console/signin/password",
        {"csrf": csrf_of(signin.text), "subject": "step", "password": console_ca.files.password.decode(),
         "provisioner": "admin"},
        follow=False,
    )  # fmt: skip
    assert page.status == 303
    cookies = [
        v for k, v in page.headers.items() if k.lower() == "set-cookie" and v.startswith("plica_console=")
    ]
    assert cookies, page.headers
    flags = cookies[0].lower()
    assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags


async def test_revoke_needs_confirmation_and_is_logged(
    console_ca: ConsoleCA, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    serial = await issue(console_ca, "doomed.example.com")
    await browser.sign_in("step", console_ca.files.password.decode())
    detail = await browser.get(f"/console/certificates/{serial}")
    token = csrf_of(detail.text)
    confirm = await browser.post(
        f"/console/certificates/{serial}/revoke", {"csrf": token, "reason_code": "1"}
    )
    assert confirm.status == 200 and "Yes, revoke it" in confirm.text
    assert not await revoked(console_ca, serial), "the first step only asks"
    with caplog.at_level(logging.INFO, logger="plica.console"):
        done = await browser.post(
            f"/console/certificates/{serial}/revoke", {"csrf": token, "reason_code": "1", "confirm": "yes"}
        )
    assert done.status == 200 and 'id="status" class="status-revoked"' in done.text
    assert await revoked(console_ca, serial)
    overview = (await browser.get("/console/")).text
    assert 'id="count-valid">0<' in overview and 'id="count-revoked">1<' in overview
    assert any(
        "step (admin, SUPER_ADMIN) revoked certificate " + serial in r.getMessage() for r in caplog.records
    )
    again = await browser.post(
        f"/console/certificates/{serial}/revoke", {"csrf": token, "reason_code": "1", "confirm": "yes"}
    )
    assert again.status == 409


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_missing_or_forged_csrf_changes_nothing(
    console_ca: ConsoleCA, browser: Browser, token: str | None
) -> None:
    serial = await issue(console_ca, "kept.example.com")
    await browser.sign_in("step", console_ca.files.password.decode())
    data = {"reason_code": "0", "confirm": "yes"}
    if token is not None:
        data["csrf"] = token
    page = await browser.post(f"/console/certificates/{serial}/revoke", data)
    assert page.status == 403 and "CSRF" in page.text
    assert not await revoked(console_ca, serial)
    before = len(await _admins(console_ca))
    page = await browser.post(
        "/console/admins", {**data, "subject": "x", "provisioner": "admin", "type": "ADMIN"}
    )
    assert page.status == 403 and len(await _admins(console_ca)) == before


async def _admins(ca: ConsoleCA) -> list[object]:
    from plica.api import list_admins

    return await list_admins(ca.authority.storage)


async def test_sign_in_refusals(console_ca: ConsoleCA, browser: Browser) -> None:
    wrong = await browser.sign_in("step", "not the password")
    assert wrong.status == 401 and "wrong password" in wrong.text
    nobody = await browser.sign_in("mallory", console_ca.files.password.decode())
    assert nobody.status == 403 and "not an admin" in nobody.text
    assert (await browser.get("/console/")).url.endswith("/signin"), "no session came of either"
    no_csrf = await browser.post(
        "/console/signin/password",
        {"subject": "step", "password": console_ca.files.password.decode(), "provisioner": "admin"},
    )
    assert no_csrf.status == 403
    no_cert = await browser.form("/console/signin", "/console/signin/certificate", {})
    assert no_cert.status == 400 and "no client certificate" in no_cert.text


async def test_plain_admin_cannot_reach_super_admin_pages(console_ca: ConsoleCA, browser: Browser) -> None:
    await add_admin(console_ca.authority.storage, "carl", "admin", "ADMIN")
    await browser.sign_in("carl", console_ca.files.password.decode())
    overview = await browser.get("/console/")
    assert overview.status == 200 and "/console/admins" not in overview.text
    assert (await browser.get("/console/admins")).status == 403
    before = len(await _admins(console_ca))
    refused = await browser.post(
        "/console/admins",
        {"csrf": csrf_of(overview.text), "subject": "eve", "provisioner": "admin", "type": "SUPER_ADMIN"},
    )
    assert refused.status == 403 and len(await _admins(console_ca)) == before


async def test_super_admin_adds_and_removes_an_admin(console_ca: ConsoleCA, browser: Browser) -> None:
    await browser.sign_in("step", console_ca.files.password.decode())
    page = await browser.form(
        "/console/admins", "/console/admins", {"subject": "dora", "provisioner": "admin", "type": "ADMIN"}
    )
    assert page.status == 200 and "dora" in page.text
    dora = next(a for a in await _admins(console_ca) if a.subject == "dora")  # type: ignore[attr-defined]
    page = await browser.form("/console/admins", f"/console/admins/{dora.id}/remove", {})
    assert page.status == 200 and "dora" not in page.text
    last = next(a for a in await _admins(console_ca) if a.subject == "step")  # type: ignore[attr-defined]
    refused = await browser.form("/console/admins", f"/console/admins/{last.id}/remove", {})
    assert refused.status == 400 and "last super admin" in refused.text


async def test_script_in_a_certificate_is_shown_escaped(console_ca: ConsoleCA, browser: Browser) -> None:
    serial = await issue(console_ca, SCRIPT_CN, sans=["xss.example.com"])
    await browser.sign_in("step", console_ca.files.password.decode())
    for path in (
        "/console/certificates",
        f"/console/certificates/{serial}",
        "/console/certificates?name=xss",
    ):
        page = await browser.get(path)
        assert page.status == 200
        assert "<script" not in page.text, "the name is never markup"
        assert "&lt;script" in page.text, "... but it is shown, escaped"


async def test_bad_paths_are_4xx(console_ca: ConsoleCA, browser: Browser) -> None:
    await browser.sign_in("step", console_ca.files.password.decode())
    for path in ("/console/certificates/123456789", "/console/certificates/notaserial", "/console/certificates?serial=zz!",
                 "/console/certificates?cursor=bogus", "/console/certificates?status=weird", "/console/sso/nope",
                 "/console/static/../../etc/passwd"):  # fmt: skip
        page = await browser.get(path)
        assert 400 <= page.status < 500, (path, page.status, page.text)


async def test_expired_session(ca_files: CAFiles) -> None:
    configure(ca_files, idleTimeout="1s")
    async with in_process_ca(ca_files) as authority:
        ca = ConsoleCA(
            ca_files, authority, __import__("ssl").create_default_context(cafile=str(ca_files.root))
        )
        serial = await issue(ca, "idle.example.com")
        b = ca.browser()
        try:
            page = await b.sign_in("step", ca_files.password.decode())
            token = csrf_of(page.text)
            await asyncio.sleep(2.2)
            late = await b.post(
                f"/console/certificates/{serial}/revoke",
                {"csrf": token, "reason_code": "0", "confirm": "yes"},
            )
            assert late.status == 401 and "session has ended" in late.text
            assert not await authority.storage.is_x509_revoked(serial)
            assert (await b.get("/console/")).url.endswith("/signin")
        finally:
            await b.close()


async def test_switched_off_in_ca_json(ca_files: CAFiles) -> None:
    configure(ca_files, enabled=False)
    async with in_process_ca(ca_files) as authority:
        b = ConsoleCA(
            ca_files, authority, __import__("ssl").create_default_context(cafile=str(ca_files.root))
        ).browser()
        try:
            assert (await b.get("/console/signin")).status == 404
            assert (await b.get("/console/")).status == 404
        finally:
            await b.close()


async def test_sign_in_attempts_are_rate_limited(console_ca: ConsoleCA, browser: Browser) -> None:
    statuses = [(await browser.sign_in("step", f"guess {i}")).status for i in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # even the right password waits now
    assert (await browser.sign_in("step", console_ca.files.password.decode())).status == 429
    assert time.time() > 0


async def test_provisioners_added_changed_and_removed(console_ca: ConsoleCA, browser: Browser) -> None:
    a = console_ca.authority
    await browser.sign_in("step", console_ca.files.password.decode())
    page = await browser.form(
        "/console/provisioners", "/console/provisioners", {"block": '{"type": "ACME", "name": "acme2"}'}
    )
    assert page.status == 200 and "acme2" in page.text and a.provisioner_by_name("acme2") is not None
    page = await browser.form(
        "/console/provisioners",
        "/console/provisioners/acme2/edit",
        {"block": '{"type": "ACME", "name": "acme2", "forceCN": true}'},
    )
    assert page.status == 200
    assert next(p for p in a.public_provisioners() if p["name"] == "acme2").get("forceCN") is True
    for bad, why in (
        ("{not json", "not valid JSON"),
        ('{"type": "Nope", "name": "x"}', "not installed"),
        ("[]", "JSON object"),
    ):
        page = await browser.form("/console/provisioners", "/console/provisioners", {"block": bad})
        assert page.status == 400 and why in page.text, (bad, page.status, page.text[-600:])
    assert a.provisioner_by_name("x") is None
    changed_type = await browser.form(
        "/console/provisioners",
        "/console/provisioners/acme2/edit",
        {"block": '{"type": "JWK", "name": "acme2"}'},
    )
    assert changed_type.status == 400 and "type" in changed_type.text
    page = await browser.form("/console/provisioners", "/console/provisioners/acme2/remove", {})
    assert page.status == 200 and a.provisioner_by_name("acme2") is None
    gone = await browser.form("/console/provisioners", "/console/provisioners/acme2/remove", {})
    assert gone.status == 404


async def test_provisioners_in_ca_json_are_read_only(ca_files: CAFiles) -> None:
    async with in_process_ca(ca_files) as authority:
        await add_admin(authority.storage, "step", "admin", "SUPER_ADMIN")
        b = ConsoleCA(
            ca_files, authority, __import__("ssl").create_default_context(cafile=str(ca_files.root))
        ).browser()
        try:
            await b.sign_in("step", ca_files.password.decode())
            page = await b.get("/console/provisioners")
            assert (
                'id="readonly"' in page.text
                and "live in ca.json" in page.text
                and "<textarea" not in page.text
            )
            refused = await b.post(
                "/console/provisioners",
                {"csrf": csrf_of(page.text), "block": '{"type": "ACME", "name": "a"}'},
            )
            assert refused.status == 501 and authority.provisioner_by_name("a") is None
        finally:
            await b.close()


async def test_admin_type_changes_but_never_the_last_super_admin(
    console_ca: ConsoleCA, browser: Browser
) -> None:
    storage = console_ca.authority.storage
    carl = await add_admin(storage, "carl", "admin", "ADMIN")
    await browser.sign_in("step", console_ca.files.password.decode())
    page = await browser.form("/console/admins", f"/console/admins/{carl.id}/type", {"type": "SUPER_ADMIN"})
    assert page.status == 200
    from plica.api import get_admin

    assert (await get_admin(storage, carl.id)).type == "SUPER_ADMIN"  # type: ignore[union-attr]
    await browser.form("/console/admins", f"/console/admins/{carl.id}/type", {"type": "ADMIN"})
    step = next(x for x in await _admins(console_ca) if x.subject == "step")  # type: ignore[attr-defined]
    refused = await browser.form("/console/admins", f"/console/admins/{step.id}/type", {"type": "ADMIN"})
    assert refused.status == 400 and "last super admin" in refused.text
    bogus = await browser.form("/console/admins", f"/console/admins/{step.id}/type", {"type": "ROOT"})
    assert bogus.status == 400


async def test_admin_client_certificate_sign_in(console_ca: ConsoleCA, tmp_path: object) -> None:
    import ssl
    from pathlib import Path

    import aiohttp

    from plica.testing.httpapi import write_leaf

    async with aiohttp.ClientSession() as s:
        api = Api(console_ca.files, s)
        r, key = await api.sign(admin_key(console_ca.files), "step")
        assert r.status == 201
        crt, kf = write_leaf(Path(str(tmp_path)), "step", r, key)
        r2, key2 = await api.sign(admin_key(console_ca.files), "nobody")
        other = write_leaf(Path(str(tmp_path)), "nobody", r2, key2)
    for cert, status in (((crt, kf), 200), (other, 401)):
        ctx = ssl.create_default_context(cafile=str(console_ca.files.root))
        ctx.load_cert_chain(*map(str, cert))
        b = Browser.open(console_ca.files.url, ctx)
        try:
            page = await b.form("/console/signin", "/console/signin/certificate", {})
            assert page.status == status, page.text
            if status == 200:
                assert "Overview" in page.text and "step" in page.text
        finally:
            await b.close()


async def _ssh(ca: ConsoleCA, key_id: str, cert_type: str, principals: list[str]) -> None:
    import aiohttp
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    wire = (
        pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
        .decode()
    )
    async with aiohttp.ClientSession() as s:
        api = Api(ca.files, s)
        step = {"ssh": {"certType": cert_type, "keyID": key_id, "principals": principals}}
        ott = admin_key(ca.files).token(key_id, api.aud("/ssh/sign"), step=step)
        r = await api.post(
            "/ssh/sign", {"publicKey": wire, "ott": ott, "certType": cert_type, "principals": principals}
        )
        assert r.status == 201, r.raw


async def test_ssh_certificates_searched_and_revoked(console_ca: ConsoleCA, browser: Browser) -> None:
    await _ssh(console_ca, "alice", "user", ["alice", "root"])
    await _ssh(console_ca, "web1.example.com", "host", ["web1.example.com", "web1"])
    await _ssh(console_ca, SCRIPT_CN, "user", ["x"])
    await browser.sign_in("step", console_ca.files.password.decode())
    page = await browser.get("/console/ssh")
    assert page.status == 200 and "alice, root" in page.text and "web1.example.com" in page.text
    assert "<script" not in page.text and "&lt;script" in page.text
    hosts = await browser.get("/console/ssh?type=host")
    assert "web1.example.com" in hosts.text and "alice, root" not in hosts.text
    by_principal = await browser.get("/console/ssh?name=ROOT")
    assert "alice, root" in by_principal.text and "web1" not in by_principal.text
    assert (await browser.get("/console/ssh?type=weird")).status == 400
    rows = await console_ca.authority.storage.fetch_all("SELECT serial FROM ssh_certs WHERE key_id = 'alice'")
    serial = rows[0][0]
    token = csrf_of(page.text)
    confirm = await browser.post(f"/console/ssh/{serial}/revoke", {"csrf": token, "reason_code": "1"})
    assert confirm.status == 200 and "Yes, revoke it" in confirm.text
    assert not await console_ca.authority.storage.is_ssh_revoked(serial)
    done = await browser.post(
        f"/console/ssh/{serial}/revoke", {"csrf": token, "reason_code": "1", "confirm": "yes"}
    )
    assert done.status == 200 and "alice, root" in done.text and "status-revoked" in done.text
    assert await console_ca.authority.storage.is_ssh_revoked(serial)
    forged = await browser.post(f"/console/ssh/{serial}/revoke", {"csrf": "nope", "confirm": "yes"})
    assert forged.status == 403
    assert (await browser.post("/console/ssh/123/revoke", {"csrf": token, "confirm": "yes"})).status == 404


async def test_sorted_by_expiry_both_ways_with_a_cursor(console_ca: ConsoleCA, browser: Browser) -> None:
    from plica.api import list_certificates

    async with __import__("aiohttp").ClientSession() as s:
        api = Api(console_ca.files, s)
        for cn, life in (("soon.example.com", "1h"), ("later.example.com", "5h"), ("mid.example.com", "3h")):
            r, _ = await api.sign(admin_key(console_ca.files), cn, notAfter=life)
            assert r.status == 201, r.raw
    await browser.sign_in("step", console_ca.files.password.decode())
    asc = (await browser.get("/console/certificates")).text
    desc = (await browser.get("/console/certificates?order=desc")).text
    assert asc.index("soon.example.com") < asc.index("mid.example.com") < asc.index("later.example.com")
    assert desc.index("later.example.com") < desc.index("mid.example.com") < desc.index("soon.example.com")
    assert (await browser.get("/console/certificates?order=sideways")).status == 400
    storage = console_ca.authority.storage
    first = await list_certificates(storage, {"order": "desc", "limit": "2"})
    rest = await list_certificates(storage, {"order": "desc", "limit": "2", "cursor": first["nextCursor"]})
    names = [c["subject"] for c in first["certificates"] + rest["certificates"]]
    assert names == ["later.example.com", "mid.example.com", "soon.example.com"] and not rest["nextCursor"]
