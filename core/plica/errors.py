"""Kernel exception types.

Every error a request can meet is one of these; `plica.http` maps them to the HTTP status and step-ca's
error body (`{"status": N, "message": "..."}`) in one place (`PlicaError.body`). Plugins raise these, never
aiohttp exceptions, so the wire shape stays the kernel's business.
"""

from __future__ import annotations


class PlicaError(Exception):
    """Base of all kernel errors that reach a client. `message` is safe to show: it never holds a secret."""

    status: int = 500
    prefix: str = ""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # `detail` goes to the server log only (it may name internals a client should not see).
        self.detail = detail

    def public_message(self) -> str:
        return f"{self.prefix}{self.message}" if self.prefix else self.message

    def body(self) -> dict[str, object]:
        return {"status": self.status, "message": self.public_message()}


class BadRequest(PlicaError):
    status = 400
    prefix = "The request could not be completed: "


class MalformedRequest(BadRequest):
    """The bytes on a connection are not an HTTP request the server can parse (a bad request line, a header
    too long or malformed, broken chunked framing): the HTTP parser refused them before any route saw
    them. `status` is the one the HTTP server chose (400 unless it says otherwise)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(PlicaError):
    status = 401


class Forbidden(PlicaError):
    status = 403
    prefix = "The request was forbidden by the certificate authority: "


class NotFound(PlicaError):
    status = 404


class Conflict(PlicaError):
    status = 409


class PayloadTooLarge(PlicaError):
    status = 413


class RateLimited(PlicaError):
    status = 429


class NotImplementedYet(PlicaError):
    """501: the CA does not offer this (SSH not configured, passive=false revocation, ...)."""

    status = 501


class InternalError(PlicaError):
    status = 500

    # step-ca's words for a failure the client cannot act on; what failed goes to the log, not the answer.
    GENERIC = (
        "The certificate authority encountered an Internal Server Error. "
        "Please see the certificate authority logs for more info."
    )


class KeyUnavailable(PlicaError):
    """503: a CA key cannot be reached now (its token was removed, its module failed, its PIN changed). The
    message a client sees is always "signing key unavailable"; what went wrong is `detail`, for the log. A
    key manager raises it from `CAKey.sign`; the CA stays up and asks the key again on the next request."""

    status = 503

    def __init__(self, detail: str = "") -> None:
        super().__init__("signing key unavailable", detail=detail or None)


class ConfigError(Exception):
    """ca.json (or a provisioner block in it) is invalid. `path` is the JSON path, e.g. `authority.provisioners[2].key`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def in_file(self, file: object) -> str:
        """The error as a command prints it for the ca.json at `file`: a fault in its contents (which has a
        JSON path) is prefixed with the file; one of the file itself (missing, unreadable, not JSON) names
        it already."""
        return f"{file}: {self}" if self.path else str(self)


class PluginError(Exception):
    """A provisioner plugin could not be found or loaded; the message names the type and the distribution."""


class StartError(Exception):
    """`plica start` cannot start: the port is taken, or a CA already runs from this home. The message is
    the one line the operator sees."""
