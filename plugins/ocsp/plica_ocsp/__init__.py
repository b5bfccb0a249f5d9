"""An OCSP responder (RFC 6960) for the CA's intermediate: `POST /ocsp` and `GET /ocsp/{base64}`.

Answers come from the CA's database (good, revoked, unknown), signed by a delegated responder certificate
the CA issues to each worker for a key that never leaves its memory, renewed at two thirds of its life.
Uses only the kernel's public face, `plica.api`; no provisioner type.
"""

from __future__ import annotations

from plica_ocsp.http import http_routes, http_setup

__all__ = ["http_routes", "http_setup"]
