"""The aiohttp application: step-ca's routes at `/` and `/1.0`, plus plugins' routes.

Errors: every `PlicaError` becomes step's body `{"status": N, "message": "..."}` here, in one place; an
unexpected exception becomes a generic 500 (details to the log only, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

import orjson
from aiohttp import web
from cryptography import x509

from plica.authority import Authority
from plica.errors import (
    BadRequest,
    InternalError,
    KeyUnavailable,
    MalformedRequest,
    NotFound,
    NotImplementedYet,
    PayloadTooLarge,
    PlicaError,
)
from plica.http import malformed, wire
from plica.http.access import access_middleware, request_id
from plica.http.wire import read_json
from plica.logsafe import REQUEST_ID, clip
from plica.pki import pem
from plica.stages import next_step
from plica.types import Route
from plica.x509.renewtoken import authorize_renew_token

log = logging.getLogger("plica.http")

# step has no limit; a CA should not buffer arbitrary bodies (docs/reference/wire.md §10.4)
MAX_BODY = 1 << 20
AUTHORITY_KEY: web.AppKey[Authority] = web.AppKey("authority", Authority)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj) + b"\n", status=status, content_type="application/json")


# Error messages may quote client input; an answer quotes at most this much of it.
MAX_MESSAGE = 500


def error_response(err: PlicaError) -> web.Response:
    body = err.body()
    if isinstance(body.get("message"), str):
        body["message"] = clip(str(body["message"]), MAX_MESSAGE)
    return json_response(body, status=err.status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # plica.http.access chose the id (the configured trace header's, sanitised) when it runs first
    rid = request.get(REQUEST_ID) or request_id(request)
    request[REQUEST_ID] = rid
    try:
        if "\x00" in request.path or (
            # percent-decoding makes a value's NUL; an empty query has none (and is not parsed for it)
            request.query_string
            and ("\x00" in request.query_string or any("\x00" in v for v in request.query.values()))
        ):
            # Path parameters and queries become database lookups (ACME's ids, cursors), and PostgreSQL
            # cannot hold a NUL: refused here, for every route of every plugin.
            raise BadRequest("the request path and query must not contain NUL characters")
        resp = await handler(request)
    except PlicaError as e:
        where = _where(request)
        if isinstance(e, KeyUnavailable):
            pass  # the Signer logs the loss once, not once per refused request
        elif e.status >= 500 and e.status != 501:  # 501: the CA does not offer it; nothing failed
            log.error("request %s %s failed: %s %s", rid, where, clip(e.message), clip(e.detail or ""))
        else:
            log.info("request %s %s refused (%d): %s", rid, where, e.status, clip(e.message))
        resp = error_response(e)
    except web.HTTPRequestEntityTooLarge:
        resp = error_response(PayloadTooLarge(f"request body is larger than {MAX_BODY} bytes"))
    except web.RequestPayloadError as e:
        # aiohttp could not decode the body (a gzip or deflate body that does not inflate): the client's
        # error, which aiohttp raises from the handler's read of the body.
        err = MalformedRequest(malformed.describe(e.__cause__ or e))
        log.info("request %s %s refused (%d): %s", rid, _where(request), err.status, clip(err.message))
        resp = error_response(err)
    except web.HTTPException as e:
        if e.status >= 400:
            resp = json_response(
                {"status": e.status, "message": clip(e.reason or "", MAX_MESSAGE)}, status=e.status
            )
        else:
            raise
    except Exception:
        # The last line: every input is checked where it is parsed, so reaching this is a bug to fix.
        log.exception("request %s %s failed with an unexpected error", rid, _where(request))
        resp = error_response(InternalError(InternalError.GENERIC))
    resp.headers["X-Request-Id"] = rid
    return resp


def _where(request: web.Request) -> str:
    """The request line for an error's log line (client input: clipped and escaped)."""
    return clip(f"{request.method} {request.path}")


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    ssl_obj = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_obj is None:
        return None
    der = ssl_obj.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


class Handlers:
    def __init__(self, authority: Authority) -> None:
        self.a = authority
        self._tls: Any = None
        self._tls_json: dict[str, Any] = {}

    def tls_options(self) -> dict[str, Any]:
        """ca.json's `tls` block as a signed certificate's answer carries it: converted once per loaded
        configuration (a reload replaces the block), not per certificate (~15 µs with cattrs)."""
        tls = self.a.config.tls
        if tls is not self._tls:
            self._tls, self._tls_json = tls, tls.to_json()
        return self._tls_json

    def sign_response(self, chain: list[x509.Certificate]) -> web.Response:
        leaf = pem(chain[0])
        inter = self.a.material.chain_pem
        return json_response(
            {"crt": leaf, "ca": inter[0], "certChain": [leaf, *inter], "tlsOptions": self.tls_options()},
            status=201,
        )

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def version(self, request: web.Request) -> web.Response:
        return json_response({"version": self.a.version})

    async def roots(self, request: web.Request) -> web.Response:
        return json_response({"crts": self.a.material.root_pem}, status=201)

    async def roots_pem(self, request: web.Request) -> web.Response:
        return web.Response(
            body="".join(self.a.material.root_pem).encode(), content_type="application/x-pem-file"
        )

    async def root(self, request: web.Request) -> web.Response:
        return json_response({"ca": pem(self.a.root_by_sha(request.match_info["sha"]))})

    async def federation(self, request: web.Request) -> web.Response:
        return json_response({"crts": self.a.material.federated_pem}, status=201)

    async def intermediates(self, request: web.Request) -> web.Response:
        if not self.a.material.chain_pem:
            raise NotImplementedYet("no intermediates configured")
        return json_response({"crts": self.a.material.chain_pem}, status=201)

    async def intermediates_pem(self, request: web.Request) -> web.Response:
        if not self.a.material.chain_pem:
            raise NotImplementedYet("no intermediates configured")
        return web.Response(
            body="".join(self.a.material.chain_pem).encode(), content_type="application/x-pem-file"
        )

    async def crl(self, request: web.Request) -> web.Response:
        """step-ca's GET /crl: the current CRL in DER, or in PEM with `?pem`; `Expires` is its nextUpdate."""
        c = await self.a.crl.current()
        headers = {"Expires": formatdate(c.next_update, usegmt=True)}
        if "pem" in request.query:
            headers["Content-Disposition"] = 'attachment; filename="crl.pem"'
            return web.Response(body=c.pem, content_type="application/x-pem-file", headers=headers)
        headers["Content-Disposition"] = 'attachment; filename="crl.crl"'
        return web.Response(body=c.der, content_type="application/pkix-crl", headers=headers)

    async def provisioners(self, request: web.Request) -> web.Response:
        limit_raw = request.query.get("limit", "")
        limit = 20
        if limit_raw:
            try:
                limit = int(limit_raw)
            except ValueError:
                raise BadRequest(f"limit '{limit_raw}' is not an integer") from None
        if limit <= 0:
            limit = 20
        limit = min(limit, 100)
        pset = self.a.snapshot.provisioners
        page, nxt = pset.page(request.query.get("cursor", ""), limit)
        return json_response({"provisioners": [pset.public[id(p)] for p in page], "nextCursor": nxt})

    async def encrypted_key(self, request: web.Request) -> web.Response:
        pset = self.a.snapshot.provisioners
        prov = pset.by_kid(request.match_info["kid"])
        fn = pset.entry(prov).hooks.get("provisioner_encrypted_key")
        key = fn(provisioner=prov) if fn is not None else None
        if not key:
            raise NotFound(f"provisioner {prov.name!r} has no encrypted key")
        return json_response({"key": key})

    async def capabilities(self, request: web.Request) -> web.Response:
        return json_response(self.a.plugins.capabilities_json())

    async def sign(self, request: web.Request) -> web.Response:
        ott, req = wire.sign_request(await read_json(request))
        await next_step()  # the CSR checks of this turn's requests, then their tokens (plica.stages)
        resp = self.sign_response(await self.a.sign(ott, req))
        await next_step()  # this turn's answers are built, then aiohttp writes them
        return resp

    async def renew(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            presented, token_id = authorize_renew_token(self.a, auth[7:].strip())
            return self.sign_response(await self.a.renew(presented, token_id=token_id))
        cert = peer_certificate(request)
        if cert is None:
            raise BadRequest("missing client certificate")
        return self.sign_response(await self.a.renew(cert))

    async def rekey(self, request: web.Request) -> web.Response:
        cert = peer_certificate(request)
        if cert is None:
            raise BadRequest("missing client certificate")
        csr = wire.rekey_csr(await read_json(request))
        return self.sign_response(await self.a.rekey(cert, csr))

    async def revoke(self, request: web.Request) -> web.Response:
        ott, req = wire.revoke_request(await read_json(request))
        await self.a.revoke(ott, req, mtls_cert=peer_certificate(request))
        return json_response({"status": "ok"})

    async def ssh_sign(self, request: web.Request) -> web.Response:
        body = wire.ssh_sign_request(await read_json(request))
        await next_step()
        cert, added = await self.a.ssh_sign(
            body.ott, body.request, cert_type_named=body.cert_type_named, add_user_key=body.add_user_key
        )
        out = {"crt": cert.wire_b64()}
        if added is not None:
            out["addUserCrt"] = added.wire_b64()
        resp = json_response(out, status=201)
        await next_step()
        return resp

    async def ssh_renew(self, request: web.Request) -> web.Response:
        return await self._ssh_renew(request, rekey=False)

    async def ssh_rekey(self, request: web.Request) -> web.Response:
        return await self._ssh_renew(request, rekey=True)

    async def _ssh_renew(self, request: web.Request, *, rekey: bool) -> web.Response:
        ott, req = wire.ssh_renew_request(await read_json(request), rekey=rekey)
        cert = await self.a.ssh_renew(ott, req, rekey=rekey)
        return json_response({"crt": cert.wire_b64()}, status=201)

    async def ssh_revoke(self, request: web.Request) -> web.Response:
        ott, req = wire.ssh_revoke_request(await read_json(request))
        await self.a.ssh_revoke(ott, req)
        return json_response({"status": "ok"})

    async def ssh_roots(self, request: web.Request) -> web.Response:
        return json_response(self.a.ssh_root_keys())

    async def ssh_federation(self, request: web.Request) -> web.Response:
        return json_response(self.a.ssh_root_keys())

    async def ssh_check_host(self, request: web.Request) -> web.Response:
        principal = wire.check_host_principal(await read_json(request))
        return json_response({"exists": await self.a.ssh_host_exists(principal)})


def plain_http_guard(allowed: set[web.AbstractRoute]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The plain-HTTP listener (`insecureAddress`) serves only routes marked `insecure` (`Route.insecure`):
    a request that did not come over TLS for any other route is 404, as on step-ca, whose plain listener
    has nothing else mounted. Both listeners share one application, so a plugin's state is the same on
    both; the check is one attribute read on the TLS path."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.secure and request.match_info.route not in allowed:
            raise NotFound(f"{request.path} is not served over plain HTTP; use the CA's https address")
        return await handler(request)

    return guard


def build_app(authority: Authority, extra_routes: list[Route] | None = None) -> web.Application:
    """The kernel's routes and `extra_routes` (plugins', and any kernel `Route` such as one that may be
    served without TLS). With ca.json's `insecureAddress` set, the plain-HTTP guard is installed."""
    plain_http: set[web.AbstractRoute] = set()
    middlewares: list[Any] = [access_middleware(authority), error_middleware]
    if authority.config.insecure_address:
        middlewares.append(plain_http_guard(plain_http))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[AUTHORITY_KEY] = authority
    h = Handlers(authority)
    gets = {
        "/health": h.health,
        "/version": h.version,
        "/roots": h.roots,
        "/roots.pem": h.roots_pem,
        "/root/{sha}": h.root,
        "/federation": h.federation,
        "/intermediates": h.intermediates,
        "/intermediates.pem": h.intermediates_pem,
        "/provisioners": h.provisioners,
        "/provisioners/{kid}/encrypted-key": h.encrypted_key,
        "/capabilities": h.capabilities,
        "/ssh/roots": h.ssh_roots,
        "/ssh/federation": h.ssh_federation,
    }
    posts = {
        "/sign": h.sign,
        "/renew": h.renew,
        "/re-sign": h.renew,
        "/rekey": h.rekey,
        "/revoke": h.revoke,
        "/ssh/sign": h.ssh_sign,
        "/sign-ssh": h.ssh_sign,
        "/ssh/renew": h.ssh_renew,
        "/ssh/rekey": h.ssh_rekey,
        "/ssh/revoke": h.ssh_revoke,
        "/ssh/check-host": h.ssh_check_host,
    }
    for prefix in ("", "/1.0"):
        for path, fn in gets.items():
            app.router.add_get(prefix + path, fn)
        for path, fn in posts.items():
            app.router.add_post(prefix + path, fn)
    for prefix in ("", "/1.0"):
        # Public and signed: served on insecureAddress too, as step-ca does (relying parties fetch CRLs
        # over plain HTTP).
        plain_http.add(app.router.add_get(prefix + "/crl", h.crl))
    for r in extra_routes or []:
        route = app.router.add_route(r.method, r.path, r.handler, name=r.name or None)
        if r.insecure:
            plain_http.add(route)
    return app


__all__ = ["AUTHORITY_KEY", "build_app", "json_response", "plain_http_guard"]
