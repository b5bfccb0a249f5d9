"""What a request did, for the access log and the metrics: which provisioner it used, and whether each
certificate operation succeeded.

The HTTP layer opens a `RequestNote` per request (`plica.http.access`); the authority writes the
provisioner into it once it has found it (from the token, the renewed certificate, or the protocol
plugin's URL through `Authority.issue`), so the access line and the per-provisioner latency name it
without the handlers knowing either exists. A context variable carries it: each aiohttp request runs
in its own task, so notes never mix.

`Meter` counts certificate operations under step-ca's metric names (`step_ca_x509_signed_total`, ...;
`plica.metrics` implements it with Prometheus). When no `metricsAddress` is configured the authority has
no meter and an operation costs one `is None` test.
"""

from __future__ import annotations

import contextvars
from typing import Literal, Protocol

from attrs import define


@define(slots=True)
class RequestNote:
    provisioner: str = ""


_note: contextvars.ContextVar[RequestNote | None] = contextvars.ContextVar("plica_request_note", default=None)


def open_note() -> tuple[RequestNote, contextvars.Token[RequestNote | None]]:
    note = RequestNote()
    return note, _note.set(note)


def close_note(token: contextvars.Token[RequestNote | None]) -> None:
    _note.reset(token)


def note_provisioner(name: str) -> None:
    """Record the provisioner the current request is served by (no-op outside a request)."""
    note = _note.get()
    if note is not None:
        note.provisioner = name


def current_provisioner() -> str:
    note = _note.get()
    return note.provisioner if note is not None else ""


Kind = Literal["x509", "ssh"]
Operation = Literal["signed", "renewed", "rekeyed"]


class Meter(Protocol):
    """Counts certificate operations: step-ca's `step_ca_<kind>_<operation>_total{provisioner, success}`
    (SSH also by certificate `type`, user or host)."""

    def count(self, kind: Kind, operation: Operation, success: bool, cert_type: str = "") -> None: ...
