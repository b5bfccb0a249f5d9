"""The kernel hooks that mount ACME: HTTP routes (`/acme/<provisioner>/…` and `/2.0/acme/<provisioner>/…`,
api.md §8; the EAB admin endpoints `/admin/acme/eab/…`, §6), storage tables, and the background tasks'
lifecycle."""

from __future__ import annotations

from plica.api import AuthorityView, Migration, Route
from plica.hookspecs import hookimpl

from . import accounts, ari, authz, directory, eab_api, orders, revoke
from .context import Handler, acme_handler
from .runtime import runtime_for, stop_runtime
from .schema import MIGRATIONS

PREFIXES = ("/acme/{provisioner}", "/2.0/acme/{provisioner}")

# (methods, path, handler, answers with a Replay-Nonce)
TABLE: list[tuple[tuple[str, ...], str, Handler, bool]] = [
    (("GET", "HEAD"), "/directory", directory.directory, False),
    (("GET", "HEAD"), "/new-nonce", directory.new_nonce, False),
    (("POST",), "/new-account", accounts.new_account, True),
    (("POST",), "/account/{acc}", accounts.account, True),
    (("POST",), "/account/{acc}/orders", accounts.account_orders, True),
    (("POST",), "/key-change", accounts.key_change, True),
    (("POST",), "/new-order", orders.new_order, True),
    (("POST",), "/order/{order}", orders.get_order, True),
    (("POST",), "/order/{order}/finalize", orders.finalize, True),
    (("POST",), "/authz/{authz}", authz.authz, True),
    (("POST",), "/challenge/{authz}/{challenge}", authz.challenge, True),
    (("POST",), "/certificate/{cert}", orders.certificate, True),
    (("POST",), "/certificate/{cert}/{alt}", orders.certificate, True),
    (("POST",), "/revoke-cert", revoke.revoke_cert, True),
    (("GET", "HEAD"), "/renewal-info/{cert}", ari.renewal_info, False),
]


@hookimpl
def http_routes(authority: AuthorityView) -> list[Route]:
    runtime_for(authority)
    routes: list[Route] = []
    for methods, path, fn, nonce in TABLE:
        handler = acme_handler(fn, nonce=nonce)
        for prefix in PREFIXES:
            for m in methods:
                routes.append(Route(method=m, path=prefix + path, handler=handler))
    return routes + eab_api.routes(authority)


@hookimpl
def storage_migrations() -> list[Migration]:
    return list(MIGRATIONS)


@hookimpl
async def on_startup(authority: AuthorityView) -> None:
    await runtime_for(authority).start()


@hookimpl
async def on_shutdown(authority: AuthorityView) -> None:
    await stop_runtime(authority)
