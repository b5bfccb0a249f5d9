"""Micro-benchmark: microseconds per execution of step-ca's DefaultLeafTemplate (parsed once).

Run: PYTHONPATH=core python bench/templating_bench.py
"""

from __future__ import annotations

import time
from typing import Any

from plica.templating import parse

DEFAULT_LEAF = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""


class Subject:
    __go_type__ = "x509util.Subject"

    def __init__(self, cn: str) -> None:
        self.CommonName = cn

    def __go_json__(self) -> dict[str, Any]:
        return {"commonName": self.CommonName}


class SAN:
    __go_type__ = "x509util.SubjectAlternativeName"

    def __init__(self, typ: str, value: str) -> None:
        self.Type = typ
        self.Value = value

    def __go_json__(self) -> dict[str, Any]:
        return {"type": self.Type, "value": self.Value}


class ECKey:
    __go_type__ = "*ecdsa.PublicKey"


class CSR:
    __go_type__ = "*x509util.CertificateRequest"

    def __init__(self) -> None:
        self.PublicKey = ECKey()


def main() -> None:
    tmpl = parse(DEFAULT_LEAF, name="template")
    data = {
        "Subject": Subject("app.example.com"),
        "SANs": [SAN("dns", "app.example.com"), SAN("dns", "www.example.com"), SAN("ip", "10.0.0.1")],
        "Token": {"sub": "app.example.com", "exp": 1606870196.0},
        "Insecure": {"CR": CSR()},
    }
    for _ in range(2000):
        tmpl.execute(data)
    best = float("inf")
    n = 20000
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            tmpl.execute(data)
        best = min(best, (time.perf_counter() - t0) / n)
    t0 = time.perf_counter()
    for _ in range(200):
        parse(DEFAULT_LEAF, name="template")
    parse_us = (time.perf_counter() - t0) / 200 * 1e6
    print(f"DefaultLeafTemplate: {best * 1e6:.1f} us per execute (best of 5 x {n}); parse {parse_us:.0f} us")


if __name__ == "__main__":
    main()
