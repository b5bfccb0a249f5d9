"""A person at the console, as far as the HTTP tests need one: an aiohttp client with its own cookie jar
that reads each page's CSRF token from its form, as a browser would submit it."""

from __future__ import annotations

import re
import ssl
from typing import Any

import aiohttp
from attrs import define

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


@define
class Page:
    status: int
    url: str
    text: str
    headers: Any


@define
class Browser:
    base: str
    ssl_ctx: ssl.SSLContext
    session: aiohttp.ClientSession

    @classmethod
    def open(cls, base: str, ssl_ctx: ssl.SSLContext) -> Browser:
        # unsafe=True: keep cookies of an IP-address host (the test CA is 127.0.0.1)
        jar = aiohttp.CookieJar(unsafe=True)
        return cls(base, ssl_ctx, aiohttp.ClientSession(cookie_jar=jar))

    async def get(self, path: str, **kw: Any) -> Page:
        async with self.session.get(self.base + path, ssl=self.ssl_ctx, **kw) as r:
            return Page(r.status, str(r.url), await r.text(), r.headers)

    async def post(self, path: str, data: dict[str, str], *, follow: bool = True, **kw: Any) -> Page:
        async with self.session.post(
            self.base + path, data=data, ssl=self.ssl_ctx, allow_redirects=follow, **kw
        ) as r:
            return Page(r.status, str(r.url), await r.text(), r.headers)

    async def form(self, page_path: str, action: str, fields: dict[str, str], **kw: Any) -> Page:
        """Open `page_path`, then post `fields` to `action` with that page's CSRF token."""
        page = await self.get(page_path)
        return await self.post(action, {"csrf": csrf_of(page.text), **fields}, **kw)

    async def sign_in(self, subject: str, password: str, provisioner: str = "admin", **kw: Any) -> Page:
        return await self.form(
            "/console/signin",
            "/console/signin/password",
            {"subject": subject, "password": password, "provisioner": provisioner},
            **kw,
        )

    async def close(self) -> None:
        await self.session.close()
