"""A person at a browser, as far as an OpenID provider's pages need one: follows redirects, keeps cookies,
fills in and submits each page's form (login, consent, the device code) until a page has no form left.

Used in-process by the tests, and as the $BROWSER command of the `plica` client (`python browser.py URL`,
with OIDC_TEST_LOGIN and OIDC_TEST_PASSWORD in the environment). Standard library only."""

from __future__ import annotations

import http.cookiejar
import os
import sys
import urllib.parse
import urllib.request
from html.parser import HTMLParser


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            fields = self.forms[-1]["fields"]
            assert isinstance(fields, dict)
            fields[a["name"]] = a.get("value", "")


def browse(url: str, fields: dict[str, str], *, max_pages: int = 12) -> tuple[str, str]:
    """Open `url` and submit every form met with `fields` filled in; returns the last page's URL and text."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), urllib.request.ProxyHandler({})
    )
    resp = opener.open(url, timeout=30)
    for _ in range(max_pages):
        here, text = resp.geturl(), resp.read().decode(errors="replace")
        parser = _Forms()
        parser.feed(text)
        forms = [f for f in parser.forms if str(f["method"]).lower() == "post"]
        if not forms:
            return here, text
        form = forms[0]
        values = dict(form["fields"])  # type: ignore[call-overload]
        values.update({k: v for k, v in fields.items() if k in values})
        body = urllib.parse.urlencode(values).encode()
        resp = opener.open(urllib.parse.urljoin(here, str(form["action"])), data=body, timeout=30)
    raise AssertionError(f"still a form after {max_pages} pages at {resp.geturl()}")


def sign_in(url: str, login: str, password: str = "correct horse") -> tuple[str, str]:
    return browse(url, {"login": login, "password": password})


if __name__ == "__main__":
    sign_in(sys.argv[1], os.environ["OIDC_TEST_LOGIN"], os.environ.get("OIDC_TEST_PASSWORD", "pw"))
