"""Chromium (Debian's `chromium` and `chromium-driver`), headless through selenium, for the console's browser
tests: pages are driven as a person would, checked with axe-core (npm, tests/axe, installed by .ci) and
photographed into tests/artifacts/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

HERE = Path(__file__).resolve().parent
AXE = HERE / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE / "artifacts"


def chromium() -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-gpu", "--no-proxy-server"):  # fmt: skip
        opts.add_argument(arg)
    # The test CA's root is not in chromium's store; the CA's TLS is not what these tests are about.
    opts.accept_insecure_certs = True
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    return driver


def wait_for(driver: webdriver.Chrome, css: str, timeout: float = 20) -> Any:
    try:
        return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        text = driver.find_element(By.TAG_NAME, "body").text[:800]
        raise AssertionError(
            f"no {css} at {driver.current_url} after {timeout} s; the page says:\n{text}"
        ) from None


def click_through(driver: webdriver.Chrome, by: str, value: str, timeout: float = 20) -> None:
    """Click what leads to another page, and wait until the old page is gone. A page still settling (a
    refresh landing) can swap its nodes under the click: then the element is looked up again."""
    for attempt in range(3):
        old = None
        try:
            old = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(by, value).click()
            WebDriverWait(driver, timeout).until(ec.staleness_of(old))
            return
        except (StaleElementReferenceException, WebDriverException):
            # The click may have gone through while it raised (the page left under it): then the old
            # page is gone and clicking again would look for the element on the new one.
            if old is not None and ec.staleness_of(old)(driver):
                return
            if attempt == 2:
                body = driver.find_element(By.TAG_NAME, "body").text[:600]
                raise AssertionError(
                    f"clicking {value} led nowhere from {driver.current_url}:\n{body}"
                ) from None
            time.sleep(0.3)


def axe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (injected over WebDriver, which the
    page's Content-Security-Policy does not govern)."""
    if not AXE.is_file():
        raise RuntimeError(f"axe-core is not installed: run `npm ci` in {AXE.parents[2]} (.ci does)")
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));"
    )
    assert isinstance(result, list), result
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:200] for n in v["nodes"][:3]]}
        for v in result
        if v.get("impact") in ("serious", "critical")
    ]


def shoot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def overflowing(driver: webdriver.Chrome, width: int) -> list[str]:
    """What sticks out to the right of a `width`-pixel viewport (outside boxes that scroll on their own)."""
    return list(
        driver.execute_script(
            """const w = arguments[0];
            return [...document.querySelectorAll('body, body *')]
              .filter(e => e.getBoundingClientRect().right > w + 1 || e.scrollWidth > e.clientWidth + 1)
              .filter(e => !(e.parentElement && e.parentElement.closest('.scroll')))
              .slice(0, 10)
              .map(e => `${e.tagName}.${e.className} right=${e.getBoundingClientRect().right} sw=${e.scrollWidth}`);""",
            width,
        )
    )
