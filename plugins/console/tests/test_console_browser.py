"""The console in a real browser: headless chromium signs in through a real OpenID provider (oidc-provider),
searches, opens a certificate, revokes it after the confirmation and sees its status change, manages an
admin, signs out; a non-admin's sign-in is refused; a certificate whose CN is a script never runs. Every
page passes axe-core with no serious or critical violation and is photographed (tests/artifacts/)."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from plica.testing import CAFiles, admin_key, ca_process, free_port, make_ca
from plica.testing.httpapi import Api

from .browser import axe_violations, chromium, click_through, overflowing, shoot, wait_for
from .openid import PASSWORD, OpenIDProvider

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian's chromium and chromium-driver (.ci/system-deps.sh installs them)",
)
SCRIPT_CN = "<script>alert(1)</script>"


@define
class Stack:
    files: CAFiles
    provider: OpenIDProvider
    serials: dict[str, str]
    http_port: int


async def _issue(files: CAFiles, names: list[str]) -> dict[str, str]:
    """Certificates through the real /sign (each also written to <home>/../<serial>.crt); serial by CN."""
    out = {}
    async with aiohttp.ClientSession() as s:
        api = Api(files, s)
        for cn in names:
            r, _ = await api.sign(admin_key(files), cn, ["xss.example.com"] if cn == SCRIPT_CN else [cn])
            assert r.status == 201, r.raw
            out[cn] = str(x509.load_pem_x509_certificate(r.json["crt"].encode()).serial_number)
            (files.home.parent / f"{out[cn]}.crt").write_text(r.json["crt"])
        # one SSH user certificate, for the SSH pages
        pub = ed25519.Ed25519PrivateKey.generate().public_key()
        wire = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1]
        step = {"ssh": {"certType": "user", "keyID": "alice", "principals": ["alice", "root"]}}
        ott = admin_key(files).token("alice", api.aud("/ssh/sign"), step=step)
        r = await api.post("/ssh/sign", {"publicKey": wire.decode(), "ott": ott, "certType": "user",
                                         "principals": ["alice", "root"]})  # fmt: skip
        assert r.status == 201, r.raw
    return out


def _plica(files: CAFiles, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "plica", *args, "--home", str(files.home)], check=True,
                   env=files.env(), capture_output=True)  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    files = make_ca(tmp)
    provider = OpenIDProvider(tmp, files.url).start()
    try:
        cfg = files.config()
        cfg["authority"]["enableAdmin"] = True
        cfg["crl"] = {"enabled": True, "generateOnRevoke": True}
        cfg["authority"]["provisioners"].append(provider.block())
        http_port = free_port()
        cfg["authority"]["provisioners"].append(
            {"type": "ACME", "name": "acme", "requireEAB": True,
             "validation": {"httpPort": http_port, "timeout": "2s", "retryWindow": "2s"}}
        )  # fmt: skip
        files.write_config(cfg)
        with ca_process(files, workers=2):  # sessions and sign-in flows must hold across workers
            # with remote management the provisioners move into the database at the first start
            _plica(files, "admin", "add", "alice@example.com", "sso", "--super")
            names = ["web.example.com", "api.example.com", "db.internal.example", SCRIPT_CN]
            yield Stack(files, provider, asyncio.run(_issue(files, names)), http_port)
    finally:
        provider.stop()


def ocsp_status(files: CAFiles, serial: str) -> str | None:
    """`openssl ocsp`'s answer about a certificate, when plica-ocsp is installed (None otherwise)."""
    if importlib.util.find_spec("plica_ocsp") is None or shutil.which("openssl") is None:
        return None
    out = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(files.intermediate), "-cert", str(files.home.parent / f"{serial}.crt"),
         "-url", f"{files.url}/ocsp", "-CAfile", str(files.root)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    line = next((x for x in out.stdout.splitlines() if x.endswith((": good", ": revoked", ": unknown"))), "")
    assert line, out.stdout + out.stderr
    return line.rsplit(": ", 1)[1]


def crl_serials(files: CAFiles) -> set[int]:
    import ssl
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(files.root))
    with urllib.request.urlopen(files.url + "/crl", context=ctx, timeout=10) as r:
        crl = x509.load_der_x509_crl(r.read())
    return {e.serial_number for e in crl}


@pytest.fixture
def driver() -> Iterator[Any]:
    d = chromium()
    try:
        yield d
    finally:
        d.quit()


def check_page(driver: Any, name: str) -> None:
    """No serious or critical accessibility violation, no horizontal scrolling at 360 px... and a photo."""
    assert axe_violations(driver) == [], name
    shoot(driver, name)


def sso_sign_in(driver: Any, stack: Stack, login: str) -> None:
    driver.get(stack.files.url + "/console/")
    wait_for(driver, "a[href='/console/sso/sso']")
    check_page(driver, "signin")
    click_through(driver, By.CSS_SELECTOR, "a[href='/console/sso/sso']")
    # oidc-provider's own login and consent pages
    wait_for(driver, "input[name=login]").send_keys(login)
    driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(PASSWORD)
    # the login form, then the consent page, until the provider sends the browser back to the CA
    deadline = time.monotonic() + 30
    while not driver.current_url.startswith(stack.files.url) and time.monotonic() < deadline:
        try:
            click_through(driver, By.CSS_SELECTOR, "button[type=submit]", timeout=5)
        except WebDriverException:  # the page moved on under the click: look again
            time.sleep(0.2)
    assert driver.current_url.startswith(stack.files.url), driver.current_url


def test_console_in_a_browser(stack: Stack, driver: Any) -> None:
    url = stack.files.url
    sso_sign_in(driver, stack, "alice")
    wait_for(driver, "#count-valid")
    assert driver.find_element(By.CSS_SELECTOR, ".who").text.startswith("alice@example.com")
    check_page(driver, "overview")

    # search
    click_through(driver, By.LINK_TEXT, "Certificates")
    field = wait_for(driver, "#q-name")
    field.send_keys("web.example")
    click_through(driver, By.CSS_SELECTOR, "form.search button")
    wait_for(driver, "#certs")
    rows = driver.find_elements(By.CSS_SELECTOR, "#certs tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["web.example.com"]
    check_page(driver, "certificates")

    # open it, revoke it after the confirmation, see the status change
    click_through(driver, By.CSS_SELECTOR, "#certs tbody tr:first-child a")
    assert wait_for(driver, "#status").text == "valid"
    assert int(driver.find_element(By.CSS_SELECTOR, "dd.serial").text) not in crl_serials(stack.files)
    assert ocsp_status(stack.files, stack.serials["web.example.com"]) in ("good", None)
    check_page(driver, "certificate")
    Select(driver.find_element(By.ID, "reason_code")).select_by_value("4")
    driver.find_element(By.ID, "reason").send_keys("replaced by a new key")
    click_through(driver, By.ID, "revoke")
    wait_for(driver, "#confirm")
    check_page(driver, "revoke-confirm")
    click_through(driver, By.ID, "confirm")
    assert wait_for(driver, "#status").text == "revoked"
    assert "superseded: replaced by a new key" in driver.find_element(By.TAG_NAME, "main").text
    revoked_serial = driver.find_element(By.CSS_SELECTOR, "dd.serial").text
    # generateOnRevoke: the worker that revoked makes the new CRL; the other worker serves it once it
    # sees the stored CRL's number change (checked at most once a second).
    # (Until then the two workers may answer different CRLs, so the answer that listed it is the one kept.)
    deadline = time.monotonic() + 3
    while not (listed := int(revoked_serial) in crl_serials(stack.files)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed, "the CRL lists it (generateOnRevoke)"
    assert ocsp_status(stack.files, revoked_serial) in ("revoked", None), "the OCSP responder says so"
    driver.get(url + "/console/certificates?status=revoked")
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#certs tbody a")] == ["web.example.com"]

    # a script in a certificate's name is text, never run
    driver.get(url + f"/console/certificates/{stack.serials[SCRIPT_CN]}")
    assert wait_for(driver, "#cn").text == SCRIPT_CN
    assert driver.execute_script("return document.querySelectorAll('main script').length") == 0
    driver.get(url + "/console/certificates?name=xss")
    assert SCRIPT_CN in driver.find_element(By.ID, "certs").text

    # a click on a column header sorts by it; a second click reverses
    driver.get(url + "/console/certificates")
    click_through(driver, By.ID, "sort-name")
    wait_for(driver, "#certs")
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#certs tbody a")]
    assert names == sorted(names, key=str.lower), names
    check_page(driver, "certificates-sorted")
    click_through(driver, By.ID, "sort-name")
    wait_for(driver, "#certs")
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#certs tbody a")] == names[::-1]

    # SSH certificates and one's page, provisioners, admins
    driver.get(url + "/console/ssh")
    wait_for(driver, "#ssh")
    check_page(driver, "ssh")
    click_through(driver, By.LINK_TEXT, "alice")
    assert wait_for(driver, "#principals").text == "alice, root"
    assert driver.find_element(By.ID, "openssh").get_attribute("value").startswith("ssh-ed25519-cert-v01@")
    check_page(driver, "ssh-certificate")
    driver.get(url + "/console/provisioners")
    assert "OIDC" in wait_for(driver, "#matrix").text
    check_page(driver, "provisioners")
    box = driver.find_element(By.ID, "new-block")
    box.clear()
    box.send_keys('{"type": "ACME", "name": "acme-web"}')
    click_through(driver, By.ID, "add-provisioner")
    assert "acme-web" in wait_for(driver, "#matrix").find_element(By.XPATH, "/html/body").text
    summary = driver.find_element(By.XPATH, "//summary[contains(., 'acme-web')]")
    summary.click()
    click_through(driver, By.CSS_SELECTOR, "button[aria-label='Remove provisioner acme-web']")
    wait_for(driver, "#matrix")
    assert not driver.find_elements(By.XPATH, "//summary[contains(., 'acme-web')]")
    driver.get(url + "/console/admins")
    wait_for(driver, "#a-subject").send_keys("bob@example.com")
    Select(driver.find_element(By.ID, "a-prov")).select_by_visible_text("sso")
    click_through(driver, By.CSS_SELECTOR, "form.stack button")
    assert "bob@example.com" in wait_for(driver, "#admins").text
    check_page(driver, "admins")
    click_through(driver, By.CSS_SELECTOR, "button[aria-label='Remove bob@example.com']")
    assert "bob@example.com" not in wait_for(driver, "#admins").text

    # a 360-pixel-wide screen: nothing scrolls sideways but the wide tables' own boxes
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.get(url + "/console/")
    wait_for(driver, "#count-valid")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert driver.execute_script("return window.innerWidth") == 360
    wide = overflowing(driver, 360)
    shoot(driver, "overview-360px")
    assert width <= 360 + 1, (width, wide)
    shoot(driver, "overview-360px")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # sign out: the session is gone
    click_through(driver, By.CSS_SELECTOR, ".signout button")
    wait_for(driver, "a[href='/console/sso/sso']")
    driver.get(url + "/console/certificates")
    assert driver.current_url.endswith("/console/signin")


def test_a_person_who_is_not_an_admin_is_refused(stack: Stack, driver: Any) -> None:
    sso_sign_in(driver, stack, "carol")
    main = wait_for(driver, "main").text
    assert "403" in main and "not an admin" in main, main
    check_page(driver, "refused")
    driver.get(stack.files.url + "/console/")
    assert driver.current_url.endswith("/console/signin")


def test_keyboard_alone_reaches_the_search(stack: Stack, driver: Any) -> None:
    sso_sign_in(driver, stack, "alice")
    wait_for(driver, "#count-valid")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.text == "Skip to content"
    seen = []
    for _ in range(6):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        seen.append(driver.switch_to.active_element.text)
    assert "Certificates" in seen, seen
    while driver.switch_to.active_element.text != "Certificates":
        driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(driver, "#q-name")
    assert Path(driver.current_url).name == "certificates"


@pytest.mark.skipif(shutil.which("lego") is None, reason="needs lego (Debian package)")
def test_an_eab_key_made_in_the_console_lets_lego_register(stack: Stack, driver: Any, tmp_path: Path) -> None:
    url = stack.files.url
    sso_sign_in(driver, stack, "alice")
    wait_for(driver, "#count-valid")
    click_through(driver, By.LINK_TEXT, "ACME")
    wait_for(driver, "#eab-create-provisioner").send_keys("acme")
    driver.find_element(By.ID, "eab-create-reference").send_keys("team-a")
    click_through(driver, By.ID, "do-eab-create")
    kid = wait_for(driver, "dd[data-key='Key id (--kid)']").text
    hmac = driver.find_element(By.CSS_SELECTOR, "dd[data-key='HMAC key (--hmac)']").text
    check_page(driver, "acme-eab-created")
    # shown once: the page itself (reloaded) never shows the HMAC key again
    driver.get(url + "/console/plugins/acme")
    assert kid in wait_for(driver, "main").text and hmac not in driver.page_source

    lego = subprocess.run(
        ["lego", "--server", f"{url}/acme/acme/directory", "--email", "ops@plica.test", "--accept-tos",
         "--path", str(tmp_path / "lego"), "--eab", f"--kid={kid}", f"--hmac={hmac}", "--domains", "127.0.0.1",
         "--http", "--http.port", f"127.0.0.1:{stack.http_port}", "run"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "LEGO_CA_CERTIFICATES": str(stack.files.root)},
    )  # fmt: skip
    assert lego.returncode == 0, lego.stdout + lego.stderr
    driver.get(url + "/console/plugins/acme")
    tables = driver.find_elements(By.CSS_SELECTOR, "table.panel-table")
    accounts, keys = tables[0].text, tables[2].text
    assert "mailto:ops@plica.test" in accounts and kid in accounts
    assert "team-a" in keys and "valid" in accounts
    check_page(driver, "acme")
    assert driver.find_elements(By.CSS_SELECTOR, f"button[aria-label='Revoke {kid}']"), driver.page_source
    click_through(driver, By.CSS_SELECTOR, f"button[aria-label='Revoke {kid}']")
    wait_for(driver, "table.panel-table")
    assert kid not in driver.find_elements(By.CSS_SELECTOR, "table.panel-table")[2].text
    # a second registration with the revoked key is refused
    again = subprocess.run(
        ["lego", "--server", f"{url}/acme/acme/directory", "--email", "dev@plica.test", "--accept-tos",
         "--path", str(tmp_path / "lego2"), "--eab", f"--kid={kid}", f"--hmac={hmac}", "--domains", "127.0.0.1",
         "--http", "--http.port", f"127.0.0.1:{stack.http_port}", "run"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "LEGO_CA_CERTIFICATES": str(stack.files.root)},
    )  # fmt: skip
    assert again.returncode != 0
