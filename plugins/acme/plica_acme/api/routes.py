"""The HTTP routes: the ACME resources under `/acme/{provisioner}` and `/2.0/acme/{provisioner}` (docs/reference/wire.md
§8), and the EAB admin endpoints `/admin/acme/eab/…` (§6)."""

from __future__ import annotations

from plica.api import AuthorityView, Route

from . import accounts, ari, authz, directory, eab_admin, orders, revoke
from .context import Handler, acme_handler

PREFIXES = ("/acme/{provisioner}", "/2.0/acme/{provisioner}")

# Read with GET (or HEAD); these answer without a Replay-Nonce.
GETS: dict[str, Handler] = {
    "/directory": directory.directory,
    "/new-nonce": directory.new_nonce,
    "/renewal-info/{cert}": ari.renewal_info,
}
# Signed requests (RFC 8555 §6.2); every answer carries a fresh Replay-Nonce.
POSTS: dict[str, Handler] = {
    "/new-account": accounts.new_account,
    "/account/{acc}": accounts.account,
    "/account/{acc}/orders": accounts.account_orders,
    "/key-change": accounts.key_change,
    "/new-order": orders.new_order,
    "/order/{order}": orders.get_order,
    "/order/{order}/finalize": orders.finalize,
    "/authz/{authz}": authz.authz,
    "/challenge/{authz}/{challenge}": authz.challenge,
    "/certificate/{cert}": orders.certificate,
    "/certificate/{cert}/{alt}": orders.certificate,
    "/revoke-cert": revoke.revoke_cert,
}


def routes(authority: AuthorityView) -> list[Route]:
    out: list[Route] = []
    for methods, table, nonce in ((("GET", "HEAD"), GETS, False), (("POST",), POSTS, True)):
        for path, fn in table.items():
            handler = acme_handler(fn, nonce=nonce)
            out += [
                Route(method=m, path=prefix + path, handler=handler) for prefix in PREFIXES for m in methods
            ]
    return out + eab_admin.routes(authority)
