"""The access log and the request metrics: one middleware, outermost, around every route (the kernel's
and the plugins').

One line per request on the logger `plica.access`: method, path, status, duration, the provisioner that
served it (when one did) and the request id (the configured trace header's value — ca.json
`logger.traceHeader`, step-ca's `X-Smallstep-Id` by default — or `X-Request-Id`, or a new one; echoed in
`X-Request-Id`). In JSON (`--log-format json`) the fields carry step-ca's names (`request-id`, `method`,
`path`, `status`, `duration-ns`, ...) plus `provisioner`. The same measurement feeds the latency
histograms when metrics are served.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from plica.logs import access_handler
from plica.logsafe import REQUEST_ID, clip
from plica.observe import close_note, open_note

if TYPE_CHECKING:
    from plica.authority import Authority

log = logging.getLogger("plica.access")

Handler = Any
DEFAULT_TRACE_HEADER = "X-Smallstep-Id"  # step-ca's


def request_id(request: web.Request, trace_header: str = "X-Smallstep-Id") -> str:
    """The client's request id — the trace header's (ca.json `logger.traceHeader`, step's X-Smallstep-Id
    by default), else X-Request-Id — when it is a sane one, else a new one."""
    rid = request.headers.get(trace_header) or request.headers.get("X-Request-Id") or ""
    if not rid or len(rid) > 64 or not rid.isascii() or not rid.isprintable():
        # A correlation id, not a secret (a client may choose its own): Python's generator, which each
        # forked worker reseeds, instead of a getrandom system call per request.
        rid = f"{random.getrandbits(128):032x}"
    return rid


def access_middleware(authority: Authority) -> Any:
    """The middleware; `authority.meter` (a `plica.metrics.PrometheusMeter` or None) is read per request."""

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        logger = authority.config.logger  # read per request: a reload may change it
        rid = request_id(request, logger.trace_header if logger is not None else DEFAULT_TRACE_HEADER)
        request[REQUEST_ID] = rid
        note, token = open_note()
        status = 500
        try:
            resp: web.StreamResponse = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as e:  # raised past the error middleware: a redirect or similar
            status = e.status
            raise
        finally:
            close_note(token)
            seconds = time.perf_counter() - start
            meter: Any = authority.meter
            if meter is not None:
                info = request.match_info.route.resource
                route = info.canonical if info is not None else "unmatched"
                meter.observe(request.method, route, status, note.provisioner, seconds)
            if log.isEnabledFor(logging.INFO):
                _log_line(request, status, seconds, note.provisioner, rid)

    return access


def _log_line(request: web.Request, status: int, seconds: float, provisioner: str, rid: str) -> None:
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    method, path = request.method, clip(request.path_qs)  # client input: no forged lines, no megabyte paths
    message = f'{method} {path} {status} {seconds * 1000:.3f}ms provisioner="{provisioner}" request-id={rid}'
    handler = access_handler(log, level)
    if handler is not None and not handler.access_formatter.uses_fields:
        handler.access(level, message, {})
        return
    fields = {
        "request-id": rid,
        "remote-address": request.remote or "",
        "method": method,
        "path": path,
        "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
        "status": status,
        "duration-ns": int(seconds * 1e9),
        "duration": f"{seconds * 1000:.3f}ms",
        "provisioner": provisioner,
        "user-agent": clip(request.headers.get("User-Agent", "")),
    }
    if handler is not None:
        handler.access(level, message, fields)
    else:
        log.log(level, "%s", message, extra={"access": fields})
