"""What every ACME handler gets: the request, the application's runtime, the provisioner and its links; and
the response helpers (JSON, problem documents) with the headers every ACME answer carries."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import orjson
from aiohttp import web
from attrs import define

from plica.api import PlicaError, Provisioner, clip, request_id_of

from ..problems import Problem
from ..provisioner import ACMEState, acme_provisioner
from ..runtime import RUNTIME, Runtime
from ..store import AcmeStore
from .jws import Signed, authenticate
from .links import Links

log = logging.getLogger("plica.acme")


@define
class Ctx:
    request: web.Request
    rt: Runtime
    prov: Provisioner
    links: Links

    @property
    def state(self) -> ACMEState:
        return self.prov.state

    @property
    def store(self) -> AcmeStore:
        return self.rt.store

    async def auth(self, mode: Literal["jwk", "kid", "any"] = "kid") -> Signed:
        return await authenticate(self.request, self.rt, self.links, self.prov.name, auth=mode)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    resp = web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def problem_response(p: Problem) -> web.Response:
    resp = web.Response(body=orjson.dumps(p.body()), status=p.status, content_type="application/problem+json")
    for k, v in p.headers.items():
        resp.headers.add(k, v)
    return resp


def from_kernel(e: PlicaError) -> Problem:
    """A kernel error met while issuing (claims, policy, template) as an ACME problem."""
    if e.status == 400:
        return Problem("badCSR", e.public_message())
    if e.status in (401, 403):
        return Problem("unauthorized", e.public_message())
    if e.status == 429:
        return Problem("rateLimited", e.public_message())
    log.error("ACME: issuing failed: %s %s", e.message, e.detail or "")
    return Problem("serverInternal", "the certificate authority could not complete the request")


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


def acme_handler(
    fn: Handler, *, nonce: bool = True
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: find the provisioner, answer problems as RFC 7807 documents (never a bare 500), and
    add `Replay-Nonce`, `Link: <directory>;rel="index"` and `Cache-Control: no-store`."""

    async def handler(request: web.Request) -> web.StreamResponse:
        rt = request.app[RUNTIME]
        name = request.match_info.get("provisioner", "")
        links: Links | None = None
        try:
            prov = acme_provisioner(rt.authority, name)
            if prov is None:
                raise Problem("malformed", f"there is no ACME provisioner named {name!r}", status=404)
            links = Links(request, prov.name)
            resp = await fn(Ctx(request, rt, prov, links))
        except Problem as p:
            if p.status >= 500:
                log.error(
                    "ACME request %s %s %s: %s",
                    request_id_of(request),
                    request.method,
                    clip(request.path),
                    clip(p.detail),
                )
            resp = problem_response(p)
        except PlicaError as e:
            resp = problem_response(from_kernel(e))
        except web.HTTPRequestEntityTooLarge:
            resp = problem_response(Problem("malformed", "the request body is too large", status=413))
        except Exception:
            log.exception(
                "ACME request %s %s %s failed", request_id_of(request), request.method, clip(request.path)
            )
            resp = problem_response(
                Problem("serverInternal", "the certificate authority encountered an internal error")
            )
        if links is not None:
            resp.headers.add("Link", f'<{links.directory()}>;rel="index"')
        if nonce:
            try:
                resp.headers["Replay-Nonce"] = await rt.nonces.take()
            except Exception:
                log.exception("ACME: cannot issue a nonce")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return handler
