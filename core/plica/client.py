"""A small synchronous client of the CA's HTTP API, used by the `plica` client commands."""

from __future__ import annotations

import hashlib
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from attrs import define


class CAClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@define
class CAClient:
    ca_url: str
    root: Path | None = None
    cert: tuple[str, str] | None = None  # client certificate and key files, for mTLS
    insecure: bool = False

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.root) if self.root else None)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert[0], self.cert[1])
        return ctx

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(self.ca_url.rstrip("/") + path, data=data, method=method)
        req.add_header("User-Agent", "plica-cli/0.1")
        if body is not None or method == "POST":
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self._context(), timeout=30) as resp:
                raw = resp.read()
                ctype = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
                msg = err.get("message") or err.get("detail") or raw.decode(errors="replace")
            except ValueError:
                msg = raw.decode(errors="replace")
            raise CAClientError(e.code, msg) from None
        except urllib.error.URLError as e:
            raise CAClientError(0, f"cannot reach the CA at {self.ca_url}: {e.reason}") from None
        if "json" in ctype:
            return json.loads(raw)
        return raw

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, body, headers)

    def provisioners(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.get(f"/provisioners?limit=100&cursor={cursor}")
            out.extend(page.get("provisioners") or [])
            cursor = page.get("nextCursor") or ""
            if not cursor:
                return out


def fetch_root(ca_url: str, fp: str) -> bytes:
    """`plica root`: download the root over an unauthenticated TLS connection, then trust it only if its
    SHA-256 fingerprint is the one the operator gave."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    want = fp.replace(":", "").replace("-", "").lower()
    c = CAClient(ca_url, insecure=True)
    data = c.get(f"/root/{want}")
    cert = x509.load_pem_x509_certificate(data["ca"].encode())
    got = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    if got != want:
        raise CAClientError(0, f"root fingerprint mismatch: the CA sent {got}, expected {want}")
    return cert.public_bytes(serialization.Encoding.PEM)
