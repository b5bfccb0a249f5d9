"""aiohttp's own answers in the API's error shape.

Bytes that are not an HTTP request (a bad request line, a header too long or with a control character,
broken chunked framing) are refused by aiohttp's parser before any route or middleware sees them, and
aiohttp answers them itself with a plain-text "400 Bad Request" (`RequestHandler.handle_error`), as it
does its last-resort 500 and 504. `GuardedHandler.handle_error` (plica.http.guard) answers with `error`
instead, through the API's one `error_response` (`{"status": N, "message": "..."}`), with the status
aiohttp chose, a sentence a person understands and at most a clipped, escaped line of the parser's
reason. A body the parser refuses after its request went to a route (broken chunked framing, a gzip body
that does not inflate) reaches the route as a `MalformedRequest` from `describe` too.
"""

from __future__ import annotations

import re

from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentEncodingError,
    ContentLengthError,
    DecompressSizeError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)

from plica.errors import InternalError, MalformedRequest, PlicaError
from plica.logsafe import clip

# What went wrong, by the parser's exception class (most specific first: BadHttpMethod is a BadStatusLine)
# and then, as the C parser raises most of them as a plain BadHttpMessage, by words of its reason.
_BY_CLASS: list[tuple[type[HttpProcessingError], str]] = [
    (BadHttpMethod, "the request method is not valid"),
    (BadStatusLine, "the request line is not valid HTTP"),
    (LineTooLong, "the request line or a header is too long"),
    (InvalidHeader, "a header is not valid"),
    (InvalidURLError, "the request target is not a valid URL"),
    (TransferEncodingError, "the chunked body is not framed correctly"),
    (ContentLengthError, "the body does not match its Content-Length"),
    (DecompressSizeError, "the body is too large once decompressed"),
    (ContentEncodingError, "the body's Content-Encoding cannot be decoded"),
]
_BY_WORD: list[tuple[str, str]] = [
    ("chunk", "the chunked body is not framed correctly"),
    ("content-length", "the Content-Length or Transfer-Encoding header is not valid"),
    ("transfer-encoding", "the Content-Length or Transfer-Encoding header is not valid"),
    ("header", "a header is not valid"),
    ("method", "the request method is not valid"),
    ("url", "the request target is not a valid URL"),
    ("version", "the request line is not valid HTTP"),
    ("status line", "the request line is not valid HTTP"),
]
# How much of the parser's reason an answer or a log line quotes.
REASON = 120
_TOO_LONG = re.compile(r"Got more than (\d+) bytes")


def reason_of(exc: BaseException | None) -> str:
    """The parser's reason without the bytes it quotes (the C parser puts them, and a caret, on the lines
    below; "Got more than N bytes when reading: <the line>"), escaped and clipped."""
    text = exc.message if isinstance(exc, HttpProcessingError) else ""
    if not isinstance(text, str):
        text = str(text)
    m = _TOO_LONG.search(text)
    if m:
        return f"more than {m.group(1)} bytes"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return clip(first.rstrip(": "), REASON)


def describe(exc: BaseException | None) -> str:
    """A sentence for a person: what is wrong with the request, then the parser's reason in brackets."""
    why = reason_of(exc)
    what = next(
        (w for cls, w in _BY_CLASS if type(exc) is not HttpProcessingError and isinstance(exc, cls)), None
    )
    if what is None:
        low = why.lower()
        what = next((w for word, w in _BY_WORD if word in low), "the request is not valid HTTP")
    return f"{what} ({why})" if why else what


def error(status: int, exc: BaseException | None) -> PlicaError:
    """The kernel error for aiohttp's answer `status` to `exc`: a MalformedRequest for what its parser
    refused (status < 500), the generic internal error otherwise."""
    if status < 500:
        return MalformedRequest(describe(exc), status=status)
    err = InternalError(InternalError.GENERIC)
    err.status = status
    return err
