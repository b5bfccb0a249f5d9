"""plica-ocsp as the kernel loads it: every hook it implements is one the kernel defines, it provides no
provisioner type, and its routes are the responder's."""

from __future__ import annotations

import plica_ocsp

from plica.api import AuthorityView
from plica.testing import get_plugins


def test_loads_with_kernel_hooks_only_and_no_type() -> None:
    plugins = get_plugins()
    assert plugins.broken == [], [b.message() for b in plugins.broken]
    assert plugins.pm.is_registered(plica_ocsp)
    names = {h.name for h in plugins.pm.get_hookcallers(plica_ocsp) or []}
    assert names == {"http_routes", "http_setup"}
    assert not any(e.type.name.lower() == "ocsp" for e in plugins.types.values())


def test_routes() -> None:
    routes = plica_ocsp.http_routes(authority=AuthorityView)  # the hook reads nothing of the authority
    assert {(r.method, r.path) for r in routes} == {("POST", "/ocsp"), ("GET", "/ocsp/{request:.+}")}
