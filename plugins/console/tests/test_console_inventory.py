"""The certificate pages over real HTTPS: sorting by each column, the SSH certificate's page, its OpenSSH
download (read back by the real `ssh-keygen -L`) and CSV export, and revocation by a plain ADMIN (the
kernel's admin rights: only admin management needs a super admin)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from plica.api import add_admin

from .conftest import ConsoleCA
from .consolekit import Browser, csrf_of
from .test_console_http import _ssh, issue

ROW = re.compile(r'<a href="/console/certificates/\d+">([^<]*)</a>')
SSH_ROW = re.compile(r'<a href="/console/ssh/(\d+)">([^<]*)</a>')


async def test_certificates_sort_by_each_column(console_ca: ConsoleCA, browser: Browser) -> None:
    for cn in ("bravo.example", "alpha.example", "charlie.example"):
        await issue(console_ca, cn)
        await asyncio.sleep(1.05)  # distinct issuance seconds
    await browser.sign_in("step", console_ca.files.password.decode())

    async def names(query: str) -> list[str]:
        page = await browser.get(f"/console/certificates?{query}")
        assert page.status == 200, (query, page.text[:300])
        return ROW.findall(page.text)

    assert await names("sort=name") == ["alpha.example", "bravo.example", "charlie.example"]
    assert await names("sort=name&order=desc") == ["charlie.example", "bravo.example", "alpha.example"]
    assert await names("sort=issued") == ["bravo.example", "alpha.example", "charlie.example"]
    assert await names("sort=issued&order=desc") == ["charlie.example", "alpha.example", "bravo.example"]
    serial = await issue(console_ca, "zulu.example")
    await console_ca.authority.storage.revoke_x509(
        serial, provisioner_id="", reason_code=0, reason="", mtls=False, token_id=None, now=0
    )
    assert (await names("sort=status&order=desc"))[0] == "zulu.example"
    assert (await names("sort=status"))[-1] == "zulu.example"
    assert len(await names("sort=provisioner")) == 4
    page = await browser.get("/console/certificates?sort=name")
    # The active column says so, and its link reverses the order; the others start ascending.
    assert 'aria-sort="ascending"><a id="sort-name"' in page.text
    assert re.search(r'id="sort-name" href="[^"]*sort=name&amp;order=desc"', page.text), page.text
    assert re.search(r'id="sort-issued" href="[^"]*sort=issued&amp;order=asc"', page.text)
    csv_text = (await browser.get("/console/certificates.csv?sort=name&order=desc")).text
    assert [r["subject"] for r in csv.DictReader(io.StringIO(csv_text))][-1] == "alpha.example"
    for bad in ("sort=serial", "sort=name&order=up", "sort=issued&cursor=1700000000:1"):
        page = await browser.get(f"/console/certificates?{bad}")
        assert page.status == 400 and "Traceback" not in page.text, (bad, page.status)


async def test_ssh_certificate_page_download_and_csv(
    console_ca: ConsoleCA, browser: Browser, tmp_path: Path
) -> None:
    await _ssh(console_ca, "alice", "user", ["alice", "root"])
    await _ssh(console_ca, "web1.example.com", "host", ["web1.example.com", "web1"])
    await _ssh(console_ca, "=1+1", "user", ["formula"])
    await browser.sign_in("step", console_ca.files.password.decode())
    listing = await browser.get("/console/ssh?sort=name")
    rows = SSH_ROW.findall(listing.text)
    assert [k for _, k in rows] == ["=1+1", "alice", "web1.example.com"], rows
    down = SSH_ROW.findall((await browser.get("/console/ssh?sort=name&order=desc")).text)
    assert [k for _, k in down] == ["web1.example.com", "alice", "=1+1"]
    serial = dict((k, s) for s, k in rows)["alice"]
    page = await browser.get(f"/console/ssh/{serial}")
    assert page.status == 200
    assert 'id="key-id">alice<' in page.text and 'id="principals">alice, root<' in page.text
    assert 'id="type">user<' in page.text and 'id="status" class="status-valid"' in page.text
    assert 'id="provisioner">admin (JWK)<' in page.text
    validity = re.search(r'id="validity">([^<]*)<', page.text)
    assert validity and re.fullmatch(r"\S+Z to \S+Z", validity.group(1)), validity
    line = re.search(r'<textarea id="openssh"[^>]*>([^<]*)</textarea>', page.text)
    assert line and line.group(1).startswith("ssh-ed25519-cert-v01@openssh.com ")
    download = await browser.get(f"/console/ssh/{serial}/cert.pub")
    assert download.status == 200 and "attachment" in download.headers["Content-Disposition"]
    assert download.text.strip() == line.group(1).strip()
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.fail("ssh-keygen (openssh-client) is needed")
    path = tmp_path / "alice-cert.pub"
    path.write_text(download.text)
    shown = subprocess.run([keygen, "-L", "-f", str(path)], capture_output=True, text=True, check=True).stdout
    assert "user certificate" in shown and 'Key ID: "alice"' in shown
    assert re.search(r"Principals:\s+alice\s+root", shown), shown
    assert f"Serial: {serial}" in shown

    exported = await browser.get("/console/ssh.csv?type=user&sort=name")
    assert exported.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["keyId"] for r in table] == ["'=1+1", "alice"], "a formula is quoted; type filter applies"
    assert table[1]["principals"] == "alice root" and table[1]["serial"] == serial
    assert table[1]["status"] == "valid" and table[1]["provisioner"] == "admin"
    for bad in ("/console/ssh/123456", "/console/ssh/notaserial", "/console/ssh/123456/cert.pub",
                "/console/ssh?sort=serial", "/console/ssh.csv?type=weird"):  # fmt: skip
        got = await browser.get(bad)
        assert 400 <= got.status < 500, (bad, got.status)


async def test_a_plain_admin_may_revoke(console_ca: ConsoleCA, browser: Browser) -> None:
    """Revocation follows the kernel's admin rights: only admin management needs SUPER_ADMIN."""
    serial = await issue(console_ca, "plain-revokes.example")
    await _ssh(console_ca, "plain-ssh", "user", ["p"])
    row = await console_ca.authority.storage.fetch_one("SELECT serial FROM ssh_certs WHERE key_id = ?",
                                                       ("plain-ssh",))  # fmt: skip
    assert row is not None
    await add_admin(console_ca.authority.storage, "carl", "admin", "ADMIN")
    await browser.sign_in("carl", console_ca.files.password.decode())
    detail = await browser.get(f"/console/certificates/{serial}")
    assert 'id="revoke"' in detail.text, "the revoke form is offered to a plain admin"
    token = csrf_of(detail.text)
    done = await browser.post(
        f"/console/certificates/{serial}/revoke", {"csrf": token, "reason_code": "4", "confirm": "yes"}
    )
    assert done.status == 200 and await console_ca.authority.storage.is_x509_revoked(serial)
    done = await browser.post(f"/console/ssh/{row[0]}/revoke", {"csrf": token, "confirm": "yes"})
    assert done.status == 200 and await console_ca.authority.storage.is_ssh_revoked(str(row[0]))
    # ... and still no admin management.
    assert (await browser.get("/console/admins")).status == 403
