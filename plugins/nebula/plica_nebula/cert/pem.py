"""PEM armour as nebula writes it: the block banners, base64 bodies in 64-character lines, no headers."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from plica_nebula.cert.errors import NebulaCertificateError

CERT_BANNER_V1 = "NEBULA CERTIFICATE"
CERT_BANNER_V2 = "NEBULA CERTIFICATE V2"

_PEM_RE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----",
    re.DOTALL,
)


def pem_blocks(data: bytes | str) -> Iterator[tuple[str, bytes]]:
    """Each PEM block in ``data`` as ``(banner, decoded body)``; text between blocks is skipped."""
    if isinstance(data, str):
        data = data.encode()
    for m in _PEM_RE.finditer(data):
        body = m.group(2)
        if b":" in body:
            raise NebulaCertificateError("PEM headers are not supported")
        try:
            decoded = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise NebulaCertificateError(f"invalid base64 in {m.group(1).decode()} PEM block") from None
        yield m.group(1).decode(), decoded


def pem_encode(banner: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {banner}-----\n" + "\n".join(lines) + f"\n-----END {banner}-----\n").encode()
