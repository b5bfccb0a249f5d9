"""Bytes that are not an HTTP request (issue 17): aiohttp's parser refuses them before any route sees
them, and the answer is the API's error shape (`{"status": N, "message": "..."}`) with a sentence a person
understands, not aiohttp's plain-text "400 Bad Request".

Raw bytes over TLS to the real server (one in-process CA for the module, served by `GuardedSite` as
`plica start` serves it), and curl for what it can send.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator

import orjson
import pytest
import pytest_asyncio

from plica.testing import CAFiles, in_process_ca, make_ca

pytestmark = pytest.mark.asyncio(loop_scope="module")
PREFIX = "The request could not be completed: "


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ca(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CAFiles]:
    files = make_ca(tmp_path_factory.mktemp("malformed"))
    async with in_process_ca(files):
        yield files


async def exchange(files: CAFiles, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` on a new TLS connection; the status, headers and body of the answer (the server closes
    the connection after an error)."""
    ctx = ssl.create_default_context(cafile=str(files.root))
    r, w = await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx)
    try:
        w.write(data)
        raw = await asyncio.wait_for(r.read(), 10)
    finally:
        w.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return status, headers, body


def api_error(status: int, headers: dict[str, str], body: bytes) -> str:
    """The message of an answer in the API's error shape (failing the test when it is not one)."""
    assert headers.get("content-type", "").startswith("application/json"), (headers, body[:300])
    doc = orjson.loads(body)
    assert set(doc) == {"status", "message"}, doc
    assert doc["status"] == status
    msg = doc["message"]
    assert isinstance(msg, str) and msg.startswith(PREFIX), msg
    assert len(msg) <= 500, len(msg)
    assert msg.isprintable(), msg  # control characters are escaped
    assert "Traceback" not in msg and "aiohttp" not in msg, msg
    assert headers.get("x-request-id"), headers
    return msg


BIG = b"a" * 20000

CASES = {
    "bad request line": (b"GARBAGE\r\n\r\n", "not valid"),
    "bad method": (b"G\x01T / HTTP/1.1\r\nHost: ca\r\n\r\n", "method is not valid"),
    "bad version": (b"GET /health HTTP/7.3\r\nHost: ca\r\n\r\n", "not valid HTTP"),
    "request line too long": (b"GET /" + BIG + b" HTTP/1.1\r\nHost: ca\r\n\r\n", "too long"),
    "header too long": (b"GET /health HTTP/1.1\r\nHost: ca\r\nX-Big: " + BIG + b"\r\n\r\n", "too long"),
    "control character in a header": (
        b"GET /health HTTP/1.1\r\nHost: ca\r\nX-Bad: a\x01b\r\n\r\n",
        "a header is not valid",
    ),
    "header without a colon": (
        b"GET /health HTTP/1.1\r\nHost: ca\r\nNoColonHere\r\n\r\n",
        "a header is not valid",
    ),
    "Content-Length and Transfer-Encoding": (
        b"POST /sign HTTP/1.1\r\nHost: ca\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        "Transfer-Encoding header is not valid",
    ),
    "two Content-Lengths": (
        b"POST /sign HTTP/1.1\r\nHost: ca\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "Content-Length or Transfer-Encoding header is not valid",
    ),
    "unknown Content-Encoding": (
        b"POST /sign HTTP/1.1\r\nHost: ca\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
        "Content-Encoding cannot be decoded",
    ),
    "bad chunk size": (
        b"POST /sign HTTP/1.1\r\nHost: ca\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
        "chunked body is not framed correctly",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_unparsable_requests_get_the_api_error_shape(ca: CAFiles, case: str) -> None:
    data, phrase = CASES[case]
    status, headers, body = await exchange(ca, data)
    assert 400 <= status < 500, (status, body[:300])
    msg = api_error(status, headers, body)
    assert phrase in msg, msg
    assert headers.get("connection", "").lower() == "close", headers


async def broken_body(files: CAFiles, path: bytes, head: bytes, first: bytes, then: bytes) -> bytes:
    """A request whose headers and first body bytes are sent, then (once a route reads it) bytes that break
    its framing; everything the server answers until it closes the connection."""
    ctx = ssl.create_default_context(cafile=str(files.root))
    r, w = await asyncio.open_connection("127.0.0.1", files.port, ssl=ctx)
    try:
        w.write(
            b"POST " + path + b" HTTP/1.1\r\nHost: ca\r\nContent-Type: application/json\r\n" + head + first
        )
        await asyncio.sleep(0.3)
        w.write(then)
        return await asyncio.wait_for(r.read(), 10)  # not the body timeout's 30 s
    finally:
        w.close()


CHUNKED = b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("path", [b"/sign", b"/1.0/sign", b"/health", b"/no-such-route"])
async def test_a_body_broken_after_its_request_started(
    ca: CAFiles, path: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's C parser, refusing a chunk after the route began reading the body, leaves the body without
    an end: the route waited for the body timeout and the client got nothing. One answer in the API's
    shape (a 400 from a route that reads the body, the route's own answer from one that does not), then
    the connection closes; no traceback in the log."""
    with caplog.at_level(logging.INFO):
        raw = await broken_body(ca, path, CHUNKED, b"2\r\n{}\r\n", b"ZZ\r\nxx\r\n0\r\n\r\n")
    assert raw.count(b"HTTP/1.") == 1, raw
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"application/json" in head, raw
    doc = orjson.loads(body)
    if path.endswith(b"sign"):
        assert doc["status"] == 400 and "chunked body is not framed correctly" in doc["message"], doc
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text[-3000:]


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
async def test_a_compressed_body_that_does_not_inflate(
    ca: CAFiles, encoding: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp raises RequestPayloadError from the route's read of the body: it was a 500 with a traceback
    in the log."""
    data = (
        b"POST /sign HTTP/1.1\r\nHost: ca\r\nContent-Type: application/json\r\nContent-Encoding: "
        + encoding
        + b"\r\nContent-Length: 10\r\n\r\n0123456789"
    )
    with caplog.at_level(logging.INFO):
        status, headers, body = await exchange(ca, data)
    assert status == 400, body
    assert "Content-Encoding cannot be decoded" in api_error(status, headers, body)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text[-3000:]


async def test_the_parser_reason_is_escaped_and_clipped(
    ca: CAFiles, caplog: pytest.LogCaptureFixture
) -> None:
    """The parser quotes the bytes it refused: a newline in them cannot forge a log line, and neither the
    answer nor the log line quotes more than a clipped line of it."""
    forged = b"\nERROR forged line " + b"x" * 5000
    with caplog.at_level(logging.INFO, logger="plica.http"):
        status, headers, body = await exchange(ca, b"G\x01T /" + forged + b" HTTP/1.1\r\n\r\n")
    msg = api_error(status, headers, body)
    assert "forged" not in msg or "\\x0a" in msg, msg
    lines = [r.getMessage() for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert lines, [r.getMessage() for r in caplog.records]
    assert all("\n" not in line and len(line) < 800 for line in lines), lines
    assert headers["x-request-id"] in lines[-1]


async def test_a_good_request_after_them_still_works(ca: CAFiles) -> None:
    status, _headers, body = await exchange(
        ca, b"GET /health HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and orjson.loads(body) == {"status": "ok"}


def curl(files: CAFiles, *args: str) -> tuple[int, str, bytes]:
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(files.root), "-o", "-", "-w", "\n%{http_code} %{content_type}",
         *args, f"{files.url}/health"],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    body, _, tail = out.stdout.rpartition(b"\n")
    code, _, ctype = tail.decode().partition(" ")
    return int(code), ctype, body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["-H", "X-Big: " + "a" * 20000], "too long"),
        (["-X", "BAD METHOD"], "method is not valid"),
        (["-H", "X-Bad: a\x7fb"], "not valid"),
    ],
    ids=["header too long", "space in the method", "DEL in a header"],
)
async def test_curl_gets_the_api_error_shape(ca: CAFiles, args: list[str], phrase: str) -> None:
    code, ctype, body = await asyncio.to_thread(curl, ca, *args)
    assert ctype.startswith("application/json"), (code, ctype, body[:300])
    doc = orjson.loads(body)
    assert doc["status"] == code and 400 <= code < 500, doc
    assert doc["message"].startswith(PREFIX) and phrase in doc["message"], doc
