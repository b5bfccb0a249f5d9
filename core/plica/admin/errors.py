"""The admin API's error shape `{"type", "detail", "message"}` (docs/reference/wire.md §1b) and the handler wrapper that
answers every failure of an admin endpoint in it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from plica.errors import PlicaError

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("plica.admin")

# step's admin problem types (authority/admin/errors.go): status → (type, fixed detail)
_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("badRequest", "bad request"),
    401: ("unauthorized", "unauthorized"),
    403: ("forbidden", "forbidden"),
    404: ("notFound", "resource not found"),
    409: ("conflict", "conflict"),
    501: ("notImplemented", "not implemented"),
    500: ("internalServerError", "the server experienced an internal error"),
}


class AdminError(PlicaError):
    """An error answered in the admin API's shape `{"type", "detail", "message"}` (docs/reference/wire.md §1b).

    It is a `PlicaError` whose body is the admin shape, so the kernel's error handling answers it as is;
    the CA API's own shape (`{"status", "message"}`) is untouched."""

    def __init__(self, status: int, message: str, *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.status = status

    @property
    def type(self) -> str:
        return _problem(self.status)[0]

    def body(self) -> dict[str, object]:
        kind, fixed = _problem(self.status)
        return {"type": kind, "detail": fixed, "message": self.message}


def _problem(status: int) -> tuple[str, str]:
    if status in _PROBLEMS:
        return _PROBLEMS[status]
    return _PROBLEMS[500] if status >= 500 else _PROBLEMS[400]


def as_admin_error(e: PlicaError) -> AdminError:
    """A kernel error (e.g. `BadRequest` from reading the body) in the admin shape, same status. 403 has no
    admin type of its own in step; Plica answers it `forbidden`."""
    if isinstance(e, AdminError):
        return e
    return AdminError(e.status, e.public_message(), detail=e.detail)


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def admin_route(handler: Handler) -> Handler:
    """Wrap an admin endpoint so every failure is answered in the admin shape (never the CA's, never a
    traceback): kernel errors keep their status; anything unexpected is a logged, generic 500."""
    # aiohttp is imported when the server wraps its routes, not with plica.api: every client command
    # and plugin imports the face, and aiohttp alone would add a sixth to the CLI's start-up.
    from aiohttp import web

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AdminError:
            raise
        except PlicaError as e:
            raise as_admin_error(e) from None
        except web.HTTPRequestEntityTooLarge:
            raise AdminError(413, "request body is too large") from None
        except web.HTTPException:
            raise
        except Exception:
            log.exception("admin request %s %s failed", request.method, request.path)
            raise AdminError(500, "the certificate authority could not complete the request") from None

    return wrapped
